"""DataGym's error body `{key, params, msg, code, details}` and the handler that produces it.

The `datagym` client reads `key` first, fills the English template of that key with
`params` (too few params crash it) and passes the whole body to an exception class that
accepts exactly these five keys. So every error of the facade has this shape and nothing
else: domain errors of the services, DRF's own errors and unexpected failures alike.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from labelsite.errors import (
    AlreadyExists,
    Conflict,
    DomainError,
    ErrorDetail,
    NotFound,
    PermissionDenied,
    TooLarge,
    Unavailable,
    ValidationFailed,
)

logger = logging.getLogger(__name__)

#: English message templates, `{{pN}}` = params[N] (wording of DataGym's own bundle where it has one).
TEMPLATES: dict[str, str] = {
    "ex_notfound": "{{p0}} with {{p1}} {{p2}} not found",
    "ex_alreadyexists": "{{p0}} with {{p1}} {{p2}} already exists.",
    "ex_already_contains": "The current {{p0}} already contains this {{p1}}.",
    "ex_validation": "Validation error.",
    "ex_forbidden": "Forbidden. Insufficient permissions.",
    "ex_unauthorized": "Unauthorized. None or invalid credentials.",
    "ex_limit": "{{p0}} limit exceeded ({{p1}}/{{p2}}).",
    "ex_too_many_requests": "Too many failed token attempts from your address. Try again in {{p0}} seconds.",
    "ex_system": "Something went terribly wrong. Please contact the system administrator.",
    "ex_method_not_allowed": "The method {{p0}} is not allowed here.",
    "ex_unsupported_media_type": "The content type {{p0}} is not supported here.",
    "ex_gen_forbidden_keyword": '"{{p0}}" is a forbidden keyword.',
    "ex_gen_mediatype_missmatch": "The media type of the dataset does not match the media type of the project.",
    "ex_gen_does_not_contain": "The current {{p0}} doesn't contain this {{p1}}.",
    "ex_gen_url_not_allowed_mediatype": "URLs can only be added to image datasets.",
    "ex_gen_image_delete": "Something went wrong during the image deleting.",
    "ex_gen_error_messages": "{{p0}}",
    "ex_gen_config_not_cleared": (
        "The Label Configuration with id {{p0}} needs to be cleared first, before you can upload a new "
        "Label Configuration"
    ),
    "ex_gen_wrong_entry_id": "The key {{p0}}, does not match any entry in your label configuration",
    "ex_gen_json_upload_not_found_task": (
        "The internal_image_ID you entered does not correspond to an image in your tasks"
    ),
    "ex_gen_entry_value_validation": (
        "The {{p0}} values in the JSON file are not correctly defined, see the documentation for help."
    ),
    "ex_gen_entry_type_not_found": "Unknown or unsupported {{p0}}.",
    "ex_gen_geometry_definition_incorrect": "The definition of the {{p0}} geometry is incorrect.",
    "ex_gen_config_depth": "The depth of the nested geometry/classification levels must be maximum 3 levels.",
    "ex_gen_entry_classification_incorrect": "The definition of the classification of type {{p0}} is incorrect.",
    "ex_gen_task_state": "The task is in state {{p0}} and cannot be changed this way.",
}

_PLACEHOLDER = re.compile(r"\{\{p(\d+)\}\}")

BEAN_VALIDATION_MSG = "Validation error."


def render_msg(key: str, params: Sequence[str], fallback: str = "") -> str:
    template = TEMPLATES.get(key)
    if template is None:
        return fallback or key
    return _PLACEHOLDER.sub(lambda m: params[int(m.group(1))] if int(m.group(1)) < len(params) else "", template)


def _params_needed(key: str) -> int:
    template = TEMPLATES.get(key, "")
    return max((int(n) + 1 for n in _PLACEHOLDER.findall(template)), default=0)


def detail(name: str, key: str, *params: Any) -> dict[str, Any]:
    """One item of `details`: the field, the i18n key of the broken rule, its parameters."""
    return {"name": name, "key": key, "params": [_text(p) for p in params]}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


@dataclass
class DataGymError(Exception):
    """An error already in DataGym's terms; the facade raises it where no service applies."""

    status: int
    key: str
    params: Sequence[Any] = ()
    details: list[dict[str, Any]] = field(default_factory=list)
    msg: str = ""
    code: int | None = None

    def body(self) -> dict[str, Any]:
        params = [_text(p) for p in self.params]
        # Pad so that the client's template never indexes past the end.
        params += [""] * (_params_needed(self.key) - len(params))
        return {
            "key": self.key,
            "params": params,
            "msg": render_msg(self.key, params, self.msg),
            "code": self.status if self.code is None else self.code,
            "details": self.details,
        }

    def response(self) -> Response:
        return Response(self.body(), status=self.status)

    def json_response(self) -> JsonResponse:
        return JsonResponse(self.body(), status=self.status)


