"""HTML pages of projects and datasets, and the JSON endpoint the upload script talks to.

Views are thin: a selector decides what the user may see, a service does the work, and the
typed domain errors become 404, 403 or a message on the page.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from labelsite.errors import (
    AlreadyExists,
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    TooLarge,
    ValidationFailed,
)
from labelsite.pages import or_http_error
from labelsite.uploads import IMAGE_UPLOAD, IMPORT_UPLOAD, upload_limited
from projects import selectors, services
from projects.authentication import OrganizationTokenUser
from projects.forms import DatasetConnectForm, DatasetCreateForm, MediaUrlsForm
from projects.media_keys import media_keys_parse
from projects.models import Dataset, MediaSource, Project, Role
from projects.throttling import TokenAttemptsThrottled, TokenFailureThrottle

MEDIA_PER_PAGE = 100
# Parallel uploads the page runs: enough to hide latency, few enough not to swamp the server.
UPLOAD_PARALLELISM = 4


# --- projects -------------------------------------------------------------------------------


@require_safe
@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list_with_counts(user=request.user)
    # Everyone's home: what waits for them in each project, and only the buttons they may use
    # (the rules the views enforce: the setup pages' admin check, the review queue's role check).
    queues = selectors.project_queue_counts_for_user(user=request.user, project_ids=[p.pk for p in projects])
    roles: dict[Any, str | None] = {}
    for project in projects:
        if project.organization_id not in roles:
            roles[project.organization_id] = selectors.user_role(
                user=request.user, organization=project.organization_id
            )
        project.queue = queues.get(project.pk, {})  # type: ignore[attr-defined]
        project.may_review = roles[project.organization_id] in (Role.ADMIN, Role.REVIEWER)  # type: ignore[attr-defined]
    return render(
        request,
        "projects/project_list.html",
        {
            "projects": projects,
            "can_create_project": selectors.organization_list_for_admin(user=request.user).exists(),
            "task_states": selectors.task_state_choices(),
            # The page everyone lands on after signing in: it says when an invitation waits.
            "invitation_count": selectors.invitation_list_for_user(user=request.user).count(),
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def invitation_list(request: HttpRequest) -> HttpResponse:
    """The signed-in user's invitations to organisations, each to accept or decline."""
    if request.method == "POST":
        try:
            invitation = selectors.invitation_get_for_user(
                user=request.user, invitation_id=request.POST.get("invitation_id", "")
            )
            if request.POST.get("action") == "accept":
                membership = services.invitation_accept(invitation=invitation, user=request.user)  # type: ignore[arg-type]
                messages.success(
                    request,
                    f"You joined “{invitation.organization.name}” as {membership.get_role_display().lower()}.",
                )
                return redirect("project-list")
            if request.POST.get("action") == "decline":
                services.invitation_decline(invitation=invitation)
                messages.success(request, f"Declined the invitation of “{invitation.organization.name}”.")
        except NotFound:
            # Withdrawn meanwhile, answered already, or never this user's: the same words for each.
            messages.error(request, "This invitation is not open (any more).")
        return redirect("invitation-list")
    invitations = list(selectors.invitation_list_for_user(user=request.user))
    return render(request, "projects/invitation_list.html", {"invitations": invitations})


