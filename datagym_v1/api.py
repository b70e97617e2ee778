"""The DataGym v1 API (reference/datagym.md): one thin view per operation.

Each view reads its input, calls one service or selector, and presents the result in
DataGym's shape; `errors.exception_handler` turns every failure into DataGym's error body.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from datagym_v1 import presenters, selectors
from datagym_v1.errors import DataGymError, bean_validation, detail, exception_handler, semantic_import_error
from datagym_v1.selectors import datagym_export_rows
from datagym_v1.serializers import (
    body_size,
    body_spooled,
    config_entries_input,
    dataset_create_input,
    json_body,
    task_list_input,
    upload_filename,
    url_list_input,
)
from formats.datagym import datagym_segmentation_bitmap
from imports.services import import_items_inline, import_job_create
from labeling.services import task_complete, task_skip, tasks_reset_after_configuration_clear
from labelsite.errors import DomainError, ValidationFailed
from labelsite.uploads import IMAGE_UPLOAD, upload_body_spool
from projects import label_config
from projects.authentication import DataGymTokenAuthentication
from projects.media_urls import site_url
from projects.models import ApiToken, EntryType, LabelEntry, MediaSource, Organization, Project
from projects.selectors import (
    dataset_get_for_organization,
    media_get_for_organization,
    project_get_for_organization,
    user_is_org_admin,
)
from projects.services import (
    dataset_connect,
    dataset_create,
    dataset_disconnect,
    media_create_from_file,
    media_create_from_urls,
    media_delete,
)

#: What DataGym accepts for a raw upload, and how it names the list in its error.
UPLOAD_FORMATS = frozenset({"JPEG", "PNG"})
UPLOAD_MIME_TYPES = "[image/jpeg, image/jpg, image/png]"


class ActsForOrganization(BasePermission):
    """A token of the organisation; a token of a person only if that person is an admin of it."""

    def has_permission(self, request: Any, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        return token.user is None or user_is_org_admin(user=token.user, organization=token.organization_id)


class DataGymView(APIView):
    authentication_classes = [DataGymTokenAuthentication]
    permission_classes = [ActsForOrganization]
    renderer_classes = [JSONRenderer]
    # Bodies are read from request.body by each view (see serializers.py), never request.data.
    parser_classes: list[Any] = []

    def get_exception_handler(self) -> Callable[..., Response]:
        return exception_handler

    def organization(self) -> Organization:
        token = self.request.auth
        if not isinstance(token, ApiToken):  # ActsForOrganization lets only these through
            raise NotAuthenticated()
        return token.organization


def by_method(**views: type[APIView]) -> Callable[..., HttpResponseBase]:
    """One route, one view class per HTTP method (HEAD follows GET)."""
    handlers = {method.upper(): view.as_view() for method, view in views.items()}
    if "GET" in handlers:
        handlers.setdefault("HEAD", handlers["GET"])

    @csrf_exempt
    def dispatch(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        handler = handlers.get(request.method or "")
        if handler is None:
            return DataGymError(405, "ex_method_not_allowed", (request.method,)).json_response()
        return handler(request, *args, **kwargs)

    return dispatch


@csrf_exempt
def unknown_path(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any other path under /api/v1: DataGym's 404, never an HTML page or a redirect."""
    return DataGymError(404, "ex_notfound", ("Resource", "path", request.path)).json_response()


# --- projects and datasets ------------------------------------------------------------------


class ProjectListView(DataGymView):
    def get(self, request: Request) -> Response:
        projects = selectors.datagym_project_list(organization=self.organization())
        return Response([presenters.project_json(project) for project in projects])


class DatasetListView(DataGymView):
    def get(self, request: Request) -> Response:
        datasets = selectors.datagym_dataset_list(organization=self.organization())
        return Response([presenters.dataset_json(dataset) for dataset in datasets])


class DatasetCreateView(DataGymView):
    def post(self, request: Request) -> Response:
        data = dataset_create_input(request.body)
        dataset = dataset_create(
            organization=self.organization(), name=data.name, short_description=data.short_description
        )
        dataset = selectors.datagym_dataset_get(organization=self.organization(), dataset_id=dataset.id)
        return Response(presenters.dataset_json(dataset))


