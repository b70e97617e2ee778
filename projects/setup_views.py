"""Pages that set a project up end to end: create, rename, archive and delete a project, edit its
label configuration, manage the organisation's datasets, members and API tokens, and see a
project's progress.

Views are thin: a selector decides what the actor may see, a service does the work, and domain
errors become 404, 403 or a message on the page. The configuration editor is an ES module that
talks to the REST API (projects/setup_api.py), like any script would.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from labelsite.errors import DomainError
from labelsite.pages import or_http_error
from projects import selectors, services
from projects.config_templates import TEMPLATES
from projects.label_config import label_config_tree
from projects.media_probe import media_thumbnail_request
from projects.media_urls import media_image_url
from projects.models import EntryType, LabelConfiguration, Organization, Project, Role
from projects.thumbnails import media_thumbnail_path
from projects.views import _status_for

MEDIA_GRID_PER_PAGE = 48

# A colour goes into a style attribute: only plain colour syntax is drawn, anything else is shown as text.
_SAFE_COLOR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,30}|rgba?\([0-9\s.,%]{1,40}\))$")


def _entry_for_display(entry: dict[str, Any]) -> dict[str, Any]:
    color = entry.get("color") or ""
    return {
        **entry,
        "swatch": color if _SAFE_COLOR.match(color) else "",
        "children": [_entry_for_display(child) for child in entry.get("children") or []],
    }


def _organization(request: HttpRequest) -> Organization:
    organization_id = request.GET.get("organization") or request.POST.get("organization") or None
    return or_http_error(
        lambda: selectors.organization_get_for_admin_page(user=request.user, organization_id=organization_id)
    )


def _fail(request: HttpRequest, error: DomainError) -> None:
    detail = "; ".join(d.message for d in error.details)
    messages.error(request, f"{error.message} {detail}".strip())


# --- projects -------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def project_create(request: HttpRequest) -> HttpResponse:
    organization = _organization(request)
    values = {"name": "", "short_description": "", "description": ""}
    status = 200
    if request.method == "POST":
        values = {name: request.POST.get(name, "") for name in values}
        try:
            project = services.project_create(
                organization=organization,
                name=values["name"],
                short_description=values["short_description"],
                description=values["description"],
            )
        except DomainError as error:
            _fail(request, error)
            status = _status_for(error)
        else:
            messages.success(request, f"Created project “{project.name}”; now build its label configuration.")
            return redirect("setup-project-configuration", project_id=project.pk)
    return render(request, "setup/project_create.html", {"organization": organization, "values": values}, status=status)


def _admin_project(request: HttpRequest, project_id: UUID) -> Project:
    return or_http_error(lambda: selectors.project_get_for_admin(user=request.user, project_id=project_id))


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def project_settings(request: HttpRequest, project_id: UUID) -> HttpResponse:
    project = _admin_project(request, project_id)
    if request.method == "POST":
        try:
            services.project_update(
                project=project,
                name=request.POST.get("name", ""),
                short_description=request.POST.get("short_description", ""),
                description=request.POST.get("description", ""),
            )
        except DomainError as error:
            _fail(request, error)
            project.refresh_from_db()
        else:
            messages.success(request, "Saved the project's name and description.")
            return redirect("setup-project-settings", project_id=project.pk)
    members = selectors.project_member_list(project=project)
    assigned = {item["user"].pk for item in members}
    context = {
        "project": project,
        "members": members,
        "candidates": [
            m for m in selectors.membership_list(organization=project.organization) if m.user_id not in assigned
        ],
        "loss": selectors.project_deletion_summary(project=project),
        "label_tree": [_entry_for_display(entry) for entry in _label_tree(project)],
    }
    return render(request, "setup/project_settings.html", context)


def _label_tree(project: Project) -> list[dict[str, Any]]:
    try:
        return label_config_tree(configuration=project.label_configuration)
    except LabelConfiguration.DoesNotExist:
        return []


@require_POST
@login_required
def project_archive(request: HttpRequest, project_id: UUID) -> HttpResponse:
    project = _admin_project(request, project_id)
    archived = request.POST.get("archived", "1") == "1"
    services.project_archive(project=project, archived=archived)
    messages.success(
        request, f"Archived “{project.name}”." if archived else f"“{project.name}” is back in the project list."
    )
    return redirect("setup-project-settings", project_id=project.pk)


@require_POST
@login_required
def project_delete(request: HttpRequest, project_id: UUID) -> HttpResponse:
    project = _admin_project(request, project_id)
    name = project.name
    try:
        services.project_delete_confirmed(project=project, confirm_name=request.POST.get("confirm_name", ""))
    except DomainError as error:
        _fail(request, error)
        return redirect("setup-project-settings", project_id=project.pk)
    messages.success(request, f"Deleted project “{name}”.")
    return redirect("project-list")


@require_POST
@login_required
def project_member_add(request: HttpRequest, project_id: UUID) -> HttpResponse:
    project = _admin_project(request, project_id)
    try:
        user = selectors.member_get(organization=project.organization, user_id=request.POST.get("user_id", "0"))
        services.project_member_add(project=project, user=user)
    except (DomainError, ValueError) as error:
        messages.error(request, getattr(error, "message", "Choose a member of the organisation."))
    else:
        messages.success(request, f"Assigned {user.username} to the project.")
    return redirect(reverse("setup-project-settings", kwargs={"project_id": project.pk}) + "#members")


@require_POST
@login_required
def project_member_remove(request: HttpRequest, project_id: UUID, user_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    try:
        user = selectors.member_get(organization=project.organization, user_id=user_id)
        services.project_member_remove(project=project, user=user)
    except DomainError as error:
        _fail(request, error)
    else:
        messages.success(request, f"{user.username} is no longer assigned to the project.")
    return redirect(reverse("setup-project-settings", kwargs={"project_id": project.pk}) + "#members")


@require_safe
@login_required
def project_configuration(request: HttpRequest, project_id: UUID) -> HttpResponse:
    project = _admin_project(request, project_id)
    config = {
        "projectId": str(project.pk),
        "entries": label_config_tree(configuration=project.label_configuration),
        "types": [{"value": value, "label": label} for value, label in EntryType.choices],
        "templates": TEMPLATES,
        "urls": {
            "validate": reverse("api-label-configuration-validate", kwargs={"project_id": project.pk}),
            "impact": reverse("api-label-configuration-impact", kwargs={"project_id": project.pk}),
            "save": reverse("api-label-configuration-save", kwargs={"project_id": project.pk}),
            "datagym": reverse("api-label-configuration-datagym", kwargs={"project_id": project.pk}),
            "convert": reverse("api-config-convert"),
        },
    }
    return render(request, "setup/project_configuration.html", {"project": project, "editor_config": config})


@require_safe
@login_required
def project_overview(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """The former overview page: its charts are on the project's Overview tab now."""
    project = or_http_error(lambda: selectors.project_get_for_user(user=request.user, project_id=project_id))
    return redirect("project-detail", project_id=project.pk)


