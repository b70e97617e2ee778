"""Export jobs: a large export runs in a worker (`queued -> running -> succeeded | failed`).

`export_job_create` queues a job (the worker starts once the transaction commits);
`export_job_run` writes it to a temporary file, then to the default storage (local or S3),
recording progress after each chunk.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.core.files import File
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from exports.driver import export_file_name, export_write
from exports.models import ExportJob, ExportStatus
from exports.reader import ExportReader, export_filters_clean
from formats import export_format_get
from labelsite.errors import NotFound, ValidationFailed
from labelsite.queue import task_publish
from projects.media_probe import media_sizes_learn
from projects.media_urls import site_url as media_site_url
from projects.models import Project

logger = logging.getLogger(__name__)

#: A running job without a heartbeat for this long is taken to be dead and may be claimed again.
STALE_AFTER = timedelta(minutes=5)
#: The name of the task that runs a job (`exports.tasks`).
EXPORT_JOB_RUN = "exports.export_job_run"


# --- jobs ----------------------------------------------------------------------------------------


def export_job_create(
    *,
    project: Project,
    format: str,
    filters: dict[str, Any] | None = None,
    created_by: Any = None,
    site_url: str = "",
) -> ExportJob:
    """A queued export job (format and filters checked first); the worker starts once this commits.

    `site_url` is the base of the image URLs it writes when LABELSITE_PUBLIC_URL is not set
    (`projects.media_urls.site_url(request=...)` of the request that started it)."""
    fmt = export_format_get(name=format)
    cleaned = export_filters_clean(project=project, raw=filters)
    job = ExportJob.objects.create(
        project=project,
        created_by=created_by if getattr(created_by, "pk", None) else None,
        format=fmt.name,
        filters=cleaned.as_json(),
        site_url=site_url,
    )
    job_id = job.pk
    transaction.on_commit(lambda: _enqueue(job_id))
    return job


def _enqueue(job_id: UUID) -> None:
    task_publish(EXPORT_JOB_RUN, str(job_id))


def _claim(job_id: UUID) -> bool:
    """Take the job (queued, or running with a dead worker); False if another worker has it or it is done."""
    now = timezone.now()
    claimable = Q(status=ExportStatus.QUEUED) | Q(status=ExportStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    updated = ExportJob.objects.filter(claimable, pk=job_id).update(
        status=ExportStatus.RUNNING, started_at=now, heartbeat_at=now, tasks_done=0, message=""
    )
    return bool(updated)


def export_job_run(*, job_id: UUID) -> ExportJob:
    """Run a queued export: write it to a temporary file, then to storage, with progress after each chunk.

    Running it twice runs it once: a job that another worker holds (or that is finished) is
    left alone. A transient database error is raised for the task to retry; any other
    error fails the job with its message.
    """
    job = ExportJob.objects.select_related("project").filter(pk=job_id).first()
    if job is None:
        raise NotFound(code="not_found", message="No such export.", params=("ExportJob", "id", str(job_id)))
    if not _claim(job_id):
        job.refresh_from_db()
        return job
    project = job.project
    try:
        fmt = export_format_get(name=job.format)
        filters = export_filters_clean(project=project, raw=_stored_filters(job.filters))

        def progress(done: int) -> None:
            ExportJob.objects.filter(pk=job_id).update(tasks_done=done, heartbeat_at=timezone.now())

        reader = ExportReader(
            project=project,
            filters=filters,
            on_chunk=progress,
            site_url=media_site_url() or job.site_url,
            sizeless_labels_left_out=fmt.needs_media_size,
        )
        report = _sizes_learned(reader=reader, format_label=fmt.label) if fmt.needs_media_size else ""
        total = reader.count()
        ExportJob.objects.filter(pk=job_id).update(tasks_total=total)
        name = export_file_name(project=project, fmt=fmt, moment=job.created_at)
        with tempfile.TemporaryFile() as spool:
            export_write(reader=reader, format=fmt.name, out=spool)
            size = spool.tell()
            spool.seek(0)
            if job.file:
                job.file.delete(save=False)
            job.file.save(name, File(spool, name=name), save=False)
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportStatus.SUCCEEDED,
            message=report,
            file=job.file.name,
            file_name=name,
            file_size=size,
            tasks_done=total,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
    except (OperationalError, InterfaceError):
        ExportJob.objects.filter(pk=job_id).update(status=ExportStatus.QUEUED, heartbeat_at=None)
        raise
    except Exception as exc:
        logger.exception("export %s failed", job_id)
        message = exc.message if isinstance(exc, ValidationFailed) else f"The export failed: {exc}"
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportStatus.FAILED, message=message, finished_at=timezone.now()
        )
    job.refresh_from_db()
    return job


#: Media whose size an export learns before writing (fetching each image), and the time it may take:
#: beyond these the rest are left to the worker's probe and their regions left out of this export.
EXPORT_PROBE_MAX_MEDIA = 500
EXPORT_PROBE_MAX_SECONDS = 120.0
#: Media names the report quotes.
REPORT_NAMES = 5


def _sizes_learned(*, reader: ExportReader, format_label: str) -> str:
    """Learn the unknown sizes of the export's labelled media (bounded); then the report of the
    tasks still without a size, whose regions the export leaves out ("" when there are none)."""
    sizeless = reader.sizeless_tasks()
    media_ids = list(sizeless.values_list("media_id", flat=True)[:EXPORT_PROBE_MAX_MEDIA])
    if media_ids:
        media_sizes_learn(media_ids=media_ids, max_media=EXPORT_PROBE_MAX_MEDIA, max_seconds=EXPORT_PROBE_MAX_SECONDS)
    left_out = reader.sizeless_tasks()
    count = left_out.count()
    if not count:
        return ""
    rows = list(left_out.values_list("media__name", "media__probe_error")[:REPORT_NAMES])
    named = "; ".join(f"{name} ({reason or 'not fetched yet'})" for name, reason in rows)
    more = f"; and {count - len(rows)} more" if count > len(rows) else ""
    return (
        f"{count} task(s) exported without their regions: {format_label} needs the image size, which "
        f"could not be learned: {named}{more}. Make these images reachable by the server (an "
        "operator can allow a host with LABELSITE_URL_ALLOWLIST) or upload them, then export again."
    )


def _stored_filters(stored: dict[str, Any]) -> dict[str, Any]:
    """A job's stored filters (see `ExportFilters.as_json`) as filters to clean again."""
    return {key: value for key, value in stored.items() if value is not None}
