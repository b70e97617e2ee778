"""HTML pages of labeling: start labeling, the task list and the labeling page.

The labeling page renders an empty frame and hands its data to the ES modules under
static/labeling/ with `json_script`; from there on the page talks to the native REST API
(/api/tasks/<id>/...), the same one scripts use.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from labeling import browser_selectors, selectors, services
from labeling.models import Task, TaskState
from labeling.serializers import TaskBrowserRowSerializer
from labelsite.csp import img_src_allows
from labelsite.errors import ValidationFailed
from labelsite.pages import or_http_error
from projects.label_config import label_config_tree
from projects.media_urls import media_image_url
from projects.models import LabelConfiguration, Media, Role
from projects.selectors import project_get_for_user, user_role

#: Rows of one page of the task browser.
BROWSER_PAGE_SIZE = 50


@require_safe
@login_required
def project_label_start(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """ "Start labeling": reserve the next task for this user and open it, or the task list when
    none is left (a task someone else holds is never handed out)."""
    project = or_http_error(lambda: project_get_for_user(user=request.user, project_id=project_id))
    task = services.task_next_reserve(user=request.user, project=project)
    if task is None:
        messages.info(request, "No open task is left for you in this project.")
        return redirect("project-task-list", project_id=project.pk)
    return redirect("task-label", task_id=task.pk)


@require_safe
@login_required
def project_team_figures(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """The team figures of a project (`?figures_from=` and `?figures_to=`, else the last 30 days):
    a page of its own, whose card the project page loads after it has shown
    (static/projects/team-figures.js). Who sees whose figures is `team_figures_get_for_user`'s rule,
    applied by the card's template tag."""
    project = or_http_error(lambda: project_get_for_user(user=request.user, project_id=project_id))
    return render(request, "labeling/team_figures.html", {"project": project})


