"""Format detection never guesses, and a job that would import nothing says so.

A JSON file is DataGym only when its first item looks like a DataGym item; a file that no
format recognises is refused at upload with the formats it could be. A job in which no item
names a media fails with a located error instead of succeeding with every item skipped; a job
that writes items but no label at all carries a warning on its page and in the API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from formats import EXAMPLES_DIR, format_candidates, format_detect
from imports.models import ImportJob, ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from labeling.models import Label
from tests.imports.conftest import item
from tests.imports.test_chunked_jobs import chunks_of_two, run_job  # noqa: F401 (a fixture)
from tests.imports.test_datagym_inline import FULL_EXAMPLE_LABELS

pytestmark = pytest.mark.django_db

LABEL_STUDIO_FILES = Path(__file__).parents[1] / "thirdparty" / "files" / "label-studio-1.23.2"
JSON_FORMATS = ("ango", "coco", "datagym", "label_studio", "labelbox_data_rows", "labelme")


def detected(content: Any, name: str = "labels.json") -> str | None:
    head = content if isinstance(content, bytes) else json.dumps(content).encode()
    found = format_detect(file_name=name, head=head[:4096])
    return found.name if found is not None else None


# --- detection ------------------------------------------------------------------------------


def test_a_json_file_is_datagym_only_when_its_first_item_looks_like_a_datagym_item():
    assert detected((EXAMPLES_DIR / "datagym.json").read_bytes()) == "datagym"
    assert detected([{"internal_media_ID": "m1", "keepData": True}]) == "datagym"
    assert detected([{"labels": {"car": []}}, {"internal_media_ID": "m1"}]) == "datagym"
    # The first item's keys are read as JSON, however long its first value is.
    assert detected([{"global_classifications": {"comment": ["x" * 6000]}, "internal_media_ID": "m1"}]) == "datagym"
    assert detected([{"image": "https://images.example.com/a.jpg", "site": "north"}]) is None
    assert detected([{"foo": 1}]) is None
    assert detected([]) is None
    assert detected(b"[1, 2, 3]") is None


@pytest.mark.parametrize("name", ["export.json", "snapshot.json", "snapshot_expanded.json"])
def test_label_studio_exports_are_told_apart_from_datagym(name):
    assert detected((LABEL_STUDIO_FILES / name).read_bytes()) == "label_studio"


def test_a_label_studio_task_whose_control_is_named_labels_is_still_label_studio():
    task = {"data": {"image": "https://i/a.jpg"}, "annotations": [{"result": [{"from_name": "labels", "value": {}}]}]}

    assert detected([task]) == "label_studio"


def test_a_json_min_file_whose_first_row_is_longer_than_4_kb_is_still_label_studio():
    """Label Studio's converter writes `annotation_id` last: a first row with a brush or a long
    polygon puts it beyond the bytes detection reads, and its regions must tell instead."""
    brush = {"image": "https://i/a.jpg", "id": 1, "tag": [{"format": "rle", "rle": list(range(3000))}]}
    polygon = {"image": "https://i/a.jpg", "id": 1, "outline": [{"points": [[i, i] for i in range(1000)]}]}
    box = {"image": "https://i/a.jpg", "id": 1, "note": "x" * 5000, "box": [{"x": 1, "y": 2}]}
    rest = {"annotator": 1, "annotation_id": 1}

    for row in (brush, polygon):
        assert b"annotation_id" not in json.dumps([{**row, **rest}]).encode()[:4096]
        assert detected([{**row, **rest}]) == "label_studio"
    # What the head does not reach cannot tell: refused with the choices, not guessed.
    assert detected([{**box, **rest}]) is None


def test_the_candidates_of_an_unrecognised_json_file_are_the_json_formats():
    found = format_candidates(file_name="x.json", head=b'[{"foo": 1}]')

    assert tuple(fmt.name for fmt in found) == JSON_FORMATS


def test_an_unrecognised_json_file_is_refused_at_upload_naming_the_formats_it_could_be(
    admin_client, configured_project, media_storage
):
    body = json.dumps([{"image": "https://images.example.com/a.jpg"}]).encode()
    response = admin_client.post(
        f"/api/projects/{configured_project.pk}/imports",
        {"file": SimpleUploadedFile("export.json", body, content_type="application/json")},
        format="multipart",
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "format_not_detected"
    assert "'export.json'" in error["message"]
    for name in JSON_FORMATS:
        assert name in error["message"]
    assert "ango_csv" not in error["message"]
    assert error["details"][0]["path"] == "format"
    assert not ImportJob.objects.exists()


def test_the_upload_page_shows_the_same_refusal(admin_user, configured_project, media_storage):
    client = Client()
    client.force_login(admin_user)
    body = json.dumps([{"foo": 1}]).encode()

    response = client.post(
        f"/projects/{configured_project.pk}/imports",
        {"file": SimpleUploadedFile("data.json", body)},
        follow=True,
    )

    html = response.content.decode()
    assert "cannot be told from the file" in html
    assert "label_studio" in html
    assert not ImportJob.objects.exists()


# --- jobs that would import nothing -----------------------------------------------------------


def datagym_job(project: Any, items: Any, **options: Any) -> ImportJob:
    job = import_job_create(
        project=project,
        user=None,
        file=json.dumps(items).encode(),
        file_name="labels.json",
        format="datagym",
        options=options,
    )
    return import_job_validate(job_id=job.id)


def test_a_job_in_which_no_item_names_a_media_fails_with_an_error_that_says_what_to_check(configured_project):
    job = datagym_job(configured_project, [{"labels": {"bus": []}}, {"media": "img_001.jpg"}])

    assert job.status == ImportStatus.FAILED
    assert "Nothing to import" in job.message
    assert "none of the 2 items names a media" in job.message
    ((location, code, message),) = job.errors.values_list("location", "code", "message")
    assert (location, code) == ("file", "nothing_to_import")
    assert "internal_media_ID" in message
    assert "choose its format" in message
    assert not Label.objects.exists()


def test_an_empty_list_is_not_an_import_that_succeeded(configured_project):
    job = import_job_create(
        project=configured_project, user=None, file=b"[]", file_name="tasks.json", format="label_studio"
    )
    job = import_job_validate(job_id=job.id)

    assert job.status == ImportStatus.FAILED
    assert job.errors.get().code == "nothing_to_import"
    assert "holds no items" in job.message


@pytest.mark.usefixtures("chunks_of_two")
def test_a_chunked_job_in_which_no_item_names_a_media_fails_too(
    configured_project, media_storage, settings, django_capture_on_commit_callbacks
):
    items = [{"labels": {"bus": []}} for _ in range(5)]

    job = run_job(configured_project, items, settings, django_capture_on_commit_callbacks)

    assert job.chunks.count() == 3
    assert job.status == ImportStatus.FAILED
    assert job.errors.get().code == "nothing_to_import"


def test_some_items_without_media_beside_others_still_import(configured_project, task):
    job = datagym_job(configured_project, [item(task, labels=FULL_EXAMPLE_LABELS), {"labels": {}}])

    assert job.status == ImportStatus.VALIDATED
    assert job.summary.get("warnings", []) == []


def test_a_job_that_writes_items_without_a_single_label_warns_in_the_api_and_on_its_page(
    admin_client, admin_user, configured_project, media_storage, make_task
):
    tasks = [make_task(name=f"img_00{n}.jpg") for n in (1, 2)]
    cancelled = {"was_cancelled": True, "result": [{"type": "choices", "from_name": "weather", "value": {}}]}
    items = [{"data": {"image": f"https://i.example.com/{t.media.name}"}, "annotations": [cancelled]} for t in tasks]
    job = import_job_create(
        project=configured_project,
        user=admin_user,
        file=json.dumps(items).encode(),
        file_name="tasks.json",
        format="label_studio",
        options={"match_by": "name"},
    )
    job = import_job_validate(job_id=job.id)

    assert job.status == ImportStatus.VALIDATED
    body = admin_client.get(f"/api/imports/{job.id}").json()
    (warning,) = body["summary"]["warnings"]
    assert "no labels" in warning
    assert "cancelled annotations" in warning  # the format's own hint
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/imports/{job.id}/").content.decode()
    assert 'id="job-warnings"' in page
    assert "no labels" in page

    job = import_job_write(job_id=job.id)

    assert job.status == ImportStatus.SUCCEEDED
    assert "no labels" in job.message
    assert admin_client.get(f"/api/imports/{job.id}").json()["summary"]["warnings"] == [warning]
