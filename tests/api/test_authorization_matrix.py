"""Every native endpoint x every kind of caller, with the status each must get.

No token and a revoked token answer 401 everywhere; another organisation's admin gets 404
for anything of ours (never 403) and succeeds only on collections (in its own organisation);
annotators read and label, reviewers also review, admins and organisation tokens do all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from labeling.models import Task, TaskState
from tests.api.conftest import World, png_bytes, s3_sources_of

ACTORS = ("anonymous", "revoked", "other_org", "annotator", "reviewer", "admin", "org_token")


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    url: Callable[[World], str]
    # other_org, annotator, reviewer, admin (org_token expects what admin gets)
    expected: tuple[int, int, int, int]
    body: Callable[[World], Any] | None = None
    multipart: bool = False
    prepare: Callable[[World], None] | None = None
    settings: Callable[[World], dict[str, Any]] | None = None  # what the endpoint needs configured
    headers: dict[str, str] = field(default_factory=dict)
    org_token: int | None = None  # when an organisation token gets other than what admin gets


def _version(world: World) -> int:
    """The task's version now: every annotation write must name it (else 428)."""
    return Task.objects.get(pk=world.task.pk).version


def _complete(world: World) -> None:
    world.task.state = TaskState.COMPLETED
    world.task.save(update_fields=["state"])


