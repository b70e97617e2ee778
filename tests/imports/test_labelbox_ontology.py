"""A Labelbox ontology becomes our configuration through the convert API, and the NDJSON that the
`labelbox` SDK writes for it then imports by name and by the ontology's schema ids.

The ontology and the NDJSON are made at test time by `labelbox` 7.17.0 itself
(`tests/thirdparty/labelbox_ontology.py`): `OntologyBuilder.asdict()` of an ontology built in
code, the same ontology with the `featureSchemaId` / `schemaNodeId` of every feature and option
as Labelbox's app exports it (read back by the SDK's `OntologyBuilder.from_dict`), and
`NDJsonConverter.serialize` of the SDK's annotation types for the data row `img_001.jpg`.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from labeling.models import Label, Task
from projects.config_converters import labelbox_ontology_to_entries
from projects.label_config import label_config_tree
from tests.factories import DatasetFactory, MediaFactory, TaskFactory
from tests.imports.test_label_studio_exports import upload
from tests.thirdparty import tool_run, tool_venv

pytestmark = pytest.mark.django_db

#: `[data]` brings the SDK's annotation types and NDJSON serializer (numpy, shapely ...).
LABELBOX_SDK = "labelbox[data]==7.17.0"


@cache
def labelbox_files() -> dict[str, Any]:
    python = tool_venv("labelbox", [LABELBOX_SDK])
    return dict(json.loads(tool_run(python, "labelbox_ontology.py")))


def convert(client, ontology: Any) -> dict[str, Any]:
    response = client.post(
        "/api/label-configurations/convert",
        {"format": "labelbox_ontology", "source": json.dumps(ontology)},
        format="json",
    )
    assert response.status_code == 200, response.json()
    return dict(response.json())


@pytest.fixture
def run_ndjson(admin_client, project, media_storage, eager_worker, django_capture_on_commit_callbacks):
    """Configure the project from an ontology through the API, as the editor does, and import an NDJSON file."""
    dataset = DatasetFactory(organization=project.organization, name="Streets")
    dataset.projects.add(project)
    TaskFactory(project=project, media=MediaFactory(dataset=dataset, name="img_001.jpg", global_key="img_001.jpg"))

    def run(ontology: Any, ndjson: str) -> dict[str, Any]:
        converted = convert(admin_client, ontology)
        saved = admin_client.post(
            f"/api/projects/{project.pk}/label-configuration/save", {"entries": converted["entries"]}, format="json"
        )
        assert saved.status_code == 200, saved.json()
        with django_capture_on_commit_callbacks(execute=True):
            job_id = upload(admin_client, project, "labels.ndjson", ndjson.encode())
        return dict(admin_client.get(f"/api/imports/{job_id}").json())

    return run


def imported(project) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    labels = Label.objects.filter(task__project=project).select_related("entry")
    shapes = {label.entry.key: label.points for label in labels}
    car_answers = next(label.answers for label in labels if label.entry.key == "car")
    return shapes, car_answers, dict(Task.objects.get(project=project).answers)


EXPECTED_SHAPES = {
    "car": [[10.0, 20.0], [110.0, 70.0]],
    "road": [[1.0, 1.0], [5.0, 1.0], [5.0, 5.0]],
    "lane marking": [[0.0, 0.0], [9.0, 9.0]],
    "head": [[3.0, 4.0]],
}
EXPECTED_CAR = {"occluded": {"value": "no", "answers": {"why not": {"value": "parked"}}}}
EXPECTED_TASK = {"weather": {"value": "rainy day"}, "tags": {"value": ["blurry", "night"]}, "comment": {"value": "wet"}}


@pytest.mark.thirdparty
def test_an_ontology_builder_dict_becomes_the_configuration_with_nested_questions(admin_client):
    converted = convert(admin_client, labelbox_files()["builder"])

    by_key = {entry["key"]: entry for entry in converted["entries"]}
    assert [(key, entry["type"]) for key, entry in by_key.items()] == [
        ("car", "rectangle"), ("road", "polygon"), ("lane marking", "line"), ("head", "point"),
        ("sky", "segmentation"), ("weather", "select"), ("tags", "checklist"), ("comment", "freetext"),
    ]  # fmt: skip
    (occluded,) = by_key["car"]["children"]
    assert [o["key"] for o in occluded["options"]] == ["yes", "no"]
    # The question asked when "no" is chosen is a child of the question, where NDJSON nests its answer.
    assert [(c["title"], c["type"]) for c in occluded["children"]] == [("why not", "freetext")]
    assert by_key["tags"]["options"][0] == {"key": "blurry", "label": "Blurry"}
    assert by_key["car"]["color"] == "#ff0000"
    # The NER tool has no counterpart: said where it is, not silently dropped.
    assert [(w["path"], w["code"]) for w in converted["warnings"]] == [("/tools/5/tool", "unsupported_tool")]


@pytest.mark.thirdparty
def test_the_app_ontology_keeps_every_feature_schema_id(admin_client, project):
    app = labelbox_files()["app"]
    converted = convert(admin_client, app)
    admin_client.post(
        f"/api/projects/{project.pk}/label-configuration/save", {"entries": converted["entries"]}, format="json"
    )

    tree = {entry["key"]: entry for entry in label_config_tree(configuration=project.label_configuration)}
    car = next(tool for tool in app["tools"] if tool["name"] == "Car")
    assert tree["car"]["schema_id"] == car["featureSchemaId"]
    occluded = tree["car"]["children"][0]
    assert occluded["schema_id"] == car["classifications"][0]["featureSchemaId"]
    assert [o["schema_id"] for o in occluded["options"]] == [
        o["featureSchemaId"] for o in car["classifications"][0]["options"]
    ]
    assert (
        occluded["children"][0]["schema_id"] == car["classifications"][0]["options"][1]["options"][0]["featureSchemaId"]
    )


@pytest.mark.thirdparty
def test_sdk_ndjson_by_names_imports_every_label_of_the_builder_ontology(run_ndjson, project):
    files = labelbox_files()

    job = run_ndjson(files["builder"], files["ndjson_by_name"])

    assert (job["format"], job["status"]) == ("labelbox_ndjson", "succeeded"), (job["message"], job.get("errors"))
    assert imported(project) == (EXPECTED_SHAPES, EXPECTED_CAR, EXPECTED_TASK)


@pytest.mark.thirdparty
def test_sdk_ndjson_by_schema_ids_imports_every_label_of_the_app_ontology(run_ndjson, project):
    files = labelbox_files()

    job = run_ndjson(files["app"], files["ndjson_by_schema_id"])

    assert (job["format"], job["status"]) == ("labelbox_ndjson", "succeeded"), (job["message"], job.get("errors"))
    assert imported(project) == (EXPECTED_SHAPES, EXPECTED_CAR, EXPECTED_TASK)


def test_a_feature_schema_used_twice_keeps_its_node_id_in_the_second_place():
    question = {"type": "text", "name": "note", "featureSchemaId": "clq", "schemaNodeId": "cln1"}
    again = {**question, "schemaNodeId": "cln2"}
    ontology = {
        "tools": [
            {"tool": "rectangle", "name": "A", "featureSchemaId": "cla", "classifications": [question]},
            {"tool": "point", "name": "B", "featureSchemaId": "clb", "classifications": [again]},
        ],
        "classifications": [],
    }

    converted = labelbox_ontology_to_entries(ontology)

    assert [e["children"][0]["schema_id"] for e in converted.entries] == ["clq", "cln2"]
    assert [(w.path, w.code) for w in converted.warnings] == [
        ("/tools/1/classifications/0/featureSchemaId", "reused_feature_schema")
    ]


def test_the_sdk_ontology_object_is_read_from_its_normalized_field():
    converted = labelbox_ontology_to_entries(
        {
            "id": "clo",
            "name": "Streets",
            "normalized": {"tools": [{"tool": "line", "name": "Lane"}], "classifications": []},
        }
    )

    assert [(e["key"], e["type"]) for e in converted.entries] == [("lane", "line")]


@pytest.mark.parametrize(
    ("source", "code", "path"),
    [
        ('{"tools": [', "invalid_json", "source"),
        ('[{"tool": "rectangle"}]', "invalid_labelbox_ontology", "source"),
        ('{"tools": {"tool": "rectangle"}}', "invalid_labelbox_ontology", "/tools"),
    ],
)
def test_a_source_that_is_no_ontology_is_a_located_400(admin_client, source, code, path):
    response = admin_client.post(
        "/api/label-configurations/convert", {"format": "labelbox_ontology", "source": source}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"][0]["path"] == path
