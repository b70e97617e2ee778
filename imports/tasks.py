"""Celery tasks of the imports app: thin, named, given job ids; the services hold the rules.

All are acknowledged late: a worker killed mid-phase leaves its message to be delivered
again, and the job's (or chunk's) claim, a conditional UPDATE, and checkpoint make the rerun
resume instead of repeating work. A worker that starts also queues the jobs whose worker
died (`import_jobs_resume`), for brokers that do not deliver a lost message again.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from celery import Task, shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError

from imports import queue
from imports.queue import PATIENT_PUBLISH
from imports.services import (
    STALE_AFTER,
    WATCH_EVERY,
    import_chunk_validate,
    import_chunk_write,
    import_job_validate,
    import_job_watch,
    import_job_write,
    import_jobs_resume,
)
from labelsite.errors import Conflict

#: Seconds between attempts while another worker holds the job, the chunk or the project.
BUSY_RETRY_SECONDS = 5

_RETRIED = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    # 1, 2, 4 ... 60 s (jittered): about five minutes, long enough for a database restart or
    # failover; every retry resumes from the checkpoint.
    "retry_backoff_max": 60,
    "max_retries": 10,
}


def _retry_when_busy(task: Task, exc: Conflict) -> None:
    if exc.code != "import_busy":
        raise exc
    raise task.retry(countdown=BUSY_RETRY_SECONDS, max_retries=None) from exc


@shared_task(name=queue.JOB_VALIDATE, **_RETRIED)
def import_job_validate_task(self: Task, job_id: str) -> None:
    import_job_validate(job_id=UUID(job_id))


@shared_task(name=queue.CHUNK_VALIDATE, **_RETRIED)
def import_chunk_validate_task(self: Task, job_id: str, number: int) -> None:
    try:
        import_chunk_validate(job_id=UUID(job_id), number=number)
    except Conflict as exc:
        _retry_when_busy(self, exc)


@shared_task(name=queue.JOB_WRITE, **_RETRIED)
def import_job_write_task(self: Task, job_id: str) -> None:
    try:
        import_job_write(job_id=UUID(job_id))
    except Conflict as exc:
        _retry_when_busy(self, exc)


@shared_task(name=queue.CHUNK_WRITE, **_RETRIED)
def import_chunk_write_task(self: Task, job_id: str, number: int) -> None:
    try:
        import_chunk_write(job_id=UUID(job_id), number=number)
    except Conflict as exc:
        _retry_when_busy(self, exc)


@shared_task(name=queue.JOBS_RESUME, acks_late=True)
def import_jobs_resume_task() -> int:
    return import_jobs_resume()


@shared_task(name=queue.JOB_WATCH, **_RETRIED)
def import_job_watch_task(self: Task, job_id: str) -> None:
    """Look after a job until it ends: each look queues the next."""
    if import_job_watch(job_id=UUID(job_id)) and not self.request.is_eager:
        self.apply_async(args=(job_id,), countdown=WATCH_EVERY, retry=True, retry_policy=PATIENT_PUBLISH)


@worker_ready.connect
def _resume_after_start(**kwargs: Any) -> None:
    # Once a dead worker's heartbeat has gone stale, its jobs can be taken over.
    import_jobs_resume_task.apply_async(countdown=STALE_AFTER.total_seconds() + 1)
