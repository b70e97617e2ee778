"""Every option of every import format is type-checked when the upload arrives, with a located error.

Security review (issue 15, item 11): `overwrite: "false"` (a string) was taken as true by Ango's
reader (`not "false"` is False) and replaced 57 labels. Each option now has a JSON schema: booleans
are JSON booleans, enums come from their lists, `label_mapping` maps strings to strings,
`image_field` is a string, `metadata_schema` has its documented shape. A wrong value is refused
with the option's place and what it must be, and no job is made.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from formats import format_list
from imports.models import ImportJob

pytestmark = pytest.mark.django_db

JOB_MATCH_BY = 'must be one of "id", "name", "external_id", "global_key", not true'

#: option -> (a value of the wrong type, the place of the error, what its message says).
WRONG: dict[str, list[tuple[Any, str, str]]] = {
    "match_by": [(True, "match_by", JOB_MATCH_BY)],
    "skip_invalid": [("false", "skip_invalid", 'must be true or false (a JSON boolean), not the string "false"')],
    "write_when_valid": [("true", "write_when_valid", 'must be true or false (a JSON boolean), not the string "true"')],
    "keep_data": [("no", "keep_data", 'must be true or false (a JSON boolean) or null, not the string "no"')],
    "overwrite": [("false", "overwrite", 'must be true or false (a JSON boolean), not the string "false"')],
    "replace": [("false", "replace", 'must be true or false (a JSON boolean), not the string "false"')],
    "create_media": [(1, "create_media", "must be true or false (a JSON boolean), not the number 1")],
    "image_field": [
        (5, "image_field", "must be a string or null, not the number 5"),
        ("", "image_field", "must not be empty"),
    ],
    "dataset_id": [(["a"], "dataset_id", "must be a string or null, not a list")],
    "annotation": [(5, "annotation", "is not valid")],
    "label_mapping": [
        ("bus", "label_mapping", 'must be a JSON object, not the string "bus"'),
        ({"Bus": 1}, "label_mapping.Bus", "must be a string, not the number 1"),
    ],
    "metadata_schema": [
        ({"name": "site"}, "metadata_schema", "must be a list, not an object"),
        (
            [{"name": "site", "kind": "text"}],
            "metadata_schema[0].kind",
            'must be one of "string", "number", "datetime", "enum", "embedding", not the string "text"',
        ),
        ([{"name": "weather", "kind": "enum"}], "metadata_schema[0]", 'must have the key "options"'),
        ([{"kind": "string"}], "metadata_schema[0]", 'must have the key "name"'),
    ],
    # Ango CSV's plugin config.
    "external_id_column": [(5, "external_id_column", "must be a string, not the number 5")],
    "classification_columns": [("Color", "classification_columns", 'must be a list, not the string "Color"')],
    "classification_schema_ids": [(7, "classification_schema_ids", "must be a list, not the number 7")],
    "mask_column": [(False, "mask_column", "must be a string, not false")],
    "mask_color_mapping": [(5, "mask_color_mapping", "is not valid")],
    "segmentation_mode": [
        (1, "segmentation_mode", 'must be one of "instance_segmentation", "semantic_segmentation", not the number 1')
    ],
    "polygon_simplification_tolerance": [
        ("0.1", "polygon_simplification_tolerance", 'must be a number, not the string "0.1"')
    ],
    "storage_id": [(None, "storage_id", "must be a string, not null")],
    "ignored_schema_ids": [({"a": 1}, "ignored_schema_ids", "must be a list, not an object")],
    "upload_batch_size": [("100", "upload_batch_size", 'must be a whole number, not the string "100"')],
}
#: Where a format narrows an option (Ango CSV rows match by external id only).
WRONG_FOR_FORMAT: dict[tuple[str, str], list[tuple[Any, str, str]]] = {
    ("ango_csv", "match_by"): [(True, "match_by", 'must be "external_id", not true')],
    ("coco", "match_by"): [(True, "match_by", 'must be "name", not true')],
    ("cvat", "match_by"): [(True, "match_by", 'must be "name", not true')],
    ("labelme", "match_by"): [(True, "match_by", 'must be "name", not true')],
    ("pascal_voc", "match_by"): [(True, "match_by", 'must be "name", not true')],
    ("yolo", "match_by"): [(True, "match_by", 'must be one of "stem", "name", not true')],
}
#: What else a format needs for its options to be valid (Ango CSV: the column of external ids).
VALID_BASE: dict[str, dict[str, Any]] = {"ango_csv": {"external_id_column": "External ID"}}


def option_cases() -> list[Any]:
    cases = []
    for fmt in format_list():
        for name in sorted({"match_by", "skip_invalid", "write_when_valid", "keep_data", *fmt.options}):
            for value, place, says in WRONG_FOR_FORMAT.get((fmt.name, name), WRONG.get(name, [])):
                cases.append(pytest.param(fmt.name, name, value, place, says, id=f"{fmt.name}-{place}"))
    return cases


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return buffer.getvalue()


#: The least file of each kind that reaches the option check (a format that reads a whole
#: archive checks its entries first).
CONTENT = {
    "zip": _archive({"classes.txt": b"car\n", "labels/a.txt": b"", "task-1-annotation-1-by-1-brush-Sky-0.png": b""})
}


def upload(client: Any, project: Any, fmt: str, options: dict[str, Any]) -> Any:
    kind = next(f for f in format_list() if f.name == fmt).file_kinds[0]
    content = CONTENT.get(kind, b"[]")
    return client.post(
        f"/api/projects/{project.pk}/imports",
        {"file": SimpleUploadedFile(f"labels.{kind}", content), "format": fmt, "options": json.dumps(options)},
        format="multipart",
    )


def test_every_option_of_every_format_has_a_wrong_type_case_here():
    options = {(fmt.name, name) for fmt in format_list() for name in fmt.options}
    uncovered = sorted(
        f"{fmt}.{name}" for fmt, name in options if name not in WRONG and (fmt, name) not in WRONG_FOR_FORMAT
    )
    assert uncovered == []


@pytest.mark.parametrize(("fmt", "name", "value", "place", "says"), option_cases())
def test_an_option_of_the_wrong_type_is_refused_with_its_place_and_what_it_must_be(
    admin_client, configured_project, media_storage, fmt, name, value, place, says
):
    response = upload(admin_client, configured_project, fmt, {**VALID_BASE.get(fmt, {}), name: value})

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_options"
    assert [detail["path"] for detail in error["details"]] == [f"options.{place}"]
    message = error["details"][0]["message"]
    assert message.startswith(f"{place} {says}"), message
    assert not ImportJob.objects.exists()


def test_ango_overwrite_given_as_the_string_false_is_refused_not_taken_as_true(
    admin_client, configured_project, media_storage
):
    response = upload(admin_client, configured_project, "ango", {"overwrite": "false"})

    assert response.status_code == 400
    (detail,) = response.json()["error"]["details"]
    assert detail["path"] == "options.overwrite"
    assert detail["message"].startswith('overwrite must be true or false (a JSON boolean), not the string "false"')
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("ango", {"overwrite": False, "keep_data": None, "match_by": "name"}),
        (
            "label_studio",
            {"image_field": "photo", "label_mapping": {"Bus": "bus"}, "replace": True, "dataset_id": None},
        ),
        ("label_studio_csv", {"image_field": None, "create_media": False, "skip_invalid": True}),
        (
            "labelbox_data_rows",
            {
                "metadata_schema": [
                    {"name": "site", "kind": "string"},
                    {"name": "weather", "kind": "enum", "options": {"sun": "id-1"}, "schema_id": "id-2"},
                    {"name": "split2", "kind": "enum", "options": ["a", "b"]},
                    {"name": "altitude"},
                ]
            },
        ),
    ],
)
def test_options_of_the_right_types_make_a_job(admin_client, configured_project, media_storage, fmt, options):
    response = upload(admin_client, configured_project, fmt, options)

    assert response.status_code == 201, response.content
    job = ImportJob.objects.get()
    assert {name: job.options[name] for name in options} == options


def test_every_wrong_option_is_listed_at_once():
    from imports.services import import_options_clean
    from labelsite.errors import ValidationFailed

    fmt = next(f for f in format_list() if f.name == "label_studio")
    with pytest.raises(ValidationFailed) as caught:
        import_options_clean({"replace": "yes", "create_media": "no", "label_mapping": []}, fmt=fmt)

    assert [d.path for d in caught.value.details] == [
        "options.create_media",
        "options.label_mapping",
        "options.replace",
    ]
