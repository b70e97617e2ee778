"""Chunks written while the job is validated (imports/prewrite.py), through a real worker process.

One worker, so that its holder thread has the first chunks copied while the same process
validates the rest: the publish (or the roll back) is then certain to concern them. On SQLite
(no staging, no COPY) the same jobs are written by the write phase alone, with the same result.
"""

from __future__ import annotations

import pytest
from django.db import connection

from imports.models import ImportChunk, ImportJob, ImportStatus
from labeling.models import Label, Task
from tests.realstack.importstack import create_job

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

CHUNKED = {"LABELSITE_IMPORT_CHUNK_ITEMS": "20"}


def test_chunks_copied_while_the_job_is_validated_are_published_once_it_is_valid(import_stack):
    stack = import_stack(90)
    stack.worker_start(**CHUNKED)
    job = create_job(stack, write_when_valid=True)

    job = stack.wait_for(job, lambda j: j.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED), "not done")

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.summary["chunks"] == 5
    held = job.summary.get("chunks_written_while_validating", 0)
    assert held >= 1 if connection.vendor == "postgresql" else held == 0, stack.logs()
    assert ImportChunk.objects.filter(job=job, status="written").count() == 5
    counts, checksum, distinct = stack.landed(job)
    assert (counts, checksum) == stack.expected()
    assert distinct == job.labels_written == job.labels_total == 450
    assert (job.items_validated, job.items_written) == (90, 90)
    tasks = Task.objects.filter(project=stack.project)
    assert tasks.filter(has_import=True, version=1).count() == 90


def test_an_invalid_item_in_the_last_chunk_rolls_back_the_chunks_copied_before_it(import_stack):
    stack = import_stack(90)
    stack.items[-1]["labels"]["no_such_class"] = [{"point": [{"x": 1, "y": 1}]}]
    stack.worker_start(**CHUNKED)
    job = create_job(stack, write_when_valid=True)

    job = stack.wait_for(job, lambda j: j.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED), "not done")

    assert job.status == ImportStatus.FAILED, job.message
    assert "nothing was written" in job.message
    assert job.errors.filter(item_index=89).exists()
    if connection.vendor == "postgresql":
        stack.wait_for(job, lambda j: "written while validating rolled back" in stack.logs(None), "no roll back")
    assert Label.objects.filter(import_job_id=job.pk).count() == 0
    assert Label.objects.filter(task__project=stack.project).count() == 0
    assert not Task.objects.filter(project=stack.project).exclude(has_import=False, version=0, answers={}).exists()
    assert ImportJob.objects.get(pk=job.pk).labels_written == 0
