"""A poison job: a file whose worker dies every time (out of memory, say) is tried three times, not for ever.

Security review 15, item 6. Tasks are acknowledged late and rejected when their worker is lost,
and a worker that starts queues again the jobs whose worker died: a file that kills its worker
was taken up again after every kill, for ever, each time taking a worker down with it. Each
claim of a phase (or of a chunk) now counts; after three the job fails and says why.

The kill is real: SIGKILL to the worker and its pool process, in the middle of the write phase,
on the configured broker (Redis on PostgreSQL runs, kombu's filesystem broker on SQLite runs).
"""

from __future__ import annotations

import pytest

from imports.models import ImportStatus
from tests.realstack.importstack import create_job

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

#: Two labels per batch: the write phase is 750 short transactions, time to kill it three times.
SLOW_WRITE = {"LABELSITE_IMPORT_WRITE_BATCH_LABELS": "2"}
LABELS = 300 * 5


FINAL = (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.CANCELLED)


def test_a_job_whose_worker_is_killed_three_times_fails_with_a_message_and_is_not_taken_up_again(import_stack):
    stack = import_stack(300)
    job = create_job(stack, write_when_valid=True)
    written_at_kills: list[int] = []
    for kill in range(3):
        worker = stack.worker_start(**SLOW_WRITE)
        # The phase is taken up again (by the new worker's start-up sweep) and makes progress.
        after = (written_at_kills or [0])[-1] + 60
        job = stack.wait_for(
            job,
            lambda j, after=after: j.status in FINAL or j.labels_written >= after,
            f"the write did not go on before kill {kill + 1}",
        )
        assert job.status == ImportStatus.WRITING, f"{job.status}: {job.message}"
        stack.kill(worker)
        job.refresh_from_db()
        written_at_kills.append(job.labels_written)
    assert written_at_kills[-1] < LABELS, "the job ended before its third kill"

    survivor = stack.worker_start(**SLOW_WRITE)
    job = stack.wait_for(job, lambda j: j.status in FINAL, "the job never ended")

    assert job.status == ImportStatus.FAILED, f"{job.status}: {job.message}"
    assert job.message.startswith("The worker stopped 3 times while writing this file's labels"), job.message
    assert "Split the file" in job.message
    assert job.labels_written == written_at_kills[-1], "a fourth worker went on writing"
    assert survivor.poll() is None