# --- the organisation: datasets, media ------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def dataset_list(request: HttpRequest) -> HttpResponse:
    organization = _organization(request)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            _dataset_action(request, organization, action)
        except DomainError as error:
            _fail(request, error)
        return redirect(reverse("setup-datasets") + f"?organization={organization.pk}")
    datasets = list(
        selectors.dataset_list_for_user(user=request.user)
        .filter(organization=organization)
        .prefetch_related("projects")
    )
    projects = list(organization.projects.filter(archived_at__isnull=True).order_by("name"))
    for dataset in datasets:
        connected = {p.pk for p in dataset.projects.all()}
        dataset.connected = [p for p in projects if p.pk in connected]  # type: ignore[attr-defined]
        dataset.connectable = [p for p in projects if p.pk not in connected]  # type: ignore[attr-defined]
    return render(request, "setup/dataset_list.html", {"organization": organization, "datasets": datasets})


def _dataset_action(request: HttpRequest, organization: Organization, action: str) -> None:
    if action == "create":
        dataset = services.dataset_create(
            organization=organization,
            name=request.POST.get("name", "").strip(),
            short_description=request.POST.get("short_description", ""),
        )
        messages.success(request, f"Created dataset “{dataset.name}”.")
        return
    dataset = selectors.dataset_get_for_admin(user=request.user, dataset_id=request.POST.get("dataset_id", ""))
    if action == "delete":
        services.dataset_delete(dataset=dataset)
        messages.success(request, f"Deleted dataset “{dataset.name}”.")
        return
    project = selectors.project_get_for_admin(user=request.user, project_id=request.POST.get("project_id", ""))
    if action == "connect":
        services.dataset_connect(dataset=dataset, project=project)
        messages.success(request, f"Connected “{dataset.name}” to “{project.name}”: its media are tasks there now.")
    elif action == "disconnect":
        services.dataset_disconnect(dataset=dataset, project=project)
        messages.success(request, f"Disconnected “{dataset.name}” from “{project.name}”; its tasks there stay.")