def not_found(what: str, criteria: str, value: Any) -> DataGymError:
    return DataGymError(404, "ex_notfound", (what, criteria, value))


def bean_validation(details: Iterable[dict[str, Any]]) -> DataGymError:
    """A 400 of request validation: DataGym answers these with `code: 0` (sic)."""
    return DataGymError(400, "ex_validation", (), list(details), BEAN_VALIDATION_MSG, code=0)


# --- domain errors -> DataGym -------------------------------------------------------------

#: Error codes of the services whose DataGym key is not the default of their class.
#: code -> (status, key); the params are the error's own.
_CODE_KEYS: dict[str, tuple[int, str]] = {
    "already_connected": (412, "ex_already_contains"),
    "not_connected": (500, "ex_gen_does_not_contain"),
    "media_type_mismatch": (500, "ex_gen_mediatype_missmatch"),
    "media_already_deleted": (500, "ex_gen_image_delete"),
    "forbidden_keyword": (500, "ex_gen_forbidden_keyword"),
    "duplicate_root_key": (412, "ex_alreadyexists"),
    "duplicate_key": (412, "ex_alreadyexists"),
    "duplicate_shortcut": (412, "ex_alreadyexists"),
    "geometry_nesting": (500, "ex_gen_geometry_definition_incorrect"),
    "depth": (500, "ex_gen_config_depth"),
    "freetext_max_length": (500, "ex_gen_entry_classification_incorrect"),
    "unknown_type": (500, "ex_gen_entry_type_not_found"),
    "config_not_cleared": (500, "ex_gen_config_not_cleared"),
    "unknown_entry": (500, "ex_gen_wrong_entry_id"),
    "media_not_found": (500, "ex_gen_json_upload_not_found_task"),
    "geometry_type_mismatch": (500, "ex_gen_entry_value_validation"),
    "rectangle_extra_key": (500, "ex_gen_entry_type_not_found"),
}


def _keyed(status: int, key: str, error: DomainError | ErrorDetail) -> DataGymError:
    params = tuple(error.params)
    if key == "ex_gen_json_upload_not_found_task":
        params = ()
    elif key == "ex_alreadyexists" and len(params) < 3:
        what = {"duplicate_shortcut": "Shortcut"}.get(error.code, "Label entry")
        criteria = "value:" if error.code == "duplicate_shortcut" else "entryKey:"
        params = (what, criteria, *params)
    return DataGymError(status, key, params, msg=error.message)


#: Label-configuration rule codes -> the bean-validation key DataGym reports for them.
_BEAN_KEYS = {
    "key_length": "ex_size",
    "title_length": "ex_size",
    "key_pattern": "ex_pattern",
    "title_pattern": "ex_pattern",
    "shortcut_pattern": "ex_pattern",
    "freetext_max_length_range": "ex_max",
    "required": "ex_notnull",
}


def _bean_detail(item: ErrorDetail) -> dict[str, Any]:
    params = tuple(item.params) or (item.path,)
    return detail(str(params[0]), _BEAN_KEYS.get(item.code, f"ex_{item.code}"), *params)


