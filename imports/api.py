"""The native API of import jobs and formats (under /api/).

One class per operation: input serializer, one service or selector call, output. Imports
are an admin's: `imports.selectors.import_job_get_for_admin` and
`projects.selectors.project_get_for_admin` answer 404 outside the organisation and 403 to
members who are not admins. Errors become the one error shape of `labelsite.api`.
"""

from __future__ import annotations

import copy
import csv
import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponseBase, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from formats import EXAMPLES_DIR, format_candidates, format_get, format_list
from formats.reading import ImportFormat
from imports import selectors, services
from imports.archive_import import archive_check, archive_format_detect, is_archive_name
from imports.models import ImportJob, ImportJobError
from imports.preview import preview_for_display, preview_get
from imports.serializers import (
    ImportCreatedSerializer,
    ImportCreateInputSerializer,
    ImportErrorOutputSerializer,
    ImportErrorPageSerializer,
    ImportFormatOutputSerializer,
    ImportJobOutputSerializer,
)
from labelsite.api import CsvRenderer, UploadLimitedApi
from labelsite.errors import ErrorDetail, ValidationFailed
from labelsite.text import cell_safe
from labelsite.uploads import IMPORT_UPLOAD
from projects.selectors import project_get_for_admin
from projects.serializers import ERRORS, ERRORS_WITH_CONFLICT, file_response

#: A cell starting with one of these is a formula to a spreadsheet; it is written with a leading quote.


class FileTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "file_too_large"
    default_detail = "The file is too large."


def max_import_bytes() -> int:
    return int(settings.LABELSITE_MAX_IMPORT_BYTES)


def file_too_large(size: int) -> FileTooLarge:
    limit = max_import_bytes()
    return FileTooLarge(
        f"The file has {size:,} bytes; an import takes at most {limit:,} bytes "
        "(LABELSITE_MAX_IMPORT_BYTES). Split the file into several imports."
    )


def _format_for_upload(name: str, upload: Any) -> ImportFormat:
    """The format named, or the one the registry recognises from the file's kind and first bytes."""
    archive = is_archive_name(upload.name or "")
    if name:
        fmt = format_get(name=name)
        if archive:
            archive_check(upload, fmt)
        return fmt
    reason = "no format recognises it"
    if archive:
        found = archive_format_detect(upload)
        candidates = format_list()
    else:
        head = upload.read(4096)
        upload.seek(0)
        candidates = format_candidates(file_name=upload.name or "", head=head)
        found = candidates[0] if len(candidates) == 1 else None
        kind = (upload.name or "").rsplit(".", 1)[-1].lower() if "." in (upload.name or "") else ""
        if not any(kind in fmt.file_kinds for fmt in candidates):
            reason = f"no format reads .{kind} files" if kind else "it has no file kind (.json, .csv ...)"
        elif sum(1 for fmt in candidates if fmt.sniff is not None and fmt.sniff(head)) > 1:
            reason = "it looks like more than one format"
    if found is None:
        # Never a guess: the formats the file could be, for the user to choose from.
        known = "; ".join(f"{fmt.name} ({fmt.label}, .{'/.'.join(fmt.file_kinds)})" for fmt in candidates)
        raise ValidationFailed(
            code="format_not_detected",
            message=f"The format of {upload.name!r} cannot be told from the file: {reason}. Name it with "
            f"format, one of: {known}.",
            details=[ErrorDetail(path="format", code="required", message="Choose a format.")],
        )
    return found


def import_job_create_from_upload(
    *, project: Any, user: Any, upload: Any, format_name: str, options: dict[str, Any]
) -> ImportJob:
    """Shared by the API and the upload page: size limit, format detection, then the service."""
    if upload.size is not None and upload.size > max_import_bytes():
        raise file_too_large(upload.size)
    fmt = _format_for_upload(format_name, upload)
    return services.import_job_create(
        project=project,
        # An organisation token is no person: the job then has no author.
        user=user if getattr(user, "pk", None) is not None else None,
        file=upload,
        file_name=upload.name or "import",
        format=fmt.name,
        options=options,
    )


