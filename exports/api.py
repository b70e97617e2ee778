"""The native API of exports (under /api/): export jobs, their files, direct downloads, the formats.

One class per operation: an input serializer, one service or selector call, an output
serializer. Exports are for admins and reviewers (`exports.selectors.export_project_get`):
other members get 403, anyone outside the organisation 404. Errors become the one error
shape of `labelsite.api`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exports import driver, reader, selectors, services
from exports.models import ExportJob, ExportStatus
from formats import export_format_get, export_format_list
from formats.writing import ExportFormat
from projects.media_urls import site_url
from projects.serializers import ERRORS, ERRORS_WITH_CONFLICT, file_response

# --- serializers -----------------------------------------------------------------------------


class ExportCreateInputSerializer(serializers.Serializer):
    format = serializers.CharField(help_text="A name from GET /api/export-formats.")
    filters = serializers.DictField(
        required=False,
        help_text="states (default completed, skipped, reviewed), datasets (ids), updated_from, updated_to "
        "(ISO dates or date-times of the task's last change), include_predictions (default false); the task "
        "browser's selection: task_ids (at most 10,000) and tasks (a browser query, the parameters of "
        "GET /api/projects/{id}/tasks), every state by default.",
    )


class ExportJobOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    format = serializers.CharField()
    filters = serializers.DictField()
    status = serializers.ChoiceField(choices=ExportStatus.choices)
    progress = serializers.FloatField(allow_null=True, help_text="0 to 1; null until the task count is known.")
    tasks_total = serializers.IntegerField(allow_null=True)
    tasks_done = serializers.IntegerField()
    file_name = serializers.CharField()
    file_size = serializers.IntegerField()
    download_url = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class ExportFormatOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the field is named label
    description = serializers.CharField()
    extension = serializers.CharField()
    content_type = serializers.CharField()


class ExportStreamQuerySerializer(serializers.Serializer):
    format = serializers.CharField()
    states = serializers.CharField(required=False, help_text="Comma-separated task states.")
    datasets = serializers.CharField(required=False, help_text="Comma-separated dataset ids.")
    updated_from = serializers.CharField(required=False)
    updated_to = serializers.CharField(required=False)
    include_predictions = serializers.BooleanField(required=False)


def export_job_data(job: ExportJob) -> dict[str, Any]:
    ready = job.status == ExportStatus.SUCCEEDED and bool(job.file)
    return {
        "id": job.pk,
        "project_id": job.project_id,
        "format": job.format,
        "filters": job.filters,
        "status": job.status,
        "progress": selectors.export_job_progress(job=job),
        "tasks_total": job.tasks_total,
        "tasks_done": job.tasks_done,
        "file_name": job.file_name,
        "file_size": job.file_size,
        "download_url": reverse("api-export-download", kwargs={"job_id": job.pk}) if ready else None,
        "message": job.message,
        "created_by": job.created_by.get_username() if job.created_by else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def export_format_data(fmt: ExportFormat) -> dict[str, Any]:
    return {
        "name": fmt.name,
        "label": fmt.label,
        "description": fmt.description,
        "extension": fmt.extension,
        "content_type": fmt.content_type,
    }


def export_file_responses() -> dict[Any, Any]:
    """The file answers of the download operations: one content type per export format's."""
    content_types = sorted({fmt.content_type for fmt in export_format_list()})
    return {(200, content_type): file_response(content_type) for content_type in content_types}


def _attachment(file_name: str) -> str:
    return f"attachment; filename=\"{file_name}\"; filename*=UTF-8''{quote(file_name)}"


# --- operations ------------------------------------------------------------------------------


