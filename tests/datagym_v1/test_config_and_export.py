"""Label configuration DELETE/PUT, the JSON export and the segmentation bitmap."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from labeling.models import TaskState
from projects.label_config import label_config_replace
from projects.models import LabelEntry
from tests.datagym_v1.conftest import assert_error
from tests.factories import LabelFactory, MediaFactory, TaskFactory

pytestmark = pytest.mark.django_db

CONFIG = [
    {"entryKey": "bus", "entryValue": "Bus", "type": "rectangle", "shortcut": 1, "children": []},
    {
        "entryKey": "car",
        "entryValue": "Car",
        "type": "polygon",
        "color": "blue",
        "children": [
            {
                "entryKey": "car_type",
                "entryValue": "Type",
                "type": "select",
                "required": True,
                "options": {"suv": "SUV", "van": "Van", "cab": "Cab", "bus": "Bus"},
            },
            {"entryKey": "wheel", "entryValue": "Wheel", "type": "point"},
        ],
    },
    {"entryKey": "street", "entryValue": "Street", "type": "line"},
    {"entryKey": "poi", "entryValue": "POI", "type": "point"},
    {"entryKey": "mask", "entryValue": "Mask", "type": "image_segmentation"},
    {
        "entryKey": "weather",
        "entryValue": "Weather",
        "type": "select",
        "options": {"sunny": "Sunny", "rainy": "Rainy"},
        "children": [{"entryKey": "daytime", "entryValue": "Daytime", "type": "select", "options": {"day": "Day"}}],
    },
    {"entryKey": "tags", "entryValue": "Tags", "type": "checklist", "options": {"a": "A", "b": "B"}},
    {"entryKey": "note", "entryValue": "Note", "type": "freetext", "maxLength": 20},
]


def _config_url(project):
    return f"/api/v1/config/{project.label_configuration.id}"


# --- configuration ------------------------------------------------------------------------


def test_delete_then_put_replaces_the_configuration(api, project):
    assert api.delete(_config_url(project)).json() == {"configId": str(project.label_configuration.id)}
    response = api.put(_config_url(project), CONFIG, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(project.label_configuration.id)
    assert body["projectId"] == str(project.id)
    assert body["numberOfCompletedTasks"] == 0
    assert body["numberOfReviewedTasks"] == 0
    car = body["entries"][1]
    assert car["entryKey"] == "car"
    assert car["type"] == "POLYGON"
    assert car["color"] == "blue"
    assert car["children"][0]["options"] == {"suv": "SUV", "van": "Van", "cab": "Cab", "bus": "Bus"}
    assert car["children"][0]["lcEntryParentId"] == car["id"]
    assert body["entries"][0]["shortcut"] == "1"


def test_double_slash_config_path_works(api, project):
    # As gunicorn passes it: PATH_INFO keeps the double slash (the test client would parse
    # "//api" as a host name, so the path is given directly).
    double = "/" + _config_url(project)
    assert api.delete(_config_url(project), PATH_INFO=double).status_code == 200
    assert api.put(_config_url(project), CONFIG[:1], format="json", PATH_INFO=double).status_code == 200


def test_put_without_clearing_first_answers_not_cleared(api, project):
    api.put(_config_url(project), CONFIG[:1], format="json")
    config_id = str(project.label_configuration.id)
    assert_error(
        api.put(_config_url(project), CONFIG[:1], format="json"), 500, "ex_gen_config_not_cleared", [config_id]
    )


@pytest.mark.parametrize(
    ("entries", "status", "key", "params"),
    [
        (
            [
                {"entryKey": "car", "entryValue": "Car", "type": "point"},
                {"entryKey": "Car", "entryValue": "Car", "type": "line"},
            ],
            412,
            "ex_alreadyexists",
            ["Label entry", "entryKey:", "Car"],
        ),
        (
            [
                {"entryKey": "a", "entryValue": "A", "type": "point", "shortcut": 1},
                {"entryKey": "b", "entryValue": "B", "type": "line", "shortcut": "1"},
            ],
            412,
            "ex_alreadyexists",
            ["Shortcut", "value:", "1"],
        ),
        ([{"entryKey": "geometry", "entryValue": "G", "type": "point"}], 500, "ex_gen_forbidden_keyword", ["geometry"]),
        (
            [
                {
                    "entryKey": "q",
                    "entryValue": "Q",
                    "type": "select",
                    "children": [{"entryKey": "p", "entryValue": "P", "type": "point"}],
                }
            ],
            500,
            "ex_gen_geometry_definition_incorrect",
            None,
        ),
        (
            [{"entryKey": "t", "entryValue": "T", "type": "freetext"}],
            500,
            "ex_gen_entry_classification_incorrect",
            ["FREETEXT"],
        ),
        ([{"entryKey": "r", "entryValue": "R", "type": "radio"}], 500, "ex_gen_entry_type_not_found", ["entry type"]),
    ],
)
def test_put_maps_configuration_rules_to_datagym_keys(api, project, entries, status, key, params):
    assert_error(api.put(_config_url(project), entries, format="json"), status, key, params)
    assert not LabelEntry.objects.filter(configuration=project.label_configuration).exists()


def test_put_with_a_bad_key_answers_bean_validation(api, project):
    body = assert_error(
        api.put(_config_url(project), [{"entryKey": "a/b", "entryValue": "A", "type": "point"}], format="json"),
        400,
        "ex_validation",
        [],
    )
    assert body["code"] == 0
    assert body["details"] == [
        {"name": "Entry Key", "key": "ex_pattern", "params": ["Entry Key", "[]", "^[a-zA-Z0-9_ -]*$"]}
    ]


def test_put_too_deep_answers_config_depth(api, project):
    deep = {
        "entryKey": "l4",
        "entryValue": "L",
        "type": "freetext",
        "maxLength": 5,
        "children": [{"entryKey": "l5", "entryValue": "L", "type": "freetext", "maxLength": 5}],
    }
    tree = [
        {
            "entryKey": "l1",
            "entryValue": "L",
            "type": "point",
            "children": [
                {
                    "entryKey": "l2",
                    "entryValue": "L",
                    "type": "select",
                    "children": [{"entryKey": "l3", "entryValue": "L", "type": "select", "children": [deep]}],
                }
            ],
        }
    ]
    assert_error(api.put(_config_url(project), tree, format="json"), 500, "ex_gen_config_depth")


def test_put_without_body_uploads_an_empty_configuration(api, project):
    response = api.put(_config_url(project))
    assert response.status_code == 200
    assert response.json()["entries"] == []


# --- export -------------------------------------------------------------------------------


@pytest.fixture
def labeled_project(project, connected):
    label_config_replace(configuration=project.label_configuration, entries=CONFIG)
    entries = {e.key: e for e in LabelEntry.objects.filter(configuration=project.label_configuration)}
    media = MediaFactory(dataset=connected, name="awesome_image.jpg", width=20, height=10)
    task = TaskFactory(
        project=project,
        media=media,
        state=TaskState.COMPLETED,
        answers={"weather": {"value": "sunny", "answers": {"daytime": {"value": "day"}}}, "tags": {"value": []}},
    )
    car = LabelFactory(task=task, entry=entries["car"], points=[[57, 412], [54.9, 463], [130, 524]], answers={})
    LabelFactory(task=task, entry=entries["wheel"], parent=car, points=[[60, 500]])
    LabelFactory(task=task, entry=entries["bus"], points=[[272, 302], [596, 471]])
    LabelFactory(task=task, entry=entries["street"], points=[[57, 412], [54, 463]])
    LabelFactory(task=task, entry=entries["poi"], points=[[-3, 412]])
    LabelFactory(task=task, entry=entries["mask"], points=[[[2, 2], [10, 2], [10, 8], [2, 8]]])
    TaskFactory(project=project, media=MediaFactory(dataset=connected), state=TaskState.WAITING)
    return project, task


def _export(api, project):
    response = api.get(f"/api/v1/export/{project.id}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response, __import__("json").loads(b"".join(response.streaming_content))


def test_export_without_finished_tasks_is_an_empty_array(api, project, connected):
    TaskFactory(project=project, media=MediaFactory(dataset=connected), state=TaskState.BACKLOG)
    response, body = _export(api, project)
    assert body == []
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="datagym_export_')
    assert disposition.endswith(f'_{project.name.replace(" ", "%20")}.json"')


def test_the_bitmap_links_of_the_export_are_under_the_public_url_when_set(api, labeled_project, settings):
    settings.LABELSITE_PUBLIC_URL = "https://labels.example.com"
    project, task = labeled_project
    _, (_, row) = _export(api, project)
    assert row["segmentations"] == [f"https://labels.example.com/api/v1/export/bitmap/{task.id}/mask"]


def test_export_writes_section_5s_shape(api, labeled_project):
    project, task = labeled_project
    _, body = _export(api, project)
    header, row = body
    classes = {c["class_name"]: c for c in header["label_classes"]}
    assert classes["car"] == {"class_name": "car", "geometry_type": "polygon"}
    assert classes["wheel"] == {"class_name": "wheel", "geometry_type": "point"}
    assert classes["mask"] == {"class_name": "mask", "geometry_type": "image_segmentation"}
    assert classes["weather"] == {"class_name": "weather", "classification_type": "radio"}
    assert classes["car_type"] == {"class_name": "car_type", "classification_type": "select"}
    assert classes["tags"] == {"class_name": "tags", "classification_type": "checklist"}
    assert classes["note"] == {"class_name": "note", "classification_type": "freetext"}
    assert list(row)[:4] == ["internal_media_ID", "external_media_ID", "labeler", "status"]
    assert row["internal_media_ID"] == str(task.media_id)
    assert row["external_media_ID"] == "awesome_image.jpg"
    assert row["labeler"] is None
    assert row["status"] == "completed"
    assert row["segmentations"] == [f"http://testserver/api/v1/export/bitmap/{task.id}/mask"]
    assert row["global_classifications"] == {
        "weather": ["sunny", {"daytime": ["day"]}],
        "tags": [None],
        "note": [None],
    }
    labels = row["labels"]
    assert labels["car"] == [
        {
            "polygon": [{"x": 57, "y": 412}, {"x": 54, "y": 463}, {"x": 130, "y": 524}],
            "classifications": {"car_type": [None]},
            "nested_geometries": {"wheel": [{"point": [{"x": 60, "y": 500}], "classifications": {}}]},
        }
    ]
    assert labels["bus"] == [
        {"rectangle": [{"x": 272, "y": 302, "w": 324, "h": 169}], "classifications": {}, "nested_geometries": {}}
    ]
    assert labels["street"][0]["line"] == [{"x": 57, "y": 412}, {"x": 54, "y": 463}]
    assert labels["poi"][0]["point"] == [{"x": None, "y": None}]
    assert "wheel" not in labels


def test_export_head_answers_headers_only(api, labeled_project):
    project, _ = labeled_project
    response = api.head(f"/api/v1/export/{project.id}")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="datagym_export_')
    assert response.content == b""


def test_export_reads_labels_with_a_fixed_number_of_queries(api, labeled_project, django_assert_max_num_queries):
    project, _ = labeled_project
    with django_assert_max_num_queries(12):
        _export(api, project)


def test_export_of_unknown_project_answers_404(api):
    missing = "00000000-0000-0000-0000-000000000001"
    assert_error(api.get(f"/api/v1/export/{missing}"), 404, "ex_notfound", ["Project", "id", missing])


def test_bitmap_export_draws_the_segmentation(api, labeled_project):
    _, task = labeled_project
    response = api.get(f"/api/v1/export/bitmap/{task.id}/mask")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/bmp"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "BMP"
    assert image.size == (20, 10)
    assert image.getpixel((5, 5)) != 0
    assert image.getpixel((15, 9)) == 0


def test_bitmap_export_of_a_non_segmentation_key_answers_404(api, labeled_project):
    _, task = labeled_project
    assert_error(api.get(f"/api/v1/export/bitmap/{task.id}/car"), 404, "ex_notfound", ["lcEntry", "entry_key", "car"])


def test_delete_removes_labels_and_answers_and_reopens_finished_tasks(api, labeled_project):
    project, task = labeled_project
    assert api.delete(_config_url(project)).status_code == 200
    task.refresh_from_db()
    assert task.state == TaskState.WAITING_CHANGED
    assert task.answers == {}
    assert not task.labels.exists()
    assert not LabelEntry.objects.filter(configuration=project.label_configuration).exists()
