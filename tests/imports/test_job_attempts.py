"""Attempts: a phase or a chunk whose workers stop three times (killed for memory, say) fails its job.

The real kill -9 of a worker three times over is `tests/realstack/test_poison_jobs.py`; here
the rows are left as a killed worker leaves them (status in progress, heartbeat gone stale,
the attempt counted) and the services are run on them: the sweep, a message delivered again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from imports.models import ChunkStatus, ImportChunk, ImportJob, ImportStatus
from imports.services import (
    STALE_AFTER,
    import_chunk_validate,
    import_job_validate,
    import_job_watch,
    import_jobs_resume,
)
from tests.imports.conftest import item
from tests.imports.test_chunked_jobs import chunks_of_two, queued_job
from tests.imports.test_datagym_inline import FULL_EXAMPLE_LABELS
from tests.imports.test_fair_queue import broker, published

__all__ = ["broker", "chunks_of_two"]  # fixtures used here

pytestmark = pytest.mark.django_db


def long_ago() -> datetime:
    return timezone.now() - STALE_AFTER - timedelta(seconds=1)


def killed(rows, status: str, attempts: int) -> None:
    """What a worker killed in the middle leaves: the phase in progress, its heartbeat stale."""
    rows.update(status=status, attempts=attempts, heartbeat_at=long_ago())


@pytest.fixture
def split_job(configured_project, media_storage, make_task, chunks_of_two, django_capture_on_commit_callbacks):
    """A job of six items in three chunks, validating, its chunks waiting for a worker."""
    items = [item(make_task(), labels=FULL_EXAMPLE_LABELS) for _ in range(6)]
    job = queued_job(configured_project, items, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        import_job_validate(job_id=job.pk)
    assert ImportChunk.objects.filter(job=job).count() == 3
    return job


def test_a_chunk_whose_workers_stopped_three_times_fails_its_job_and_the_sweep_queues_nothing(
    split_job, broker, django_capture_on_commit_callbacks
):
    killed(ImportChunk.objects.filter(job=split_job, number=1), ChunkStatus.VALIDATING, attempts=3)
    ImportChunk.objects.filter(job=split_job).exclude(number=1).update(heartbeat_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        assert import_jobs_resume() == 0
    assert published() == []

    split_job.refresh_from_db()
    assert split_job.status == ImportStatus.FAILED
    assert split_job.message.startswith(
        "The worker stopped 3 times while reading items 3-4 of this file (e.g. it ran out of memory), "
        "so the import is not tried again; nothing was written. Split the file into smaller files"
    )
    assert import_job_watch(job_id=split_job.pk) is False  # the watch ends with the job


def test_a_chunk_message_delivered_after_the_third_stop_fails_the_job_instead_of_reading(split_job):
    killed(ImportChunk.objects.filter(job=split_job, number=0), ChunkStatus.VALIDATING, attempts=3)

    job = import_chunk_validate(job_id=split_job.pk, number=0)

    assert job.status == ImportStatus.FAILED
    assert "stopped 3 times while reading items 1-2" in job.message
    assert ImportChunk.objects.get(job=split_job, number=0).items_validated == 0  # not read again


def test_a_chunk_taken_over_after_a_second_stop_counts_the_attempt_and_is_read(split_job):
    killed(ImportChunk.objects.filter(job=split_job, number=0), ChunkStatus.VALIDATING, attempts=2)

    import_chunk_validate(job_id=split_job.pk, number=0)

    chunk = ImportChunk.objects.get(job=split_job, number=0)
    assert (chunk.status, chunk.attempts, chunk.items_validated) == (ChunkStatus.VALIDATED, 3, 2)
    split_job.refresh_from_db()
    assert split_job.status == ImportStatus.VALIDATING


def test_a_split_job_handed_out_again_and_again_by_the_watch_never_runs_out_of_attempts(
    split_job, django_capture_on_commit_callbacks
):
    # Chunks waiting long behind other work: each watch queues the job's phase again, which
    # hands the chunks out again; only reading a file counts.
    for _ in range(5):
        ImportJob.objects.filter(pk=split_job.pk).update(heartbeat_at=long_ago())
        with django_capture_on_commit_callbacks(execute=False):
            import_job_validate(job_id=split_job.pk)

    split_job.refresh_from_db()
    assert (split_job.status, split_job.attempts) == (ImportStatus.VALIDATING, 0)


def test_a_whole_file_job_whose_workers_stopped_three_times_fails_when_its_message_comes_again(
    configured_project, media_storage, task, django_capture_on_commit_callbacks
):
    job = queued_job(configured_project, [item(task)], django_capture_on_commit_callbacks)
    killed(ImportJob.objects.filter(pk=job.pk), ImportStatus.VALIDATING, attempts=3)

    job = import_job_validate(job_id=job.pk)

    assert job.status == ImportStatus.FAILED
    assert job.message.startswith("The worker stopped 3 times while reading this file (e.g. it ran out of memory)")
    assert job.items_validated == 0


def test_a_whole_file_job_taken_over_after_two_stops_is_read_to_its_end(
    configured_project, media_storage, task, django_capture_on_commit_callbacks
):
    job = queued_job(configured_project, [item(task, global_classifications={"weather": ["sunny"]})],
                     django_capture_on_commit_callbacks)  # fmt: skip
    killed(ImportJob.objects.filter(pk=job.pk), ImportStatus.VALIDATING, attempts=2)

    job = import_job_validate(job_id=job.pk)

    assert (job.status, job.attempts, job.items_validated) == (ImportStatus.VALIDATED, 3, 1), job.message