def import_job_data(job: ImportJob) -> dict[str, Any]:
    """The job as the API (and the job page's script) sees it."""
    job_kwargs = {"job_id": job.pk}
    author = job.created_by
    return {
        "id": job.pk,
        "project_id": job.project_id,
        "status": job.status,
        "format": job.format,
        "file_name": job.file_name,
        "file_size": job.file_size,
        "options": job.options,
        "created_by": author.get_username() if author is not None else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "cancel_requested": job.cancel_requested,
        "message": job.message,
        "counts": {
            "items_total": job.items_total,
            "items_validated": job.items_validated,
            "items_invalid": job.items_invalid,
            "items_skipped": job.items_skipped,
            "items_written": job.items_written,
            "labels_total": job.labels_total,
            "labels_written": job.labels_written,
            "error_count": job.error_count,
        },
        "progress": selectors.import_job_progress(job=job),
        "summary": {
            "classes": selectors.import_job_class_counts(job=job),
            "items_without_media": int(job.summary.get("items_without_media") or 0),
            "warnings": [str(warning) for warning in job.summary.get("warnings") or []],
            "preview": preview_for_display(preview=preview_get(job=job)),
        },
        "links": {
            "self": reverse("api-import", kwargs=job_kwargs),
            "errors": reverse("api-import-errors", kwargs=job_kwargs),
            "errors_csv": reverse("api-import-errors-csv", kwargs=job_kwargs),
            "confirm": reverse("api-import-confirm", kwargs=job_kwargs),
            "cancel": reverse("api-import-cancel", kwargs=job_kwargs),
            "page": reverse("import-job-detail", kwargs=job_kwargs),
        },
    }


def _job_output(job: ImportJob) -> dict[str, Any]:
    return dict(ImportJobOutputSerializer(import_job_data(job)).data)


# --- jobs --------------------------------------------------------------------------------


