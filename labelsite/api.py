"""The native API's one error contract: every error is
`{"error": {"code", "message", "details": [{"path", "code", "message"}]}}`."""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from labelsite import errors
from labelsite.uploads import SizeLimitedUploadHandler, UploadLimit, upload_limit_install

logger = logging.getLogger(__name__)

#: Seconds a client is asked to wait after the database failed a request.
DATABASE_RETRY_AFTER_SECONDS = 2

DOMAIN_STATUS: dict[type[errors.DomainError], int] = {
    errors.ValidationFailed: status.HTTP_400_BAD_REQUEST,
    errors.NotFound: status.HTTP_404_NOT_FOUND,
    errors.AlreadyExists: status.HTTP_409_CONFLICT,
    errors.Conflict: status.HTTP_409_CONFLICT,
    errors.PreconditionRequired: status.HTTP_428_PRECONDITION_REQUIRED,
    errors.PermissionDenied: status.HTTP_403_FORBIDDEN,
    errors.Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    errors.TooLarge: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
}


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def _drf_details(data: Any, path: str = "") -> list[dict[str, Any]]:
    """Flatten DRF's nested validation errors into located details."""
    if isinstance(data, dict):
        out: list[dict[str, Any]] = []
        for key, value in data.items():
            child = f"{path}.{key}" if path else str(key)
            out.extend(_drf_details(value, "" if key == "non_field_errors" else child))
        return out
    if isinstance(data, list):
        if all(isinstance(item, exceptions.ErrorDetail | str) for item in data):
            return [{"path": path, "code": getattr(item, "code", "invalid"), "message": str(item)} for item in data]
        out = []
        for index, item in enumerate(data):
            out.extend(_drf_details(item, f"{path}[{index}]"))
        return out
    return [{"path": path, "code": getattr(data, "code", "invalid"), "message": str(data)}]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, errors.DomainError):
        http_status = next(
            (code for cls, code in DOMAIN_STATUS.items() if isinstance(exc, cls)), status.HTTP_400_BAD_REQUEST
        )
        return Response(error_body(exc.code, exc.message, [d.as_dict() for d in exc.details]), status=http_status)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            error_body(
                "request_too_large",
                f"The request body is larger than {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE); "
                "send files as multipart.",
            ),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFilesSent | TooManyFieldsSent):
        # Django refuses the multipart body (DATA_UPLOAD_MAX_NUMBER_FILES / _FIELDS): it was a 500.
        return Response(
            error_body(
                "too_many_parts",
                f"{exc} Send the files in several requests of at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES} "
                f"files (and {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields) each.",
            ),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, OperationalError | InterfaceError):
        # The database dropped the connection or is locked: a clean, retryable answer.
        logger.warning("The database failed during an API request: %s", exc)
        return Response(
            error_body("database_unavailable", "The database is not answering right now; try again in a moment."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in the API", exc_info=exc)
        return Response(
            error_body("server_error", "Something went wrong on our side; the error has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid", "The request is not valid; see details.", _drf_details(exc.detail))
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else "The request failed."
        codes = exc.get_codes()
        response.data = error_body(codes if isinstance(codes, str) else str(exc.default_code), message)
    return response


@csrf_exempt  # it changes nothing; without this a POST to an unknown path answered CSRF's HTML 403
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under /api/: the JSON error shape, never Django's HTML page."""
    return JsonResponse(
        error_body("not_found", f"There is no API endpoint {request.path}; see /api/docs."),
        status=status.HTTP_404_NOT_FOUND,
    )


# --- uploads -----------------------------------------------------------------------------------


class UploadLimitedApi(APIView):
    """An API view that takes uploads: the declared size is judged and the limit put in place in
    `initial()`, before authentication (a session's CSRF check reads the body) or the method."""

    upload_limit: ClassVar[UploadLimit]
    #: One request may carry many files; one past the limit fails on its own (`upload_refused`).
    upload_many: ClassVar[bool] = False
    upload_handler: SizeLimitedUploadHandler | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "POST":
            self.upload_handler = upload_limit_install(request._request, limit=self.upload_limit, many=self.upload_many)
        super().initial(request, *args, **kwargs)

    def upload_refused(self) -> list[tuple[str, errors.TooLarge]]:
        """The files of a many-file upload dropped for their size: (file name, its error)."""
        handler = self.upload_handler
        return [(name, handler.limit.file_too_large(name=name)) for name in handler.refused] if handler else []


def schema_exclude_datagym_v1(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """drf-spectacular preprocessing hook: the schema documents the native API only."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith("/api/v1")]


class CsvRenderer(BaseRenderer):
    """Lets `?format=csv` through DRF's content negotiation; the view writes the CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        # Only an error reaches a renderer here (the CSV itself is the view's response): it stays
        # JSON, and says so.
        if data is None:
            return b""
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data).encode()
