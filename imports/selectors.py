"""Reads of the imports app: who may see a job, the job lists, its errors and its progress.

Imports are an admin's business: an admin of the project's organisation (or its API token,
or a superuser) sees and runs them; a member who is not an admin gets PermissionDenied;
anyone else NotFound, as if the job did not exist (the rules of `projects.selectors`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet
from django.utils import timezone

from imports.models import ImportJob, ImportJobError, ImportStatus
from labelsite.errors import NotFound
from projects.models import Project
from projects.selectors import AnyUser, project_get_for_admin

#: Jobs whose status may still change (the page polls while a job is in one of them).
RUNNING_STATUSES = (ImportStatus.QUEUED, ImportStatus.VALIDATING, ImportStatus.WRITING)
FINAL_STATUSES = (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.CANCELLED)


def _job_not_found(job_id: UUID | str) -> NotFound:
    return NotFound(code="not_found", message="No such import.", params=("ImportJob", "id", str(job_id)))


def import_job_get_for_admin(*, user: AnyUser, job_id: UUID | str) -> ImportJob:
    """The job if the user administers its project's organisation; NotFound or PermissionDenied otherwise."""
    try:
        pk = job_id if isinstance(job_id, UUID) else UUID(str(job_id))
    except ValueError:
        raise _job_not_found(job_id) from None
    job = ImportJob.objects.select_related("created_by").filter(pk=pk).first()
    if job is None:
        raise _job_not_found(job_id)
    try:
        job.project = project_get_for_admin(user=user, project_id=job.project_id)
    except NotFound:
        raise _job_not_found(job_id) from None
    return job


def import_job_list_for_project(*, project: Project) -> QuerySet[ImportJob]:
    """The project's imports, newest first, with who started them."""
    return ImportJob.objects.filter(project=project).select_related("created_by").order_by("-created_at")


def import_job_error_list(*, job: ImportJob) -> QuerySet[ImportJobError]:
    """The stored errors of a job (the first 10,000; `job.error_count` is the total), in file order."""
    return ImportJobError.objects.filter(job=job).order_by("id")


def _seconds(start: datetime | None, end: datetime) -> float | None:
    if start is None:
        return None
    elapsed = (end - start).total_seconds()
    return elapsed if elapsed > 0 else None


def _phase(done: int, total: int | None, *, elapsed: float | None, active: bool, ended: bool) -> dict[str, Any]:
    rate = round(done / elapsed, 1) if active and elapsed and done else None
    remaining = max(total - done, 0) if total is not None else None
    eta = round(remaining / rate, 1) if rate and remaining is not None else None
    # A bar is full only when work was done to its end: "0 of 0" is an empty bar, not a full
    # one; a total still to come is an indeterminate bar while the job runs, empty once it ended.
    if total:
        fraction: float | None = min(done / total, 1.0)
    else:
        fraction = 0.0 if total == 0 or ended else None
    return {"done": done, "total": total, "fraction": fraction, "rate": rate, "eta_seconds": eta}


def import_job_progress(*, job: ImportJob, now: datetime | None = None) -> dict[str, Any]:
    """Progress of each phase: done, total (None while unknown), fraction, rate per second, ETA.

    The validation total is known once the file has been read to its end; until then the
    page shows a running count. The write rate counts from `summary["write_started_at"]`
    when the pipeline records it; the page also derives a rate from its own polls.
    """
    now = now or timezone.now()
    validating = job.status == ImportStatus.VALIDATING
    writing = job.status == ImportStatus.WRITING
    ended = job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.CANCELLED)
    items_done = job.items_validated
    if job.status not in (ImportStatus.QUEUED, ImportStatus.VALIDATING) and job.items_total is not None:
        items_done = job.items_total
    write_started = _parse_time(job.summary.get("write_started_at")) if isinstance(job.summary, dict) else None
    return {
        "validation": _phase(
            items_done,
            job.items_total,
            elapsed=_seconds(job.started_at, now),
            active=validating,
            ended=ended,
        ),
        "writing": _phase(
            job.labels_written,
            job.labels_total,
            elapsed=_seconds(write_started, now),
            active=writing,
            ended=ended,
        ),
    }


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def import_job_is_running(*, job: ImportJob) -> bool:
    return job.status in RUNNING_STATUSES


def import_job_class_counts(*, job: ImportJob) -> list[dict[str, Any]]:
    """Labels per class found by validation, most frequent first: `[{"key", "count"}]`."""
    classes = job.summary.get("classes") if isinstance(job.summary, dict) else None
    if not isinstance(classes, dict):
        return []
    return [{"key": str(key), "count": int(count)} for key, count in classes.items()]


def import_job_archive_jobs(*, job: ImportJob) -> list[ImportJob]:
    """The jobs made from the same uploaded archive as `job` (itself included), in file order."""
    archive = job.summary.get("archive") if isinstance(job.summary, dict) else None
    if not archive:
        return []
    first = archive.get("first_job") or str(job.pk)
    # Siblings name the first job; the first job names itself by its own id.
    jobs = ImportJob.objects.filter(project_id=job.project_id).filter(
        Q(pk=first) | Q(summary__archive__first_job=first)
    )
    return sorted(jobs.only("id", "file_name", "status", "summary"), key=lambda j: j.file_name)
