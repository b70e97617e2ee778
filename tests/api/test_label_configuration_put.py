"""The native configuration API never deletes labels silently (issue 20, point 5).

A PUT keeps each entry that comes back with its schema id (as the configuration editor does);
a change that would delete labels or answers answers 409 with the impact unless `confirm_loss`.
DataGym v1's PUT keeps DataGym's replace semantics (tests/datagym_v1)."""

from __future__ import annotations

import copy
from typing import Any

from labeling.models import Label, Task
from projects.models import LabelEntry
from tests.api.conftest import World


def _url(world: World) -> str:
    return f"/api/projects/{world.project.id}/label-configuration"


def _with_answers(world: World) -> None:
    """The task answers the global question and the car label answers its nested one."""
    Task.objects.filter(pk=world.task.pk).update(answers={"weather": {"value": "rainy"}})
    Label.objects.filter(pk=world.label.pk).update(answers={"color": {"value": "red"}})


def _entry_rows(world: World) -> list[tuple[Any, ...]]:
    return list(
        LabelEntry.objects.filter(configuration__project=world.project)
        .order_by("id")
        .values_list("id", "key", "title", "type", "schema_id", "parent_id", "position", "options")
    )


def test_get_then_put_of_an_unchanged_configuration_changes_nothing_and_deletes_nothing(world: World):
    _with_answers(world)
    client = world.client("admin")
    before = _entry_rows(world)
    tree = client.get(_url(world)).json()

    response = client.put(_url(world), {"entries": tree["entries"]}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["entries"] == tree["entries"]
    assert _entry_rows(world) == before
    label = Label.objects.get(pk=world.label.pk)
    assert label.answers == {"color": {"value": "red"}}
    assert Task.objects.get(pk=world.task.pk).answers == {"weather": {"value": "rainy"}}


def test_a_put_keeps_the_labels_of_an_entry_renamed_under_its_schema_id(world: World):
    client = world.client("admin")
    entries = client.get(_url(world)).json()["entries"]
    entries[0]["title"] = "Automobile"
    entries[0]["color"] = "#00ff00"

    response = client.put(_url(world), {"entries": entries}, format="json")

    assert response.status_code == 200, response.json()
    label = Label.objects.select_related("entry").get(pk=world.label.pk)
    assert (label.entry.title, label.entry.color) == ("Automobile", "#00ff00")
    assert label.entry.schema_id == entries[0]["schema_id"]


def test_a_put_that_would_delete_labels_answers_409_with_the_counts_per_class_and_saves_nothing(world: World):
    _with_answers(world)
    client = world.client("admin")
    before = _entry_rows(world)
    entries = client.get(_url(world)).json()["entries"]
    without_car = [entry for entry in entries if entry["key"] != "car"]

    response = client.put(_url(world), {"entries": without_car}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["error"]["code"] == "labels_would_be_lost"
    assert "confirm" in body["error"]["message"]
    assert body["impact"]["removed_classes"] == [{"key": "car", "title": "Car", "type": "rectangle", "label_count": 1}]
    assert body["impact"]["labels_lost"] == 1
    assert _entry_rows(world) == before
    assert Label.objects.filter(pk=world.label.pk).exists()


def test_a_put_that_would_delete_answers_counts_them_per_question_and_option(world: World):
    _with_answers(world)
    client = world.client("admin")
    entries = client.get(_url(world)).json()["entries"]
    changed = copy.deepcopy(entries)
    weather = next(entry for entry in changed if entry["key"] == "weather")
    weather["options"] = [option for option in weather["options"] if option["key"] != "rainy"]
    car = next(entry for entry in changed if entry["key"] == "car")
    car["children"] = []

    response = client.put(_url(world), {"entries": changed}, format="json")

    assert response.status_code == 409
    impact = response.json()["impact"]
    assert impact["removed_classes"] == []
    assert impact["removed_questions"] == [{"key": "color", "title": "Color", "answer_count": 1}]
    assert [(o["question_key"], o["option_key"], o["answer_count"]) for o in impact["removed_options"]] == [
        ("weather", "rainy", 1)
    ]
    assert impact["answers_lost"] == 2
    assert Task.objects.get(pk=world.task.pk).answers == {"weather": {"value": "rainy"}}


def test_confirm_loss_in_the_body_or_the_query_saves_the_change_and_deletes_what_it_said(world: World):
    client = world.client("admin")
    entries = client.get(_url(world)).json()["entries"]
    without_car = [entry for entry in entries if entry["key"] != "car"]

    response = client.put(_url(world) + "?confirm_loss=true", {"entries": without_car}, format="json")

    assert response.status_code == 200, response.json()
    assert [entry["key"] for entry in response.json()["entries"]] == ["weather"]
    assert not Label.objects.filter(pk=world.label.pk).exists()
    # The question that stayed is the same row (its answers stay with it).
    assert response.json()["entries"][0]["schema_id"] == without_car[0]["schema_id"]


def test_a_put_without_schema_ids_that_loses_nothing_replaces_the_configuration(world: World):
    Label.objects.all().delete()
    entries = [{"key": "tree", "title": "Tree", "type": "polygon"}]

    response = world.client("admin").put(_url(world), {"entries": entries}, format="json")

    assert response.status_code == 200, response.json()
    assert [entry["key"] for entry in response.json()["entries"]] == ["tree"]


def test_the_409_is_documented_with_its_impact_in_the_openapi_schema(world: World):
    schema = world.client("admin").get("/api/schema", HTTP_ACCEPT="application/json").json()
    put = schema["paths"]["/api/projects/{project_id}/label-configuration"]["put"]
    conflict = put["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "impact" in schema["components"]["schemas"][conflict]["properties"]
    assert "confirm_loss" in {parameter["name"] for parameter in put["parameters"]}
