"""The native API of model servers (under /api/): connections, pre-label jobs, interactive calls,
predictions by model version and their acceptance in bulk.

One class per operation: the caller checked first (`ml.selectors`), then the input, then one
service or selector call. Connecting, pre-labelling and accepting are for the project's admins;
the interactive call is for whoever may label the task. Errors become the one error shape of
`labelsite.api`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import FileResponse, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labelsite.errors import NotFound
from ml import selectors, services
from ml.models import BackendState, JobStatus, MLBackend, PredictionAcceptJob, PrelabelJob, PrelabelScope
from projects.media_urls import site_url
from projects.models import MediaSource
from projects.selectors import project_get_for_admin
from projects.serializers import ERRORS, ERRORS_WITH_CONFLICT
from projects.services import media_s3_presigned_url

# --- serializers -----------------------------------------------------------------------------


class BackendInputSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="The model server's base URL, e.g. http://models.internal:9090.")
    title = serializers.CharField(required=False, allow_blank=True, max_length=128)
    auth_header_name = serializers.CharField(
        required=False, allow_blank=True, help_text="The header the server wants (default Authorization)."
    )
    auth_header_value = serializers.CharField(
        required=False, allow_blank=True, help_text="Its value, e.g. 'Basic dXNlcjpwYXNz'; write-only."
    )
    interactive = serializers.BooleanField(required=False, help_text="It answers clicks and boxes.")
    max_concurrency = serializers.IntegerField(required=False, help_text="/predict calls in flight (1-16).")
    batch_size = serializers.IntegerField(required=False, help_text="Tasks per /predict call (1-500).")
    timeout_seconds = serializers.FloatField(required=False, help_text="Seconds one /predict may take (1-600).")


class BackendUpdateSerializer(BackendInputSerializer):
    url = None  # type: ignore[assignment]  # the URL of a connection stays; connect another one instead


class BackendOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    title = serializers.CharField()
    url = serializers.CharField()
    auth_header_name = serializers.CharField()
    has_auth_header = serializers.BooleanField()
    interactive = serializers.BooleanField()
    max_concurrency = serializers.IntegerField()
    batch_size = serializers.IntegerField()
    timeout_seconds = serializers.FloatField()
    state = serializers.ChoiceField(choices=BackendState.choices)
    state_message = serializers.CharField()
    checked_at = serializers.DateTimeField(allow_null=True)
    model_version = serializers.CharField()
    created_at = serializers.DateTimeField()


class InteractiveBackendSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    model_version = serializers.CharField()


class PrelabelInputSerializer(serializers.Serializer):
    backend_id = serializers.UUIDField(help_text="The connected model server to ask.")
    scope = serializers.ChoiceField(choices=PrelabelScope.choices, default=PrelabelScope.UNLABELED)
    task_ids = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="With scope 'tasks': the tasks to pre-label."
    )


class ErrorItemSerializer(serializers.Serializer):
    path = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()


class PrelabelJobOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    backend_id = serializers.UUIDField()
    backend_title = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    scope = serializers.ChoiceField(choices=PrelabelScope.choices)
    progress = serializers.FloatField(help_text="0 to 1.")
    tasks_total = serializers.IntegerField()
    tasks_done = serializers.IntegerField()
    tasks_failed = serializers.IntegerField()
    predictions_written = serializers.IntegerField()
    model_version = serializers.CharField()
    cancel_requested = serializers.BooleanField()
    errors = ErrorItemSerializer(many=True)  # type: ignore[assignment]  # the field is named errors
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class InteractiveInputSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    shape = serializers.DictField(
        help_text="The click or box: {key (a class), type 'point' or 'rectangle', points in pixels, negative}."
    )


class PredictedLabelSerializer(serializers.Serializer):
    key = serializers.CharField()
    type = serializers.CharField()
    points = serializers.JSONField()
    rotation = serializers.FloatField()
    answers = serializers.DictField()
    source = serializers.CharField()  # type: ignore[assignment]  # the field is named source
    score = serializers.FloatField(allow_null=True)
    model_version = serializers.CharField()
    children = serializers.ListField(child=serializers.DictField())


class InteractiveOutputSerializer(serializers.Serializer):
    labels = PredictedLabelSerializer(many=True)
    model_version = serializers.CharField()
    seconds = serializers.FloatField(help_text="The model server's round trip.")


class PredictionVersionSerializer(serializers.Serializer):
    model_version = serializers.CharField()
    predictions = serializers.IntegerField(help_text="Predictions of this version waiting to be accepted or dismissed.")
    mean_score = serializers.FloatField(allow_null=True)
    accepted = serializers.IntegerField(help_text="Predictions of this version accepted as they were.")
    edited = serializers.IntegerField(help_text="Predictions of this version accepted with changes.")
    deleted = serializers.IntegerField(help_text="Predictions of this version deleted (dismissed).")


class AcceptInputSerializer(serializers.Serializer):
    min_score = serializers.FloatField(help_text="Accept predictions with at least this score (0-1).")
    model_version = serializers.CharField(required=False, allow_blank=True, help_text="Only this version.")


class AcceptJobOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    min_score = serializers.FloatField()
    model_version = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    predictions_total = serializers.IntegerField()
    accepted = serializers.IntegerField()
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


def backend_data(backend: MLBackend) -> dict[str, Any]:
    return {
        "id": backend.id,
        "project_id": backend.project_id,
        "title": backend.title,
        "url": backend.url,
        "auth_header_name": backend.auth_header_name,
        "has_auth_header": bool(backend.auth_header_value),
        "interactive": backend.interactive,
        "max_concurrency": backend.max_concurrency,
        "batch_size": backend.batch_size,
        "timeout_seconds": backend.timeout_seconds,
        "state": backend.state,
        "state_message": backend.state_message,
        "checked_at": backend.checked_at,
        "model_version": backend.model_version,
        "created_at": backend.created_at,
    }


def prelabel_job_data(job: PrelabelJob) -> dict[str, Any]:
    total = job.tasks_total
    return {
        "id": job.id,
        "project_id": job.project_id,
        "backend_id": job.backend_id,
        "backend_title": job.backend.title,
        "status": job.status,
        "scope": job.scope,
        "progress": 1.0 if job.status == JobStatus.SUCCEEDED else (min(1.0, job.tasks_done / total) if total else 0.0),
        "tasks_total": total,
        "tasks_done": job.tasks_done,
        "tasks_failed": job.tasks_failed,
        "predictions_written": job.predictions_written,
        "model_version": job.model_version,
        "cancel_requested": job.cancel_requested,
        "errors": job.errors,
        "message": job.message,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def accept_job_data(job: PredictionAcceptJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "project_id": job.project_id,
        "min_score": job.min_score,
        "model_version": job.model_version,
        "status": job.status,
        "predictions_total": job.predictions_total,
        "accepted": job.accepted,
        "message": job.message,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


# --- connections -----------------------------------------------------------------------------


class BackendCollectionApi(APIView):
    @extend_schema(
        operation_id="ml_backends_list",
        summary="The project's connected model servers (admins)",
        responses={200: BackendOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(user=request.user, project_id=project_id)
        backends = selectors.backend_list(project=project)
        return Response(BackendOutputSerializer([backend_data(b) for b in backends], many=True).data)

    @extend_schema(
        operation_id="ml_backends_create",
        summary="Connect a model server speaking Label Studio's ML backend protocol (admins)",
        description="The URL passes the URL guard (public addresses, or hosts in LABELSITE_ML_HOST_ALLOWLIST); "
        "the server is then asked GET /health and POST /setup, and is connected even when down.",
        request=BackendInputSerializer,
        responses={201: BackendOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(user=request.user, project_id=project_id)
        data = BackendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        backend = services.backend_create(
            project=project, created_by=request.user, site_url=site_url(request=request), **data.validated_data
        )
        return Response(BackendOutputSerializer(backend_data(backend)).data, status=status.HTTP_201_CREATED)


class BackendApi(APIView):
    @extend_schema(
        operation_id="ml_backends_get",
        summary="A connected model server",
        responses={200: BackendOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, backend_id: str) -> Response:
        backend = selectors.backend_get_for_admin(user=request.user, backend_id=backend_id)
        return Response(BackendOutputSerializer(backend_data(backend)).data)

    @extend_schema(
        operation_id="ml_backends_update",
        summary="Change a connection's title, auth header, interactive flag or limits",
        request=BackendUpdateSerializer,
        responses={200: BackendOutputSerializer, **ERRORS},
    )
    def patch(self, request: Request, backend_id: str) -> Response:
        backend = selectors.backend_get_for_admin(user=request.user, backend_id=backend_id)
        data = BackendUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        backend = services.backend_update(backend=backend, **data.validated_data)
        return Response(BackendOutputSerializer(backend_data(backend)).data)

    @extend_schema(
        operation_id="ml_backends_delete",
        summary="Disconnect a model server (its predictions stay; its media token stops working)",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, backend_id: str) -> Response:
        backend = selectors.backend_get_for_admin(user=request.user, backend_id=backend_id)
        services.backend_delete(backend=backend)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BackendCheckApi(APIView):
    @extend_schema(
        operation_id="ml_backends_check",
        summary="Ask the server again for its health and model version",
        request=None,
        responses={200: BackendOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, backend_id: str) -> Response:
        backend = selectors.backend_get_for_admin(user=request.user, backend_id=backend_id)
        backend = services.backend_check(backend=backend)
        return Response(BackendOutputSerializer(backend_data(backend)).data)


class BackendTokenOutputSerializer(BackendOutputSerializer):
    media_token = serializers.CharField(
        help_text="The new media token, shown here only: a v2 backend's LABEL_STUDIO_API_KEY (v1 gets it at /setup)."
    )


class BackendTokenApi(APIView):
    @extend_schema(
        operation_id="ml_backends_token_renew",
        summary="Renew the server's media token and show it once (the old one stops working)",
        description="v1 backends get the new token at their next /setup; a v2 backend reads it from its "
        "environment (LABEL_STUDIO_API_KEY), so set it there.",
        request=None,
        responses={200: BackendTokenOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, backend_id: str) -> Response:
        backend = selectors.backend_get_for_admin(user=request.user, backend_id=backend_id)
        backend = services.backend_check(backend=services.backend_token_rotate(backend=backend))
        data = {**backend_data(backend), "media_token": services.backend_media_token(backend=backend)}
        return Response(BackendTokenOutputSerializer(data).data)


# --- pre-label jobs --------------------------------------------------------------------------


class PrelabelCollectionApi(APIView):
    @extend_schema(
        operation_id="ml_prelabel_jobs_list",
        summary="The project's pre-label jobs, newest first (admins)",
        responses={200: PrelabelJobOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(user=request.user, project_id=project_id)
        jobs = selectors.prelabel_job_list(project=project)[:50]
        return Response(PrelabelJobOutputSerializer([prelabel_job_data(j) for j in jobs], many=True).data)

    @extend_schema(
        operation_id="ml_prelabel_jobs_create",
        summary="Pre-label in the background: every open task without labels, or the listed task ids",
        description="One job at a time per model server (409 job_running). The worker sends the tasks in batches "
        "to /predict and stores the answers as predictions, with progress; cancel with POST .../cancel.",
        request=PrelabelInputSerializer,
        responses={201: PrelabelJobOutputSerializer, **ERRORS_WITH_CONFLICT},
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(user=request.user, project_id=project_id)
        data = PrelabelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        backend = selectors.backend_get_for_admin(user=request.user, backend_id=data.validated_data["backend_id"])
        if backend.project_id != project.pk:
            raise NotFound(code="not_found", message="No such model server in this project.")
        job = services.prelabel_job_create(
            backend=backend,
            scope=data.validated_data["scope"],
            task_ids=data.validated_data.get("task_ids"),
            created_by=request.user,
        )
        return Response(PrelabelJobOutputSerializer(prelabel_job_data(job)).data, status=status.HTTP_201_CREATED)


class PrelabelJobApi(APIView):
    @extend_schema(
        operation_id="ml_prelabel_jobs_get",
        summary="A pre-label job's status, progress and errors",
        responses={200: PrelabelJobOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, prelabel_job_id: str) -> Response:
        job = selectors.prelabel_job_get_for_admin(user=request.user, job_id=prelabel_job_id)
        return Response(PrelabelJobOutputSerializer(prelabel_job_data(job)).data)


class PrelabelJobCancelApi(APIView):
    @extend_schema(
        operation_id="ml_prelabel_jobs_cancel",
        summary="Cancel a pre-label job (a running one stops after the batches in flight)",
        request=None,
        responses={200: PrelabelJobOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, prelabel_job_id: str) -> Response:
        job = selectors.prelabel_job_get_for_admin(user=request.user, job_id=prelabel_job_id)
        job = services.prelabel_job_cancel(job=job)
        return Response(PrelabelJobOutputSerializer(prelabel_job_data(job)).data)


class PrelabelJobRetryApi(APIView):
    @extend_schema(
        operation_id="ml_prelabel_jobs_retry",
        summary="Send the tasks a finished job got no predictions for again, as a new job",
        request=None,
        responses={201: PrelabelJobOutputSerializer, **ERRORS_WITH_CONFLICT},
    )
    def post(self, request: Request, prelabel_job_id: str) -> Response:
        job = selectors.prelabel_job_get_for_admin(user=request.user, job_id=prelabel_job_id)
        retry = services.prelabel_job_retry(job=job, created_by=request.user)
        return Response(PrelabelJobOutputSerializer(prelabel_job_data(retry)).data, status=status.HTTP_201_CREATED)


# --- interactive -----------------------------------------------------------------------------


class InteractiveBackendListApi(APIView):
    @extend_schema(
        operation_id="ml_backends_interactive_list",
        summary="The project's interactive model servers (for the labeling page)",
        responses={200: InteractiveBackendSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, project_id: str) -> Response:
        backends = selectors.interactive_backends_for_user(user=request.user, project_id=project_id)
        return Response(
            InteractiveBackendSerializer(
                [{"id": b.id, "title": b.title, "model_version": b.model_version} for b in backends], many=True
            ).data
        )


class InteractiveApi(APIView):
    @extend_schema(
        operation_id="ml_backends_interactive",
        summary="Send a click (point) or a box on a task to an interactive model server; its regions come back",
        description="The answer is not stored: the labeling page shows the regions as predictions to accept or "
        "dismiss. 409 backend_failed when the server fails; 400 when its answer does not fit the configuration.",
        request=InteractiveInputSerializer,
        responses={200: InteractiveOutputSerializer, **ERRORS_WITH_CONFLICT},
    )
    def post(self, request: Request, backend_id: str) -> Response:
        data = InteractiveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        backend, task = selectors.backend_get_for_task(
            user=request.user, backend_id=backend_id, task_id=data.validated_data["task_id"]
        )
        answer = services.interactive_predict(backend=backend, task=task, shape=data.validated_data["shape"])
        return Response(InteractiveOutputSerializer(answer).data)


# --- predictions in bulk ----------------------------------------------------------------------


class PredictionVersionListApi(APIView):
    @extend_schema(
        operation_id="ml_prediction_versions",
        summary="The project's predictions by model version: waiting, mean score, accepted (admins)",
        responses={200: PredictionVersionSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(user=request.user, project_id=project_id)
        return Response(PredictionVersionSerializer(selectors.prediction_versions(project=project), many=True).data)


class AcceptCollectionApi(APIView):
    @extend_schema(
        operation_id="ml_prediction_accept",
        summary="Accept every prediction with a score >= min_score (of one model version) as labels, in the background",
        request=AcceptInputSerializer,
        responses={201: AcceptJobOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(user=request.user, project_id=project_id)
        data = AcceptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.accept_job_create(
            project=project,
            min_score=data.validated_data["min_score"],
            model_version=data.validated_data.get("model_version", ""),
            created_by=request.user,
        )
        return Response(AcceptJobOutputSerializer(accept_job_data(job)).data, status=status.HTTP_201_CREATED)


class AcceptJobApi(APIView):
    @extend_schema(
        operation_id="ml_prediction_accept_get",
        summary="An accept job's status and count",
        responses={200: AcceptJobOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, accept_job_id: str) -> Response:
        job = selectors.accept_job_get_for_admin(user=request.user, job_id=accept_job_id)
        return Response(AcceptJobOutputSerializer(accept_job_data(job)).data)


# --- the images a model server downloads ----------------------------------------------------
#
# The images a connected model server downloads, behind its read-only media token.
#
# A model server fetches `data.image` of the tasks it is sent (`/api/ml/media/<media id>/<name>`)
# with `Authorization: Token <token>` (Label Studio backends send exactly that, `Bearer` too),
# the token `ml.tokens` derives for its connection. The token opens the images of its
# project's tasks and nothing else: not the API, not another project's media. A wrong or
# missing token is 401, a media that is not a task of the project 404 (JSON, never an HTML page),
# so a backend's download fails loudly instead of caching a login page as an image.


def _plain(http_status: int, text: str) -> HttpResponse:
    """The API's one error shape (this route lives under /api/)."""
    code = "not_authenticated" if http_status == 401 else "not_found"
    response = JsonResponse({"error": {"code": code, "message": text, "details": []}}, status=http_status)
    if http_status == 401:
        response["WWW-Authenticate"] = 'Token realm="labelsite-ml-media"'
    return response


