"""Organisations take turns on the one import queue, through a real Celery worker.

Security review 15, item 5: a ZIP of many small label files became one job per file, all
queued at once at the head of the queue every organisation shares; another organisation's
upload waited behind every one of them, and cancelling the upload stopped none. Now an
organisation has at most `LABELSITE_IMPORT_JOBS_PER_ORGANIZATION` (2) jobs at the broker or
running; the rest wait in the database, and cancelling the upload (the id it answered)
cancels those that have not started.

One worker process (concurrency 1) on the configured broker: kombu's filesystem broker on
SQLite runs, Redis on PostgreSQL runs.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from imports.models import ImportJob, ImportStatus
from imports.services import import_job_cancel, import_job_create
from tests.realstack.conftest import wait_until
from tests.realstack.importstack import JOB_TIMEOUT_SECONDS, ImportStack

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

FILES = 16
FINAL = (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.CANCELLED)


def zip_upload(stack: ImportStack) -> ImportJob:
    """Organisation A's ZIP: one label file of one item per media, written when valid."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number, data in enumerate(stack.items):
            archive.writestr(f"batch/{number:03d}.json", json.dumps([data]))
    return import_job_create(
        project=stack.project,
        user=None,
        file=buffer.getvalue(),
        file_name="batch.zip",
        format="datagym",
        options={"write_when_valid": True},
    )


def one_file_upload(stack: ImportStack) -> ImportJob:
    return import_job_create(
        project=stack.project,
        user=None,
        file=stack.file(),
        file_name="mine.json",
        format="datagym",
        options={"write_when_valid": True},
    )


def other_organization(tmp_path: Path) -> ImportStack:
    """Organisation B: a project of its own with one media (its files go where A's go)."""
    folder = tmp_path / "organization-b"
    folder.mkdir()
    return ImportStack(folder, 1)


def unpacked(stack: ImportStack, first: ImportJob) -> None:
    """Wait until the ZIP's jobs exist and one besides the first has started (so all that are
    to be queued at once have been)."""
    jobs = ImportJob.objects.filter(project=stack.project)

    def going() -> bool:
        first.refresh_from_db()
        return (
            first.status == ImportStatus.FAILED or jobs.exclude(pk=first.pk).filter(started_at__isnull=False).exists()
        )

    wait_until(going, timeout=JOB_TIMEOUT_SECONDS, message="the ZIP was not unpacked", interval=0.01)
    assert jobs.count() == FILES, first.message


def all_ended(stack: ImportStack, *projects: Any) -> None:
    def ended() -> bool:
        return not ImportJob.objects.filter(project__in=projects).exclude(status__in=FINAL).exists()

    try:
        wait_until(ended, timeout=JOB_TIMEOUT_SECONDS, message="the imports did not end", interval=0.05)
    except BaseException:
        print(stack.logs())
        raise


def test_another_organisation_s_one_file_is_done_before_most_of_a_zip_of_many_uploaded_earlier(import_stack, tmp_path):
    a = import_stack(FILES)
    b = other_organization(tmp_path)
    a.worker_start()
    first = zip_upload(a)
    unpacked(a, first)

    mine = one_file_upload(b)
    all_ended(a, a.project, b.project)

    mine.refresh_from_db()
    assert mine.status == ImportStatus.SUCCEEDED, mine.message
    a_jobs = ImportJob.objects.filter(project=a.project)
    assert set(a_jobs.values_list("status", flat=True)) == {ImportStatus.SUCCEEDED}
    before = a_jobs.filter(finished_at__lt=mine.finished_at).count()
    # The ZIP's first job, the one or two running while B uploaded, and A's two turns at the broker.
    assert before <= 6, f"{before} of A's {FILES} imports were done before B's one"


def test_cancelling_a_zip_upload_cancels_its_imports_that_have_not_started_and_none_of_them_runs(
    import_stack, tmp_path
):
    a = import_stack(FILES)
    b = other_organization(tmp_path)
    a.worker_start()
    first = zip_upload(a)
    unpacked(a, first)

    import_job_cancel(job=first)  # the id the upload answered
    started = set(ImportJob.objects.filter(project=a.project, started_at__isnull=False).values_list("pk", flat=True))
    mine = one_file_upload(b)
    all_ended(a, a.project, b.project)

    mine.refresh_from_db()
    assert mine.status == ImportStatus.SUCCEEDED, mine.message
    rest = ImportJob.objects.filter(project=a.project).exclude(pk__in=started)
    assert len(started) <= 4, "more than the first job and A's two turns had started"
    assert rest.count() >= FILES - 4
    assert set(rest.values_list("status", "started_at", "labels_written")) == {(ImportStatus.CANCELLED, None, 0)}
