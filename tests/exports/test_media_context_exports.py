"""What an import stored with a media (a Labelbox data row's metadata and attachments) goes into the
exports whose format has a place for it, and comes back from the one made for it (data rows)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from labeling.models import Label, Task, TaskState
from projects.label_config import label_config_replace
from projects.models import Media
from tests.exports.conftest import EXPORT_CONFIG, export_bytes
from tests.factories import DatasetFactory, MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory
from tests.formats.test_labelbox_data_rows import SEED_ASSET

pytestmark = pytest.mark.django_db

METADATA = {"captureDateTime": "2022-06-14T09:30:00Z", "tag": "tag_string", "split": "train"}


def _import_rows(project: Any, rows: bytes) -> Any:
    job = import_job_create(
        project=project, user=None, file=rows, file_name="rows.json", format="labelbox_data_rows", options={}
    )
    job = import_job_validate(job_id=job.id)
    assert job.status == ImportStatus.VALIDATED, job.message
    job = import_job_write(job_id=job.id)
    assert job.status == ImportStatus.SUCCEEDED, job.message
    return job


@pytest.fixture
def labelled_row(project: Any) -> Any:
    """The seed's data row imported, then given a box and the task completed."""
    label_config_replace(configuration=project.label_configuration, entries=EXPORT_CONFIG)
    dataset: Any = DatasetFactory(organization=project.organization)
    dataset.projects.add(project)
    job = import_job_create(
        project=project,
        user=None,
        file=json.dumps([SEED_ASSET]).encode(),
        file_name="rows.json",
        format="labelbox_data_rows",
        options={},
    )
    import_job_write(job_id=import_job_validate(job_id=job.id).id)
    task = Task.objects.get(project=project, media__global_key="basic-2022")
    Media.objects.filter(pk=task.media_id).update(width=640, height=480)  # as once its image was read
    Label.objects.create(task=task, entry=project.label_configuration.entries.get(key="bus"), points=[[1, 2], [30, 40]])
    Task.objects.filter(pk=task.pk).update(state=TaskState.COMPLETED)
    return task


def test_label_studio_json_keeps_them_in_the_tasks_meta(project, labelled_row):
    (task,) = json.loads(export_bytes(project, "label_studio"))

    assert task["meta"] == {"state": "completed", "metadata": METADATA, "attachments": SEED_ASSET["attachments"]}


def test_coco_keeps_them_in_the_images_extra(project, labelled_row):
    (image,) = json.loads(export_bytes(project, "coco"))["images"]

    assert image["extra"] == {"metadata": METADATA, "attachments": SEED_ASSET["attachments"]}


def test_labelbox_ndjson_names_a_data_row_with_a_global_key_by_it(project, labelled_row):
    (line,) = [json.loads(line) for line in export_bytes(project, "labelbox_ndjson").decode().splitlines()]

    assert line["dataRow"] == {"globalKey": "basic-2022"}
    assert line["bbox"] == {"top": 2, "left": 1, "height": 38, "width": 29}


def test_labelbox_data_rows_export_creates_the_same_media_in_another_organisation(project, labelled_row):
    rows = export_bytes(project, "labelbox_data_rows")
    (row,) = json.loads(rows)
    # By name (PostgreSQL's jsonb keeps its own key order).
    assert sorted(row["metadata_fields"], key=lambda field: field["name"]) == [
        {"name": name, "value": METADATA[name]} for name in sorted(METADATA)
    ]

    elsewhere: Any = ProjectFactory(organization=OrganizationFactory())
    _import_rows(elsewhere, rows)

    media = Media.objects.get(organization=elsewhere.organization)
    original = labelled_row.media
    assert (media.url, media.global_key, media.metadata, media.attachments) == (
        original.url,
        "basic-2022",
        original.metadata,
        original.attachments,
    )


def test_the_data_rows_export_and_the_ndjson_export_bring_a_project_to_another_organisation(
    project, labelled_row, media_storage, eager_worker, django_capture_on_commit_callbacks
):
    """As a Labelbox user moves a project: data rows first (media by global key), then the labels."""
    elsewhere: Any = ProjectFactory(organization=OrganizationFactory())
    label_config_replace(configuration=elsewhere.label_configuration, entries=EXPORT_CONFIG)
    admin: Any = UserFactory()
    MembershipFactory(user=admin, organization=elsewhere.organization, role="admin")
    client = APIClient()
    client.force_authenticate(admin)
    for name, export in (("rows.json", "labelbox_data_rows"), ("labels.ndjson", "labelbox_ndjson")):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/api/projects/{elsewhere.pk}/imports",
                {
                    "file": SimpleUploadedFile(name, export_bytes(project, export)),
                    "options": json.dumps({"write_when_valid": True}),
                },
                format="multipart",
            )
        assert response.status_code == 201, response.json()
        assert client.get(f"/api/imports/{response.json()['id']}").json()["status"] == "succeeded"

    label = Label.objects.get(task__project=elsewhere)
    assert (label.task.media.global_key, label.entry.key, label.points) == ("basic-2022", "bus", [[1, 2], [30, 40]])


def test_a_media_created_from_our_label_studio_export_gets_its_metadata_and_attachments_back(project, labelled_row):
    tasks = json.loads(export_bytes(project, "label_studio"))
    elsewhere: Any = ProjectFactory(organization=OrganizationFactory())
    label_config_replace(configuration=elsewhere.label_configuration, entries=EXPORT_CONFIG)

    job = import_job_create(
        project=elsewhere, user=None, file=json.dumps(tasks).encode(), file_name="ls.json", format="label_studio",
        options={},
    )  # fmt: skip
    job = import_job_validate(job_id=job.id)
    assert job.status == ImportStatus.VALIDATED, [(e.location, e.message) for e in job.errors.all()]
    import_job_write(job_id=job.id)

    media = Media.objects.get(organization=elsewhere.organization)
    assert (media.metadata, media.attachments) == (METADATA, SEED_ASSET["attachments"])
    assert Label.objects.get(task__media=media).points == [[1, 2], [30, 40]]


def test_an_attachment_in_label_studio_meta_with_a_url_no_media_may_have_is_a_located_error(project):
    label_config_replace(configuration=project.label_configuration, entries=EXPORT_CONFIG)
    task = {
        "data": {"image": "https://images.example.com/a.jpg"},
        "meta": {"attachments": [{"type": "IMAGE", "value": "javascript:alert(1)"}], "note": "free for users"},
        "annotations": [],
    }
    job = import_job_create(
        project=project, user=None, file=json.dumps([task]).encode(), file_name="ls.json", format="label_studio",
        options={},
    )  # fmt: skip
    job = import_job_validate(job_id=job.id)

    assert [(e.location, e.code) for e in job.errors.all()] == [("/0/meta/attachments/0/value", "invalid_url")]
    assert not Media.objects.exists()
