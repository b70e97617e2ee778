"""Import jobs through real Celery worker processes: end to end, a worker killed mid-write, flat memory.

Each test starts its own workers on a queue of their own (so that the session's worker, on the
default queue, takes none of its tasks), on the configured broker: Redis on PostgreSQL
runs, kombu's filesystem broker on SQLite runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from formats import format_get
from formats.reading import RawItem
from imports import pipeline
from imports.models import ImportChunk, ImportJob, ImportStatus
from imports.services import import_job_confirm
from labeling.models import Label
from projects.label_config import label_config_index
from tests.realstack.importstack import create_job

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]


def test_a_worker_validates_then_writes_a_confirmed_import(import_stack):
    stack = import_stack(30)
    stack.worker_start()
    job = create_job(stack)

    job = stack.wait_for(job, lambda j: j.status in (ImportStatus.VALIDATED, ImportStatus.FAILED), "not validated")
    assert job.status == ImportStatus.VALIDATED, job.message
    assert Label.objects.filter(import_job_id=job.pk).count() == 0
    import_job_confirm(job=job)
    job = stack.wait_for(job, lambda j: j.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED), "not written")

    assert job.status == ImportStatus.SUCCEEDED, job.message
    counts, checksum, distinct = stack.landed(job)
    expected_counts, expected_checksum = stack.expected()
    assert counts == expected_counts == Counter({"car": 30, "wheel": 30, "bus": 30, "street": 30, "poi": 30})
    assert (checksum, distinct, job.labels_written) == (expected_checksum, 150, 150)


def test_two_workers_validate_and_write_a_chunked_import_when_valid(import_stack):
    stack = import_stack(90)
    for _ in range(2):
        stack.worker_start(LABELSITE_IMPORT_CHUNK_ITEMS="20")
    job = create_job(stack, write_when_valid=True)

    job = stack.wait_for(job, lambda j: j.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED), "not done")

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.summary["chunks"] == 5
    assert ImportChunk.objects.filter(job=job, status="written").count() == 5
    counts, checksum, distinct = stack.landed(job)
    assert (counts, checksum) == stack.expected()
    assert distinct == job.labels_written == job.labels_total == 450
    assert (job.items_validated, job.items_written) == (90, 90)


@pytest.mark.parametrize("chunk_items", ["100000", "60"], ids=["whole-file", "chunked"])
def test_a_worker_killed_while_writing_leaves_a_job_another_worker_finishes_exactly(import_stack, chunk_items):
    stack = import_stack(300)
    # Two labels per batch: the write phase takes 750 short transactions, time to kill it in the
    # middle. Chunks written while validated would all land at once (tests/realstack/test_import_prewrite.py).
    slow = {
        "LABELSITE_IMPORT_CHUNK_ITEMS": chunk_items,
        "LABELSITE_IMPORT_WRITE_BATCH_LABELS": "2",
        "LABELSITE_IMPORT_PREWRITE": "0",
    }
    first = stack.worker_start(**slow)
    job = create_job(stack, write_when_valid=True)
    job = stack.wait_for(job, lambda j: j.status == ImportStatus.FAILED or j.labels_written >= 100, "no write")
    assert job.status == ImportStatus.WRITING, job.message

    stack.kill(first)
    job.refresh_from_db()
    assert job.status == ImportStatus.WRITING
    assert 0 < job.labels_written < 1500, "the worker was not killed in the middle of writing"
    stack.worker_start(**slow)
    job = stack.wait_for(job, lambda j: j.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED), "not resumed")

    assert job.status == ImportStatus.SUCCEEDED, job.message
    counts, checksum, distinct = stack.landed(job)
    assert (counts, checksum) == stack.expected()
    assert sum(counts.values()) == distinct == job.labels_written == 1500
    assert job.items_written == 300


# --- memory stays flat ---------------------------------------------------------------------------


def test_the_pipeline_holds_at_most_one_chunk_of_a_large_file_in_memory(import_stack, monkeypatch):
    stack = import_stack(400)
    monkeypatch.setattr(pipeline, "CHECK_CHUNK", 25)
    monkeypatch.setattr(pipeline, "WRITE_BATCH_LABELS", 50)  # 10 items per write batch
    fmt = format_get(name="datagym")
    counts = {"read": 0, "done": 0, "most_ahead": 0}

    def tracked_read(file: Any) -> Iterator[RawItem]:
        for raw in fmt.read(file):
            counts["read"] += 1
            counts["most_ahead"] = max(counts["most_ahead"], counts["read"] - counts["done"])
            yield raw

    original_check = pipeline.items_check

    def counted_check(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for item in original_check(*args, **kwargs):
            counts["done"] += 1
            yield item

    monkeypatch.setattr(pipeline, "items_check", counted_check)
    tracked = replace(fmt, read=tracked_read)
    config = label_config_index(configuration=stack.project.label_configuration)
    job = create_job(stack)  # no worker listens on the stack's queue: this test runs the phases itself
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.VALIDATING)

    report = pipeline.job_validate_file(job=job, fmt=tracked, config=config, open_file=lambda: job.file.open("rb"))
    assert (report.items, report.errors, counts["read"]) == (400, 0, 400)
    assert counts["most_ahead"] <= 25
    # What the validate task would record: the configuration the items were checked against.
    job.summary = {"config_updated_at": stack.project.label_configuration.updated_at.isoformat()}
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.WRITING, summary=job.summary)
    counts.update(read=0, done=0, most_ahead=0)
    outcome = pipeline.job_write_file(job=job, fmt=tracked, config=config, open_file=lambda: job.file.open("rb"))

    assert (outcome.labels, outcome.batches, counts["read"]) == (2000, 40, 400)
    assert counts["most_ahead"] <= 25
