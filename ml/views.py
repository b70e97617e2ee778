"""The images a connected model server downloads, behind its read-only media token.

A model server fetches `data.image` of the tasks it is sent (`/ml/media/<media id>/<name>`)
with `Authorization: Token <token>` (Label Studio backends send exactly that, `Bearer` too),
the token `ml.tokens` derives for its connection. The token opens the images of its
project's tasks and nothing else: not the API, not another project's media. A wrong or
missing token is 401, a media that is not a task of the project 404 (JSON, never an HTML page),
so a backend's download fails loudly instead of caching a login page as an image.
"""

from __future__ import annotations

from uuid import UUID

from django.http import FileResponse, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from ml import selectors
from projects.models import MediaSource
from projects.services import media_s3_presigned_url


def _plain(status: int, text: str) -> HttpResponse:
    """The API's one error shape (this route lives under /api/)."""
    code = "not_authenticated" if status == 401 else "not_found"
    response = JsonResponse({"error": {"code": code, "message": text, "details": []}}, status=status)
    if status == 401:
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
