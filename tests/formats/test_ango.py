"""Ango Hub: the category schema as our configuration, and the label JSON by schemaId."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from formats import format_detect, format_get, format_list
from formats.reading import FileError
from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from labeling.models import Label, Task
from projects.config_converters import ango_schema_to_entries
from projects.label_config import label_config_tree
from tests.formats.conftest import read_all

pytestmark = pytest.mark.django_db

FMT = format_get(name="ango")
EXAMPLE = Path(__file__).parent / "data" / "ango.json"  # see data/README.md
#: The "Type" radio of the seed's category schema (tests/formats/conftest.py).
TYPE = "12a20f8061c044bcff26688"


def test_ango_label_json_is_in_the_registry():
    assert FMT in format_list()
    assert FMT.description
    assert format_detect(file_name="labels.json", head=EXAMPLE.read_bytes()) is FMT


def test_the_category_schema_keeps_schema_ids_colours_and_nesting(ango_project):
    tree = {entry["title"]: entry for entry in label_config_tree(configuration=ango_project.label_configuration)}

    assert (tree["Car"]["type"], tree["Car"]["schema_id"], tree["Car"]["color"]) == (
        "segmentation", "f104b6b9cdb84966812b002", "#f44336")  # fmt: skip
    assert tree["Sign"]["type"] == "rectangle"
    assert tree["Lane"]["type"] == "polygon"
    assert tree["Type"]["type"] == "select"
    assert next((o["label"], o["schema_id"]) for o in tree["Type"]["options"]) == ("A", "0ab9ff484461bb8d5952369")
    assert tree["Question"]["type"] == "checklist"
    assert tree["Color"]["type"] == "freetext"
    assert tree["Sign"]["children"][0]["schema_id"] == "a1-shape"


def test_unsupported_tools_and_relations_are_warned_about_not_imported():
    converted = ango_schema_to_entries(
        {"tools": [{"title": "Brush", "tool": "brush", "schemaId": "b"}], "classifications": [],
         "relations": [{"title": "r", "tool": "one-to-one"}]}
    )  # fmt: skip

    assert converted.entries == []
    assert [w.code for w in converted.warnings] == ["unsupported_tool", "unsupported_relations"]


def test_the_example_becomes_shapes_and_answers(ango_config):
    (item,) = read_all(FMT, EXAMPLE.read_bytes())
    converted = FMT.convert_item(item.data, ango_config, index=0, match_by="external_id")

    assert converted.errors == []
    sign, lane, car = converted.annotation.shapes
    assert sign.points == [[10, 20], [40, 60]]
    assert [(a.key, a.value) for a in sign.answers] == [("shape", "round")]
    assert lane.type == "polygon"
    assert len(car.points) == 2
    answers = {a.key: a.value for a in converted.annotation.answers}
    assert answers == {"color": "dark red", "type": "a", "question": ["option1", "option2"]}
    assert converted.reference.external_id == "img_0001.jpg"


@pytest.mark.parametrize(
    ("element", "code", "path"),
    [
        ({"externalId": "x", "objects": [{"schemaId": "nope", "point": [1, 2]}]}, "unknown_schema_id",
         "/0/objects/0/schemaId"),
        ({"externalId": "x", "classifications": [{"schemaId": "12a20f8061c044bcff26688", "answer": "D"}]},
         "unknown_answer", "/0/classifications/0/answer"),
        ({"externalId": "x", "objects": [{"schemaId": "a2", "polygon": [[0, 0], [1, 1]]}]}, "invalid_geometry",
         "/0/objects/0/polygon"),
        ({"externalId": "x", "objects": [{"schemaId": "a1", "polygon": [[0, 0], [1, 1], [1, 0]]}]},
         "wrong_geometry", "/0/objects/0"),
        ({"externalId": "x", "classifications": [{"title": "Typo", "answer": "A"}]}, "unknown_title",
         "/0/classifications/0"),
        ({"objects": []}, "asset_reference", "/0"),
    ],
)  # fmt: skip
def test_each_wrong_element_is_a_located_error(ango_config, element, code, path):
    converted = FMT.convert_item(element, ango_config, index=0, match_by="external_id")

    assert [(e.code, e.path) for e in converted.errors] == [(code, path)]


def test_a_title_is_used_only_when_it_is_unique(ango_config):
    by_title = FMT.convert_item(
        {"externalId": "x", "answer": {"classifications": [{"title": "Type", "answer": "B"}]}},
        ango_config, index=0, match_by="external_id",
    )  # fmt: skip

    assert by_title.annotation.answers[0].value == "b"


def test_a_job_imports_ango_labels_onto_the_asset_with_the_external_id(ango_project, make_task, media_storage):
    first = make_task(ango_project, external_id="img_0001.jpg")
    job = import_job_create(project=ango_project, user=None, file=EXAMPLE.read_bytes(), file_name="ango.json",
                            format="ango", options={"overwrite": True})  # fmt: skip

    job = import_job_validate(job_id=job.id)
    assert job.status == ImportStatus.VALIDATED, list(job.errors.values_list("message", flat=True))
    job = import_job_write(job_id=job.id)

    assert Label.objects.filter(task=first).count() == 3
    assert Task.objects.get(pk=first.pk).answers["type"]["value"] == "a"


def test_each_element_is_matched_by_the_reference_it_carries(ango_project, make_task, media_storage):
    by_external_id = make_task(ango_project, name="one.jpg", external_id="ext-1")
    by_data = make_task(ango_project, name="two.jpg")
    by_asset_id = make_task(ango_project, name="three.jpg")
    elements = [
        {"externalId": "ext-1", "classifications": [{"schemaId": TYPE, "answer": "A"}]},
        {"data": "https://cdn.example.com/batch/two.jpg", "classifications": [{"schemaId": TYPE, "answer": "B"}]},
        {"assetId": str(by_asset_id.media_id), "classifications": [{"schemaId": TYPE, "answer": "C"}]},
    ]
    job = import_job_create(project=ango_project, user=None, file=json.dumps(elements).encode(),
                            file_name="ango.json", format="ango")  # fmt: skip

    job = import_job_validate(job_id=job.id)
    assert job.status == ImportStatus.VALIDATED, list(job.errors.values_list("message", flat=True))
    import_job_write(job_id=job.id)

    answers = {task.pk: Task.objects.get(pk=task.pk).answers["type"]["value"]
               for task in (by_external_id, by_data, by_asset_id)}  # fmt: skip
    assert answers == {by_external_id.pk: "a", by_data.pk: "b", by_asset_id.pk: "c"}


def test_an_element_whose_own_reference_matches_nothing_is_an_error_at_that_reference(ango_project, media_storage):
    elements = [{"data": "https://cdn.example.com/batch/none.jpg", "classifications": []}]
    job = import_job_create(project=ango_project, user=None, file=json.dumps(elements).encode(),
                            file_name="ango.json", format="ango")  # fmt: skip

    job = import_job_validate(job_id=job.id)

    assert job.status == ImportStatus.FAILED
    (error,) = job.errors.all()
    assert (error.location, error.code) == ("/0/data", "media_not_found")
    assert "name 'none.jpg'" in error.message


def test_a_file_that_is_not_a_list_is_refused():
    with pytest.raises(FileError):
        read_all(FMT, '"labels"')


def test_a_file_whose_first_elements_name_assets_by_data_is_told_ango_not_label_studio():
    head = json.dumps([{"data": "https://h/a.jpg", "answer": {"objects": [{"schemaId": "a1"}]}}]).encode()

    assert format_detect(file_name="labels.json", head=head) is FMT
