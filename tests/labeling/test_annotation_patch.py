"""Issue 17 point 13: a save of the labeling page sends what changed, and is checked and applied
like a whole-document save (the service; the API is in tests/api/test_annotation_patch_api.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from demo.management.commands.seed_demo import DEMO_CONFIGURATION
from labeling.models import Label, Task
from labeling.selectors import task_annotation_get
from labeling.services import task_annotation_patch, task_annotation_replace, task_reserve
from labelsite.errors import Conflict, ValidationFailed
from projects.label_config import label_config_replace
from tests.factories import MembershipFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

CAR = {"key": "car", "type": "polygon", "points": [[57, 412], [54.5, 463], [130, 524]]}
BUS = {"key": "bus", "type": "rectangle", "points": [[272, 302], [596, 471]]}


@pytest.fixture
def task() -> Any:
    task: Any = TaskFactory()
    label_config_replace(configuration=task.project.label_configuration, entries=DEMO_CONFIGURATION)
    return task


def annotator(task: Any, name: str) -> Any:
    user: Any = UserFactory(username=name)
    MembershipFactory(user=user, organization=task.project.organization, role="annotator")
    task.project.members.add(user)
    return user


def stored_with_car_and_bus(task: Any, user: Any = None) -> dict[str, Any]:
    return task_annotation_replace(task=task, document={"labels": [CAR, BUS]}, user=user, expected_version=0)


def label_id(document: dict[str, Any], key: str) -> int:
    return next(label["id"] for label in document["labels"] if label["key"] == key)


def test_added_labels_get_ids_back_by_their_client_uid(task):
    saved = task_annotation_patch(
        task=task, patch={"added": [{"uid": "s1", **CAR}, {"uid": "s2", **BUS}]}, expected_version=0
    )

    assert saved["version"] == 1
    assert set(saved["ids"]) == {"s1", "s2"}
    assert Label.objects.get(pk=saved["ids"]["s1"]).points == CAR["points"]
    assert Label.objects.get(pk=saved["ids"]["s2"]).entry.key == "bus"


def test_a_nested_label_added_in_the_same_save_names_its_parent_by_uid(task):
    wheel = {"uid": "s2", "parent": "s1", "key": "wheel", "type": "point", "points": [[60, 500]]}
    # The nested label comes first: the order of the list does not matter.
    saved = task_annotation_patch(task=task, patch={"added": [wheel, {"uid": "s1", **CAR}]}, expected_version=0)

    assert Label.objects.get(pk=saved["ids"]["s2"]).parent_id == saved["ids"]["s1"]
    (car,) = task_annotation_get(task=task)["labels"]
    assert [child["key"] for child in car["children"]] == ["wheel"]


def test_a_nested_label_may_be_added_to_a_stored_label_by_its_id(task):
    car_id = label_id(stored_with_car_and_bus(task), "car")
    wheel = {"uid": "s9", "parent": car_id, "key": "wheel", "type": "point", "points": [[60, 500]]}

    saved = task_annotation_patch(task=task, patch={"added": [wheel]}, expected_version=1)

    assert Label.objects.get(pk=saved["ids"]["s9"]).parent_id == car_id


def test_a_change_sets_only_the_fields_sent_and_keeps_the_author(task):
    ann, bob = annotator(task, "ann"), annotator(task, "bob")
    stored = stored_with_car_and_bus(task, user=ann)
    car_id, bus_id = label_id(stored, "car"), label_id(stored, "bus")
    Task.objects.filter(pk=task.pk).update(reserved_by=None, reserved_until=None)
    moved = [[58, 412], [54.5, 463], [130, 524]]

    task_annotation_patch(task=task, patch={"changed": [{"id": car_id, "points": moved}]}, user=bob, expected_version=1)

    car, bus = Label.objects.get(pk=car_id), Label.objects.get(pk=bus_id)
    assert car.points == moved
    assert car.answers == {}
    assert (car.author_id, car.updated_by_id) == (ann.pk, bob.pk)
    assert (bus.author_id, bus.updated_by_id) == (ann.pk, ann.pk)


def test_a_change_keeps_a_rectangles_rotation_normalised(task):
    bus_id = label_id(stored_with_car_and_bus(task), "bus")

    task_annotation_patch(task=task, patch={"changed": [{"id": bus_id, "rotation": 270}]}, expected_version=1)

    assert Label.objects.get(pk=bus_id).rotation == -90


def test_a_change_of_class_is_checked_against_the_new_class(task):
    bus_id = label_id(stored_with_car_and_bus(task), "bus")

    with pytest.raises(ValidationFailed) as caught:
        task_annotation_patch(task=task, patch={"changed": [{"id": bus_id, "key": "car"}]}, expected_version=1)

    assert ("changed[0].type", "type_mismatch") in [(d.path, d.code) for d in caught.value.details]
    assert Label.objects.get(pk=bus_id).entry.key == "bus"


def test_deleting_a_label_deletes_its_nested_labels(task):
    wheel = {"key": "wheel", "type": "point", "points": [[60, 500]]}
    stored = task_annotation_replace(task=task, document={"labels": [{**CAR, "children": [wheel]}]}, expected_version=0)

    task_annotation_patch(task=task, patch={"deleted": [label_id(stored, "car")]}, expected_version=1)

    assert not Label.objects.filter(task=task).exists()


def test_answers_are_replaced_when_sent_and_kept_when_not(task):
    task_annotation_patch(task=task, patch={"answers": {"weather": {"value": "sunny"}}}, expected_version=0)
    task_annotation_patch(task=task, patch={"added": [{"uid": "s1", **CAR}]}, expected_version=1)

    assert Task.objects.get(pk=task.pk).answers == {"weather": {"value": "sunny"}}


def test_a_save_over_a_newer_version_is_refused_with_the_current_version_and_writes_nothing(task):
    stored_with_car_and_bus(task)

    with pytest.raises(Conflict) as caught:
        task_annotation_patch(task=task, patch={"added": [{"uid": "s1", **CAR}]}, expected_version=0)

    assert caught.value.code == "version_conflict"
    assert caught.value.params == (1,)
    assert Label.objects.filter(task=task).count() == 2
    assert Task.objects.get(pk=task.pk).version == 1


def test_every_problem_of_a_save_is_located_and_nothing_is_written(task):
    stored = stored_with_car_and_bus(task)
    patch = {
        "answers": {"weather": {"value": "snowy"}},
        "added": [
            {"uid": "s1", "key": "car", "type": "polygon", "points": [[1, 1], [2, 2]]},
            {"uid": "s2", "key": "truck", "points": [[0, 0], [1, 1]]},
            {"uid": "s3", "parent": "nobody", "key": "wheel", "type": "point", "points": [[1, 1]]},
        ],
        "changed": [{"id": label_id(stored, "car"), "answers": {"car_type": {"value": "bike"}}}, {"id": 999999}],
        "deleted": [424242],
    }

    with pytest.raises(ValidationFailed) as caught:
        task_annotation_patch(task=task, patch=patch, expected_version=1)

    assert {d.path: d.code for d in caught.value.details} == {
        "answers.weather.value": "unknown_option",
        "added[0].points": "invalid_points",
        "added[1].key": "unknown_class",
        "added[2].parent": "not_found",
        "changed[0].answers.car_type.value": "unknown_option",
        "changed[1].id": "not_found",
        "deleted[0]": "not_found",
    }
    assert task_annotation_get(task=task)["labels"] == stored["labels"]
    assert Task.objects.get(pk=task.pk).version == 1


def test_a_task_reserved_by_another_annotator_is_refused(task):
    ann, bob = annotator(task, "ann"), annotator(task, "bob")
    task_reserve(task=task, user=ann)

    with pytest.raises(Conflict) as caught:
        task_annotation_patch(task=task, patch={"added": [{"uid": "s1", **CAR}]}, user=bob, expected_version=0)

    assert caught.value.code == "task_held"
    assert not Label.objects.filter(task=task).exists()


def test_a_save_renews_the_savers_reservation_and_adds_active_time(task):
    ann = annotator(task, "ann")

    task_annotation_patch(task=task, patch={}, user=ann, expected_version=0, active_seconds=7)

    saved = Task.objects.get(pk=task.pk)
    assert saved.reserved_by_id == ann.pk
    assert saved.active_seconds == 7


def test_a_save_drops_labels_whose_class_left_the_configuration(task):
    stored_with_car_and_bus(task)
    orphan = Label.objects.create(task=task, entry_id=uuid.uuid4(), points=[[1, 1]])

    task_annotation_patch(task=task, patch={"added": [{"uid": "s1", **BUS}]}, expected_version=1)

    assert not Label.objects.filter(pk=orphan.pk).exists()
    assert Label.objects.filter(task=task).count() == 3
