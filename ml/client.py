"""Calls to a model server speaking Label Studio's ML backend protocol (../shared/reference/ml-backend.md).

Every call goes through `labelsite.netguard.url_request`: the address checked (public, or in
LABELSITE_ML_HOST_ALLOWLIST), the answer capped, one deadline. Failures come back as
`BackendError` with `transient` set where asking again may help (no connection, a timeout,
429 and 5xx answers), so the job retries those with backoff and gives up on the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from labelsite.errors import ValidationFailed
from labelsite.netguard import UrlAllowList, url_request
from ml.models import MLBackend

#: The largest answer we read from a model server (a batch of brush masks is large).
MAX_ANSWER_BYTES = 64 * 1024 * 1024
USER_AGENT = "Labelsite (Label Studio ML backend client)"


class BackendError(Exception):
    def __init__(self, message: str, *, transient: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.status = status


def ml_allowlist() -> UrlAllowList:
    value = getattr(settings, "LABELSITE_ML_HOST_ALLOWLIST", ())
    return UrlAllowList.parse(value.split(",") if isinstance(value, str) else value)


def endpoint(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"


def _headers(backend: MLBackend) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
    if backend.auth_header_name and backend.auth_header_value:
        headers[backend.auth_header_name] = backend.auth_header_value
    return headers


def backend_call(
    backend: MLBackend, path: str, *, body: Any = None, method: str = "POST", timeout: float | None = None
) -> Any:
    """Call `path` of the server and answer its JSON; BackendError for anything else."""
    url = endpoint(backend.url, path)
    data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
    wait = timeout if timeout is not None else float(settings.LABELSITE_ML_CALL_TIMEOUT_SECONDS)
    try:
        answer = url_request(
            url,
            method=method,
            body=data,
            headers=_headers(backend),
            max_bytes=MAX_ANSWER_BYTES,
            timeout=wait,
            allowlist=ml_allowlist(),
        )
    except ValidationFailed as exc:
        # A refused address will stay refused; a failed connection or a timeout may pass later.
        raise BackendError(exc.message, transient=exc.code == "url_fetch_failed") from exc
    if answer.status_code >= 300:
        detail = _error_detail(answer.content)
        raise BackendError(
            f"{method} {path} answered {answer.status_code}{f': {detail}' if detail else ''}",
            transient=answer.status_code == 429 or answer.status_code >= 500,
            status=answer.status_code,
        )
    try:
        return json.loads(answer.content)
    except ValueError as exc:
        raise BackendError(f"{method} {path} answered something other than JSON.", transient=False) from exc


def _error_detail(content: bytes) -> str:
    """The server's own words about an error (Label Studio backends answer `{"detail": ...}`)."""
    try:
        data = json.loads(content)
    except ValueError:
        return content[:200].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        for key in ("detail", "error", "message"):
            if isinstance(data.get(key), str):
                return str(data[key])[:300]
    return ""


@dataclass(frozen=True)
class Health:
    up: bool
    message: str
    model_class: str = ""


def health_get(backend: MLBackend) -> Health:
    """GET /health: any JSON object with a 2xx answer is up (Label Studio reads nothing more)."""
    try:
        data = backend_call(backend, "health", method="GET")
    except BackendError as exc:
        return Health(up=False, message=exc.message)
    if not isinstance(data, dict):
        return Health(up=False, message="GET /health answered JSON that is not an object.")
    status = str(data.get("status") or "UP")
    return Health(up=status.upper() == "UP", message=f"status {status}", model_class=str(data.get("model_class") or ""))


def setup_post(backend: MLBackend, *, project: str, schema: str, hostname: str, access_token: str) -> str:
    """POST /setup; the model version it names ("" for none). A number is kept as its text."""
    data = backend_call(
        backend,
        "setup",
        body={
            "project": project,
            "schema": schema,
            "hostname": hostname,
            "access_token": access_token,
            "extra_params": None,
        },
    )
    version = data.get("model_version") if isinstance(data, dict) else None
    return "" if version is None else str(version)[:128]


def predict_post(
    backend: MLBackend, *, tasks: list[dict[str, Any]], project: str, schema: str, context: Any = None
) -> tuple[list[Any], str]:
    """POST /predict: the results (one per task, by index) and the top-level model version if any."""
    data = backend_call(
        backend,
        "predict",
        body={
            "tasks": tasks,
            "project": project,
            "label_config": schema,
            "params": {"login": None, "password": None, "context": context},
        },
        timeout=backend.timeout_seconds,
    )
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise BackendError("POST /predict answered without a `results` list.", transient=False)
    version = data.get("model_version")
    return data["results"], "" if version is None else str(version)[:128]