class MlMediaFileApi(APIView):
    """No session and no API token: the connection's media token alone, checked here."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        operation_id="ml_media_file",
        summary="An image of the project, for the model server that holds the connection's media token",
        description="Send Authorization: Token <media token> (the access_token of /setup). 401 for any other "
        "credential, 404 for a media that is not a task of the connection's project.",
        responses={200: OpenApiResponse(response=OpenApiTypes.BINARY), 401: None, 404: None},
    )
    def get(self, request: Request, media_id: UUID, name: str) -> HttpResponseBase:
        return ml_media_file(request, media_id)


def ml_media_file(request: Request, media_id: UUID) -> HttpResponseBase:
    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() not in {"token", "bearer"} or not raw.strip():
        return _plain(401, "Send the model server's media token: Authorization: Token <token>.")
    backend = selectors.backend_for_media_token(raw=raw.strip())
    if backend is None:
        return _plain(401, "The token is not a model server's media token (it may have been renewed).")
    media = selectors.media_for_backend(backend=backend, media_id=media_id)
    if media is None:
        return _plain(404, "No such image in the model server's project.")
    if media.source == MediaSource.LOCAL:
        if not media.file:
            return _plain(404, "The media has no file.")
        response = FileResponse(media.file.open("rb"), content_type=media.mime_type or "application/octet-stream")
        response["Cache-Control"] = "private, max-age=3600"
        return response
    if media.source == MediaSource.S3:
        return redirect(media_s3_presigned_url(media=media))
    return redirect(media.url)
