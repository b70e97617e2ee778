"""POST /api/v1/project/{id}/prediction: DataGym's parse, schema and semantic error answers."""

from __future__ import annotations

import pytest

from datagym_v1.errors import semantic_import_error
from datagym_v1.presenters import schema_errors_text
from labeling.models import Label, Task
from labelsite.errors import ErrorDetail, ValidationFailed
from projects.label_config import label_config_replace
from tests.datagym_v1.conftest import assert_error
from tests.factories import MediaFactory

pytestmark = pytest.mark.django_db

CONFIG = [
    {
        "entryKey": "car",
        "entryValue": "Car",
        "type": "polygon",
        "children": [{"entryKey": "car_type", "entryValue": "Type", "type": "select", "options": {"suv": "SUV"}}],
    },
    {"entryKey": "bus", "entryValue": "Bus", "type": "rectangle"},
    {"entryKey": "weather", "entryValue": "Weather", "type": "select", "options": {"sunny": "Sunny"}},
]


def _post(api, project, body: bytes):
    return api.generic("POST", f"/api/v1/project/{project.id}/prediction", body, content_type="application/json")


@pytest.fixture
def task(project, connected):
    label_config_replace(configuration=project.label_configuration, entries=CONFIG)
    return Task.objects.create(project=project, media=MediaFactory(dataset=connected))


# --- before the import service: parsing ---------------------------------------------------


def test_empty_body_answers_500_no_data(api, project):
    assert_error(
        _post(api, project, b""), 500, "ex_gen_error_messages", ["Unable to parse the content. No data available?"]
    )


def test_json_syntax_error_answers_200_with_line_and_column(api, project):
    response = _post(api, project, b'[{"internal_media_ID": "x",]')
    assert response.status_code == 200
    text = response.json()["errorMessages"]
    assert text.startswith("line: 1, column: 28\n")


def test_non_array_answers_500_json_array_message(api, project):
    assert_error(
        _post(api, project, b"{}"),
        500,
        "ex_gen_error_messages",
        ["A JSONArray text must start with '[' at 1 [character 2 line 1]"],
    )


def test_unknown_project_answers_404(api):
    missing = "00000000-0000-0000-0000-000000000002"
    response = api.generic("POST", f"/api/v1/project/{missing}/prediction", b"[]", content_type="application/json")
    assert_error(response, 404, "ex_notfound", ["Project", "id", missing])


# --- the text of schema errors and the keys of semantic errors ------------------------------


def test_schema_error_text_groups_by_pointer_sorted_by_length_then_name():
    details = [
        ErrorDetail(path="#/1/labels/car/0/polygon", code="schema", message="expected minimum item count: 3"),
        ErrorDetail(path="#/0/keepData", code="schema", message="expected type: Boolean, found: Integer"),
        ErrorDetail(path="#/0/labels/poi/0/point/0/x", code="schema", message="-1 is not greater or equal to 0"),
        ErrorDetail(path="#/0/labels/poi/0/point/0/x", code="schema", message="expected type: String"),
    ]
    assert schema_errors_text(details) == (
        "Schema validation failed with 3 error(s)\n\n"
        "#/0/keepData\nexpected type: Boolean, found: Integer\n\n"
        "#/1/labels/car/0/polygon\nexpected minimum item count: 3\n\n"
        "#/0/labels/poi/0/point/0/x\nEither: \n-1 is not greater or equal to 0\nexpected type: String\n\n"
    )


@pytest.mark.parametrize(
    ("code", "params", "key", "expected"),
    [
        ("unknown_entry", ("truck",), "ex_gen_wrong_entry_id", ["truck"]),
        ("media_not_found", ("m1",), "ex_gen_json_upload_not_found_task", []),
        ("geometry_type_mismatch", ("POLYGON",), "ex_gen_entry_value_validation", ["POLYGON"]),
        ("rectangle_extra_key", ("RECTANGLE",), "ex_gen_entry_type_not_found", ["RECTANGLE"]),
    ],
)
def test_semantic_import_errors_map_to_datagym_keys(code, params, key, expected):
    as_error = ValidationFailed(code=code, message="m", params=params)
    as_detail = ValidationFailed(
        code="invalid_items", message="m", details=[ErrorDetail(path="#/0", code=code, message="m", params=params)]
    )
    for error in (as_error, as_detail):
        body = semantic_import_error(error).body()
        assert (body["key"], body["params"], body["code"]) == (key, expected, 500)


# --- through the import service -----------------------------------------------------------


def test_valid_import_answers_empty_error_messages_and_writes_labels(api, project, task):
    body = (
        b'[{"internal_media_ID": "%s", "keepData": false, "global_classifications": {"weather": ["sunny"]},'
        b' "labels": {"car": [{"polygon": [{"x": 1, "y": 2}, {"x": 5.5, "y": "6"}, {"x": 9, "y": 2}],'
        b' "classifications": {"car_type": ["suv"]}}]}}]' % str(task.media_id).encode()
    )
    response = _post(api, project, body)
    assert response.status_code == 200
    assert response.json() == {"errorMessages": ""}
    assert Label.objects.filter(task=task).count() == 1


def test_schema_error_answers_200_and_writes_nothing(api, project, task):
    body = b'[{"internal_media_ID": "%s", "labels": {"car": [{"polygon": [{"x": 1, "y": 2}]}]}}]' % (
        str(task.media_id).encode()
    )
    response = _post(api, project, body)
    assert response.status_code == 200
    text = response.json()["errorMessages"]
    assert text.startswith("Schema validation failed with 1 error(s)\n\n#/0/labels/car/0/polygon\n")
    assert not Label.objects.filter(task=task).exists()


def test_unknown_class_answers_500_wrong_entry_id_and_writes_nothing(api, project, task):
    body = (
        b'[{"internal_media_ID": "%s", "labels": {"car": [{"polygon": [{"x": 1, "y": 2}, {"x": 3, "y": 4},'
        b' {"x": 5, "y": 1}]}], "truck": [{"point": [{"x": 1, "y": 1}]}]}}]' % str(task.media_id).encode()
    )
    assert_error(_post(api, project, body), 500, "ex_gen_wrong_entry_id", ["truck"])
    assert not Label.objects.filter(task=task).exists()


def test_media_without_task_answers_500_not_found_task(api, project, task):
    body = b'[{"internal_media_ID": "00000000-0000-0000-0000-000000000009", "labels": {}}]'
    assert_error(_post(api, project, body), 500, "ex_gen_json_upload_not_found_task", [])