class DatasetGetView(DataGymView):
    def get(self, request: Request, dataset_id: str) -> Response:
        dataset = selectors.datagym_dataset_get(organization=self.organization(), dataset_id=dataset_id)
        return Response(presenters.dataset_json(dataset))


class DatasetConnectView(DataGymView):
    def post(self, request: Request, project_id: str, dataset_id: str) -> Response:
        project = project_get_for_organization(organization=self.organization(), project_id=project_id)
        dataset = dataset_get_for_organization(organization=self.organization(), dataset_id=dataset_id)
        dataset_connect(dataset=dataset, project=project)
        return Response(status=200)


class DatasetDisconnectView(DataGymView):
    def delete(self, request: Request, project_id: str, dataset_id: str) -> Response:
        project = project_get_for_organization(organization=self.organization(), project_id=project_id)
        dataset = dataset_get_for_organization(organization=self.organization(), dataset_id=dataset_id)
        dataset_disconnect(dataset=dataset, project=project)
        return Response(status=200)


# --- media ----------------------------------------------------------------------------------


class MediaUrlImportView(DataGymView):
    def post(self, request: Request, dataset_id: str) -> Response:
        dataset = dataset_get_for_organization(organization=self.organization(), dataset_id=dataset_id)
        urls = url_list_input(request.body)
        results = media_create_from_urls(dataset=dataset, urls=urls)
        return Response([presenters.url_result_json(result) for result in results])


class MediaUploadView(DataGymView):
    def post(self, request: Request, dataset_id: str) -> Response:
        dataset = dataset_get_for_organization(organization=self.organization(), dataset_id=dataset_id)
        name = upload_filename(request.headers)
        # The body is the file: judged by its declared size, then copied to a temporary file as it
        # is read (LABELSITE_MAX_IMAGE_BYTES), never held whole in memory.
        with upload_body_spool(request._request, limit=IMAGE_UPLOAD) as content:
            try:
                media = media_create_from_file(
                    dataset=dataset, name=name, content=content, allowed_formats=UPLOAD_FORMATS
                )
            except ValidationFailed as exc:
                raise _upload_error(exc) from exc
        return Response(presenters.uploaded_media_json(media))


def _upload_error(exc: ValidationFailed) -> DataGymError:
    if exc.code in {"not_an_image", "unsupported_image_format"}:
        detected = exc.params[0] if exc.params and exc.params[0] != "unknown" else "application/octet-stream"
        return bean_validation([detail("data", "ex_val_bin_mime", detected, UPLOAD_MIME_TYPES)])
    if exc.code == "invalid_name":
        return bean_validation([detail("Header: X-filename", "ex_pattern", "Header: X-filename", "[]", "file name")])
    if exc.code == "name_too_long":
        # DataGym's bean validation of a size: params are the field, then max and min (§2).
        return bean_validation([detail("Header: X-filename", "ex_size", "Header: X-filename", *exc.params, 1)])
    return bean_validation([detail("data", f"ex_{exc.code}", exc.message)])


class MediaDownloadView(DataGymView):
    def get(self, request: Request, media_id: str) -> HttpResponseBase:
        media = media_get_for_organization(organization=self.organization(), media_id=media_id)
        if media.source == MediaSource.LOCAL and media.file:
            download = request.query_params.get("dl", "true").strip().lower() not in {"false", "0", "no"}
            response = FileResponse(media.file.open("rb"), content_type=media.mime_type or "application/octet-stream")
            response["Content-Length"] = str(media.file.size)
            if download:
                response["Content-Disposition"] = f'attachment; filename="{quote(media.name)}"'
            elif "Content-Disposition" in response:
                del response["Content-Disposition"]
            return response
        if media.url.startswith(("http://", "https://")):
            # Not fetched by the server (no requests to arbitrary hosts): the client follows this.
            return HttpResponse(status=302, headers={"Location": media.url})
        raise DataGymError(404, "ex_notfound", ("media", "id", str(media.id)))