@require_safe
@login_required
def dataset_media(request: HttpRequest, dataset_id: UUID) -> HttpResponse:
    dataset = or_http_error(lambda: selectors.dataset_get_for_user(user=request.user, dataset_id=dataset_id))
    filters = {
        "name": request.GET.get("name", "").strip(),
        "state": request.GET.get("state", ""),
        "min_labels": request.GET.get("min_labels", ""),
        "max_labels": request.GET.get("max_labels", ""),
    }
    states = dict(selectors.task_state_choices())
    media = selectors.media_grid_list(
        dataset=dataset,
        name_contains=filters["name"],
        state=filters["state"] if filters["state"] in states else "",
        min_labels=_int_or_none(filters["min_labels"]),
        max_labels=_int_or_none(filters["max_labels"]),
    )
    page = Paginator(media, MEDIA_GRID_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "dataset": dataset,
        "is_admin": selectors.user_is_org_admin(user=request.user, organization=dataset.organization_id),
        "page": page,
        "filters": filters,
        "states": list(states.items()),
        "query": query.urlencode(),
    }
    return render(request, "setup/dataset_media.html", context)


def _int_or_none(value: str) -> int | None:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return None


@require_POST
@login_required
def media_delete(request: HttpRequest, dataset_id: UUID, media_id: UUID) -> HttpResponse:
    media = or_http_error(lambda: selectors.media_get_for_admin(user=request.user, media_id=media_id))
    try:
        services.media_delete(media=media)
    except DomainError as error:
        _fail(request, error)
    else:
        messages.success(request, f"Deleted “{media.name}”; labels drawn on it stay for the record.")
    back = request.POST.get("next", "")
    if back.startswith("?"):
        return HttpResponseRedirect(reverse("setup-dataset-media", kwargs={"dataset_id": dataset_id}) + back)
    return redirect("setup-dataset-media", dataset_id=dataset_id)


#: What a thumbnail not made yet is shown as, in the grid's 160 x 120 frame.
THUMBNAIL_PENDING_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="120" viewBox="0 0 160 120">'
    '<rect width="160" height="120" fill="#eef0f3"/>'
    '<text x="80" y="64" font-family="sans-serif" font-size="12" fill="#6b7280" text-anchor="middle">'
    "Thumbnail being made…</text></svg>"
)
#: What a media the worker could not read is shown as (an upload; URL media show the image itself).
THUMBNAIL_FAILED_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="120" viewBox="0 0 160 120">'
    '<rect width="160" height="120" fill="#fdecea"/>'
    '<text x="80" y="64" font-family="sans-serif" font-size="11" fill="#b42318" text-anchor="middle">'
    "No thumbnail: {reason}</text></svg>"
)
#: Seconds after which a client may ask again for a thumbnail being made.
THUMBNAIL_RETRY_SECONDS = 5


