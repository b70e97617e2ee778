"""Imports that create media, run by a real Celery worker: Labelbox data rows and Label Studio tasks."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from imports.models import ImportJob, ImportStatus
from imports.services import import_job_create
from labeling.models import Label, Task
from projects.config_converters import ls_config_to_entries
from projects.label_config import label_config_replace
from projects.models import Dataset, Media, Project
from projects.services import dataset_create, organization_get_or_create, project_create
from tests.formats.conftest import LS_CONFIG_XML
from tests.realstack.conftest import CeleryWorker, wait_until

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

JOB_TIMEOUT_SECONDS = 90
FINAL = (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.CANCELLED)


def new_project() -> tuple[Project, Dataset]:
    organization = organization_get_or_create(name=f"Realstack {uuid.uuid4().hex[:8]}")
    project = project_create(organization=organization, name="Field survey")
    dataset = dataset_create(organization=organization, name="Field")
    dataset.projects.add(project)
    return project, dataset


def finished(job_id: uuid.UUID) -> ImportJob:
    wait_until(
        lambda: ImportJob.objects.filter(pk=job_id, status__in=FINAL).exists(),
        timeout=JOB_TIMEOUT_SECONDS,
        message="The worker did not finish the import",
        interval=0.2,
    )
    return ImportJob.objects.get(pk=job_id)


def test_the_worker_creates_data_rows_and_reports_the_failed_ones(celery_worker: CeleryWorker) -> None:
    project, dataset = new_project()
    rows = [
        {"row_data": f"https://cdn.example.com/field/{n:03d}.jpg", "global_key": f"field-{n:03d}",
         "metadata_fields": [{"name": "split", "value": "train"}]}
        for n in range(250)
    ]  # fmt: skip
    rows[7]["global_key"] = "FIELD-000"  # repeats row 0's key
    rows[9]["media_type"] = "VIDEO"
    body = "\n".join(json.dumps(r) for r in rows).encode()

    job = import_job_create(
        project=project, user=None, file=body, file_name="rows.ndjson", format="labelbox_data_rows",
        options={"write_when_valid": True},
    )  # fmt: skip
    job = finished(job.id)

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert (job.summary["media_created"], job.items_skipped) == (248, 2)
    assert [(e.location, e.message) for e in job.errors.order_by("item_index")] == [
        ("/7/global_key", "Duplicate global key: 'FIELD-000'"),
        ("/9/media_type", "media_type 'VIDEO' is not supported: Labelsite imports images (IMAGE: JPG, PNG, BMP)."),
    ]
    assert Media.objects.filter(dataset=dataset, metadata__split="train").count() == 248
    assert Task.objects.filter(project=project).count() == 248


def test_the_worker_imports_label_studio_tasks_onto_media_it_creates(celery_worker: CeleryWorker) -> None:
    project, dataset = new_project()
    label_config_replace(configuration=project.label_configuration, entries=ls_config_to_entries(LS_CONFIG_XML).entries)
    result = {
        "id": "r1", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
        "original_width": 1000, "original_height": 500,
        "value": {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0, "rectanglelabels": ["Car"]},
    }  # fmt: skip
    tasks = [{"data": {"image": f"https://cdn.example.com/s/{n}.jpg"}, "annotations": [{"result": [result]}]}
             for n in range(40)]  # fmt: skip

    job = import_job_create(
        project=project, user=None, file=json.dumps(tasks).encode(), file_name="tasks.json", format="label_studio",
        options={"write_when_valid": True},
    )  # fmt: skip
    job = finished(job.id)

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.summary["media_created"] == 40
    label = Label.objects.filter(task__project=project, task__media__name="7.jpg").get()
    assert label.points == [[100.0, 100.0], [400.0, 300.0]]
    assert Media.objects.filter(dataset=dataset, width=1000, height=500).count() == 40


# --- in chunks, by two workers ---------------------------------------------------------------------


def ls_box_task(n: int, image: str) -> dict[str, Any]:
    result = {
        "id": f"r{n}", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
        "original_width": 1000, "original_height": 500,
        "value": {"x": n % 50, "y": 20, "width": 30, "height": 40, "rotation": 0, "rectanglelabels": ["Car"]},
    }  # fmt: skip
    return {"data": {"image": image}, "annotations": [{"result": [result]}]}


@pytest.mark.parametrize("kind", ["json", "csv", "txt"])
def test_two_workers_import_label_studio_tasks_in_chunks_that_create_their_media_once(import_stack, kind) -> None:
    stack = import_stack(0)
    label_config_replace(
        configuration=stack.project.label_configuration, entries=ls_config_to_entries(LS_CONFIG_XML).entries
    )
    urls = [f"https://cdn.example.com/c/{n:03d}.jpg" for n in range(90)]
    urls[85] = urls[3]  # the last chunk names a media the first creates
    if kind == "json":
        body, name, fmt = json.dumps([ls_box_task(n, u) for n, u in enumerate(urls)]).encode(), "t.json", "label_studio"
    elif kind == "csv":
        csv_text = "image,n\n" + "".join(f"{u},{n}\n" for n, u in enumerate(urls))
        body, name, fmt = csv_text.encode(), "t.csv", "label_studio_csv"
    else:
        body, name, fmt = "\n".join(urls).encode(), "t.txt", "label_studio_txt"
    for _ in range(2):
        stack.worker_start(LABELSITE_IMPORT_CHUNK_ITEMS="20")

    job = import_job_create(
        project=stack.project, user=None, file=body, file_name=name, format=fmt, options={"write_when_valid": True}
    )
    job = stack.wait_for(job, lambda j: j.status in FINAL, "not done")

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.summary["chunks"] == 5
    assert job.summary["write_in_order"] is True  # chunks 0 and 4 share a media
    assert job.summary["media_created"] == 89
    media = Media.objects.filter(organization=stack.project.organization)
    assert media.count() == 89
    assert media.filter(url=urls[3]).count() == 1
    assert Task.objects.filter(project=stack.project).count() == 89
    if kind == "json":
        assert Label.objects.filter(task__project=stack.project).count() == job.labels_written == 90
        assert Label.objects.filter(task__media__url=urls[3]).count() == 2


def test_two_workers_create_labelbox_data_rows_in_chunks_and_a_key_repeated_across_chunks_fails_alone(
    import_stack,
) -> None:
    stack = import_stack(0)
    rows = [{"row_data": f"https://cdn.example.com/r/{n:03d}.jpg", "global_key": f"row-{n:03d}"} for n in range(100)]
    rows[95]["global_key"] = "ROW-010"
    for _ in range(2):
        stack.worker_start(LABELSITE_IMPORT_CHUNK_ITEMS="25")

    job = import_job_create(
        project=stack.project, user=None, file=json.dumps(rows).encode(), file_name="rows.json",
        format="labelbox_data_rows", options={"write_when_valid": True},
    )  # fmt: skip
    job = stack.wait_for(job, lambda j: j.status in FINAL, "not done")

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.summary["chunks"] == 4
    assert [(e.item_index, e.location, e.message) for e in job.errors.all()] == [
        (95, "/95/global_key", "Duplicate global key: 'ROW-010'")
    ]
    assert (job.summary["media_created"], job.items_skipped) == (99, 1)
    assert Media.objects.get(global_key="row-010").url.endswith("/010.jpg")
    assert Task.objects.filter(project=stack.project).count() == 99
