"""An annotator writes only a task that is open to everyone or assigned or reserved to them: every
write to a task assigned to another user, or reserved by another user (a reservation that has not
expired), answers 409 `task_held` naming the holder, and changes nothing. Admins and reviewers
still write such tasks, and so does the holder; an expired reservation holds nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from labeling.models import Label, Task, TaskState
from tests.api.conftest import World
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

A_CAR = {"key": "car", "type": "rectangle", "points": [[2, 2], [8, 8]]}


def version(world: World) -> int:
    """The task's version now, which every annotation write names."""
    return Task.objects.get(pk=world.task.pk).version


#: Every write of a task's annotation or state an annotator may try: (name, request).
WRITES: list[tuple[str, Callable[[APIClient, World], Any]]] = [
    (
        "annotation save",
        lambda client, world: client.put(
            f"/api/tasks/{world.task.id}/annotation",
            {"answers": {}, "labels": [A_CAR], "version": version(world)},
            format="json",
        ),
    ),
    (
        "label create",
        lambda client, world: client.post(
            f"/api/tasks/{world.task.id}/labels", {**A_CAR, "version": version(world)}, format="json"
        ),
    ),
    (
        "label update",
        lambda client, world: client.patch(
            f"/api/labels/{world.label.id}", {"points": [[0, 0], [9, 9]], "version": version(world)}, format="json"
        ),
    ),
    (
        "label delete",
        lambda client, world: client.delete(f"/api/labels/{world.label.id}", HTTP_IF_MATCH=str(version(world))),
    ),
    ("complete", lambda client, world: client.post(f"/api/tasks/{world.task.id}/complete")),
    ("skip", lambda client, world: client.post(f"/api/tasks/{world.task.id}/skip")),
]
WRITE_IDS = [name for name, _ in WRITES]


@pytest.fixture
def held(world: World) -> Any:
    """The task, open, assigned to another annotator of the project: Hanna."""
    holder: Any = UserFactory(username="hanna")
    MembershipFactory(user=holder, organization=world.organization, role="annotator")
    world.project.members.add(holder)
    Task.objects.filter(pk=world.task.pk).update(assignee=holder, state=TaskState.IN_PROGRESS)
    return holder


def client_of(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def stored(world: World) -> tuple[Any, ...]:
    task = Task.objects.get(pk=world.task.pk)
    labels = tuple(Label.objects.filter(task=task).order_by("id").values_list("id", "points"))
    return task.version, task.state, task.answers, task.assignee_id, labels


@pytest.mark.parametrize("write", [request for _, request in WRITES], ids=WRITE_IDS)
def test_an_annotator_writing_a_task_assigned_to_another_user_gets_409_naming_the_holder(world, held, write):
    before = stored(world)

    response = write(world.client("annotator"), world)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "task_held"
    assert response.json()["error"]["message"] == "This task is assigned to hanna; ask an admin to reassign it."
    assert stored(world) == before


@pytest.mark.parametrize("actor", ["admin", "reviewer", "holder"])
@pytest.mark.parametrize("write", [request for _, request in WRITES], ids=WRITE_IDS)
def test_admins_reviewers_and_the_holder_still_write_the_held_task(world, held, actor, write):
    client = client_of(held) if actor == "holder" else world.client(actor)
    # The task's one required question (weather) answered, so that completing it is allowed.
    Task.objects.filter(pk=world.task.pk).update(answers={"weather": {"value": "sunny"}})

    response = write(client, world)

    assert response.status_code in (200, 201), response.json()


def test_an_annotator_still_writes_an_open_task_nobody_holds(world):
    response = world.client("annotator").post(
        f"/api/tasks/{world.task.id}/labels", {**A_CAR, "version": 0}, format="json"
    )

    assert response.status_code == 201


@pytest.fixture
def reserved(world: World) -> Any:
    """The task, open and assigned to nobody, reserved by another annotator (Rita) who is labeling it."""
    holder: Any = UserFactory(username="rita")
    MembershipFactory(user=holder, organization=world.organization, role="annotator")
    world.project.members.add(holder)
    Task.objects.filter(pk=world.task.pk).update(
        state=TaskState.IN_PROGRESS, reserved_by=holder, reserved_until=timezone.now() + timedelta(minutes=10)
    )
    return holder


@pytest.mark.parametrize("write", [request for _, request in WRITES], ids=WRITE_IDS)
def test_an_annotator_writing_a_task_another_user_has_reserved_gets_409_naming_the_holder(world, reserved, write):
    before = stored(world)

    response = write(world.client("annotator"), world)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "task_held"
    assert error["message"].startswith("This task is reserved by rita, who is labeling it;")
    assert stored(world) == before


@pytest.mark.parametrize("actor", ["admin", "reviewer", "holder"])
@pytest.mark.parametrize("write", [request for _, request in WRITES], ids=WRITE_IDS)
def test_admins_reviewers_and_the_holder_still_write_the_reserved_task(world, reserved, actor, write):
    client = client_of(reserved) if actor == "holder" else world.client(actor)
    Task.objects.filter(pk=world.task.pk).update(answers={"weather": {"value": "sunny"}})

    response = write(client, world)

    assert response.status_code in (200, 201), response.json()


@pytest.mark.parametrize("write", [request for _, request in WRITES], ids=WRITE_IDS)
def test_an_expired_reservation_holds_nothing(world, reserved, write):
    Task.objects.filter(pk=world.task.pk).update(
        reserved_until=timezone.now() - timedelta(seconds=1), answers={"weather": {"value": "sunny"}}
    )

    response = write(world.client("annotator"), world)

    assert response.status_code in (200, 201), response.json()


@pytest.mark.parametrize(
    ("name", "write"), [(name, request) for name, request in WRITES if name.startswith(("annotation", "label"))]
)
def test_an_annotation_write_without_a_version_answers_428_and_changes_nothing(world, name, write):
    before = stored(world)
    client = world.client("annotator")
    unversioned = {
        "annotation save": lambda: client.put(
            f"/api/tasks/{world.task.id}/annotation", {"answers": {}, "labels": [A_CAR]}, format="json"
        ),
        "label create": lambda: client.post(f"/api/tasks/{world.task.id}/labels", A_CAR, format="json"),
        "label update": lambda: client.patch(
            f"/api/labels/{world.label.id}", {"points": [[0, 0], [9, 9]]}, format="json"
        ),
        "label delete": lambda: client.delete(f"/api/labels/{world.label.id}"),
    }[name]

    response = unversioned()

    assert response.status_code == 428
    error = response.json()["error"]
    assert error["code"] == "version_required"
    assert "If-Match" in error["message"]
    assert stored(world) == before