@require_safe
@login_required
def media_thumbnail(request: HttpRequest, media_id: UUID) -> HttpResponseBase:
    """The media's thumbnail from storage once the worker has made it (any source); until then a
    placeholder with 202 Accepted (the worker's probe is queued if none runs). A media the worker
    could not read: a URL or S3 media shows the image itself at its one address, an upload a
    placeholder naming the reason. The web process never decodes an image."""
    media = or_http_error(lambda: selectors.media_get_for_user(user=request.user, media_id=media_id))
    path = media_thumbnail_path(media=media)
    if default_storage.exists(path):
        response = FileResponse(default_storage.open(path, "rb"), content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=86400"
        return response
    if media.probed_at is not None and media.probe_error:
        if media.url:
            return redirect(media_image_url(media_id=media.id, source=media.source, url=media.url))
        failed = HttpResponse(
            THUMBNAIL_FAILED_SVG.format(reason=escape(media.probe_error[:60])), content_type="image/svg+xml"
        )
        failed["Cache-Control"] = "no-store"
        return failed
    media_thumbnail_request(media=media)
    pending = HttpResponse(THUMBNAIL_PENDING_SVG, status=202, content_type="image/svg+xml")
    pending["Cache-Control"] = "no-store"
    pending["Retry-After"] = str(THUMBNAIL_RETRY_SECONDS)
    return pending


# --- the organisation: members and API tokens -----------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def member_list(request: HttpRequest) -> HttpResponse:
    organization = _organization(request)
    if request.method == "POST":
        try:
            _member_action(request, organization, request.POST.get("action", ""))
        except DomainError as error:
            _fail(request, error)
        return redirect(reverse("setup-members") + f"?organization={organization.pk}")
    context = {
        "organization": organization,
        "memberships": selectors.membership_list(organization=organization).prefetch_related("user__projects"),
        "invitations": selectors.invitation_list_for_organization(organization=organization),
        "roles": Role.choices,
        "projects": organization.projects.filter(archived_at__isnull=True).order_by("name"),
    }
    return render(request, "setup/member_list.html", context)


def _member_action(request: HttpRequest, organization: Organization, action: str) -> None:
    role = request.POST.get("role", Role.ANNOTATOR)
    if action == "create":
        membership = services.user_create_member(
            organization=organization,
            username=request.POST.get("username", ""),
            password=request.POST.get("password", ""),
            email=request.POST.get("email", ""),
            role=role,
        )
    elif action == "invite":
        _member_invite(request, organization, role)
        return
    elif action == "withdraw":
        invitation = selectors.invitation_get_for_organization(
            organization=organization, invitation_id=request.POST.get("invitation_id", "")
        )
        services.invitation_withdraw(invitation=invitation)
        messages.success(request, f"Withdrew the invitation for “{invitation.username}”.")
        return
    else:
        user: User = selectors.member_get(organization=organization, user_id=request.POST.get("user_id", "0"))
        if action == "remove":
            services.membership_remove(organization=organization, user=user)
            messages.success(request, f"Removed {user.username} from the organisation.")
            return
        if action == "deactivate":
            actor: User = request.user  # type: ignore[assignment]  # login_required: a signed-in User
            if services.member_deactivate(organization=organization, user=user, actor=actor) == "removed":
                messages.success(
                    request,
                    f"Removed {user.username} from the organisation. The account is used in other organisations "
                    "too, so it was not deactivated; it can no longer reach this organisation.",
                )
            else:
                messages.success(
                    request, f"Deactivated {user.username}: they can no longer sign in or use their API tokens."
                )
            return
        if action == "reactivate":
            services.member_reactivate(organization=organization, user=user)
            messages.success(request, f"Reactivated {user.username}: they can sign in again.")
            return
        if action == "role":
            membership = services.membership_role_change(organization=organization, user=user, role=role)
        elif action == "assign":
            project = selectors.project_get_for_admin(user=request.user, project_id=request.POST.get("project_id", ""))
            services.project_member_add(project=project, user=user)
            messages.success(request, f"Assigned {user.username} to “{project.name}”.")
            return
        else:
            return
    project_id = request.POST.get("project_id", "")
    if project_id and action == "create":
        project = selectors.project_get_for_admin(user=request.user, project_id=project_id)
        services.project_member_add(project=project, user=membership.user)
    messages.success(request, f"{membership.user.username} is {membership.get_role_display().lower()} now.")


def _member_invite(request: HttpRequest, organization: Organization, role: str) -> None:
    """Invite by user name. The answer is the same for any name: whether an account of that name
    exists outside the organisation is none of the admin's business (issue 15, item 7)."""
    project_id = request.POST.get("project_id", "")
    project = selectors.project_get_for_admin(user=request.user, project_id=project_id) if project_id else None
    username = request.POST.get("username", "").strip()
    services.membership_invite(
        organization=organization,
        username=username,
        role=role,
        invited_by=request.user,  # type: ignore[arg-type]  # login_required: a signed-in User
        project=project,
    )
    messages.success(request, f"An invitation for “{username}” was recorded; the user sees it at their next sign-in.")


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    organization = _organization(request)
    created: dict[str, Any] | None = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            token = or_http_error(
                lambda: selectors.api_token_get(organization=organization, token_id=request.POST.get("token_id", ""))
            )
            services.api_token_revoke(token=token)
            messages.success(request, f"Revoked “{token.name or token.prefix}”; scripts using it are refused now.")
            return redirect(reverse("setup-tokens") + f"?organization={organization.pk}")
        token, raw = services.api_token_create(organization=organization, name=request.POST.get("name", "").strip())
        created = {"token": token, "raw": raw}
    base_url = request.build_absolute_uri("/").rstrip("/")
    context = {
        "organization": organization,
        "tokens": selectors.api_token_list(organization=organization),
        "created": created,
        "base_url": base_url,
    }
    # The secret is shown in this answer only: never cache it.
    response = render(request, "setup/token_list.html", context, status=201 if created else 200)
    response["Cache-Control"] = "no-store"
    return response
