"""Celery tasks of the imports app: thin, named, given job ids; the services hold the rules.

Both are acknowledged late: a worker killed mid-phase leaves its message to be delivered
again, and the job's claim (a conditional UPDATE) and checkpoint make the rerun resume
instead of repeating work.
"""

from __future__ import annotations

from uuid import UUID

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from imports.services import import_job_validate, import_job_write
from labelsite.errors import Conflict

#: Seconds between attempts to write while another import of the project is writing.
BUSY_RETRY_SECONDS = 5


@shared_task(
    name="imports.import_job_validate",
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def import_job_validate_task(self: Task, job_id: str) -> None:
    import_job_validate(job_id=UUID(job_id))


@shared_task(
    name="imports.import_job_write",
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def import_job_write_task(self: Task, job_id: str) -> None:
    try:
        import_job_write(job_id=UUID(job_id))
    except Conflict as exc:
        if exc.code != "import_busy":
            raise
        raise self.retry(countdown=BUSY_RETRY_SECONDS, max_retries=None) from exc