class MediaDeleteView(DataGymView):
    def delete(self, request: Request, media_id: str) -> Response:
        media = media_get_for_organization(organization=self.organization(), media_id=media_id, include_deleted=True)
        media_delete(media=media)
        return Response(status=200)


# --- label configuration ----------------------------------------------------------------------


class ConfigClearView(DataGymView):
    def delete(self, request: Request, config_id: str) -> Response:
        configuration = selectors.datagym_configuration_get(
            organization=self.organization(), configuration_id=config_id
        )
        with transaction.atomic():
            label_config.label_config_clear(configuration=configuration)
            tasks_reset_after_configuration_clear(project=configuration.project)
        return Response({"configId": str(configuration.id)})


class ConfigReplaceView(DataGymView):
    def put(self, request: Request, config_id: str) -> Response:
        configuration = selectors.datagym_configuration_get(
            organization=self.organization(), configuration_id=config_id
        )
        entries = config_entries_input(request.body)
        with transaction.atomic():
            if not label_config.label_config_is_empty(configuration=configuration):
                raise DataGymError(500, "ex_gen_config_not_cleared", (str(configuration.id),))
            label_config.label_config_replace(configuration=configuration, entries=entries)
        state_counts = dict(configuration.project.tasks.values_list("state").annotate(n=Count("pk")).order_by())
        return Response(
            presenters.configuration_json(
                configuration,
                entries=label_config.label_config_datagym_entries(configuration=configuration),
                state_counts=state_counts,
            )
        )


# --- export ---------------------------------------------------------------------------------


class ExportView(DataGymView):
    def get(self, request: Request, project_id: str) -> HttpResponseBase:
        project = project_get_for_organization(organization=self.organization(), project_id=project_id)
        filename = f"datagym_export_{int(time.time() * 1000)}_{project.name}.json"
        headers = {"Content-Disposition": f'attachment; filename="{quote(filename)}"'}
        if request.method == "HEAD":
            return HttpResponse(content_type="application/json", headers=headers)
        # The bitmap links under the site's public address (LABELSITE_PUBLIC_URL, else this request's).
        rows = datagym_export_rows(project=project, api_url=f"{site_url(request=request)}/api/v1")
        return StreamingHttpResponse(_json_array(rows), content_type="application/json", headers=headers)


