"""A rectangle's rotation through the native REST API: stored normalised, read back, refused
with its path when it is no finite number or sits on a label that is no rectangle."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from labeling.models import Label, Task
from projects.label_config import label_config_replace
from projects.services import label_config_save
from tests.api.conftest import CONFIGURATION, World

pytestmark = pytest.mark.django_db


def version(world: World) -> int:
    """The task's version now: native annotation writes must name it (else 428)."""
    return Task.objects.get(pk=world.task.pk).version


def test_a_saved_annotation_keeps_a_rectangles_rotation_normalised_to_minus_180_to_180(world: World):
    client = world.client("annotator")
    url = f"/api/tasks/{world.task.id}/annotation"
    document = {"labels": [{"key": "car", "points": [[10, 20], [110, 70]], "rotation": 370}], "version": version(world)}

    saved = client.put(url, document, format="json")

    assert saved.status_code == 200, saved.json()
    assert saved.json()["labels"][0]["rotation"] == pytest.approx(10)
    assert client.get(url).json()["labels"][0]["rotation"] == pytest.approx(10)
    assert Label.objects.get(task=world.task).rotation == pytest.approx(10)


def test_a_label_created_without_rotation_is_unrotated_and_a_patch_turns_it(world: World):
    client = world.client("annotator")
    created = client.post(
        f"/api/tasks/{world.task.id}/labels",
        {"key": "car", "points": [[1, 2], [3, 4]], "version": version(world)},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["rotation"] == 0

    turned = client.patch(
        f"/api/labels/{created.json()['id']}", {"rotation": -190.5, "version": version(world)}, format="json"
    )

    assert turned.status_code == 200, turned.json()
    assert turned.json()["rotation"] == pytest.approx(169.5)
    assert turned.json()["points"] == [[1, 2], [3, 4]]  # the unrotated box stays as it was


# 1e400 is valid JSON that reads as infinity.
@pytest.mark.parametrize("rotation", ['"ninety"', "true", "[90]", '{"deg": 90}', "1e400"])
def test_a_rotation_that_is_no_finite_number_is_refused_at_its_path(world: World, rotation: str):
    client = world.client("annotator")

    response = client.generic(
        "PATCH",
        f"/api/labels/{world.label.id}",
        f'{{"rotation": {rotation}, "version": {version(world)}}}',
        content_type="application/json",
    )

    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert [(d["path"], d["code"]) for d in details] == [("rotation", "invalid_rotation")]
    assert "finite number of degrees" in details[0]["message"]
    assert Label.objects.get(pk=world.label.pk).rotation == 0


def test_only_a_rectangle_turns_a_polygon_with_a_rotation_is_refused_and_nothing_is_saved(world: World):
    label_config_replace(
        configuration=world.project.label_configuration,
        entries=[*CONFIGURATION, {"key": "road", "title": "Road", "type": "polygon"}],
    )
    client = world.client("annotator")
    url = f"/api/tasks/{world.task.id}/annotation"
    road = {"key": "road", "points": [[0, 0], [10, 0], [10, 10]]}

    refused = client.put(url, {"labels": [{**road, "rotation": 15}], "version": version(world)}, format="json")
    whole_turn = client.put(url, {"labels": [{**road, "rotation": 360}], "version": version(world)}, format="json")

    assert refused.status_code == 400
    assert [(d["path"], d["code"]) for d in refused.json()["error"]["details"]] == [
        ("labels[0].rotation", "invalid_rotation")
    ]
    assert "only rectangles turn" in refused.json()["error"]["details"][0]["message"]
    assert whole_turn.status_code == 200  # a whole turn is no rotation
    assert whole_turn.json()["labels"][0]["rotation"] == 0


def test_the_database_refuses_a_rotation_outside_minus_180_to_180(world: World):
    with pytest.raises(IntegrityError), transaction.atomic():
        Label.objects.filter(pk=world.label.pk).update(rotation=270)
    with pytest.raises(IntegrityError), transaction.atomic():
        Label.objects.filter(pk=world.label.pk).update(rotation=-180)
    Label.objects.filter(pk=world.label.pk).update(rotation=180)
    assert Label.objects.get(pk=world.label.pk).rotation == 180


def test_the_label_configuration_lets_only_rectangle_classes_be_rotatable(world: World):
    client = world.client("admin")
    url = f"/api/projects/{world.project.id}/label-configuration"
    panel = {"key": "panel", "title": "Panel", "type": "rectangle", "rotatable": True}
    sign = {"key": "sign", "title": "Sign", "type": "rectangle"}

    polygon = client.put(
        url, {"entries": [panel, {"key": "road", "title": "Road", "type": "polygon", "rotatable": True}]}, format="json"
    )
    not_boolean = client.put(url, {"entries": [panel, {**sign, "rotatable": "yes"}]}, format="json")
    # A new configuration: the project's class goes, with its label (confirmed).
    accepted = client.put(url, {"entries": [panel, sign], "confirm_loss": True}, format="json")

    assert polygon.status_code == 400
    assert [(d["path"], d["code"]) for d in polygon.json()["error"]["details"]] == [
        ("entries[1].rotatable", "rotatable_type")
    ]
    assert not_boolean.status_code == 400
    assert [d["path"] for d in not_boolean.json()["error"]["details"]] == ["entries[1].rotatable"]
    assert accepted.status_code == 200, accepted.json()
    by_key = {entry["key"]: entry for entry in client.get(url).json()["entries"]}
    assert (by_key["panel"]["rotatable"], by_key["sign"]["rotatable"]) == (True, False)


def test_the_editors_save_keeps_the_entry_and_its_labels_and_changes_its_rotatable_flag(world: World):
    configuration = world.project.label_configuration
    schema_id = configuration.entries.get(key="car").schema_id
    ours = {"key": "car", "title": "Car", "type": "rectangle", "schema_id": schema_id}

    label_config_save(configuration=configuration, entries=[{**ours, "rotatable": True}])
    turned_on = configuration.entries.get(key="car")
    label_config_save(configuration=configuration, entries=[{**ours, "rotatable": False}])
    turned_off = configuration.entries.get(key="car")

    assert (turned_on.rotatable, turned_off.rotatable) == (True, False)
    assert turned_on.pk == turned_off.pk
    assert Label.objects.filter(pk=world.label.pk).exists()
