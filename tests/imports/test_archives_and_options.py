"""ZIP uploads of label files, and the job-level keep_data option (API and upload page)."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from imports.models import ImportJob, ImportJobError, ImportStatus
from labeling.models import Label, Task
from tests.imports.conftest import item
from tests.imports.test_datagym_inline import FULL_EXAMPLE_LABELS

pytestmark = pytest.mark.django_db

BUS = {"bus": [{"rectangle": [{"x": 1, "y": 2, "w": 3, "h": 4}]}]}
TWO_BUSES = {
    "bus": [{"rectangle": [{"x": 1, "y": 2, "w": 3, "h": 4}]}, {"rectangle": [{"x": 5, "y": 6, "w": 7, "h": 8}]}]
}


def zipped(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def post(client: Any, project: Any, data: bytes, name: str, **fields: Any) -> Any:
    body: dict[str, Any] = {"file": SimpleUploadedFile(name, data), **fields}
    if isinstance(body.get("options"), dict):
        body["options"] = json.dumps(body["options"])
    return client.post(f"/api/projects/{project.pk}/imports", body, format="multipart")


# --- ZIP uploads --------------------------------------------------------------------------------


def test_a_zip_of_one_label_file_imports_it(
    admin_client, configured_project, media_storage, task, eager_worker, django_capture_on_commit_callbacks
):
    data = zipped({"export/labels.json": json.dumps([item(task, labels=FULL_EXAMPLE_LABELS)]).encode()})
    with django_capture_on_commit_callbacks(execute=True):
        response = post(admin_client, configured_project, data, "batch.zip", options={"write_when_valid": True})

    assert response.status_code == 201, response.json()
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert job.format == "datagym"  # detected from the file inside
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.file_name == "batch.zip/export/labels.json"
    assert str(job.file.name).endswith(f"{job.pk}.json")
    assert job.summary["archive"]["label_files"] == ["export/labels.json"]
    assert Label.objects.filter(task=task).count() == 5


def test_each_label_file_of_a_zip_becomes_an_import_of_its_own(
    admin_client, configured_project, media_storage, make_task, eager_worker, django_capture_on_commit_callbacks
):
    first, second = make_task(), make_task()
    data = zipped(
        {
            "b.json": json.dumps([item(second, labels=TWO_BUSES)]).encode(),
            "a.json": json.dumps([item(first, labels=BUS)]).encode(),
            "images/x.png": b"\x89PNG not a label file",
            "__MACOSX/._a.json": b"resource fork",
            "broken.json": b'[{"internal_media_ID": ',
        }
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = post(admin_client, configured_project, data, "two.zip", format="datagym")

    assert response.status_code == 201, response.json()
    jobs = {job.file_name: job for job in ImportJob.objects.all()}
    assert set(jobs) == {"two.zip/a.json", "two.zip/b.json", "two.zip/broken.json"}
    assert str(jobs["two.zip/a.json"].pk) == response.json()["id"]
    assert jobs["two.zip/a.json"].status == ImportStatus.VALIDATED
    assert jobs["two.zip/a.json"].labels_total == 1
    assert jobs["two.zip/b.json"].status == ImportStatus.VALIDATED
    assert jobs["two.zip/b.json"].labels_total == 2
    # A broken label file fails its own job, located, and leaves the others alone.
    broken = jobs["two.zip/broken.json"]
    assert broken.status == ImportStatus.FAILED
    assert ImportJobError.objects.filter(job=broken).exists()
    assert jobs["two.zip/b.json"].summary["archive"]["first_job"] == response.json()["id"]
    assert Label.objects.count() == 0  # validated only: nothing is written before confirming


def test_a_zip_without_label_files_is_refused_at_upload(admin_client, configured_project, media_storage):
    response = post(admin_client, configured_project, zipped({"photo.png": b"x"}), "x.zip", format="datagym")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "archive_without_labels"
    assert "photo.png" in error["message"]
    assert not ImportJob.objects.exists()


def test_a_zip_with_a_traversal_path_is_refused_at_upload(admin_client, configured_project, media_storage, task):
    data = zipped({"../../etc/labels.json": json.dumps([item(task)]).encode()})
    response = post(admin_client, configured_project, data, "evil.zip")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsafe_path"
    assert not ImportJob.objects.exists()


def test_a_zip_bomb_is_refused_at_upload(admin_client, configured_project, media_storage):
    data = bytearray(zipped({"labels.json": b"[" + b" " * 5_000_000 + b"]"}))
    # The entry says it expands to 3 GiB: past the absolute limit per entry, whatever its ratio.
    struct.pack_into("<I", data, data.index(b"PK\x01\x02") + 24, 3 * 1024**3)
    response = post(admin_client, configured_project, data, "bomb.zip", format="datagym")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "entry_too_large"
    assert not ImportJob.objects.exists()


def test_a_file_that_is_not_a_zip_but_named_so_is_refused(admin_client, configured_project, media_storage):
    response = post(admin_client, configured_project, b"[]", "labels.zip", format="datagym")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_archive"


def test_a_zip_of_csv_files_detects_the_label_studio_csv_format(admin_client, configured_project, media_storage):
    data = zipped({"tasks.csv": b"image,caption\nhttp://example.com/a.jpg,hello\n"})
    response = post(admin_client, configured_project, data, "tasks.zip")

    assert response.status_code == 201, response.json()
    assert ImportJob.objects.get().format == "label_studio_csv"


# --- keep_data ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("keep_data", "expected"), [(None, 1), (True, 3), (False, 1)])
def test_keep_data_option_overrides_the_items_keep_data(
    admin_client,
    configured_project,
    media_storage,
    task,
    eager_worker,
    django_capture_on_commit_callbacks,
    keep_data,
    expected,
):
    with django_capture_on_commit_callbacks(execute=True):
        post(
            admin_client,
            configured_project,
            json.dumps([item(task, labels=TWO_BUSES)]).encode(),
            "first.json",
            options={"write_when_valid": True},
        )
    assert Label.objects.filter(task=task).count() == 2

    # The file says keepData false (replace); the option, when set, decides instead.
    second = [item(task, keepData=False, labels=BUS)]
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            admin_client,
            configured_project,
            json.dumps(second).encode(),
            "second.json",
            options={"write_when_valid": True, "keep_data": keep_data},
        )

    assert ImportJob.objects.get(pk=response.json()["id"]).status == ImportStatus.SUCCEEDED
    assert Label.objects.filter(task=task).count() == expected


def test_keep_data_option_must_be_a_boolean_or_null(admin_client, configured_project, media_storage, task):
    response = post(
        admin_client, configured_project, json.dumps([item(task)]).encode(), "x.json", options={"keep_data": "yes"}
    )

    assert response.status_code == 400
    assert [d["path"] for d in response.json()["error"]["details"]] == ["options.keep_data"]


def test_the_upload_page_passes_keep_data(client, admin_user, configured_project, media_storage, task):
    client.force_login(admin_user)
    url = f"/projects/{configured_project.pk}/imports"
    data = json.dumps([item(task, labels=BUS)]).encode()
    response = client.post(
        url,
        {
            "file": SimpleUploadedFile("labels.json", data),
            "format": "datagym",
            "match_by": "id",
            "mode": "all_or_nothing",
            "keep_data": "false",
            "options": "",
        },
    )

    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.options["keep_data"] is False
    assert job.options["skip_invalid"] is False


def test_the_upload_page_passes_format_options(client, admin_user, configured_project, media_storage):
    client.force_login(admin_user)
    tasks = json.dumps([{"data": {"photo": "https://example.com/a.jpg"}}]).encode()
    response = client.post(
        f"/projects/{configured_project.pk}/imports",
        {
            "file": SimpleUploadedFile("tasks.json", tasks),
            "format": "label_studio",
            "match_by": "name",
            "options": '{"image_field": "photo", "label_mapping": {"Bus": "bus"}}',
        },
    )

    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.options["image_field"] == "photo"
    assert job.options["label_mapping"] == {"Bus": "bus"}
    assert job.options["match_by"] == "name"


def test_the_upload_page_refuses_format_options_that_are_not_json(
    client, admin_user, configured_project, media_storage
):
    client.force_login(admin_user)
    response = client.post(
        f"/projects/{configured_project.pk}/imports",
        {"file": SimpleUploadedFile("labels.json", b"[]"), "format": "datagym", "options": "{image_key"},
        follow=True,
    )

    assert not ImportJob.objects.exists()
    assert "not valid JSON" in response.content.decode()
    assert Task.objects.count() == 0


def test_the_job_page_links_the_jobs_of_one_archive(
    client, admin_user, configured_project, media_storage, make_task, eager_worker, django_capture_on_commit_callbacks
):
    first, second = make_task(), make_task()
    data = zipped({"a.json": json.dumps([item(first)]).encode(), "b.json": json.dumps([item(second)]).encode()})
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/projects/{configured_project.pk}/imports",
            {
                "file": SimpleUploadedFile("<img src=x onerror=alert(1)>.zip", data),
                "format": "datagym",
                "keep_data": "true",
            },
        )
    jobs = {job.file_name: job for job in ImportJob.objects.all()}
    sibling = jobs["<img src=x onerror=alert(1)>.zip/b.json"]

    page = client.get(f"/imports/{sibling.pk}/").content.decode()

    assert "2 label files" in page
    assert f'href="/imports/{jobs["<img src=x onerror=alert(1)>.zip/a.json"].pk}/"' in page
    assert "&lt;img src=x onerror=alert(1)&gt;.zip" in page
    assert "<img src=x" not in page
    assert "adds to stored labels" in page