def _json_array(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    yield b"["
    for i, row in enumerate(rows):
        yield (b"," if i else b"") + json.dumps(row, ensure_ascii=False).encode()
    yield b"]"


class SegmentationBitmapView(DataGymView):
    def get(self, request: Request, task_id: str, entry_key: str) -> HttpResponse:
        task = selectors.datagym_task_get(organization=self.organization(), task_id=task_id)
        entry = LabelEntry.objects.filter(
            configuration__project_id=task.project_id, key=entry_key, type=EntryType.SEGMENTATION
        ).first()
        if entry is None:
            raise DataGymError(404, "ex_notfound", ("lcEntry", "entry_key", entry_key))
        return HttpResponse(
            datagym_segmentation_bitmap(
                rings=selectors.segmentation_rings(task=task, entry=entry),
                width=task.media.width,
                height=task.media.height,
            ),
            content_type="image/bmp",
        )


# --- prediction import ------------------------------------------------------------------------

NO_CONTENT = "Unable to parse the content. No data available?"
NOT_AN_ARRAY = "A JSONArray text must start with '[' at 1 [character 2 line 1]"


def _non_finite(constant: str) -> float:
    # NaN and Infinity are not JSON; Python's json accepts them, the database does not.
    raise json.JSONDecodeError(f"{constant} is not a number JSON allows", constant, 0)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise json.JSONDecodeError(f"the number {text[:40]} is too large", text, 0)
    return value


def _int64(text: str) -> int:
    # As the job path's parser (yajl) does: an integer beyond 64 bits is refused. Without this,
    # 10**400 passed on to the converter, and 5,000 digits made `int` raise ValueError (a 500).
    if len(text.lstrip("-")) > 19 or not -(2**63) <= (value := int(text)) < 2**63:
        raise json.JSONDecodeError(f"the integer {text[:40]} is too large", text, 0)
    return value


class PredictionImportView(DataGymView):
    def post(self, request: Request, project_id: str) -> Response:
        project = project_get_for_organization(organization=self.organization(), project_id=project_id)
        size = body_size(request.META)
        if size > settings.LABELSITE_V1_INLINE_MAX_BYTES:
            return self.queue(request, project, size)
        raw = request.body
        if not raw.strip():
            raise DataGymError(500, "ex_gen_error_messages", (NO_CONTENT,))
        try:
            items = json.loads(raw, parse_constant=_non_finite, parse_float=_finite_float, parse_int=_int64)
        except json.JSONDecodeError as exc:
            return Response({"errorMessages": f"line: {exc.lineno}, column: {exc.colno}\n{exc.msg}"})
        except UnicodeDecodeError as exc:
            return Response({"errorMessages": f"line: 1, column: {exc.start + 1}\n{exc.reason}"})
        except RecursionError:
            # json.loads recurses once per level: 100,000 nested arrays must not become a 500.
            return Response({"errorMessages": "line: 1, column: 1\nThe JSON is nested too deeply."})
        if not isinstance(items, list):
            raise DataGymError(500, "ex_gen_error_messages", (NOT_AN_ARRAY,))
        try:
            # No transaction around it: the service validates with none open, then writes in
            # short batches (on SQLite one would hold every organisation's writes meanwhile).
            import_items_inline(project=project, items=items)
        except ValidationFailed as exc:
            if exc.code == "schema_invalid":
                return Response({"errorMessages": presenters.schema_errors_text(exc.details)})
            raise semantic_import_error(exc) from exc
        except DomainError as exc:
            raise semantic_import_error(exc) from exc
        return Response({"errorMessages": ""})

    def queue(self, request: Request, project: Project, size: int) -> Response:
        """A body over the inline cap: streamed to storage and imported by a worker as a job.

        The job validates the whole file before it writes (a file with errors writes nothing)
        and writes each valid request at once, each item's keepData deciding, as DataGym does.
        202, with DataGym's answer and the job to follow (its errors are reported there).
        """
        token = request.auth
        with body_spooled(
            request.stream, size=size, limit=settings.LABELSITE_MAX_IMPORT_BYTES, name="predictions.json"
        ) as body:
            job = import_job_create(
                project=project,
                user=token.user if isinstance(token, ApiToken) else None,
                file=body,
                file_name="datagym-v1-predictions.json",
                format="datagym",
                options={"write_when_valid": True},
            )
        url = request.build_absolute_uri(reverse("api-import", kwargs={"job_id": job.pk}))
        return Response(presenters.prediction_job_json(job.pk, url=url), status=202)


# --- tasks ----------------------------------------------------------------------------------


class TaskListView(DataGymView):
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get_for_organization(organization=self.organization(), project_id=project_id)
        query = task_list_input(request.query_params)
        tasks = selectors.datagym_task_list(project=project, search=query.search, state=query.state, limit=query.limit)
        return Response([presenters.task_json(task) for task in tasks])


class TaskGetView(DataGymView):
    def get(self, request: Request, task_id: str) -> Response:
        task = selectors.datagym_task_get(organization=self.organization(), task_id=task_id)
        return Response(presenters.task_json(task))


class TaskSkipView(DataGymView):
    def put(self, request: Request, task_id: str) -> Response:
        task = selectors.datagym_task_get(organization=self.organization(), task_id=task_id)
        return Response(presenters.task_json(task_skip(task=task)))


class TaskCompleteView(DataGymView):
    def put(self, request: Request, task_id: str) -> Response:
        task = selectors.datagym_task_get(organization=self.organization(), task_id=task_id)
        body = json_body(request.body, when_empty={})
        last_changed = body.get("lastChangedConfig") if isinstance(body, dict) else None
        changed_at = presenters.epoch_ms(task.project.label_configuration.updated_at) or 0
        if isinstance(last_changed, int) and changed_at > last_changed:
            # The labeler saw an older configuration: DataGym refuses to complete then.
            return Response({"hasLabelConfigChanged": True, "currentTaskId": str(task.id)})
        task_complete(task=task)
        return Response({"hasLabelConfigChanged": False, "currentTaskId": str(task.id)})
