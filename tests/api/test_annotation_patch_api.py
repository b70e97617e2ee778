"""Issue 17 point 13: PATCH /api/tasks/{id}/annotation saves what changed, in one request."""

from __future__ import annotations

from typing import Any

import pytest

from labeling import services
from labeling.models import Label, Task
from tests.api.conftest import World
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def url(world: World) -> str:
    return f"/api/tasks/{world.task.id}/annotation"


def test_a_save_adds_changes_and_deletes_labels_and_answers_in_one_request(world: World):
    client = world.client("annotator")
    first = client.patch(
        url(world),
        {"version": 0, "added": [{"uid": "s1", "key": "car", "points": [[10, 10], [20, 20]]}]},
        format="json",
    ).json()
    new_id = first["ids"]["s1"]

    response = client.patch(
        url(world),
        {
            "version": first["version"],
            "changed": [{"id": new_id, "answers": {"color": {"value": "red"}}}],
            "deleted": [world.label.pk],
            "answers": {"weather": {"value": "rainy"}},
        },
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["version"] == 2
    document = client.get(url(world)).json()
    assert [(label["id"], label["answers"]) for label in document["labels"]] == [(new_id, {"color": {"value": "red"}})]
    assert document["answers"] == {"weather": {"value": "rainy"}}
    assert Label.objects.get(pk=new_id).author_id == world.annotator.pk


def test_a_stale_save_answers_409_with_the_current_version(world: World):
    client = world.client("annotator")
    client.patch(url(world), {"version": 0, "deleted": [world.label.pk]}, format="json")

    response = client.patch(
        url(world), {"version": 0, "changed": [{"id": world.label.pk, "points": [[2, 2], [6, 6]]}]}, format="json"
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["version"]) == ("version_conflict", 1)
    assert error["details"][0]["path"] == "version"


def test_an_invalid_change_answers_400_naming_its_place(world: World):
    response = world.client("annotator").patch(
        url(world), {"version": 0, "changed": [{"id": world.label.pk, "points": [[1, 1]]}]}, format="json"
    )

    assert response.status_code == 400
    assert [(d["path"], d["code"]) for d in response.json()["error"]["details"]] == [
        ("changed[0].points", "invalid_points")
    ]
    assert Label.objects.get(pk=world.label.pk).points == [[1, 1], [5, 5]]


def test_a_save_without_a_version_answers_428(world: World):
    response = world.client("annotator").patch(url(world), {"deleted": [world.label.pk]}, format="json")

    assert response.status_code == 428
    assert Label.objects.filter(pk=world.label.pk).exists()


def test_a_task_held_by_another_annotator_answers_409_naming_them(world: World):
    ann: Any = UserFactory(username="ann")
    MembershipFactory(user=ann, organization=world.organization, role="annotator")
    world.project.members.add(ann)
    services.task_reserve(task=world.task, user=ann)

    response = world.client("annotator").patch(url(world), {"version": 0, "deleted": [world.label.pk]}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "task_held"
    assert "ann" in response.json()["error"]["message"]
    assert Label.objects.filter(pk=world.label.pk).exists()
    assert Task.objects.get(pk=world.task.pk).version == 0
