"""HTML pages of exports: the project's Export tab, whose export form posts here.

Thin: `exports.selectors` and `exports.driver` decide who may export and does the work. The Export tab's panel
(`templates/exports/_project_exports.html`) lists the exports; `static/exports/exports.js`
polls the REST API (GET /api/exports/<id>) while one runs, and downloads go through the
API (GET /api/exports/<id>/download, or GET /api/projects/<id>/export for a direct one).
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from exports import selectors, services
from labelsite.errors import DomainError
from labelsite.pages import or_http_error
from projects.media_urls import site_url

#: Checkbox fields of the form: the task states to export.
STATE_FIELD = "states"


@require_safe
@login_required
def project_export(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """The project's Export tab: the export form and the past exports (`{% project_exports %}`)."""
    project = or_http_error(lambda: selectors.export_project_get(user=request.user, project_id=project_id))
    return render(request, "exports/project_export.html", {"project": project})


@require_POST
@login_required
def project_export_create(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """The export form: queue a job with the chosen format and filters, back to the project page."""
    project = or_http_error(lambda: selectors.export_project_get(user=request.user, project_id=project_id))
    back = reverse("project-export", kwargs={"project_id": project.pk})
    filters: dict[str, object] = {"include_predictions": request.POST.get("include_predictions") == "on"}
    if request.POST.getlist(STATE_FIELD):
        filters["states"] = request.POST.getlist(STATE_FIELD)
    if request.POST.getlist("datasets"):
        filters["datasets"] = request.POST.getlist("datasets")
    for name in ("updated_from", "updated_to"):
        if request.POST.get(name):
            filters[name] = request.POST[name]
    try:
        services.export_job_create(
            project=project,
            format=request.POST.get("format", ""),
            filters=filters,
            created_by=request.user,
            site_url=site_url(request=request),
        )
    except DomainError as exc:
        details = "; ".join(d.message for d in exc.details)
        messages.error(request, f"{exc.message} {details}".strip())
        return redirect(back)
    messages.success(request, "Export started; it appears below with a download link when it is ready.")
    return redirect(back)
