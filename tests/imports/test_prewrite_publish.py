"""Chunks written while the job is validated (imports/prewrite.py), in process: the holder's
transaction, what others see of it, its publish and its roll back, and the write phase after it.

The holder runs in a thread with its own connection, as in a worker; the test plays the rest
of the job (its status, the chunk writers). PostgreSQL only: elsewhere nothing is staged for
COPY, and the write phase writes every chunk (tests/realstack/test_import_prewrite.py runs the
whole job on both databases).
"""

from __future__ import annotations

import queue
import threading
import time

import pytest
from django.db import connection

from imports import pipeline, prewrite
from imports.models import ImportChunk, ImportJob, ImportStatus
from imports.services import import_chunk_write
from labeling.models import Label, Task
from tests.imports.conftest import item
from tests.imports.test_chunked_jobs import eager_workers, run_job
from tests.imports.test_datagym_inline import FULL_EXAMPLE_LABELS

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="only PostgreSQL writes while validating"),
]


@pytest.fixture
def chunks_of_two(settings, monkeypatch):
    settings.LABELSITE_IMPORT_CHUNK_ITEMS = 2
    monkeypatch.setattr(pipeline, "WRITE_BATCH_LABELS", 5)  # one item (5 labels) per write batch: 2 + 2 + 1


@pytest.fixture(autouse=True)
def patient_holder(monkeypatch):
    monkeypatch.setattr(prewrite, "VALIDATED_WAIT_SECONDS", 60.0)  # the test sets the verdict itself


def validated_job(project, make_task, settings, capture) -> tuple[list[Task], ImportJob]:
    """Five items in three chunks, validated and staged (not written: no `write_when_valid`)."""
    tasks = [make_task() for _ in range(5)]
    job = run_job(project, [item(t, labels=FULL_EXAMPLE_LABELS) for t in tasks], settings, capture)
    assert job.status == ImportStatus.VALIDATED, job.message
    return tasks, job


def advisory_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        return int(cursor.fetchone()[0])


def hold(job: ImportJob) -> threading.Thread:
    """Offer every chunk of the job to a holder thread; return once it has copied them all."""
    offers: queue.SimpleQueue[prewrite._Offer] = queue.SimpleQueue()
    chunks = list(ImportChunk.objects.filter(job=job).order_by("number"))
    for chunk in chunks:
        offers.put(
            prewrite._Offer(
                job_id=job.pk,
                project_id=job.project_id,
                chunk_id=chunk.pk,
                number=chunk.number,
                storage=job.file.storage,
                name=pipeline.staged_name(job.pk, chunk.number),
            )
        )
    first = offers.get()

    def run() -> None:
        try:
            prewrite._hold(first, offers)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while advisory_locks() < len(chunks):
        assert thread.is_alive(), "the holder stopped before it took every chunk"
        assert time.monotonic() < deadline, "the holder did not take every chunk"
        time.sleep(0.02)
    return thread


def set_status(job: ImportJob, status: str, **summary: object) -> None:
    ImportJob.objects.filter(pk=job.pk).update(status=status, summary={**job.summary, **summary})


def test_held_chunks_are_seen_by_nobody_until_the_job_is_written_then_published_once(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    tasks, job = validated_job(configured_project, make_task, settings, django_capture_on_commit_callbacks)
    thread = hold(job)
    time.sleep(0.2)  # the holder polls the job: still validated, it keeps holding

    assert thread.is_alive()
    assert Label.objects.count() == 0  # 25 rows copied, none committed
    assert not Task.objects.filter(has_import=True).exists()  # the tasks wait for the publish

    set_status(job, ImportStatus.WRITING)
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert Label.objects.count() == 25
    assert Task.objects.filter(pk__in=[t.pk for t in tasks], has_import=True, version=1).count() == 5
    assert sorted(ImportChunk.objects.filter(job=job).values_list("checkpoint", flat=True)) == [0, 1, 1]
    job.refresh_from_db()
    assert (job.labels_written, job.items_written, job.summary["chunks_written_while_validating"]) == (25, 5, 3)
    assert job.checkpoint == 5 - 1  # the batches written (from -1), as the chunk writers count them

    with eager_workers(settings, django_capture_on_commit_callbacks):  # the write phase's chunk writers
        for number in range(3):
            import_chunk_write(job_id=job.pk, number=number)
    job.refresh_from_db()

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert (job.labels_written, job.items_written) == (25, 5)
    assert Label.objects.count() == 25  # written once
    assert advisory_locks() == 0


@pytest.mark.parametrize("verdict", [ImportStatus.FAILED, ImportStatus.CANCELLED])
def test_a_job_that_does_not_go_on_to_its_write_rolls_back_what_was_held(
    verdict, configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    _, job = validated_job(configured_project, make_task, settings, django_capture_on_commit_callbacks)
    thread = hold(job)

    set_status(job, verdict)
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert Label.objects.count() == 0
    assert not Task.objects.exclude(has_import=False, version=0).exists()
    assert set(ImportChunk.objects.filter(job=job).values_list("checkpoint", flat=True)) == {-1}
    assert advisory_locks() == 0


def test_chunks_that_must_be_written_in_file_order_are_rolled_back_and_written_by_the_write_phase(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    _, job = validated_job(configured_project, make_task, settings, django_capture_on_commit_callbacks)
    thread = hold(job)

    set_status(job, ImportStatus.WRITING, write_in_order=True)
    thread.join(timeout=30)
    assert Label.objects.count() == 0
    job.refresh_from_db()
    with eager_workers(settings, django_capture_on_commit_callbacks):
        for number in range(3):
            import_chunk_write(job_id=job.pk, number=number)
    job.refresh_from_db()

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert "chunks_written_while_validating" not in job.summary
    assert Label.objects.count() == job.labels_written == 25


def test_a_chunk_writer_waits_for_the_holder_of_its_chunk_then_finds_it_written(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    _, job = validated_job(configured_project, make_task, settings, django_capture_on_commit_callbacks)
    thread = hold(job)
    job.refresh_from_db()

    assert not pipeline.chunk_write_lock(job.pk, 0, wait=False)  # held, in another transaction
    set_status(job, ImportStatus.WRITING)
    thread.join(timeout=30)
    with eager_workers(settings, django_capture_on_commit_callbacks):
        import_chunk_write(job_id=job.pk, number=0)

    assert ImportChunk.objects.get(job=job, number=0).status == "written"
    assert Label.objects.count() == 25