@require_safe
@login_required
def project_review_start(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """ "Review": reserve the next task to review for this reviewer and open it, or the completed
    tasks when none is left to review."""
    project = or_http_error(lambda: selectors.project_get_for_review(user=request.user, project_id=project_id))
    task = services.task_review_next_reserve(user=request.user, project=project)
    if task is None:
        messages.info(request, "No task is left for you to review in this project.")
        return redirect("project-detail", project_id=project.pk)
    return redirect("task-label", task_id=task.pk)


@require_safe
@login_required
def project_task_list(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """The task browser: a shell whose script (static/labeling/task_browser.js) pages, filters,
    sorts and searches through `GET /api/projects/{id}/tasks`. The query string is the API's,
    and the first page comes with the page, so the table shows without a second request."""
    project = or_http_error(lambda: project_get_for_user(user=request.user, project_id=project_id))
    role = user_role(user=request.user, organization=project.organization_id)
    raw = {name: request.GET.getlist(name) for name in request.GET if name not in ("page", "view", "cursor")}
    query_error = ""
    try:
        query = browser_selectors.task_query_clean(project=project, raw=raw, user=request.user)
    except ValidationFailed as failed:
        query_error = "; ".join(detail.message for detail in failed.details) or failed.message
        raw = {}
        query = browser_selectors.task_query_clean(project=project, raw=raw, user=request.user)
    page = browser_selectors.task_page_get(project=project, user=request.user, query=query, limit=BROWSER_PAGE_SIZE)
    rows = browser_selectors.task_rows_get(task_ids=page.task_ids)
    extras = browser_selectors.task_rows_extras(project=project, task_ids=[task.pk for task in rows])
    views = browser_selectors.task_view_list(project=project, user=request.user).select_related("owner")
    page_data = {
        "projectId": str(project.pk),
        "userId": request.user.pk,
        "canBulk": role == Role.ADMIN,
        "canRelease": role == Role.ADMIN,
        "canExport": role in (Role.ADMIN, Role.REVIEWER),
        "canShare": role == Role.ADMIN,
        "pageSize": BROWSER_PAGE_SIZE,
        "query": {name: values if len(values) > 1 else values[0] for name, values in raw.items() if values},
        "first": {
            "count": page.count,
            "next_cursor": page.next_cursor,
            "previous_cursor": None,
            "results": TaskBrowserRowSerializer(rows, many=True, context={"extras": extras}).data,
        },
        "views": [
            {
                "id": str(view.pk),
                "name": view.name,
                "shared": view.shared,
                "mine": view.owner_id is not None and view.owner_id == request.user.pk,
                "query": view.query,
                "columns": view.columns,
            }
            for view in views
        ],
        "choices": browser_selectors.task_browser_choices(project=project),
        "csrfToken": get_token(request),
        "urls": {
            "tasks": reverse("api-task-list", kwargs={"project_id": project.pk}),
            "bulk": reverse("api-task-bulk", kwargs={"project_id": project.pk}),
            "views": reverse("api-task-view-list", kwargs={"project_id": project.pk}),
            "view": reverse("api-task-view", kwargs={"view_id": UUID(int=0)}).replace(str(UUID(int=0)), "{id}"),
            "bulkJob": reverse("api-task-bulk-job", kwargs={"job_id": UUID(int=0)}).replace(str(UUID(int=0)), "{id}"),
            "taskLabel": reverse("task-label", kwargs={"task_id": UUID(int=0)}).replace(str(UUID(int=0)), "{id}"),
            "release": reverse("api-task-release", kwargs={"task_id": UUID(int=0)}).replace(str(UUID(int=0)), "{id}"),
            "exports": reverse("api-export-list", kwargs={"project_id": project.pk}),
            "exportFormats": reverse("api-export-format-list"),
            "exportJob": reverse("api-export", kwargs={"job_id": UUID(int=0)}).replace(str(UUID(int=0)), "{id}"),
            "projectExports": reverse("project-detail", kwargs={"project_id": project.pk}) + "#exports",
        },
    }
    context = {"project": project, "page_data": page_data, "query_error": query_error}
    return render(request, "labeling/task_list.html", context)


@require_safe
@login_required
def task_label(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """The labeling page of one task; opening it to label reserves it (see `services.task_reserve`).

    A task someone else holds opens read-only for an annotator, saying who holds it."""
    task = or_http_error(lambda: selectors.task_get_for_user(user=request.user, task_id=task_id))
    project = task.project
    can_label = selectors.task_may_label(user=request.user, task=task)
    can_review = selectors.user_may_review(user=request.user, project=project)
    if can_label and task.state != TaskState.COMPLETED:
        services.task_reserve(task=task, user=request.user)
        task = or_http_error(lambda: selectors.task_get_for_user(user=request.user, task_id=task_id))
    elif can_review and task.state == TaskState.COMPLETED:
        # A reviewer opening a task to review holds it, so that no other reviewer gets it meanwhile.
        services.task_review_reserve(task=task, user=request.user)
        task = or_http_error(lambda: selectors.task_get_for_user(user=request.user, task_id=task_id))
    holder = selectors.task_holder(task=task)
    # A reviewer holding a completed task's review reservation is reviewing it: the page renews
    # that reservation, and the annotator it is assigned to does not make it "held by another".
    reviewing = can_review and task.state == TaskState.COMPLETED and task.reserved_by_id == request.user.pk
    held_by_other = holder is not None and holder.user_id != request.user.pk and not reviewing
    try:
        tree = label_config_tree(configuration=project.label_configuration)
    except LabelConfiguration.DoesNotExist:
        tree = []
    previous, following = selectors.task_neighbours_get(task=task)
    role = user_role(user=request.user, organization=project.organization_id)
    if held_by_other and role not in (Role.ADMIN, Role.REVIEWER):
        can_label = False
    page_data = {
        "task": {"id": str(task.id), "state": task.state, "name": task.media.name},
        "keys": selectors.labeling_keys_get(user=request.user),
        "image": {"url": _image_url(task.media), "width": task.media.width, "height": task.media.height},
        "config": tree,
        "document": selectors.task_annotation_get(task=task),
        "canLabel": can_label,
        "holder": holder.as_json() if holder else None,
        "heldByOther": held_by_other,
        "heartbeatSeconds": min(60, max(10, services.task_lease_seconds() // 3)),
        "canReview": can_review,
        "reviewing": reviewing,
        "reviewComment": task.review_comment,
        "csrfToken": get_token(request),
        "urls": _page_urls(task, previous=previous, following=following),
    }
    context = {"task": task, "project": project, "page_data": page_data, "media_context": _media_context(task.media)}
    return render(request, "labeling/task_label.html", context)


#: Labelbox attachment types whose value is an image the panel may show as a thumbnail.
_IMAGE_ATTACHMENTS = frozenset({"IMAGE", "IMAGE_OVERLAY"})


def _link(value: Any) -> str:
    """`value` when it is an http(s) URL a link may point to, else "" (shown as text)."""
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return ""
    parts = urlsplit(value)
    return value if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def _media_context(media: Media) -> dict[str, Any]:
    """The media's metadata and attachments as the side panel shows them: text as text, http(s)
    URLs as links, image attachments as thumbnails where the CSP's img-src lets them load."""
    metadata = [
        {
            "name": str(name),
            "text": value if isinstance(value, str) else json.dumps(value, ensure_ascii=False),
            "url": _link(value),
        }
        for name, value in (media.metadata or {}).items()
    ]
    attachments = []
    for attachment in media.attachments or []:
        if not isinstance(attachment, dict):
            continue
        kind = str(attachment.get("type") or "")
        value = attachment.get("value")
        url = "" if kind == "RAW_TEXT" else _link(value)
        attachments.append(
            {
                "type": kind,
                "name": str(attachment.get("name") or ""),
                "text": value if isinstance(value, str) else json.dumps(value, ensure_ascii=False),
                "url": url,
                "thumbnail": bool(url) and kind in _IMAGE_ATTACHMENTS and img_src_allows(url),
            }
        )
    return {"metadata": metadata, "attachments": attachments}


@require_POST
@login_required
def task_release(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """The task list's "Release" button: end a task's reservation, back to the list as it was."""
    task = or_http_error(lambda: selectors.task_get_for_release(user=request.user, task_id=task_id))
    holder = task.reserved_by.get_username() if task.reserved_by else ""
    services.task_release(task=task)
    messages.success(request, f"Released {task.media.name}" + (f" from {holder}." if holder else "."))
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}) or not back.startswith("/"):
        back = reverse("project-task-list", kwargs={"project_id": task.project_id})
    return redirect(back)


def _image_url(media: Media) -> str:
    # The media's one address (projects/media_urls.py): the access-checked view for stored
    # files and S3 objects, a URL media's own public URL.
    return media_image_url(media_id=media.id, source=media.source, url=media.url)


def _page_urls(task: Task, *, previous: Task | None, following: Task | None) -> dict[str, Any]:
    task_kwargs = {"task_id": task.pk}
    return {
        "annotation": reverse("api-task-annotation", kwargs=task_kwargs),
        "brush": reverse("api-task-brush", kwargs=task_kwargs),
        "complete": reverse("api-task-complete", kwargs=task_kwargs),
        "skip": reverse("api-task-skip", kwargs=task_kwargs),
        "review": reverse("api-task-review", kwargs=task_kwargs),
        "heartbeat": reverse("api-task-heartbeat", kwargs=task_kwargs),
        "previous": reverse("task-label", kwargs={"task_id": previous.pk}) if previous else None,
        "next": reverse("task-label", kwargs={"task_id": following.pk}) if following else None,
        # "Copy all labels from the previous task" reads the previous task's document.
        "previousAnnotation": reverse("api-task-annotation", kwargs={"task_id": previous.pk}) if previous else None,
        "queue": reverse("project-label-start", kwargs={"project_id": task.project_id}),
        "reviewQueue": reverse("project-review-start", kwargs={"project_id": task.project_id}),
        "taskList": reverse("project-task-list", kwargs={"project_id": task.project_id}),
        "project": reverse("project-detail", kwargs={"project_id": task.project_id}),
        "login": reverse("login"),
        "keys": reverse("api-labeling-keys"),
        # Assisted segmentation: GrabCut, magic wand and scissors on this task's image (assist/).
        "assist": {
            tool: reverse(f"api-task-assist-{tool}", kwargs=task_kwargs)
            for tool in ("grabcut", "magic-wand", "scissors")
        },
    }
