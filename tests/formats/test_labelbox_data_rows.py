"""Labelbox data rows (seed 003): each row a URL media with a task; bad rows fail alone, like a bulk task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

import formats
from formats import format_detect, format_get, format_list
from formats import labelbox_data_rows as data_rows
from formats.media_rows import MediaRow
from formats.reading import FileError
from imports.media_create import media_rows_create
from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from labeling.models import Task
from projects.models import Media
from tests.factories import DatasetFactory, MediaFactory, OrganizationFactory, ProjectFactory
from tests.formats.conftest import read_all

FMT = format_get(name="labelbox_data_rows")
#: Data rows carry no labels: their conversion never reads the label configuration.
NO_CONFIG: Any = None
EXAMPLE = Path(formats.__file__).parent / "examples" / "labelbox_data_rows.json"
SEED_ROWS: list[dict[str, Any]] = [
    # The seed's "Delegated Access URL" example: one image under two global keys.
    {
        "row_data": "https://lb-test-data.s3.us-west-1.amazonaws.com/image-samples/sample-image-1.jpg",
        "global_key": "https://lb-test-data.s3.us-west-1.amazonaws.com/image-samples/sample-image-1.jpg",
        "media_type": "IMAGE",
        "metadata_fields": [{"name": "tag", "value": "tag_string"}],
        "attachments": [{"type": "IMAGE_OVERLAY", "value": "https://storage.googleapis.com/labelbox-sample-datasets/Docs/rgb.jpg"}],
    },
    {
        "row_data": "https://lb-test-data.s3.us-west-1.amazonaws.com/image-samples/sample-image-1.jpg",
        "global_key": "https://lb-test-data.s3.us-west-1.amazonaws.com/image-samples/sample-image-2.jpg",
        "media_type": "IMAGE",
        "metadata_fields": [{"schema_id": "cko8s9r5v0001h2dk9elqdidh", "value": "tag_string"}],
        "attachments": [{"type": "TEXT_URL", "value": "https://storage.googleapis.com/labelbox-sample-datasets/Docs/text_attachment.txt"}],
    },
]  # fmt: skip
#: The seed's single-row example: every attachment type it lists, and the reserved metadata.
SEED_ASSET: dict[str, Any] = {
    "row_data": "https://storage.googleapis.com/labelbox-sample-datasets/Docs/basic.jpg",
    "global_key": "basic-2022",
    "media_type": "IMAGE",
    "metadata_fields": [
        {"name": "captureDateTime", "value": "2022-06-14T11:30:00+02:00"},
        {"name": "tag", "value": "tag_string"},
        {"name": "split", "value": "train"},
    ],
    "attachments": [
        {"type": "IMAGE_OVERLAY", "value": "https://storage.googleapis.com/labelbox-sample-datasets/Docs/rgb.jpg"},
        {"type": "IMAGE_OVERLAY", "value": "https://storage.googleapis.com/labelbox-sample-datasets/Docs/cir.jpg"},
        {"type": "RAW_TEXT", "value": "IOWA, Zone 2232, June 2022 [Text string]"},
        {
            "type": "TEXT_URL",
            "value": "https://storage.googleapis.com/labelbox-sample-datasets/Docs/text_attachment.txt",
        },
        {
            "type": "IMAGE",
            "value": "https://storage.googleapis.com/labelbox-sample-datasets/Docs/disease_attachment.jpeg",
        },
        {"type": "VIDEO", "value": "https://storage.googleapis.com/labelbox-sample-datasets/Docs/drone_video.mp4"},
        {"type": "HTML", "value": "https://storage.googleapis.com/labelbox-sample-datasets/Docs/windy.html"},
        {"type": "PDF_URL", "value": "https://storage.googleapis.com/labelbox-sample-datasets/Docs/report.pdf"},
        {"type": "AUDIO", "value": "https://storage.googleapis.com/labelbox-sample-datasets/Docs/wind.mp3"},
    ],
}


def row(**fields: Any) -> dict[str, Any]:
    return {"row_data": "https://images.example.com/field/a.jpg", **fields}


def check(data: Any, index: int = 0, **options: Any) -> list[tuple[str, str]]:
    """The (place, code) of every error of one row by itself (schema, then conversion)."""
    errors = FMT.item_schema.errors(data, prefix=(index,))
    if not errors:
        errors = FMT.convert_item(data, NO_CONFIG, index=index, match_by="global_key", options=options).errors
    return [(e.path, e.code) for e in errors]


def message(data: Any, **options: Any) -> str:
    errors = (
        FMT.item_schema.errors(data, prefix=(0,))
        or FMT.convert_item(data, NO_CONFIG, index=0, match_by="global_key", options=options).errors
    )
    return errors[0].message


# --- the registry and reading ---------------------------------------------------------------


def test_data_rows_are_in_the_registry_with_an_example_and_are_told_apart_from_other_json():
    assert FMT in format_list()
    assert FMT.creates_media
    assert FMT.options["skip_invalid"] is True
    assert format_detect(file_name="rows.json", head=EXAMPLE.read_bytes()) is FMT
    assert format_detect(file_name="rows.ndjson", head=b'{"row_data": "https://h/a.jpg"}\n') is FMT
    assert format_detect(file_name="rows.ndjson", head=b'{"dataRow": {"globalKey": "a"}}\n').name == "labelbox_ndjson"


def test_the_example_file_reads_cleanly_and_every_row_converts():
    items = read_all(FMT, EXAMPLE.read_bytes())

    assert len(items) == 2
    assert all(check(item.data, item.index) == [] for item in items)


def test_a_json_array_and_ndjson_give_the_same_rows():
    rows = [row(global_key="a"), row(global_key="b")]
    ndjson = "\n".join(json.dumps(r) for r in rows) + "\n\n"

    assert [i.data for i in read_all(FMT, rows)] == [i.data for i in read_all(FMT, ndjson)] == rows
    assert [i.location for i in read_all(FMT, ndjson)] == ["line 1", "line 2"]


def test_file_errors_name_their_place():
    with pytest.raises(FileError) as syntax:
        read_all(FMT, b'[{"row_data": "https://h/a.jpg"},,]')
    with pytest.raises(FileError) as wrong_start:
        read_all(FMT, b"row_data,global_key\n")
    with pytest.raises(FileError) as empty:
        read_all(FMT, b"[]")
    bad_line = read_all(FMT, b'{"row_data": "https://h/a.jpg"}\n{"row_data": \n')[1]

    assert (syntax.value.detail.path, syntax.value.detail.code) == ("file", "json_syntax")
    assert wrong_start.value.detail.code == "not_data_rows"
    assert empty.value.detail.code == "empty_file"
    assert bad_line.location == "line 2"
    assert check(bad_line.data, 1) == [("/1", "json_syntax")]


def test_more_rows_than_labelbox_takes_in_one_task_is_refused(monkeypatch):
    monkeypatch.setattr(data_rows, "MAX_ROWS", 3)

    with pytest.raises(FileError) as error:
        read_all(FMT, [row(global_key=str(n)) for n in range(4)])

    assert error.value.detail.code == "too_many_rows"
    assert "at most 3 rows" in error.value.detail.message


# --- one test per error case of the seed and reference section 1 -----------------------------


@pytest.mark.parametrize(
    ("data", "place", "code"),
    [
        ({"global_key": "a"}, "/0", "schema_required"),
        (row(dataset="x"), "/0", "schema_additional_properties"),
        (row(row_data={"tileLayerUrl": "https://h/{z}"}), "/0/row_data", "schema_type"),
        (row(row_data="s3://bucket/a.jpg"), "/0/row_data", "s3_url"),
        (row(row_data="images/a.jpg"), "/0/row_data", "local_path"),
        (row(row_data="ftp://h/a.jpg"), "/0/row_data", "invalid_url"),
        (row(row_data="http://169.254.169.254/latest/meta-data"), "/0/row_data", "invalid_url"),
        (row(row_data="https://10.0.0.5/a.jpg"), "/0/row_data", "invalid_url"),
        (row(row_data="https://user:secret@h.example.com/a.jpg"), "/0/row_data", "invalid_url"),
        (row(row_data="https://h.example.com/a b|c.jpg"), "/0/row_data", "invalid_url"),
        (row(media_type="VIDEO"), "/0/media_type", "unsupported_media_type"),
        (row(media_type="PICTURE"), "/0/media_type", "unsupported_media_type"),
        (row(global_key="k" * 201), "/0/global_key", "invalid_global_key"),
        (row(global_key=" padded"), "/0/global_key", "invalid_global_key"),
        (row(global_key="a#b"), "/0/global_key", "invalid_global_key"),
        (row(global_key=""), "/0/global_key", "invalid_global_key"),
        (row(external_id="e" * 256), "/0/external_id", "external_id_too_long"),
        (row(metadata_fields=[{"value": "x"}]), "/0/metadata_fields/0", "schema_any_of"),
        (row(metadata_fields=[{"name": "tag"}]), "/0/metadata_fields/0", "schema_required"),
        (row(metadata_fields=[{"name": "Tag", "value": "x"}]), "/0/metadata_fields/0/name", "unknown_metadata_name"),
        (row(metadata_fields=[{"schema_id": "0" * 25, "value": "x"}]), "/0/metadata_fields/0/schema_id",
         "unknown_metadata_schema_id"),
        (row(metadata_fields=[{"name": "tag", "value": 5}]), "/0/metadata_fields/0/value", "invalid_metadata_value"),
        (row(metadata_fields=[{"name": "tag", "value": "t" * 4097}]), "/0/metadata_fields/0/value",
         "invalid_metadata_value"),
        (row(metadata_fields=[{"name": "captureDateTime", "value": "yesterday"}]), "/0/metadata_fields/0/value",
         "invalid_metadata_value"),
        (row(metadata_fields=[{"name": "split", "value": "holdout"}]), "/0/metadata_fields/0/value",
         "invalid_metadata_value"),
        (row(metadata_fields=[{"name": "tag", "value": "a"}, {"name": "tag", "value": "b"}]),
         "/0/metadata_fields/1", "repeated_metadata"),
        (row(attachments=[{"type": "CAMERA_IMAGE", "value": "https://h/c.jpg"}]), "/0/attachments/0/type",
         "schema_enum"),
        (row(attachments=[{"type": "IMAGE", "value": ""}]), "/0/attachments/0/value", "schema_min_length"),
        (row(attachments=[{"type": "IMAGE"}]), "/0/attachments/0", "schema_required"),
        (row(attachments=[{"type": "HTML", "value": "file:///etc/passwd"}]), "/0/attachments/0/value",
         "invalid_url"),
    ],
    ids=[
        "missing-row-data", "unknown-key", "row-data-object", "s3-url", "local-path", "not-http", "metadata-address",
        "private-address", "credentials", "unsafe-characters", "video", "unknown-media-type", "key-too-long",
        "key-whitespace", "key-character", "key-empty", "external-id-too-long", "metadata-without-name",
        "metadata-without-value", "metadata-name-case", "metadata-schema-id", "string-not-str", "string-too-long",
        "datetime", "enum-option", "metadata-twice", "attachment-type", "attachment-empty", "attachment-no-value",
        "attachment-url",
    ],
)  # fmt: skip
def test_each_mistake_in_a_row_is_an_error_at_its_place(data, place, code):
    assert (place, code) in check(data)


def test_the_messages_say_what_labelbox_says_and_how_to_fix_it():
    assert message({"global_key": "a"}) == "`row_data` missing when creating DataRow: give the image's https URL."
    assert "Unknown key(s) 'dataset'" in message(row(dataset="x"))
    assert "s3 assets must start with 'https'" in message(row(row_data="s3://bucket/a.jpg"))
    assert "There is no metadata with name 'Tag'" in message(row(metadata_fields=[{"name": "Tag", "value": "x"}]))
    assert "There is no enum option by name 'holdout'; use one of: train, valid, test." in message(
        row(metadata_fields=[{"name": "split", "value": "holdout"}])
    )
    assert "Labelsite imports images" in message(row(media_type="VIDEO"))
    assert "Embedding length invalid" in message(
        row(metadata_fields=[{"name": "vector", "value": [0.5] * 127}]),
        metadata_schema=[{"name": "vector", "kind": "embedding"}],
    )


def test_every_problem_of_a_row_is_reported_at_once():
    data = row(row_data="s3://b/a.jpg", media_type="VIDEO", metadata_fields=[{"name": "nope", "value": 1}])

    assert [code for _, code in check(data)] == ["s3_url", "unsupported_media_type", "unknown_metadata_name"]


# --- metadata by name or schema id, with their types -----------------------------------------


def test_reserved_metadata_by_name_or_schema_id_is_typed_and_normalised():
    converted = FMT.convert_item(
        row(
            metadata_fields=[
                {"schema_id": "cko8sdzv70006h2dk8jg64zvb", "value": "2022-06-14T11:30:00+02:00"},
                {"name": "split", "value": "cko8sc2yr0004h2dk69aj5x63"},
                {"schema_id": "cko8s9r5v0001h2dk9elqdidh", "value": "tag_string"},
            ]
        ),
        None,
        index=0,
        match_by="global_key",
        options={},
    )

    assert converted.errors == []
    assert converted.new_media.metadata == {
        "captureDateTime": "2022-06-14T09:30:00Z",
        "split": "valid",
        "tag": "tag_string",
    }


def test_custom_metadata_is_declared_in_the_option_and_checked_by_kind():
    schema = [
        {"name": "site", "kind": "string"},
        {"name": "altitude", "kind": "number", "schema_id": "alt-1"},
        {"name": "weather", "kind": "enum", "options": {"sun": "w-sun", "rain": "w-rain"}},
        {"name": "vector", "kind": "embedding"},
    ]
    fields = [
        {"name": "site", "value": "north"},
        {"schema_id": "alt-1", "value": "312.5"},
        {"name": "weather", "value": "w-rain"},
        {"name": "vector", "value": list(range(128))},
    ]

    converted = FMT.convert_item(
        row(metadata_fields=fields), None, index=0, match_by="global_key", options={"metadata_schema": schema}
    )

    assert converted.errors == []
    assert converted.new_media.metadata == {
        "site": "north",
        "altitude": 312.5,
        "weather": "rain",
        "vector": [float(n) for n in range(128)],
    }
    assert check(row(metadata_fields=[{"name": "altitude", "value": "high"}]), metadata_schema=schema) == [
        ("/0/metadata_fields/0/value", "invalid_metadata_value")
    ]


def test_a_metadata_schema_option_that_redeclares_a_reserved_name_is_a_file_error():
    with pytest.raises(FileError) as error:
        read_all(FMT, [row()], metadata_schema=[{"name": "tag", "kind": "number"}])

    assert (error.value.detail.path, error.value.detail.code) == ("options.metadata_schema", "invalid_metadata_schema")


def test_every_attachment_type_of_the_seed_is_kept_with_its_name():
    converted = FMT.convert_item(SEED_ASSET, None, index=0, match_by="global_key", options={})

    assert converted.errors == []
    assert [a["type"] for a in converted.new_media.attachments] == [a["type"] for a in SEED_ASSET["attachments"]]
    attachments = [{"type": "IMAGE", "value": "https://h/x.png", "name": "RGB"}]
    named = FMT.convert_item(SEED_ROWS[0] | {"attachments": attachments}, None, index=0, match_by="global_key")
    assert named.new_media.attachments == [{"type": "IMAGE", "value": "https://h/x.png", "name": "RGB"}]


# --- jobs: validate, report, write -----------------------------------------------------------


@pytest.fixture
def rows_project(project):
    dataset = DatasetFactory(organization=project.organization, name="Field")
    dataset.projects.add(project)
    other = ProjectFactory(organization=project.organization)
    dataset.projects.add(other)
    project.other_project = other
    project.target_dataset = dataset
    return project


def run_job(project, content: Any, *, name: str = "rows.json", write: bool = True, **options: Any):
    body = content if isinstance(content, bytes) else json.dumps(content).encode()
    job = import_job_create(
        project=project, user=None, file=body, file_name=name, format="labelbox_data_rows", options=options
    )
    job = import_job_validate(job_id=job.id)
    if write and job.status == ImportStatus.VALIDATED:
        job = import_job_write(job_id=job.id)
    return job


def job_errors(job) -> list[tuple[int | None, str, str]]:
    return [(e.item_index, e.location, e.message) for e in job.errors.all()]


@pytest.mark.django_db
def test_the_seed_rows_become_media_with_tasks_in_every_connected_project(rows_project, media_storage):
    job = run_job(rows_project, [*SEED_ROWS, SEED_ASSET])

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert (job.summary["media_created"], job.summary["media_failed"]) == (3, 0)
    media = {m.global_key: m for m in Media.objects.filter(dataset=rows_project.target_dataset)}
    assert set(media) == {r["global_key"] for r in [*SEED_ROWS, SEED_ASSET]}
    basic = media["basic-2022"]
    assert (basic.source, basic.url, basic.mime_type) == ("URL", SEED_ASSET["row_data"], "image/jpeg")
    assert basic.metadata == {"captureDateTime": "2022-06-14T09:30:00Z", "tag": "tag_string", "split": "train"}
    assert len(basic.attachments) == 9
    for project in (rows_project, rows_project.other_project):
        assert Task.objects.filter(project=project, media__in=media.values()).count() == 3


@pytest.mark.django_db
def test_a_duplicate_global_key_fails_only_its_own_row(rows_project, media_storage):
    rows = [row(global_key="img-001.jpg"), row(row_data="https://h.example.com/b.jpg", global_key="IMG-001.jpg"),
            row(row_data="https://h.example.com/c.jpg", global_key="img-003.jpg")]  # fmt: skip

    job = run_job(rows_project, rows)

    assert job.status == ImportStatus.SUCCEEDED
    assert job_errors(job) == [(1, "/1/global_key", "Duplicate global key: 'IMG-001.jpg'")]
    assert sorted(
        Media.objects.filter(organization=rows_project.organization).values_list("global_key", flat=True)
    ) == [
        "img-001.jpg",
        "img-003.jpg",
    ]
    assert "1 item skipped" in job.message


@pytest.mark.django_db
def test_a_key_held_by_a_live_media_of_the_organisation_fails_until_that_media_is_deleted(rows_project, media_storage):
    elsewhere = DatasetFactory(organization=rows_project.organization)
    holder = MediaFactory(dataset=elsewhere, global_key="img-001.jpg")
    rows = [row(global_key="img-001.jpg"), row(row_data="https://h.example.com/b.jpg", global_key="img-002.jpg")]

    first = run_job(rows_project, rows)
    Media.objects.filter(pk=holder.pk).update(deleted_at=timezone.now())
    second = run_job(rows_project, rows[:1])

    assert job_errors(first) == [(0, "/0/global_key", "Duplicate global key: 'img-001.jpg'")]
    assert first.summary["media_created"] == 1
    assert second.status == ImportStatus.SUCCEEDED
    assert Media.objects.filter(dataset=rows_project.target_dataset, global_key="img-001.jpg").count() == 1


@pytest.mark.django_db
def test_a_key_of_another_organisation_is_no_duplicate(rows_project, media_storage):
    MediaFactory(dataset=DatasetFactory(organization=OrganizationFactory()), global_key="shared-key")

    job = run_job(rows_project, [row(global_key="shared-key")])

    assert job.status == ImportStatus.SUCCEEDED
    assert job.summary["media_created"] == 1


@pytest.mark.django_db
def test_a_key_taken_between_validation_and_writing_fails_its_row_and_the_others_are_written(
    rows_project, media_storage
):
    rows = [row(global_key="late"), row(row_data="https://h.example.com/b.jpg", global_key="on-time")]
    job = run_job(rows_project, rows, write=False)
    MediaFactory(dataset=rows_project.target_dataset, global_key="LATE")

    job = import_job_write(job_id=job.id)

    assert job.status == ImportStatus.SUCCEEDED
    assert job_errors(job) == [(0, "/0/global_key", "Duplicate global key: 'late'")]
    assert (job.summary["media_created"], job.items_skipped) == (1, 1)


@pytest.mark.django_db
def test_media_rows_create_refuses_a_taken_key_itself_and_creates_a_keyed_row_even_when_its_url_exists(
    rows_project,
):
    dataset = rows_project.target_dataset
    MediaFactory(dataset=dataset, url="https://h.example.com/same.jpg", global_key="taken")
    rows = [
        MediaRow(
            location="/0/row_data", key_location="/0/global_key", url="https://h.example.com/x.jpg", global_key="TAKEN"
        ),
        MediaRow(location="/1/row_data", url="https://h.example.com/same.jpg", global_key="second-key"),
    ]

    outcomes = media_rows_create(project=rows_project, dataset=dataset, rows=rows)

    assert [(e.path, e.message) for e in outcomes[0].errors] == [("/0/global_key", "Duplicate global key: 'TAKEN'")]
    assert outcomes[1].created
    assert Media.objects.filter(dataset=dataset, url="https://h.example.com/same.jpg").count() == 2


@pytest.mark.django_db
def test_a_file_with_a_mistake_reports_it_then_imports_once_fixed(rows_project, media_storage):
    broken = [row(global_key="a1"), row(row_data="s3://bucket/b.jpg", global_key="b1")]
    fixed = [row(global_key="a1"), row(row_data="https://bucket.s3.us-west-1.amazonaws.com/b.jpg", global_key="b1")]

    reported = run_job(rows_project, broken, write=False, skip_invalid=False)

    assert reported.status == ImportStatus.FAILED
    assert [(e.location, e.code) for e in reported.errors.all()] == [("/1/row_data", "s3_url")]
    assert not Media.objects.filter(global_key__in=["a1", "b1"]).exists()
    imported = run_job(rows_project, fixed, skip_invalid=False)
    assert imported.status == ImportStatus.SUCCEEDED, imported.message
    assert Task.objects.filter(project=rows_project, media__global_key__in=["a1", "b1"]).count() == 2


@pytest.mark.django_db
def test_bad_rows_are_reported_and_the_good_ones_created_like_a_labelbox_bulk_task(rows_project, media_storage):
    rows = [row(global_key="good"), {"global_key": "no-url"}, row(row_data="https://h.example.com/v.mp4",
                                                                  media_type="VIDEO")]  # fmt: skip
    ndjson = "\n".join(json.dumps(r) for r in rows).encode()

    validated = run_job(rows_project, ndjson, name="rows.ndjson", write=False)
    written = import_job_write(job_id=validated.id)

    assert validated.status == ImportStatus.VALIDATED
    assert "2 items with errors will be skipped" in validated.message
    assert [(e.item_index, e.location) for e in validated.errors.all()] == [(1, "/1"), (2, "/2/media_type")]
    assert written.status == ImportStatus.SUCCEEDED
    assert (written.items_written, written.items_skipped) == (1, 2)
    assert list(Media.objects.filter(dataset=rows_project.target_dataset).values_list("global_key", flat=True)) == [
        "good"
    ]


@pytest.mark.django_db
def test_a_file_whose_every_row_fails_fails_and_writes_nothing(rows_project, media_storage):
    job = run_job(rows_project, [row(row_data="s3://b/a.jpg")])

    assert job.status == ImportStatus.FAILED
    assert not Media.objects.filter(dataset=rows_project.target_dataset).exists()


@pytest.mark.django_db
def test_too_many_rows_fail_the_whole_task(rows_project, media_storage, monkeypatch):
    monkeypatch.setattr(data_rows, "MAX_ROWS", 2)

    job = run_job(rows_project, [row(global_key=str(n)) for n in range(3)])

    assert job.status == ImportStatus.FAILED
    assert [(e.location, e.code) for e in job.errors.all()] == [("file", "too_many_rows")]
    assert not Media.objects.filter(dataset=rows_project.target_dataset).exists()


@pytest.mark.django_db
def test_the_target_dataset_is_the_option_and_must_be_the_projects(rows_project, media_storage):
    second = DatasetFactory(organization=rows_project.organization, name="Second")
    second.projects.add(rows_project)
    foreign = DatasetFactory(organization=OrganizationFactory())

    chosen = run_job(rows_project, [row(global_key="x")], dataset_id=str(second.id))
    refused = run_job(rows_project, [row(global_key="y")], dataset_id=str(foreign.id))

    assert chosen.status == ImportStatus.SUCCEEDED
    assert Media.objects.get(global_key="x").dataset_id == second.id
    assert refused.status == ImportStatus.FAILED
    assert [(e.location, e.code) for e in refused.errors.all()] == [("options.dataset_id", "dataset_not_found")]


@pytest.mark.django_db
def test_a_project_without_a_dataset_gets_one_for_the_rows(project, media_storage):
    job = run_job(project, [row(global_key="lonely")])

    assert job.status == ImportStatus.SUCCEEDED
    media = Media.objects.get(global_key="lonely")
    assert media.dataset.name == f"{project.name} imports"
    assert Task.objects.filter(project=project, media=media).exists()


def test_the_fast_row_check_accepts_and_rejects_what_the_schema_does():
    from jsonschema import Draft7Validator

    reference = Draft7Validator(data_rows.ITEM_SCHEMA)
    rows: list[Any] = [
        *SEED_ROWS,
        SEED_ASSET,
        row(),
        row(global_key="k", external_id="e", media_type="VIDEO"),
        [],
        "x",
        {"row_data": ""},
        row(global_key=3),
        row(metadata_fields={}),
        row(metadata_fields=[{}]),
        row(metadata_fields=[{"name": 1, "value": 2}]),
        row(metadata_fields=[{"schema_id": "s", "value": None}]),
        row(metadata_fields=[{"name": "a", "value": 1, "extra": 1}]),
        row(attachments=[{"type": "PDF_URL", "value": "u", "name": 2}]),
        row(attachments=[{"type": "IMAGE", "value": "u", "name": "n"}]),
        row(attachments=[{"type": "IMAGE", "value": 5}]),
        row(attachments="x"),
        row(row_data=None),
        row(other=1),
    ]

    for data in rows:
        assert data_rows._row_fast(data) == reference.is_valid(data), data
