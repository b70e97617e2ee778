"""The Celery tasks of labeling: thin, named, given a job id; `labeling.browser_services` holds the rules.

Acknowledged late: a worker killed mid-job leaves its message to be delivered again, and the
job's claim (a conditional UPDATE that a stale heartbeat releases) and its checkpoint make the
rerun carry on from the last batch written.
"""

from __future__ import annotations

from uuid import UUID

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from labeling.browser_services import TASK_BULK_JOB_RUN, task_bulk_job_run


@shared_task(
    name=TASK_BULK_JOB_RUN,
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def task_bulk_job_run_task(self: Task, job_id: str) -> None:
    task_bulk_job_run(job_id=UUID(job_id))