class ExportListApi(APIView):
    @extend_schema(
        operation_id="exports_list",
        summary="The project's exports, newest first (admins and reviewers)",
        responses={200: ExportJobOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = selectors.export_project_get(user=request.user, project_id=project_id)
        jobs = selectors.export_job_list(project=project)[:100]
        return Response(ExportJobOutputSerializer([export_job_data(job) for job in jobs], many=True).data)


class ExportCreateApi(APIView):
    @extend_schema(
        operation_id="exports_create",
        summary="Start an export job: it runs in the background and writes a file to storage",
        request=ExportCreateInputSerializer,
        responses={201: ExportJobOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, project_id: str) -> Response:
        data = ExportCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = selectors.export_project_get(user=request.user, project_id=project_id)
        job = services.export_job_create(
            project=project,
            format=data.validated_data["format"],
            filters=data.validated_data.get("filters"),
            created_by=request.user,
            site_url=site_url(request=request),
        )
        return Response(ExportJobOutputSerializer(export_job_data(job)).data, status=status.HTTP_201_CREATED)


# /api/projects/{id}/exports: GET lists, POST creates.
class ExportCollectionApi(ExportListApi, ExportCreateApi):
    pass


class ExportGetApi(APIView):
    @extend_schema(
        operation_id="exports_get",
        summary="An export's status, progress and download URL",
        responses={200: ExportJobOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, job_id: str) -> Response:
        job = selectors.export_job_get(user=request.user, job_id=job_id)
        return Response(ExportJobOutputSerializer(export_job_data(job)).data)


class ExportDownloadApi(APIView):
    @extend_schema(
        operation_id="exports_download",
        summary="The finished export's file, streamed from storage",
        responses={**export_file_responses(), **ERRORS_WITH_CONFLICT},
    )
    def get(self, request: Request, job_id: str) -> HttpResponseBase:
        job = selectors.export_job_get(user=request.user, job_id=job_id)
        fmt = export_format_get(name=job.format)
        response = FileResponse(selectors.export_job_open(job=job), content_type=fmt.content_type)
        response["Content-Disposition"] = _attachment(job.file_name)
        if job.file_size:
            response["Content-Length"] = str(job.file_size)
        return response


class _FormatIsTheExportFormat(DefaultContentNegotiation):
    """`?format=` names the export format here, not a DRF renderer: answer with the first renderer."""

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        renderer = renderers[0]
        return renderer, renderer.media_type


class ExportStreamApi(APIView):
    content_negotiation_class = _FormatIsTheExportFormat

    @extend_schema(
        operation_id="exports_stream",
        summary="Download a small export at once (up to 20,000 tasks), streamed as it is written",
        parameters=[ExportStreamQuerySerializer],
        responses={**export_file_responses(), **ERRORS_WITH_CONFLICT},
    )
    def get(self, request: Request, project_id: str) -> HttpResponseBase:
        query = ExportStreamQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        project = selectors.export_project_get(user=request.user, project_id=project_id)
        fmt = export_format_get(name=values["format"])
        raw: dict[str, Any] = {}
        for name in ("states", "datasets"):
            if values.get(name):
                raw[name] = [part.strip() for part in values[name].split(",") if part.strip()]
        for name in ("updated_from", "updated_to", "include_predictions"):
            if name in values:
                raw[name] = values[name]
        filters = reader.export_filters_clean(project=project, raw=raw)
        source = reader.ExportReader(
            project=project,
            filters=filters,
            api_url=f"{site_url(request=request)}/api/v1",
            site_url=site_url(request=request),
            # A web request fetches no image to learn a size (the worker's probe and export jobs do).
            sizeless_labels_left_out=fmt.needs_media_size,
        )
        driver.export_stream_check(reader=source)
        left_out = source.sizeless_tasks().count() if fmt.needs_media_size else 0
        response = StreamingHttpResponse(
            driver.export_stream(reader=source, format=fmt.name), content_type=fmt.content_type
        )
        response["Content-Disposition"] = _attachment(driver.export_file_name(project=project, fmt=fmt))
        if left_out:
            # Tasks whose image size is not known yet: exported without their regions.
            response["X-Labelsite-Regions-Left-Out"] = str(left_out)
        return response


class ExportFormatListApi(APIView):
    @extend_schema(
        operation_id="export_formats_list",
        summary="The formats a project can be exported in",
        responses={200: ExportFormatOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        return Response(
            ExportFormatOutputSerializer([export_format_data(fmt) for fmt in export_format_list()], many=True).data
        )


__all__ = [
    "ExportCollectionApi",
    "ExportDownloadApi",
    "ExportFormatListApi",
    "ExportGetApi",
    "ExportStreamApi",
]
