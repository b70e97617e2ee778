"""Every model-server endpoint x every kind of caller, with the status each must get.

No token and a revoked token answer 401; another organisation's admin gets 404 (never 403);
annotators and reviewers may use an interactive server on a task they may label and list the
interactive servers, everything else is for the project's admins (and organisation tokens).
The connected server is on an address no allow-list names, so calls to it are refused
without a network: a check answers 200 with the server down, an interactive call 409.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from ml.models import JobStatus, MLBackend, PredictionAcceptJob, PrelabelJob
from tests.api.conftest import World, fast_password_hashing, world

__all__ = ["fast_password_hashing", "world"]

ACTORS = ("anonymous", "revoked", "other_org", "annotator", "reviewer", "admin", "org_token")


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    url: Callable[[World, dict[str, Any]], str]
    # other_org, annotator, reviewer, admin (an organisation token gets what admin gets)
    expected: tuple[int, int, int, int]
    body: Callable[[World], Any] | None = None


def _objects(world: World) -> dict[str, Any]:
    backend = MLBackend.objects.create(project=world.project, title="Model", url="http://127.0.0.1:9", interactive=True)
    return {
        "backend": backend,
        "prelabel": PrelabelJob.objects.create(backend=backend, project=world.project, status=JobStatus.SUCCEEDED),
        "accept": PredictionAcceptJob.objects.create(project=world.project, min_score=0.5, status=JobStatus.SUCCEEDED),
    }


ADMIN_ONLY = (404, 403, 403, 200)
ENDPOINTS = [
    Endpoint("backends list", "get", lambda w, o: f"/api/projects/{w.project.id}/ml-backends", ADMIN_ONLY),
    Endpoint(
        "backends create",
        "post",
        lambda w, o: f"/api/projects/{w.project.id}/ml-backends",
        (404, 403, 403, 400),  # the admin reaches the URL guard: 127.0.0.1 is not allowed here
        lambda w: {"url": "http://127.0.0.1:9090"},
    ),
    Endpoint(
        "interactive list",
        "get",
        lambda w, o: f"/api/projects/{w.project.id}/ml-backends/interactive",
        (404, 200, 200, 200),
    ),
    Endpoint("backend get", "get", lambda w, o: f"/api/ml-backends/{o['backend'].id}", ADMIN_ONLY),
    Endpoint(
        "backend update",
        "patch",
        lambda w, o: f"/api/ml-backends/{o['backend'].id}",
        ADMIN_ONLY,
        lambda w: {"title": "T"},
    ),
    Endpoint("backend delete", "delete", lambda w, o: f"/api/ml-backends/{o['backend'].id}", (404, 403, 403, 204)),
    Endpoint("backend check", "post", lambda w, o: f"/api/ml-backends/{o['backend'].id}/check", ADMIN_ONLY),
    Endpoint("backend token", "post", lambda w, o: f"/api/ml-backends/{o['backend'].id}/token", ADMIN_ONLY),
    Endpoint(
        "interactive",
        "post",
        lambda w, o: f"/api/ml-backends/{o['backend'].id}/interactive",
        (404, 409, 409, 409),
        lambda w: {"task_id": str(w.task.id), "shape": {"key": "car", "type": "point", "points": [[5, 5]]}},
    ),
    Endpoint("prelabel list", "get", lambda w, o: f"/api/projects/{w.project.id}/prelabel-jobs", ADMIN_ONLY),
    Endpoint(
        "prelabel create",
        "post",
        lambda w, o: f"/api/projects/{w.project.id}/prelabel-jobs",
        (404, 403, 403, 201),
        lambda w: {"backend_id": str(MLBackend.objects.get(project=w.project).id)},
    ),
    Endpoint("prelabel get", "get", lambda w, o: f"/api/prelabel-jobs/{o['prelabel'].id}", ADMIN_ONLY),
    Endpoint("prelabel cancel", "post", lambda w, o: f"/api/prelabel-jobs/{o['prelabel'].id}/cancel", ADMIN_ONLY),
    # The world's job has no failed tasks: the admin reaches the service, which says so (409).
    Endpoint(
        "prelabel retry", "post", lambda w, o: f"/api/prelabel-jobs/{o['prelabel'].id}/retry", (404, 403, 403, 409)
    ),
    Endpoint("versions", "get", lambda w, o: f"/api/projects/{w.project.id}/prediction-versions", ADMIN_ONLY),
    Endpoint(
        "accept create",
        "post",
        lambda w, o: f"/api/projects/{w.project.id}/prediction-accept-jobs",
        (404, 403, 403, 201),
        lambda w: {"min_score": 0.9},
    ),
    Endpoint("accept get", "get", lambda w, o: f"/api/prediction-accept-jobs/{o['accept'].id}", ADMIN_ONLY),
    # A model server's media token only: every user's credential is refused.
    Endpoint("media file", "get", lambda w, o: f"/api/ml/media/{w.media.id}/street.jpg", (401, 401, 401, 401)),
]


def _expected(endpoint: Endpoint, actor: str) -> int:
    if actor in {"anonymous", "revoked"}:
        return 401
    index = {"other_org": 0, "annotator": 1, "reviewer": 2, "admin": 3, "org_token": 3}[actor]
    return endpoint.expected[index]


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_endpoint_answers_each_caller(world: World, endpoint: Endpoint, actor: str, settings: Any) -> None:
    settings.LABELSITE_ML_HOST_ALLOWLIST = []
    objects = _objects(world)
    kwargs: dict[str, Any] = {}
    if endpoint.body is not None:
        kwargs = {"data": endpoint.body(world), "format": "json"}
    response = getattr(world.client(actor), endpoint.method)(endpoint.url(world, objects), **kwargs)
    assert response.status_code == _expected(endpoint, actor), response.content
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}


def test_the_matrix_covers_every_model_server_endpoint() -> None:
    from tests.api.test_openapi_schema import native_api_operations

    covered = {(e.method.upper(), e.name) for e in ENDPOINTS}
    operations = native_api_operations(exclude_modules=()) - native_api_operations(exclude_modules=("ml.",))
    assert len(operations) == len(covered)
