"""The import's Celery tasks by name, and how they are queued (`labelsite.queue`).

`imports.tasks` declares its tasks under these names; the services and the archive unpacker
queue them by name, so neither imports the task module that imports them.
"""

from __future__ import annotations

from typing import Any

from labelsite.queue import task_publish

JOB_VALIDATE = "imports.import_job_validate"
CHUNK_VALIDATE = "imports.import_chunk_validate"
JOB_WRITE = "imports.import_job_write"
CHUNK_WRITE = "imports.import_chunk_write"
JOBS_RESUME = "imports.import_jobs_resume"
JOB_WATCH = "imports.import_job_watch"

#: How a worker sends the message of the next step (a write after validation, the chunks of a
#: job) while the broker is away, e.g. restarting: again and again for about five minutes,
#: since the step exists only in that message. A web request does not wait (Celery's default
#: policy, about a second) and answers an error instead.
PATIENT_PUBLISH = {"max_retries": 75, "interval_start": 0, "interval_step": 1, "interval_max": 4}


def import_task_publish(name: str, *args: Any, patient: bool) -> None:
    task_publish(name, *args, retry_policy=PATIENT_PUBLISH if patient else None)