def from_domain_error(exc: DomainError) -> DataGymError:
    """The DataGym form of a service's error: by its code first, then by its class.

    A validation error with several details answers as DataGym's validation does: the
    request-shape problems first (400 `ex_validation` listing all of them), else the first
    rule with a key of its own (412 duplicates, 500 `ex_gen_*`).
    """
    if exc.code in _CODE_KEYS:
        return _keyed(*_CODE_KEYS[exc.code], exc)
    if isinstance(exc, ValidationFailed):
        plain = [item for item in exc.details if item.code not in _CODE_KEYS]
        if plain:
            return bean_validation(_bean_detail(item) for item in plain)
        if exc.details:
            first = exc.details[0]
            return _keyed(*_CODE_KEYS[first.code], first)
        return bean_validation([detail(exc.code, f"ex_{exc.code}", exc.message)])
    if isinstance(exc, NotFound):
        params = tuple(exc.params) if len(exc.params) >= 3 else ("Object", "id", "")
        return DataGymError(404, "ex_notfound", params, msg=exc.message)
    if isinstance(exc, AlreadyExists):
        params = tuple(exc.params) if len(exc.params) >= 3 else ("Object", "name", "")
        return DataGymError(412, "ex_alreadyexists", params, msg=exc.message)
    if isinstance(exc, PermissionDenied):
        return DataGymError(403, "ex_forbidden", msg=exc.message)
    if isinstance(exc, Conflict):
        return DataGymError(500, f"ex_gen_{exc.code}", exc.params, msg=exc.message)
    if isinstance(exc, Unavailable):
        return DataGymError(503, "ex_system", msg=exc.message)
    if isinstance(exc, TooLarge):
        # As a body over DATA_UPLOAD_MAX_MEMORY_SIZE answers (below): the limit is the param.
        return DataGymError(413, "ex_validation", (), [detail("data", "ex_file_too_large", *exc.params)])
    return DataGymError(500, "ex_system")


def semantic_import_error(exc: DomainError) -> DataGymError:
    """A semantic error of the prediction import (section 4.6): always a 500 with its key."""
    candidates: list[DomainError | ErrorDetail] = [exc, *exc.details]
    for item in candidates:
        if item.code in _CODE_KEYS:
            return _keyed(*_CODE_KEYS[item.code], item)
    return DataGymError(500, "ex_gen_error_messages", (exc.message,))


def _retry_after(exc: drf_exceptions.Throttled) -> int:
    """Whole seconds to wait, at least one."""
    return max(1, int(getattr(exc, "wait", None) or 1))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler of the facade's views: always the DataGym shape, never HTML."""
    set_rollback()
    error: DataGymError
    if isinstance(exc, DataGymError):
        error = exc
    elif isinstance(exc, DomainError):
        error = from_domain_error(exc)
    elif isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        error = DataGymError(401, "ex_unauthorized")
    elif isinstance(exc, drf_exceptions.PermissionDenied):
        error = DataGymError(403, "ex_forbidden")
    elif isinstance(exc, drf_exceptions.Throttled):
        # Failed token attempts (projects/throttling.py): a key of our own, DataGym has none.
        error = DataGymError(429, "ex_too_many_requests", (_retry_after(exc),))
    elif isinstance(exc, Http404 | drf_exceptions.NotFound):
        request = context.get("request")
        error = not_found("Resource", "path", request.path if request is not None else "")
    elif isinstance(exc, drf_exceptions.MethodNotAllowed):
        request = context.get("request")
        error = DataGymError(405, "ex_method_not_allowed", (request.method if request is not None else "",))
    elif isinstance(exc, drf_exceptions.UnsupportedMediaType):
        error = DataGymError(415, "ex_unsupported_media_type", (exc.detail,))
    elif isinstance(exc, drf_exceptions.ParseError):
        error = bean_validation([detail("body", "ex_notreadable", "body")])
    elif isinstance(exc, RequestDataTooBig):
        # request.body over DATA_UPLOAD_MAX_MEMORY_SIZE (a raw upload, a prediction file): was a 500
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        error = DataGymError(413, "ex_validation", (), [detail("data", "ex_file_too_large", limit)])
    elif isinstance(exc, drf_exceptions.APIException):
        error = DataGymError(exc.status_code, "ex_system" if exc.status_code >= 500 else "ex_validation")
    else:
        logger.exception("Unexpected error in the DataGym v1 API", exc_info=exc)
        error = DataGymError(500, "ex_system")
    response = error.response()
    if error.status == 401:
        response["WWW-Authenticate"] = "Token"
    if isinstance(exc, drf_exceptions.Throttled):
        response["Retry-After"] = str(_retry_after(exc))
    return response