class ImportCreateApi(UploadLimitedApi):
    parser_classes = [MultiPartParser]
    # Judged by its declared size, then streamed through LABELSITE_MAX_IMPORT_BYTES, before
    # authentication reads the body (labelsite/uploads.py).
    upload_limit = IMPORT_UPLOAD

    @extend_schema(
        operation_id="imports_create",
        summary="Upload a file to import into a project (admins)",
        description="Stores the file and queues its validation; answers at once. Poll GET /api/imports/{id}. "
        "With options.write_when_valid the labels are written as soon as validation passes; otherwise "
        "POST /api/imports/{id}/confirm after looking at the report.",
        request={"multipart/form-data": ImportCreateInputSerializer},
        responses={201: ImportCreatedSerializer, 413: ERRORS[400], **ERRORS},
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(user=request.user, project_id=project_id)
        data = ImportCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = import_job_create_from_upload(
            project=project,
            user=request.user,
            upload=data.validated_data["file"],
            format_name=data.validated_data.get("format", ""),
            options=data.validated_data.get("options") or {},
        )
        return Response(ImportCreatedSerializer(job).data, status=status.HTTP_201_CREATED)


class ImportGetApi(APIView):
    @extend_schema(
        operation_id="imports_get",
        summary="An import's status, counts, progress per phase, report and preview",
        responses={200: ImportJobOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, job_id: str) -> Response:
        job = selectors.import_job_get_for_admin(user=request.user, job_id=job_id)
        return Response(_job_output(job))


class ImportConfirmApi(APIView):
    @extend_schema(
        operation_id="imports_confirm",
        summary="Write a validated import",
        request=None,
        responses={202: ImportJobOutputSerializer, **ERRORS_WITH_CONFLICT},
    )
    def post(self, request: Request, job_id: str) -> Response:
        job = selectors.import_job_get_for_admin(user=request.user, job_id=job_id)
        job = services.import_job_confirm(job=job)
        return Response(_job_output(job), status=status.HTTP_202_ACCEPTED)


class ImportCancelApi(APIView):
    @extend_schema(
        operation_id="imports_cancel",
        summary="Cancel an import (a running write stops after its current batch)",
        request=None,
        responses={200: ImportJobOutputSerializer, **ERRORS_WITH_CONFLICT},
    )
    def post(self, request: Request, job_id: str) -> Response:
        job = selectors.import_job_get_for_admin(user=request.user, job_id=job_id)
        job = services.import_job_cancel(job=job)
        return Response(_job_output(job))


# --- the error report ----------------------------------------------------------------------


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ (a formula) gets a quote in front."""
    return str(cell_safe("" if value is None else str(value)))


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(errors: Any) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(["item", "location", "code", "message"])
    for error in errors.iterator(chunk_size=1000):
        yield writer.writerow(
            [csv_cell(error.item_index), csv_cell(error.location), csv_cell(error.code), csv_cell(error.message)]
        )


def import_errors_csv_response(job: ImportJob) -> StreamingHttpResponse:
    errors = selectors.import_job_error_list(job=job)
    response = StreamingHttpResponse(_csv_rows(errors), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


class ImportErrorPagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000


class ImportErrorsApi(APIView):
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        operation_id="imports_errors_list",
        summary="An import's errors, paged (or all of them as CSV with ?format=csv)",
        description="The first 10,000 errors are kept; counts.error_count of the job is the total.",
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, description="Page size (default 100, at most 1000)."),
            OpenApiParameter("offset", OpenApiTypes.INT),
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"]),
        ],
        responses={
            200: ImportErrorPageSerializer,
            (200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR),
            **ERRORS,
        },
    )
    def get(self, request: Request, job_id: str) -> HttpResponseBase:
        job = selectors.import_job_get_for_admin(user=request.user, job_id=job_id)
        if request.accepted_renderer.format == "csv":
            return import_errors_csv_response(job)
        paginator = ImportErrorPagination()
        page: list[ImportJobError] = (
            paginator.paginate_queryset(selectors.import_job_error_list(job=job), request, view=self) or []
        )
        response = paginator.get_paginated_response(ImportErrorOutputSerializer(page, many=True).data)
        response.data["error_count"] = job.error_count
        return response


class ImportErrorsCsvApi(APIView):
    @extend_schema(
        operation_id="imports_errors_csv",
        summary="An import's errors as CSV: item, location, code, message",
        responses={(200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR), **ERRORS},
    )
    def get(self, request: Request, job_id: str) -> HttpResponseBase:
        job = selectors.import_job_get_for_admin(user=request.user, job_id=job_id)
        return import_errors_csv_response(job)


# --- formats -----------------------------------------------------------------------------


def example_content_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def example_path(name: str) -> Path | None:
    """The example file of a format (`formats/examples/<name>.<kind>`), if it has one."""
    return next(iter(sorted(EXAMPLES_DIR.glob(f"{name}.*"))), None) if name.isidentifier() else None


#: The options an example file is offered with (the Import tab's "Import the example" uses them,
#: and says them next to the file): what the example needs beside the form's defaults. The
#: DataGym example names its images (street_07.jpg), not their ids, which differ on every
#: installation; the Ango Hub CSV needs the plugin's config JSON.
EXAMPLE_OPTIONS: dict[str, dict[str, Any]] = {
    "datagym": {"match_by": "name"},
    "ango_csv": {
        "external_id_column": "External ID",
        "classification_columns": ["Weather", "Comment"],
        "classification_schema_ids": ["demo-weather", "demo-comment"],
    },
}


def example_options(name: str) -> dict[str, Any]:
    """The options the example file of a format is offered with (`EXAMPLE_OPTIONS`), a copy."""
    return copy.deepcopy(EXAMPLE_OPTIONS.get(name, {}))


def format_data(fmt: ImportFormat) -> dict[str, Any]:
    has_example = example_path(fmt.name) is not None
    return {
        "name": fmt.name,
        "label": fmt.label,
        "description": fmt.description,
        "file_kinds": list(fmt.file_kinds),
        "example_url": reverse("api-import-format-example", kwargs={"name": fmt.name}) if has_example else None,
        "example_options": example_options(fmt.name) if has_example else None,
    }


class ImportFormatListApi(APIView):
    pagination_class = None

    @extend_schema(
        operation_id="import_formats_list",
        summary="The import formats: name, label, description, file kinds and an example file",
        responses={200: ImportFormatOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        return Response(ImportFormatOutputSerializer([format_data(fmt) for fmt in format_list()], many=True).data)


class ImportFormatExampleApi(APIView):
    @extend_schema(
        operation_id="import_formats_example",
        summary="A small example file of the format",
        responses={
            **{
                (200, content_type): file_response(content_type)
                for content_type in sorted({example_content_type(path) for path in EXAMPLES_DIR.iterdir()})
            },
            **ERRORS,
        },
    )
    def get(self, request: Request, name: str) -> HttpResponseBase:
        path = example_path(name)
        if path is None:
            raise Http404
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"example-{path.name}",
            content_type=example_content_type(path),
        )