@require_safe
@login_required
def project_detail(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """The Overview tab: counts and charts, the review and the user's queue; to admins of a
    project not set up yet, the setup checklist (configuration, data, members, labeling)."""
    project = or_http_error(lambda: selectors.project_get_for_user(user=request.user, project_id=project_id))
    is_admin = selectors.user_is_org_admin(user=request.user, organization=project.organization_id)
    task_states = selectors.project_task_state_summary(project=project)
    annotators = selectors.project_counts_by_annotator(project=project)
    steps = selectors.project_setup_steps(project=project) if is_admin else []
    context: dict[str, Any] = {
        "project": project,
        "is_admin": is_admin,
        "task_states": task_states,
        "task_total": sum(state["count"] for state in task_states),
        "can_review": selectors.user_may_review_project(user=request.user, project=project),
        "review_counts": selectors.project_review_counts(project=project),
        "queue": selectors.project_queue_counts_for_user(user=request.user, project_ids=[project.pk]).get(
            project.pk, {}
        ),
        "classes": _bars(selectors.project_label_counts_by_class(project=project), "title"),
        "annotators": _bars([{**a, "count": a["labels"]} for a in annotators], "username"),
        "annotator_rows": annotators,
        "setup_steps": [{**step, **_SETUP_STEPS[step["key"]]} for step in steps],
        "setup_open": any(not step["done"] for step in steps),
    }
    return render(request, "projects/project_detail.html", context)


#: What each step of the Overview's setup checklist says and where it leads (URL name, anchor).
_SETUP_STEPS: dict[str, dict[str, str]] = {
    "configuration": {
        "title": "Build the label configuration",
        "text": "The classes to draw and the questions to answer.",
        "url_name": "setup-project-configuration",
        "anchor": "",
    },
    "data": {
        "title": "Add data",
        "text": "Connect or create a dataset and upload images: each image becomes a task.",
        "url_name": "project-data",
        "anchor": "",
    },
    "members": {
        "title": "Assign members",
        "text": "Annotators and reviewers see only the projects they are assigned to.",
        "url_name": "setup-project-settings",
        "anchor": "#members",
    },
    "labeling": {
        "title": "Start labeling",
        "text": "Open the next task; or import labels made elsewhere.",
        "url_name": "project-label-start",
        "anchor": "",
    },
}


def _bars(items: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    """Rows of a horizontal bar chart drawn server-side as SVG: width in percent of the largest."""
    largest = max((item["count"] for item in items), default=0) or 1
    return [{**item, "name": item[label], "percent": round(100 * item["count"] / largest, 1)} for item in items]


#: Thumbnails per page of the Data tab's grid.
DATA_GRID_PER_PAGE = 48


@require_safe
@login_required
def project_data(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """The Data tab: the connected datasets, (for admins) connecting, creating and uploading into
    them, and a thumbnail grid of the project's media that grows as uploads arrive."""
    project = or_http_error(lambda: selectors.project_get_for_user(user=request.user, project_id=project_id))
    return _render_project_data(request, project)


def _render_project_data(
    request: HttpRequest,
    project: Project,
    *,
    connect_form: DatasetConnectForm | None = None,
    create_form: DatasetCreateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    is_admin = selectors.user_is_org_admin(user=request.user, organization=project.organization_id)
    datasets = list(selectors.project_dataset_list(project=project).order_by("name"))
    page = Paginator(selectors.project_media_list(project=project), DATA_GRID_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context: dict[str, Any] = {
        "project": project,
        "is_admin": is_admin,
        "datasets": datasets,
        "page": page,
        "grid_config": {
            "thumbnailUrl": reverse("setup-media-thumbnail", kwargs={"media_id": _UUID_SLOT}),
            "slot": str(_UUID_SLOT),
            "retryMs": 3000,
            "grow": page.number == 1,
            # Media that arrive meanwhile (another tab, a script, an import that creates media) are
            # appended by the dataset's media list (oldest first): what lies past today's count is new.
            "pollMs": 5000,
            "datasets": [
                {"mediaUrl": reverse("api-dataset-media", kwargs={"dataset_id": d.pk}), "offset": _media_count(d)}
                for d in datasets
            ],
        },
    }
    if is_admin:
        context["connect_form"] = connect_form or DatasetConnectForm(project=project)
        context["create_form"] = create_form or DatasetCreateForm()
        chosen = request.GET.get("dataset", "")
        context["upload_datasets"] = [
            {
                "pk": dataset.pk,
                "name": dataset.name,
                "url": reverse("dataset-upload", kwargs={"dataset_id": dataset.pk}),
                "chosen": str(dataset.pk) == chosen,
            }
            for dataset in datasets
        ]
        context["upload_config"] = {"uploadUrl": "", "parallel": UPLOAD_PARALLELISM, "maxBytes": _max_upload_bytes()}
    return render(request, "projects/project_data.html", context, status=status)


def _media_count(dataset: Dataset) -> int:
    """The dataset's live media, as `selectors.project_dataset_list` annotates it."""
    return int(getattr(dataset, "media_count", 0))


#: A media id the grid's script replaces with a new upload's id to build its thumbnail URL.
_UUID_SLOT = UUID(int=0)


@require_POST
@login_required
def project_dataset_connect(request: HttpRequest, project_id: UUID) -> HttpResponse:
    project = or_http_error(lambda: selectors.project_get_for_admin(user=request.user, project_id=project_id))
    form = DatasetConnectForm(request.POST, project=project)
    if not form.is_valid():
        return _render_project_data(request, project, connect_form=form, status=400)
    dataset: Dataset = form.cleaned_data["dataset"]
    try:
        services.dataset_connect(dataset=dataset, project=project)
    except DomainError as exc:
        form.add_error("dataset", exc.message)
        return _render_project_data(request, project, connect_form=form, status=_status_for(exc))
    messages.success(request, f"Connected dataset “{dataset.name}”; its media are tasks of this project now.")
    return redirect("project-data", project_id=project.pk)


@require_POST
@login_required
def project_dataset_create(request: HttpRequest, project_id: UUID) -> HttpResponse:
    project = or_http_error(lambda: selectors.project_get_for_admin(user=request.user, project_id=project_id))
    form = DatasetCreateForm(request.POST)
    if not form.is_valid():
        return _render_project_data(request, project, create_form=form, status=400)
    try:
        dataset = services.dataset_create(
            organization=project.organization,
            name=form.cleaned_data["name"],
            short_description=form.cleaned_data["short_description"],
        )
        services.dataset_connect(dataset=dataset, project=project)
    except DomainError as exc:
        form.add_error("name", exc.message)
        return _render_project_data(request, project, create_form=form, status=_status_for(exc))
    messages.success(request, f"Created dataset “{dataset.name}” and connected it; upload images into it below.")
    return redirect(reverse("project-data", kwargs={"project_id": project.pk}) + f"?dataset={dataset.pk}#upload")


# --- datasets -------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def dataset_detail(request: HttpRequest, dataset_id: UUID) -> HttpResponse:
    """The dataset's media; POST adds media by URL (the results are shown on the page)."""
    dataset = or_http_error(lambda: selectors.dataset_get_for_user(user=request.user, dataset_id=dataset_id))
    url_form = MediaUrlsForm()
    url_results: list[services.UrlResult] | None = None
    status = 200
    if request.method == "POST":
        dataset = or_http_error(lambda: selectors.dataset_get_for_admin(user=request.user, dataset_id=dataset_id))
        url_form = MediaUrlsForm(request.POST)
        if url_form.is_valid():
            url_results = services.media_create_from_urls(dataset=dataset, urls=url_form.cleaned_data["urls"])
            url_form = MediaUrlsForm()
        else:
            status = 400
    is_admin = selectors.user_is_org_admin(user=request.user, organization=dataset.organization_id)
    page = Paginator(selectors.media_list(dataset=dataset), MEDIA_PER_PAGE).get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "dataset": dataset,
        "is_admin": is_admin,
        "page": page,
        "projects": selectors.dataset_project_list_for_user(user=request.user, dataset=dataset),
        "url_form": url_form,
        "url_results": url_results,
        "url_summary": _url_summary(url_results) if url_results is not None else None,
        "upload_config": {
            "uploadUrl": reverse("dataset-upload", kwargs={"dataset_id": dataset.pk}),
            "parallel": UPLOAD_PARALLELISM,
            "maxBytes": _max_upload_bytes(),
        },
    }
    return render(request, "projects/dataset_detail.html", context, status=status)


def _url_summary(results: list[services.UrlResult]) -> dict[str, int]:
    summary: dict[str, int] = {}
    for result in results:
        summary[result.status] = summary.get(result.status, 0) + 1
    return summary


def _max_upload_bytes() -> int:
    return min(settings.LABELSITE_MAX_IMAGE_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def _upload_refused(request: HttpRequest, error: DomainError, *args: Any, **kwargs: Any) -> HttpResponse:
    return JsonResponse({"error": {"code": error.code, "message": error.message}}, status=_status_for(error))


@require_POST
@login_required
@upload_limited(IMAGE_UPLOAD, refused=_upload_refused)
def dataset_upload(request: HttpRequest, dataset_id: UUID) -> HttpResponse:
    """Store one uploaded image (multipart field `file`); answers `{id, name}` or `{error}`.

    The file streams through LABELSITE_MAX_IMAGE_BYTES (`upload_limited`): larger is 413."""
    try:
        dataset = selectors.dataset_get_for_admin(user=request.user, dataset_id=dataset_id)
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationFailed(code="file_missing", message="Send the image in the multipart field “file”.")
        media = services.media_create_from_file(dataset=dataset, name=upload.name or "", content=upload)
    except DomainError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=_status_for(exc))
    return JsonResponse({"id": str(media.id), "name": media.name}, status=201)


def _media_keys_refused(request: HttpRequest, error: DomainError, dataset_id: UUID) -> HttpResponse:
    messages.error(request, error.message)
    return redirect(reverse("dataset-detail", kwargs={"dataset_id": dataset_id}) + "#keys-heading")


#: Located errors of a mapping file shown on the page (the API lists up to 1,000).
MEDIA_KEYS_ERRORS_SHOWN = 20


@require_POST
@login_required
@upload_limited(IMPORT_UPLOAD, refused=_media_keys_refused)
def dataset_media_keys(request: HttpRequest, dataset_id: UUID) -> HttpResponse:
    """The dataset page's mapping file (file name -> external id, global key), as the API's
    `POST /api/datasets/{id}/media/keys`; the outcome, or every located error, as messages."""
    dataset = or_http_error(lambda: selectors.dataset_get_for_admin(user=request.user, dataset_id=dataset_id))
    back = reverse("dataset-detail", kwargs={"dataset_id": dataset.pk}) + "#keys-heading"
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a CSV or JSON mapping file.")
        return redirect(back)
    try:
        rows = media_keys_parse(content=upload.read(), file_name=upload.name or "")
        updated = services.media_keys_import(dataset=dataset, rows=rows)
    except DomainError as exc:
        messages.error(request, exc.message)
        for detail in exc.details[:MEDIA_KEYS_ERRORS_SHOWN]:
            messages.error(request, f"{detail.path}: {detail.message}")
        return redirect(back)
    messages.success(request, f"{updated} image(s) got their external id and global key.")
    return redirect(back)


def _status_for(error: DomainError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, TooLarge):
        return 413
    if isinstance(error, PermissionDenied):
        return 403
    if isinstance(error, AlreadyExists | Conflict):
        return 409
    return 400


@require_safe
def media_file(request: HttpRequest, media_id: UUID) -> HttpResponseBase:
    """The image of a media, for the pages and the exports, behind the same access rules as its dataset.

    Uploaded files stream from the storage (local or S3) through this view, so no storage
    URL is ever public; URL media redirect to their URL (the browser fetches it, never the
    server); S3-source media redirect to a short-lived presigned URL, if their key is still
    inside an S3 source of the organisation (403 otherwise).

    A browser session, or an API token in the `Authorization: Token` header (never `?token=`),
    for scripts that download the images an export names; a failed token counts towards the
    address's failed attempts as on the API, and the caller is then treated as anonymous.
    """
    user: Any = request.user
    if not user.is_authenticated:
        try:
            user = _token_user(request)
        except TokenAttemptsThrottled as exc:
            throttled = HttpResponse(str(exc.detail), status=429, content_type="text/plain; charset=utf-8")
            throttled["Retry-After"] = str(getattr(exc, "wait", None) or 1)
            return throttled
        if user is None:
            return redirect_to_login(request.get_full_path())
    media = or_http_error(lambda: selectors.media_get_for_user(user=user, media_id=media_id))
    if media.source == MediaSource.LOCAL:
        if not media.file:
            raise Http404("The media has no file.")
        response = FileResponse(media.file.open("rb"), content_type=media.mime_type or "application/octet-stream")
        response["Cache-Control"] = "private, max-age=3600"
        return response
    if media.source == MediaSource.S3:
        return redirect(or_http_error(lambda: services.media_s3_presigned_url(media=media)))
    return redirect(media.url)


def _token_user(request: HttpRequest) -> Any | None:
    """The user of the request's `Authorization: Token` header, None without a usable one."""
    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() not in {"token", "bearer"} or not raw.strip():
        return None
    throttle = TokenFailureThrottle()
    throttle.check(request)
    token = services.api_token_authenticate(raw=raw.strip())
    if token is None:
        throttle.failure_record(request)
        return None
    return token.user if token.user is not None else OrganizationTokenUser(token.organization)
