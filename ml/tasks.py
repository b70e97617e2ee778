"""Celery tasks of model servers: thin, named, given a job id; `ml.services` holds the rules.

Acknowledged late: a worker killed mid-job leaves its message to be delivered again, and the
job's claim (a conditional UPDATE that a stale heartbeat releases) lets the rerun resume from
the job's checkpoint instead of running twice.
"""

from __future__ import annotations

from uuid import UUID

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from ml.services import ACCEPT_JOB_RUN, PRELABEL_JOB_RUN, accept_job_run, prelabel_job_run


@shared_task(
    name=PRELABEL_JOB_RUN,
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def prelabel_job_run_task(self: Task, job_id: str) -> None:
    prelabel_job_run(job_id=UUID(job_id))


@shared_task(
    name=ACCEPT_JOB_RUN,
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def prediction_accept_job_run_task(self: Task, job_id: str) -> None:
    accept_job_run(job_id=UUID(job_id))
