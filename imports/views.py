"""HTML pages of imports: the upload form's endpoint, the job page, confirm and cancel.

Thin: the selectors decide who may see a job, the services do the work. The job page hands
its data to `static/imports/job.js` with `json_script`; the script polls the same REST API
(GET /api/imports/<id>) every second while the job runs and draws the preview.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from formats import format_list
from imports import selectors, services
from imports.api import FileTooLarge, example_options, example_path, import_job_create_from_upload, import_job_data
from imports.models import ImportStatus
from imports.serializers import options_parse
from labelsite.errors import DomainError
from labelsite.pages import or_http_error
from labelsite.uploads import IMPORT_UPLOAD, upload_limited
from projects.selectors import project_get_for_admin

ERRORS_PER_PAGE = 50
MATCH_BY_LABELS = (
    ("", "The format's default (DataGym: media id; Label Studio: image name; Labelbox: global key; Ango: external id)"),
    ("id", "Media id (internal_media_ID)"),
    ("name", "Media name"),
    ("external_id", "External id"),
    ("global_key", "Global key"),
)


def _message_of(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        details = "; ".join(d.message for d in exc.details if d.message != exc.message)
        return f"{exc.message} {details}".strip()
    return str(getattr(exc, "detail", exc))


def _upload_refused(request: HttpRequest, error: DomainError, project_id: UUID) -> HttpResponse:
    messages.error(request, _message_of(error))
    return redirect("project-import", project_id=project_id)


@require_safe
@login_required
def project_import(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """The project's Import tab: the upload form (the format detected, the advanced options
    folded) and the past imports. The form and the history come from `{% project_imports %}`."""
    project = or_http_error(lambda: project_get_for_admin(user=request.user, project_id=project_id))
    return render(request, "imports/project_import.html", {"project": project})


@require_POST
@login_required
@upload_limited(IMPORT_UPLOAD, refused=_upload_refused)  # before the CSRF check reads the body
def project_import_create(request: HttpRequest, project_id: UUID) -> HttpResponse:
    """The project page's upload form: store the file, queue the job, show the job page."""
    project = or_http_error(lambda: project_get_for_admin(user=request.user, project_id=project_id))
    back = reverse("project-import", kwargs={"project_id": project.pk})
    example = request.POST.get("example", "")
    upload = _example_upload(example) if example else request.FILES.get("file")
    if upload is None:
        messages.error(request, f"No format {example!r} has an example." if example else "Choose a file to import.")
        return redirect(back)
    # The format's own settings (e.g. Ango CSV's config JSON) come as a JSON object; the form's
    # match-by choice and mode are added to it when given. An example comes with its own.
    try:
        options = example_options(example) if example else options_parse(request.POST.get("options", ""))
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    if request.POST.get("match_by"):
        options["match_by"] = request.POST["match_by"]
    if request.POST.get("mode") in ("skip_invalid", "all_or_nothing"):
        options["skip_invalid"] = request.POST["mode"] == "skip_invalid"
    keep_data = {"true": True, "false": False}.get(request.POST.get("keep_data") or "")
    if keep_data is not None:
        options["keep_data"] = keep_data
    try:
        job = import_job_create_from_upload(
            project=project,
            user=request.user,
            upload=upload,
            format_name=example or request.POST.get("format", ""),
            options=options,
        )
    except (DomainError, FileTooLarge) as exc:
        messages.error(request, _message_of(exc))
        return redirect(back)
    # Said without a state: a small file may be validated (or written) before this page shows.
    messages.success(request, f"“{job.file_name}” is uploaded. Its import is followed below.")
    return redirect("import-job-detail", job_id=job.pk)


def _example_upload(name: str) -> SimpleUploadedFile | None:
    """The example file of a format as an upload (a few kB, `formats/examples`), None if it has none."""
    path = example_path(name) if name in {fmt.name for fmt in format_list()} else None
    if path is None:
        return None
    return SimpleUploadedFile(path.name, path.read_bytes())


@require_safe
@login_required
def import_job_detail(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """The job page: progress per phase, the validation report, the preview, confirm / cancel."""
    job = or_http_error(lambda: selectors.import_job_get_for_admin(user=request.user, job_id=job_id))
    data = import_job_data(job)
    errors = Paginator(selectors.import_job_error_list(job=job), ERRORS_PER_PAGE).get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "job": job,
        "project": job.project,
        "data": data,
        "errors": errors,
        "can_confirm": job.status == ImportStatus.VALIDATED,
        "can_cancel": job.status
        in (ImportStatus.QUEUED, ImportStatus.VALIDATING, ImportStatus.VALIDATED, ImportStatus.WRITING),
        "page_data": {"job": data, "pollMs": 1000, "apiUrl": data["links"]["self"]},
        "archive_jobs": selectors.import_job_archive_jobs(job=job),
        "job_ended": job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.CANCELLED),
    }
    return render(request, "imports/job_detail.html", context)


@require_POST
@login_required
def import_job_confirm(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = or_http_error(lambda: selectors.import_job_get_for_admin(user=request.user, job_id=job_id))
    try:
        services.import_job_confirm(job=job)
    except DomainError as exc:
        messages.error(request, _message_of(exc))
    else:
        messages.success(request, "Confirmed. The writing is followed below.")
    return redirect("import-job-detail", job_id=job.pk)


@require_POST
@login_required
def import_job_cancel(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = or_http_error(lambda: selectors.import_job_get_for_admin(user=request.user, job_id=job_id))
    try:
        job = services.import_job_cancel(job=job)
    except DomainError as exc:
        messages.error(request, _message_of(exc))
    else:
        messages.info(request, job.message or "Cancelling: the import stops after the batch being written.")
    return redirect("import-job-detail", job_id=job.pk)