def _upload(world: World) -> dict[str, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {"file": [SimpleUploadedFile("new.png", png_bytes(), content_type="image/png")]}


def _keys_file(world: World) -> dict[str, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {"file": SimpleUploadedFile("keys.csv", b"name,external_id\n" + world.media.name.encode() + b",asset-1\n")}


def _stored_scene(world: World) -> None:
    """The task's image as an uploaded file the assist tools read: a disk on a textured background."""
    from django.core.files.base import ContentFile

    from projects.models import MediaSource
    from tests.assist.scenes import street_scene

    scene = street_scene(320, 240)
    world.media.source, world.media.url = MediaSource.LOCAL, ""
    world.media.width, world.media.height = scene.width, scene.height
    world.media.file.save("street.png", ContentFile(scene.png()), save=True)


ENDPOINTS = [
    Endpoint("projects list", "get", lambda w: "/api/projects", (200, 200, 200, 200)),
    Endpoint("projects create", "post", lambda w: "/api/projects", (201, 403, 403, 201), lambda w: {"name": "New"}),
    Endpoint("project get", "get", lambda w: f"/api/projects/{w.project.id}", (404, 200, 200, 200)),
    Endpoint(
        "project update",
        "patch",
        lambda w: f"/api/projects/{w.project.id}",
        (404, 403, 403, 200),
        lambda w: {"name": "Renamed"},
    ),
    Endpoint("project delete", "delete", lambda w: f"/api/projects/{w.project.id}", (404, 403, 403, 204)),
    Endpoint(
        "label configuration get",
        "get",
        lambda w: f"/api/projects/{w.project.id}/label-configuration",
        (404, 200, 200, 200),
    ),
    Endpoint(
        "label configuration replace",
        "put",
        lambda w: f"/api/projects/{w.project.id}/label-configuration",
        (404, 403, 403, 200),
        lambda w: {"entries": [{"key": "tree", "title": "Tree", "type": "polygon"}], "confirm_loss": True},
    ),
    Endpoint("datasets list", "get", lambda w: "/api/datasets", (200, 200, 200, 200)),
    Endpoint("datasets create", "post", lambda w: "/api/datasets", (201, 403, 403, 201), lambda w: {"name": "New"}),
    Endpoint("dataset get", "get", lambda w: f"/api/datasets/{w.dataset.id}", (404, 200, 200, 200)),
    Endpoint("dataset delete", "delete", lambda w: f"/api/datasets/{w.dataset.id}", (404, 403, 403, 204)),
    Endpoint(
        "dataset connect",
        "post",
        lambda w: f"/api/datasets/{w.dataset.id}/projects/{w.other_project.id}",
        (404, 403, 403, 204),
    ),
    Endpoint(
        "dataset disconnect",
        "delete",
        lambda w: f"/api/datasets/{w.dataset.id}/projects/{w.project.id}",
        (404, 403, 403, 204),
    ),
    Endpoint("media list", "get", lambda w: f"/api/datasets/{w.dataset.id}/media", (404, 200, 200, 200)),
    Endpoint(
        "media upload",
        "post",
        lambda w: f"/api/datasets/{w.dataset.id}/media",
        (404, 403, 403, 201),
        _upload,
        multipart=True,
    ),
    Endpoint(
        "media by URL",
        "post",
        lambda w: f"/api/datasets/{w.dataset.id}/media/urls",
        (404, 403, 403, 201),
        lambda w: {"urls": ["https://images.example.com/new.jpg"]},
    ),
    Endpoint(
        "media by S3 key",
        "post",
        lambda w: f"/api/datasets/{w.dataset.id}/media/s3",
        (404, 403, 403, 201),
        lambda w: {"bucket": "photos", "keys": ["2024/new.jpg"]},
        settings=lambda w: {"LABELSITE_S3_SOURCES": s3_sources_of(w.organization, "photos")},
    ),
    Endpoint(
        "media keys from a mapping file",
        "post",
        lambda w: f"/api/datasets/{w.dataset.id}/media/keys",
        (404, 403, 403, 200),
        _keys_file,
        multipart=True,
    ),
    Endpoint(
        "media keys update",
        "patch",
        lambda w: f"/api/media/{w.media.id}",
        (404, 403, 403, 200),
        lambda w: {"external_id": "asset-1", "global_key": "street-1"},
    ),
    Endpoint("media get", "get", lambda w: f"/api/media/{w.media.id}", (404, 200, 200, 200)),
    Endpoint("media delete", "delete", lambda w: f"/api/media/{w.media.id}", (404, 403, 403, 204)),
    Endpoint("tasks list", "get", lambda w: f"/api/projects/{w.project.id}/tasks", (404, 200, 200, 200)),
    Endpoint("task get", "get", lambda w: f"/api/tasks/{w.task.id}", (404, 200, 200, 200)),
    Endpoint(
        "task assign (to the annotator)",
        "post",
        lambda w: f"/api/tasks/{w.task.id}/assign",
        (404, 200, 403, 200),
        lambda w: {"user_id": w.annotator.pk},
    ),
    Endpoint("task complete", "post", lambda w: f"/api/tasks/{w.task.id}/complete", (404, 200, 200, 200)),
    Endpoint("task skip", "post", lambda w: f"/api/tasks/{w.task.id}/skip", (404, 200, 200, 200)),
    Endpoint(
        "task review",
        "post",
        lambda w: f"/api/tasks/{w.task.id}/review",
        (404, 403, 200, 200),
        lambda w: {"accept": True},
        prepare=_complete,
    ),
    # The world's task, completed by nobody in particular, is the one to review; a token reviews
    # as the organisation, so it reserves nothing and gets "none left" (204).
    Endpoint(
        "task review next",
        "post",
        lambda w: f"/api/projects/{w.project.id}/review/next",
        (404, 403, 200, 200),
        prepare=_complete,
        org_token=204,
    ),
    # Annotators get their own row (tests/api/test_team_figures_api.py), admins and reviewers everyone's.
    Endpoint("team figures", "get", lambda w: f"/api/projects/{w.project.id}/team-figures", (404, 200, 200, 200)),
    Endpoint(
        "team figures as CSV",
        "get",
        lambda w: f"/api/projects/{w.project.id}/team-figures",
        (404, 200, 200, 200),
        headers={"Accept": "text/csv"},
    ),
    Endpoint("annotation get", "get", lambda w: f"/api/tasks/{w.task.id}/annotation", (404, 200, 200, 200)),
    Endpoint(
        "annotation replace",
        "put",
        lambda w: f"/api/tasks/{w.task.id}/annotation",
        (404, 200, 200, 200),
        lambda w: {"answers": {"weather": {"value": "sunny"}}, "labels": [], "version": _version(w)},
    ),
    Endpoint(
        "annotation patch",
        "patch",
        lambda w: f"/api/tasks/{w.task.id}/annotation",
        (404, 200, 200, 200),
        lambda w: {"changed": [{"id": w.label.id, "points": [[2, 2], [6, 6]]}], "version": _version(w)},
    ),
    Endpoint(
        "label create",
        "post",
        lambda w: f"/api/tasks/{w.task.id}/labels",
        (404, 201, 201, 201),
        lambda w: {"key": "car", "points": [[0, 0], [3, 3]], "version": _version(w)},
    ),
    Endpoint(
        "label update",
        "patch",
        lambda w: f"/api/labels/{w.label.id}",
        (404, 200, 200, 200),
        lambda w: {"points": [[2, 2], [6, 6]], "version": _version(w)},
    ),
    Endpoint(
        "label delete", "delete", lambda w: f"/api/labels/{w.label.id}", (404, 200, 200, 200), headers={"If-Match": "0"}
    ),
    # The brush traces a stroke for whoever may change the task's annotation; it saves nothing.
    Endpoint(
        "brush stroke",
        "post",
        lambda w: f"/api/tasks/{w.task.id}/brush",
        (404, 200, 200, 200),
        lambda w: {"stroke": {"x": 10, "y": 10, "width": 3, "height": 3, "counts": [0, 9]}},
    ),
    # Everyone's own keys; an organisation token is no person, so it has none to keep.
    Endpoint("labeling keys get", "get", lambda w: "/api/me/labeling-keys", (200, 200, 200, 200)),
    Endpoint(
        "labeling keys replace",
        "put",
        lambda w: "/api/me/labeling-keys",
        (200, 200, 200, 200),
        lambda w: {"keys": {"task.next": "k"}},
        org_token=403,
    ),
    Endpoint(
        "task heartbeat",
        "post",
        lambda w: f"/api/tasks/{w.task.id}/heartbeat",
        (404, 200, 200, 200),
        lambda w: {"active_seconds": 5},
    ),
    # Only an admin releases a reservation that is not theirs (nobody's, here).
    Endpoint("task release", "post", lambda w: f"/api/tasks/{w.task.id}/release", (404, 403, 403, 200)),
    # Assisted segmentation on the task's image: whoever may label the task (nothing is saved).
    Endpoint(
        "assist grabcut",
        "post",
        lambda w: f"/api/tasks/{w.task.id}/assist/grabcut",
        (404, 200, 200, 200),
        lambda w: {"box": [[40, 20], [130, 110]]},
        prepare=_stored_scene,
    ),
    Endpoint(
        "assist magic wand",
        "post",
        lambda w: f"/api/tasks/{w.task.id}/assist/magic-wand",
        (404, 200, 200, 200),
        lambda w: {"point": [85, 75], "tolerance": 40},
        prepare=_stored_scene,
    ),
    Endpoint(
        "assist scissors",
        "post",
        lambda w: f"/api/tasks/{w.task.id}/assist/scissors",
        (404, 200, 200, 200),
        lambda w: {"points": [[40, 75], [85, 30]]},
        prepare=_stored_scene,
    ),
]


def _expected(endpoint: Endpoint, actor: str) -> int:
    if actor in {"anonymous", "revoked"}:
        return 401
    other_org, annotator, reviewer, admin = endpoint.expected
    if actor == "org_token" and endpoint.org_token is not None:
        return endpoint.org_token
    return {"other_org": other_org, "annotator": annotator, "reviewer": reviewer}.get(actor, admin)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_endpoint_answers_each_caller_with_its_status(
    world: World, media_storage: Any, settings: Any, endpoint: Endpoint, actor: str
):
    for name, value in (endpoint.settings(world) if endpoint.settings else {}).items():
        setattr(settings, name, value)
    if endpoint.prepare:
        endpoint.prepare(world)
    client = world.client(actor)
    kwargs: dict[str, Any] = {}
    if endpoint.body is not None:
        kwargs = {"data": endpoint.body(world), "format": "multipart" if endpoint.multipart else "json"}
    response = getattr(client, endpoint.method)(endpoint.url(world), headers=endpoint.headers, **kwargs)
    assert response.status_code == _expected(endpoint, actor), response.content
    if response.status_code >= 400 and "error" in response.json():
        error = response.json()["error"]
        assert set(error) == {"code", "message", "details"}


def test_matrix_covers_every_native_route_of_projects_and_labeling():
    from tests.api.test_openapi_schema import native_api_operations

    covered = {(e.method.upper(), _template(e.url)) for e in ENDPOINTS}
    # Import and export jobs have their own matrices (tests/imports, tests/exports), project setup and
    # model servers too (tests/ml/test_authorization_matrix.py).
    assert native_api_operations(exclude_modules=("imports.", "exports.", "projects.setup_api", "ml.")) == covered


def _template(url: Callable[[World], str]) -> str:
    """The route template of an endpoint's URL, by calling it with placeholder objects."""

    class Named:
        def __init__(self, name: str) -> None:
            self.id = self.pk = f"{{{name}}}"

    placeholder = World(
        organization=None,  # type: ignore[arg-type]
        other_organization=None,  # type: ignore[arg-type]
        admin=None,
        reviewer=None,
        annotator=None,
        tokens={},
        project=Named("project_id"),  # type: ignore[arg-type]
        other_project=Named("project_id"),  # type: ignore[arg-type]
        dataset=Named("dataset_id"),  # type: ignore[arg-type]
        spare_dataset=Named("dataset_id"),  # type: ignore[arg-type]
        media=Named("media_id"),  # type: ignore[arg-type]
        task=Named("task_id"),  # type: ignore[arg-type]
        label=Named("label_id"),  # type: ignore[arg-type]
    )
    return url(placeholder)
