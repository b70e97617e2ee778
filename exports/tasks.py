"""The Celery task of exports: thin, named, given a job id; `exports.services` holds the rules.

Acknowledged late: a worker killed mid-export leaves its message to be delivered again, and
the job's claim (a conditional UPDATE that a stale heartbeat releases) makes the rerun take
over instead of running twice.
"""

from __future__ import annotations

from uuid import UUID

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from exports.services import EXPORT_JOB_RUN, export_job_run


@shared_task(
    name=EXPORT_JOB_RUN,
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def export_job_run_task(self: Task, job_id: str) -> None:
    export_job_run(job_id=UUID(job_id))
