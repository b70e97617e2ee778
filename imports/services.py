"""Import jobs: create, validate, write, cancel; and the inline import of the DataGym v1 API.

A job moves through `queued -> validating -> validated -> writing -> succeeded`, or ends
`failed` or `cancelled`. Each phase starts by claiming the job with a conditional UPDATE,
so that two workers never run the same phase of one job; a phase whose worker died (no
heartbeat for `STALE_AFTER`) may be claimed again and resumes from the checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from itertools import chain, zip_longest
from typing import IO, Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import InterfaceError, OperationalError, transaction
from django.db import connection as db_connection
from django.db.models import Case, Count, Exists, F, Min, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from formats import format_get
from formats.reading import (
    JOB_OPTION_SCHEMAS,
    FileError,
    ImportFormat,
    RawItem,
    options_errors,
    pointer,
)
from imports import queue
from imports.archive_import import (
    ARCHIVE_KINDS,
    CANCELLED_WITH_THE_UPLOAD,
    archive_errors_store,
    import_archive_unpack,
)
from imports.models import ChunkStatus, ImportChunk, ImportJob, ImportJobError, ImportStatus
from imports.pipeline import (
    ConfigurationChanged,
    JobStopped,
    MediaCreation,
    MediaMatcher,
    ValidationReport,
    chunk_validate_file,
    chunk_write_file,
    chunks_key_repeats_report,
    chunks_share_tasks,
    items_check,
    job_chunks_plan,
    job_classes_gone,
    job_validate_file,
    job_write_file,
    shape_count,
    staged_remove,
    staging_storage,
    top_level_errors,
    write_batches,
)
from imports.prewrite import chunk_prewrite_offer
from imports.queue import import_task_publish
from labeling.models import Task
from labeling.services import label_statistics_refresh, labels_remove_for_import, labels_write_batch
from labelsite.errors import Conflict, DomainError, ErrorDetail, NotFound, Unavailable, ValidationFailed
from labelsite.queue import task_publish, tasks_eager
from labelsite.table_statistics import table_statistics_refresh_if_stale
from labelsite.text import counted
from projects.label_config import label_config_entries_missing, label_config_hold, label_config_index
from projects.media_probe import media_probe_pause, media_probe_queue, media_probe_resume
from projects.models import LabelConfiguration, Media, Organization, Project

logger = logging.getLogger(__name__)

#: A running phase without a heartbeat for this long is taken to be dead and may be claimed again.
STALE_AFTER = timedelta(seconds=getattr(settings, "LABELSITE_IMPORT_STALE_SECONDS", 120))
#: Seconds between two looks at a running job (`import_job_watch`).
WATCH_EVERY = STALE_AFTER.total_seconds() + 1
#: How long a running job keeps its organisation's media probing paused: renewed by each look of
#: its watch (`import_job_watch`), ended when the job ends (`_turn_over`).
PROBE_PAUSE_SECONDS = 2 * WATCH_EVERY + 10
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
#: Claims of one phase (or chunk) whose workers all stopped, e.g. killed for using too much
#: memory: then the job fails instead of taking another worker down (each claim counts in
#: `attempts`; one that lets go after a transient error does not).
ATTEMPTS_MAX = 3

#: `keep_data`: None follows the file (DataGym's per-item `keepData`, a format's own option);
#: true adds every item's labels to what its media has, false replaces what it has.
DEFAULT_OPTIONS: dict[str, Any] = {
    "match_by": "id",
    "skip_invalid": False,
    "write_when_valid": False,
    "keep_data": None,
}


def import_options_clean(
    options: dict[str, Any] | None, *, fmt: ImportFormat | None = None, organization_id: Any = None
) -> dict[str, Any]:
    """The job options with their defaults, or every problem with them.

    A format's own options (`ImportFormat.options`) are allowed too, with its defaults
    (its `match_by` default wins over the general one). Every option is checked against its
    JSON schema (`ImportFormat.options_schemas`), then the format's `options_check` looks at
    what the schemas cannot say (values that must agree, a storage that must exist)."""
    given = dict(options or {})
    known = {**DEFAULT_OPTIONS, **(fmt.options if fmt is not None else {})}
    errors: list[ErrorDetail] = []
    for key in given:
        if key not in known:
            errors.append(
                ErrorDetail(
                    path=f"options.{key}",
                    code="unknown_option",
                    message=f"Unknown option {key!r}; use {', '.join(known)}.",
                )
            )
    cleaned = {**known, **{k: v for k, v in given.items() if k in known}}
    # One declarative check: each option against its JSON schema (formats/reading.py).
    errors.extend(options_errors(cleaned, fmt.options_schemas() if fmt is not None else JOB_OPTION_SCHEMAS))
    if not errors and fmt is not None and fmt.options_check is not None:
        errors.extend(fmt.options_check(cleaned, organization_id=organization_id))
    if errors:
        raise ValidationFailed(code="invalid_options", message="The import options are not valid.", details=errors)
    return cleaned


def import_job_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    file: File | IO[bytes] | bytes,
    file_name: str,
    format: str,
    options: dict[str, Any] | None = None,
) -> ImportJob:
    """Store the file and queue its validation; returns at once (the work runs in a worker)."""
    fmt = format_get(name=format)
    cleaned = import_options_clean(options, fmt=fmt, organization_id=project.organization_id)
    if "image_field" in cleaned and not cleaned["image_field"]:
        # A configuration made from a Label Studio XML config knows where its tasks keep the image.
        cleaned["image_field"] = project.label_configuration.image_field or None
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if extension not in fmt.file_kinds and extension not in ARCHIVE_KINDS:
        kinds = " or ".join(f".{kind}" for kind in fmt.file_kinds)
        raise ValidationFailed(
            code="unsupported_file_kind",
            message=f"A {fmt.label} import is a {kinds} file (or a .zip of them); {file_name!r} is not.",
            details=[ErrorDetail(path="file", code="unsupported_file_kind", message=f"Upload a {kinds} or .zip file.")],
        )
    content: File
    if isinstance(file, bytes):
        content = ContentFile(file)
    elif isinstance(file, File):
        content = file
    else:
        content = File(file)
    job = ImportJob(
        id=uuid.uuid4(),
        project=project,
        created_by=user if user is not None and user.is_authenticated else None,  # type: ignore[misc]
        format=fmt.name,
        file_name=file_name[:255],
        options=cleaned,
    )
    # The stored name is ours: a user's file name never decides a path.
    job.file.save(f"{job.id}.{extension}", content, save=False)
    job.file_size = job.file.size
    job.save()
    transaction.on_commit(lambda: _enqueue_new(job.id, project.organization_id))
    return job


#: What a request answers when the broker does not take its job's message.
QUEUE_DOWN_CREATE = (
    "The job queue is not answering, so the import could not start; nothing was read. "
    "Upload the file again in a moment."
)
QUEUE_DOWN_CONFIRM = (
    "The job queue is not answering, so the write could not start; the import stays validated. "
    "Confirm it again in a moment."
)


def _enqueue_new(job_id: UUID, organization_id: Any) -> None:
    """Queue a new job's validation when its organisation has a turn free, else leave it waiting.

    With the broker away the job fails at once, said so (a job left waiting needs no broker yet).
    """
    refused = _admitted_publish(_turns_give(organization_id), patient=False)
    if job_id in refused:
        ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
            status=ImportStatus.FAILED, message=QUEUE_DOWN_CREATE, finished_at=timezone.now()
        )
        raise Unavailable(code="queue_unavailable", message=QUEUE_DOWN_CREATE)


# --- turns: organisations share the queue ---------------------------------------------------------


def _holds_turn() -> Q:
    """The jobs an organisation has at the broker or running (a validated job waiting for its
    admin's confirmation has none; its confirmed write runs as soon as it is confirmed)."""
    return (
        Q(status=ImportStatus.QUEUED, published_at__isnull=False)
        | Q(status__in=[ImportStatus.VALIDATING, ImportStatus.WRITING])
        | Q(status=ImportStatus.VALIDATED, options__write_when_valid=True)
    )


def _turns_give(organization_id: Any = None) -> list[UUID]:
    """Mark the waiting jobs that get a turn now (of one organisation, or all); returns them in
    the order their messages are to go.

    Each organisation has `LABELSITE_IMPORT_JOBS_PER_ORGANIZATION` turns; its waiting jobs take
    free ones oldest first, one organisation after the other, round-robin, the organisation
    whose job has waited longest first.
    """
    limit = max(1, int(getattr(settings, "LABELSITE_IMPORT_JOBS_PER_ORGANIZATION", 2)))
    waiting = ImportJob.objects.filter(status=ImportStatus.QUEUED, published_at__isnull=True, cancel_requested=False)
    if organization_id is not None:
        waiting = waiting.filter(project__organization_id=organization_id)
    with transaction.atomic():
        by_wait = (
            waiting.values_list("project__organization_id")
            .annotate(since=Min("created_at"))
            .order_by("since", "project__organization_id")
        )
        organizations = [organization for organization, _ in by_wait]
        if not organizations:
            return []
        # One giver of turns per organisation at a time (on SQLite the write transaction is
        # that lock). No key update: rows that reference the organisation are not held up.
        list(
            Organization.objects.select_for_update(no_key=True)
            .filter(pk__in=organizations)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        busy = dict(
            ImportJob.objects.filter(_holds_turn(), project__organization_id__in=organizations)
            .values_list("project__organization_id")
            .annotate(jobs=Count("pk"))
            .order_by()
        )
        lines = [
            list(
                waiting.filter(project__organization_id=organization)
                .order_by("created_at", "file_name")
                .values_list("pk", flat=True)[: limit - busy.get(organization, 0)]
            )
            for organization in organizations
            if busy.get(organization, 0) < limit
        ]
        given = [job_id for job_id in chain.from_iterable(zip_longest(*lines)) if job_id is not None]
        ImportJob.objects.filter(pk__in=given, status=ImportStatus.QUEUED, published_at__isnull=True).update(
            published_at=timezone.now()
        )
    return given


def _admitted_publish(job_ids: list[UUID], *, patient: bool) -> list[UUID]:
    """Send the validation of jobs given a turn, in order; the jobs the broker did not take wait
    for their turn again, and are returned."""
    for index, job_id in enumerate(job_ids):
        try:
            _enqueue_validate(job_id, patient=patient)
        except KombuOperationalError as exc:
            logger.warning("The broker did not take import %s: %s", job_id, exc)
            refused = job_ids[index:]
            ImportJob.objects.filter(pk__in=refused, status=ImportStatus.QUEUED).update(published_at=None)
            return refused
    return []


def import_jobs_admit(*, organization_id: Any = None, patient: bool = True) -> list[UUID]:
    """Give waiting imports the turns free (of one organisation, or of all) and queue them.

    Called once a job ends (its turn is free), after an upload and by the start-up sweep.
    Returns the jobs queued, in order. Those the broker refuses wait again: the next job that
    ends, or the next worker that starts, gives them their turn.
    """
    given = _turns_give(organization_id)
    refused = _admitted_publish(given, patient=patient)
    return [job_id for job_id in given if job_id not in refused]


def _turn_over(job_id: UUID, *, patient: bool = True) -> None:
    """The job has ended (or waits for its admin): once committed, its turn goes to the next job.

    `patient` in a worker; a web request (a cancel) does not wait for the broker.
    """

    def give() -> None:
        job = ImportJob.objects.filter(pk=job_id).values_list("project__organization_id", "summary").first()
        if job is not None:
            organization_id, summary = job
            import_jobs_admit(organization_id=organization_id, patient=patient)
            running = ImportJob.objects.filter(
                project__organization_id=organization_id, status__in=[ImportStatus.VALIDATING, ImportStatus.WRITING]
            ).exclude(pk=job_id)
            if not running.exists():  # another import of the organisation keeps the pause
                media_probe_resume(organization_id=organization_id)
            if (summary or {}).get("media_created"):
                # The media the import created are probed (size, thumbnail) now that it is over.
                media_probe_queue(organization_id=organization_id)

    transaction.on_commit(give)


def _enqueue_confirmed(job_id: UUID) -> None:
    try:
        _enqueue_write(job_id)
    except KombuOperationalError as exc:
        logger.warning("The broker did not take the write of import %s: %s", job_id, exc)
        raise Unavailable(code="queue_unavailable", message=QUEUE_DOWN_CONFIRM) from exc


def _enqueue_validate(job_id: UUID, *, patient: bool = False) -> None:
    import_task_publish(queue.JOB_VALIDATE, str(job_id), patient=patient)


def _enqueue_write(job_id: UUID, *, patient: bool = False) -> None:
    import_task_publish(queue.JOB_WRITE, str(job_id), patient=patient)


def _enqueue_chunks(job_id: UUID, numbers: list[int], *, write: bool) -> None:
    """Only workers queue chunks: patiently.

    A chunk waiting for a worker keeps the time it was queued in `heartbeat_at`: one still
    waiting `STALE_AFTER` later may have lost its message with the broker, and is queued
    again (`_chunks_requeue_stale`).
    """
    name = queue.CHUNK_WRITE if write else queue.CHUNK_VALIDATE
    waiting = ChunkStatus.VALIDATED if write else ChunkStatus.PENDING
    ImportChunk.objects.filter(job_id=job_id, number__in=numbers, status=waiting).update(heartbeat_at=timezone.now())
    for number in numbers:
        import_task_publish(name, str(job_id), number, patient=True)


def _watch_start(job_id: UUID) -> None:
    """Look after a job from the start of a phase to its end (see `import_job_watch`).

    One try: with the broker away, the phase goes on unwatched rather than wait for it (the
    phase's own messages wait; a worker that starts resumes what a lost message left).
    """
    if tasks_eager():
        return  # in-process tasks run to their end at once: nothing to look after
    try:
        task_publish(queue.JOB_WATCH, str(job_id), countdown=WATCH_EVERY, retry=False)
    except KombuOperationalError as exc:
        logger.warning("Import %s runs unwatched: the broker did not take the watch (%s)", job_id, exc)


def _claimable(status: str) -> Q:
    stale = timezone.now() - STALE_AFTER
    return Q(status=status) & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale))


def _reclaim(rows: QuerySet[Any], status: str) -> int:
    """Take over a phase that nobody works on (its worker died, or let go), counting the attempt."""
    return rows.filter(_claimable(status), attempts__lt=ATTEMPTS_MAX).update(
        heartbeat_at=timezone.now(), attempts=F("attempts") + 1
    )


def _exhausted(rows: QuerySet[Any], status: str) -> bool:
    """True when the phase nobody works on was claimed `ATTEMPTS_MAX` times: its workers died with it."""
    return rows.filter(_claimable(status), attempts__gte=ATTEMPTS_MAX).exists()


def _fail_exhausted(job_id: UUID, *, writing: bool, chunk: ImportChunk | None = None) -> ImportJob:
    """End a job that stopped its workers `ATTEMPTS_MAX` times, saying where and what to do."""
    doing = "writing this file's labels" if writing else "reading this file"
    if chunk is not None:
        first, last = chunk.item_start + 1, chunk.item_start + chunk.item_count
        doing = f"{'writing the labels of' if writing else 'reading'} items {first}-{last} of this file"
    written = ImportJob.objects.values_list("labels_written", flat=True).get(pk=job_id)
    verb = "was" if written == 1 else "were"
    outcome = f"{counted(written, 'label')} {verb} written" if writing else "nothing was written"
    _fail(
        job_id,
        f"The worker stopped {ATTEMPTS_MAX} times while {doing} (e.g. it ran out of memory), so the import "
        f"is not tried again; {outcome}. Split the file into smaller files and upload them, or give the "
        "worker more memory and upload the file again.",
    )
    return ImportJob.objects.get(pk=job_id)


def _open(job: ImportJob) -> Any:
    return job.file.storage.open(str(job.file.name), "rb")


def _config_stamp(configuration: LabelConfiguration) -> str:
    return configuration.updated_at.isoformat()


def _release(job_id: UUID) -> None:
    """After a transient error: leave the phase claimable at once by the retried task."""
    _heartbeat_clear(ImportJob.objects.filter(pk=job_id))


#: Seconds a worker goes on trying to let go of its phase after a transient error.
RELEASE_SECONDS = 5


def _heartbeat_clear(rows: Any) -> None:
    # A connection the database dropped is useless: close it so that this update gets a new
    # one, or the retried task would wait `STALE_AFTER` for its own stale heartbeat. The worker
    # did not stop: its attempt is given back. The fault may last a moment (a locked SQLite
    # file, a restarting server): a few tries, else the takeover would count as a stopped worker.
    deadline = time.monotonic() + RELEASE_SECONDS
    while True:
        try:
            db_connection.close_if_unusable_or_obsolete()
            rows.update(heartbeat_at=None, attempts=Greatest(F("attempts") - 1, Value(0)))
            return
        except TRANSIENT_ERRORS:
            if time.monotonic() > deadline:
                return
            time.sleep(0.5)


def _fail(job_id: UUID, message: str) -> None:
    ended = ImportJob.objects.filter(pk=job_id).exclude(status__in=_FINAL)
    if ended.update(status=ImportStatus.FAILED, message=message, finished_at=timezone.now()):
        _turn_over(job_id)
    _staged_remove(job_id)


def _staged_remove(job_id: UUID) -> None:
    """A job that ended needs its staged batches no more (see `imports.pipeline.ChunkStager`)."""
    staged_remove(ImportJob._meta.get_field("file").storage, job_id)


_FINAL = (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.CANCELLED)


def import_job_validate(*, job_id: UUID) -> ImportJob:
    """Validate every item of the file; end `validated` (or `failed` with every error stored).

    Writes nothing. A file of more than `LABELSITE_IMPORT_CHUNK_ITEMS` items is split into
    chunks that the workers validate in parallel (`import_chunk_validate`); the last chunk
    to finish ends the phase. With `write_when_valid` a valid job goes on to the write phase.
    """
    now = timezone.now()
    unclaimed = ImportJob.objects.filter(pk=job_id, cancel_requested=False)
    started = unclaimed.filter(status=ImportStatus.QUEUED).update(
        status=ImportStatus.VALIDATING, started_at=now, heartbeat_at=now, attempts=1
    )
    statistics_refreshed = _no_wait
    if started:
        transaction.on_commit(lambda: _watch_start(job_id))
        _probe_pause(job_id)
        # Media that arrived a few at a time (the dataset page's uploads) asked for no ANALYZE
        # each; the job's media lookups must not plan without statistics. Waited for before the
        # chunks are queued, while this process splits the file.
        statistics_refreshed = _statistics_refresh_started([Media._meta.db_table, Task._meta.db_table])
    try:
        return _job_validate_claimed(job_id, unclaimed, started=bool(started), refreshed=statistics_refreshed)
    finally:
        statistics_refreshed()  # (waited for already, unless the phase stopped early)


def _no_wait() -> None:
    pass


def _statistics_refresh_started(tables: list[str]) -> Callable[[], None]:
    """`table_statistics_refresh_if_stale` of `tables` on a connection of its own, started now; the
    callable waits for it. On PostgreSQL the ANALYZE (0.5 s for 100,000 media and tasks) runs in
    its own backend while this process reads the import file for its chunks; elsewhere a no-op."""
    if db_connection.vendor != "postgresql":
        return _no_wait

    def refresh() -> None:
        try:
            table_statistics_refresh_if_stale(tables=tables)
        except Exception:  # statistics are an optimisation: the import goes on without them
            logger.exception("The statistics of %s were not refreshed", ", ".join(tables))
        finally:
            db_connection.close()

    thread = threading.Thread(target=refresh, name="statistics-refresh")
    thread.start()
    return thread.join


def _job_validate_claimed(
    job_id: UUID, unclaimed: QuerySet[ImportJob], *, started: bool, refreshed: Callable[[], None]
) -> ImportJob:
    claimed = started or _reclaim(unclaimed, ImportStatus.VALIDATING)
    job = ImportJob.objects.select_related("project__label_configuration").get(pk=job_id)
    if not claimed:
        if _exhausted(unclaimed, ImportStatus.VALIDATING):
            return _fail_exhausted(job_id, writing=False)
        if job.status == ImportStatus.VALIDATED and job.options.get("write_when_valid") and not job.cancel_requested:
            # A validation message delivered again after it ended (the broker restarted before
            # the worker's acknowledgement): the write it queued may have been lost with the
            # broker, so queue it again; a second write message finds the job claimed.
            transaction.on_commit(lambda: _enqueue_write(job.pk, patient=True))
        return job
    try:
        fmt = format_get(name=job.format)
        try:
            if import_archive_unpack(job=job, fmt=fmt):
                # The archive's other label files wait for their organisation's turns.
                transaction.on_commit(lambda: import_jobs_admit(organization_id=job.project.organization_id))
        except ValidationFailed as exc:
            return _archive_refused(job, exc)
        chunks = dict(ImportChunk.objects.filter(job=job).values_list("number", "status"))
        if not chunks:
            every = int(getattr(settings, "LABELSITE_IMPORT_CHUNK_ITEMS", 5000))
            planned = job_chunks_plan(job=job, fmt=fmt, open_file=lambda: _open(job), every=every)
            chunks = dict.fromkeys(range(planned), ChunkStatus.PENDING)
        refreshed()  # before any media lookup: the chunks' or the whole file's
        if chunks:
            # The chunks count their own attempts; the job's phase only hands them out.
            ImportJob.objects.filter(pk=job_id).update(summary={**job.summary, "chunks": len(chunks)}, attempts=0)
            pending = [n for n, status in chunks.items() if status not in (ChunkStatus.VALIDATED, ChunkStatus.BROKEN)]
            if pending:
                transaction.on_commit(lambda: _enqueue_chunks(job.pk, pending, write=False))
                job.refresh_from_db()
                return job
            return _validation_finish_if_complete(job_id)
        ImportJob.objects.filter(pk=job_id).update(items_validated=0)
        configuration = job.project.label_configuration
        config = label_config_index(configuration=configuration)
        report = job_validate_file(job=job, fmt=fmt, config=config, open_file=lambda: _open(job))
    except JobStopped:
        return _stopped(job_id)
    except TRANSIENT_ERRORS:
        _release(job_id)
        raise
    except Exception:
        _fail(job_id, "The import stopped on an internal error; nothing was written. Try again or report it.")
        raise
    return _validation_complete(job, report, configuration)


def _archive_refused(job: ImportJob, error: ValidationFailed) -> ImportJob:
    """An uploaded archive that cannot be unpacked: the job fails with the archive's problems."""
    archive_errors_store(job, error)
    if ImportJob.objects.filter(pk=job.pk, status=ImportStatus.VALIDATING).update(
        status=ImportStatus.FAILED,
        message=f"{error.message} Nothing was written.",
        error_count=len(error.details) or 1,
        finished_at=timezone.now(),
    ):
        _turn_over(job.pk)
    job.refresh_from_db()
    return job


def _validation_complete(job: ImportJob, report: ValidationReport, configuration: LabelConfiguration) -> ImportJob:
    """End the validate phase with its report: `validated`, or `failed` with the errors stored."""
    job_id = job.pk
    skip_invalid = bool(job.options.get("skip_invalid"))
    writable_items = report.items - report.items_invalid - report.items_skipped
    failed = bool(report.errors) and (not skip_invalid or writable_items == 0 or report.items == 0)
    summary = {
        **ImportJob.objects.values_list("summary", flat=True).get(pk=job_id),
        "classes": dict(report.classes.most_common()),
        "items_without_media": report.items_skipped,
        "config_updated_at": _config_stamp(configuration),
        "entries": report.entries,
    }
    if report.media_new:
        summary["media_to_create"] = report.media_new
    hint = _nothing_hint(job)
    nothing = None if report.errors else _nothing_to_import(report, hint)
    if failed:
        status, message = (
            ImportStatus.FAILED,
            f"{counted(report.errors, 'error')} in {counted(report.items_invalid or 1, 'item')}; nothing was written. "
            "Fix the errors listed and upload the file again.",
        )
    elif nothing is not None:
        # Never a job that "succeeds" having skipped every item: it fails, and says what to check.
        failed = True
        status, message = ImportStatus.FAILED, nothing.message
    else:
        status, message = ImportStatus.VALIDATED, _validated_message(report, writable_items)
        if report.labels == 0 and not report.media_new:
            summary["warnings"] = [
                f"The file holds no labels: its {counted(writable_items, 'item')} carry no geometry, so only their "
                f"answers (if any) will be written. If you expected labels, check the file and the job's "
                f"format ({job.format}) and options. {hint}".strip()
            ]
    ended = ImportJob.objects.filter(pk=job_id, status=ImportStatus.VALIDATING).update(
        status=status,
        message=message,
        items_total=report.items,
        items_validated=report.items,
        items_invalid=report.items_invalid,
        labels_total=report.labels,
        error_count=report.errors if nothing is None else 1,
        summary=summary,
        heartbeat_at=timezone.now(),
        finished_at=timezone.now() if failed else None,
    )
    if ended and nothing is not None:
        ImportJobError.objects.create(job_id=job_id, location=nothing.path, code=nothing.code, message=nothing.message)
    job.refresh_from_db()
    if job.status == ImportStatus.FAILED:
        _staged_remove(job_id)
    if job.status == ImportStatus.VALIDATED and job.options.get("write_when_valid"):
        transaction.on_commit(lambda: _enqueue_write(job.pk, patient=True))
    elif job.status in (ImportStatus.FAILED, ImportStatus.VALIDATED):
        _turn_over(job_id)
    return job


def _chunk_claim(job_id: UUID, number: int, *, job_status: str, free: Q, status: str) -> ImportChunk | None:
    """Take a chunk by a conditional UPDATE; None when it is done or another worker has it."""
    stale = timezone.now() - STALE_AFTER
    quiet = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale)
    claimable = free | (Q(status=status) & quiet & Q(attempts__lt=ATTEMPTS_MAX))
    claimed = (
        ImportChunk.objects.filter(Q(job_id=job_id, number=number) & claimable)
        .filter(job__status=job_status, job__cancel_requested=False)
        .update(
            status=status,
            heartbeat_at=timezone.now(),
            # A chunk taken over from a worker that stopped counts one more attempt.
            attempts=Case(When(status=status, then=F("attempts") + 1), default=Value(1)),
        )
    )
    return ImportChunk.objects.get(job_id=job_id, number=number) if claimed else None


def _chunk_busy(job_id: UUID, number: int, *, job_status: str, status: str) -> ImportJob:
    job = ImportJob.objects.get(pk=job_id)
    if job.status in _FINAL:
        return job  # a message of a job that has ended (cancelled, say): nothing to do
    chunk = ImportChunk.objects.filter(job_id=job_id, number=number).first()
    if job.cancel_requested:
        return _stopped(job_id)
    if job.status == job_status and chunk is not None and chunk.status == status:
        if _exhausted(ImportChunk.objects.filter(pk=chunk.pk), status):
            return _fail_exhausted(job_id, writing=status == ChunkStatus.WRITING, chunk=chunk)
        raise Conflict(code="import_busy", message="Another worker is on this chunk of the import; wait.")
    return job


def import_chunk_validate(*, job_id: UUID, number: int) -> ImportJob:
    """Validate one chunk of a split job; the last chunk to finish ends the validate phase.

    Raises `Conflict("import_busy")` while a live worker has the chunk: the task retries later.
    """
    chunk = _chunk_claim(
        job_id, number, job_status=ImportStatus.VALIDATING, free=Q(status=ChunkStatus.PENDING), status="validating"
    )
    if chunk is None:
        return _chunk_busy(job_id, number, job_status=ImportStatus.VALIDATING, status=ChunkStatus.VALIDATING)
    job = ImportJob.objects.select_related("project__label_configuration").get(pk=job_id)
    if chunk.items_validated:  # an earlier attempt counted some items already
        ImportJob.objects.filter(pk=job_id).update(items_validated=F("items_validated") - chunk.items_validated)
    try:
        fmt = format_get(name=job.format)
        config = label_config_index(configuration=job.project.label_configuration)
        validated = chunk_validate_file(
            job=job, chunk=chunk, fmt=fmt, config=config, open_file=lambda: _open(job), storage=staging_storage(job)
        )
        report = validated.report
    except FileError:
        ImportChunk.objects.filter(pk=chunk.pk).update(status=ChunkStatus.BROKEN, heartbeat_at=timezone.now())
        return _validation_finish_if_complete(job_id)
    except JobStopped:
        return _stopped(job_id)
    except TRANSIENT_ERRORS:
        _heartbeat_clear(ImportChunk.objects.filter(pk=chunk.pk))
        raise
    except Exception:
        _fail(job_id, "The import stopped on an internal error; nothing was written. Try again or report it.")
        raise
    marked = ImportChunk.objects.filter(pk=chunk.pk, status=ChunkStatus.VALIDATING).update(
        status=ChunkStatus.VALIDATED,
        heartbeat_at=timezone.now(),
        items_invalid=report.items_invalid,
        items_skipped=report.items_skipped,
        labels=report.labels,
        error_count=report.errors,
        classes=dict(report.classes),
        entries=report.entries,
        task_ids=validated.task_ids,
        media_new=report.media_new,
        global_keys=validated.global_keys,
    )
    storage = staging_storage(job)
    if marked and storage is not None:
        # Its rows go into the label table now, in a transaction this process commits only
        # once the whole job is valid (imports/prewrite.py).
        chunk_prewrite_offer(
            job=job, chunk=chunk, storage=storage, creates_media=MediaCreation.for_job(job, fmt) is not None
        )
    _chunks_requeue_stale(job_id)  # a chunk whose worker died is taken over by those still alive
    return _validation_finish_if_complete(job_id)


def _validation_finish_if_complete(job_id: UUID) -> ImportJob:
    """Once every chunk is validated, sum their reports and end the phase (in one transaction)."""
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(of=("self",))
            .select_related("project__label_configuration")
            .get(pk=job_id)
        )
        chunks = list(
            ImportChunk.objects.filter(job=job).values(
                "status",
                "items_validated",
                "items_invalid",
                "items_skipped",
                "labels",
                "error_count",
                "classes",
                "entries",
                "media_new",
            )
        )
        if job.status != ImportStatus.VALIDATING or not chunks:
            return job
        if any(c["status"] not in (ChunkStatus.VALIDATED, ChunkStatus.BROKEN) for c in chunks):
            return job
        broken = any(c["status"] == ChunkStatus.BROKEN for c in chunks)
        if broken:
            # A chunk is not valid JSON by itself: read the file in one piece, which places the error.
            ImportChunk.objects.filter(job=job).delete()
            # Once: planned again, the same chunks would break again.
            summary = {**{k: v for k, v in job.summary.items() if k != "chunks"}, "whole_file": True}
            ImportJob.objects.filter(pk=job_id).update(summary=summary, heartbeat_at=None, attempts=0)
    if broken:
        return import_job_validate(job_id=job_id)
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(of=("self",))
            .select_related("project__label_configuration")
            .get(pk=job_id)
        )
        if job.status != ImportStatus.VALIDATING:
            return job
        report = ValidationReport()
        for chunk in chunks:
            report.items += chunk["items_validated"]
            report.items_invalid += chunk["items_invalid"]
            report.items_skipped += chunk["items_skipped"]
            report.labels += chunk["labels"]
            report.errors += chunk["error_count"]
            report.classes.update(chunk["classes"])
            report.entries.update(chunk["entries"])
            report.media_new += chunk["media_new"]
        keys = ImportChunk.objects.filter(job=job).exclude(global_keys=b"").values_list("global_keys", flat=True)
        chunks_key_repeats_report(job=job, blobs=[bytes(blob) for blob in keys], report=report)
        blobs = (bytes(blob) for blob in ImportChunk.objects.filter(job=job).values_list("task_ids", flat=True))
        if chunks_share_tasks(blobs):
            ImportJob.objects.filter(pk=job_id).update(summary={**job.summary, "write_in_order": True})
        return _validation_complete(job, report, job.project.label_configuration)


def _nothing_hint(job: ImportJob) -> str:
    try:
        return format_get(name=job.format).nothing_hint
    except ValidationFailed:
        return ""


def _nothing_to_import(report: ValidationReport, hint: str) -> ErrorDetail | None:
    """Why a valid file has nothing to import (no item, or no item that names a media), or None."""
    if report.items == 0:
        reason = "the file holds no items"
    elif report.items_skipped == report.items:
        reason = f"none of the {counted(report.items, 'item')} names a media"
    else:
        return None
    return ErrorDetail(
        path="file",
        code="nothing_to_import",
        message=f"Nothing to import: {reason}, so nothing was written. {hint} If the file comes from another "
        "tool, upload it again and choose its format.".replace("  ", " "),
    )


def _validated_message(report: ValidationReport, writable: int) -> str:
    message = f"{counted(report.items, 'item')} checked: {writable} to import with {counted(report.labels, 'label')}"
    if report.media_new:
        message += f"; {report.media_new} of them add a media that does not exist yet"
    if report.items_invalid:
        message += f"; {counted(report.items_invalid, 'item')} with errors will be skipped"
    return message + "."


def _stopped(job_id: UUID, *, patient: bool = True) -> ImportJob:
    job = ImportJob.objects.get(pk=job_id)
    if job.cancel_requested and job.status not in _FINAL:
        message = (
            f"Cancelled: {job.labels_written} of {counted(job.labels_total or 0, 'label')} "
            f"{'was' if job.labels_written == 1 else 'were'} written for {counted(job.items_written, 'item')}."
            if job.status == ImportStatus.WRITING
            else "Cancelled during validation; nothing was written."
        )
        ended = ImportJob.objects.filter(pk=job_id).exclude(status__in=_FINAL)
        if ended.update(status=ImportStatus.CANCELLED, message=message, finished_at=timezone.now()):
            _turn_over(job_id, patient=patient)
        job.refresh_from_db()
    if job.status in _FINAL:
        _staged_remove(job_id)
    return job


def import_job_confirm(*, job: ImportJob) -> ImportJob:
    """An admin looked at the validation report and wants the labels written."""
    if job.status != ImportStatus.VALIDATED:
        raise Conflict(
            code="import_not_validated",
            message=f"Only a validated import can be written; this one is {job.status}.",
            params=(job.status,),
        )
    transaction.on_commit(lambda: _enqueue_confirmed(job.pk))
    return job


def import_job_write(*, job_id: UUID) -> ImportJob:
    """Write a validated job in batches, resuming after its checkpoint; end `succeeded`.

    Raises `Conflict("import_busy")` while another import of the project is writing, or
    while another worker is alive on this job: the task retries later.
    """
    job = ImportJob.objects.select_related("project__label_configuration").get(pk=job_id)
    if job.status in _FINAL:
        return job
    others_writing = ImportJob.objects.filter(
        project_id=OuterRef("project_id"),
        status=ImportStatus.WRITING,
        heartbeat_at__gte=timezone.now() - STALE_AFTER,
    ).exclude(pk=OuterRef("pk"))
    now = timezone.now()
    unclaimed = ImportJob.objects.filter(pk=job_id, cancel_requested=False).exclude(Exists(others_writing))
    started = unclaimed.filter(status=ImportStatus.VALIDATED).update(
        status=ImportStatus.WRITING, heartbeat_at=now, attempts=1
    )
    if started:
        transaction.on_commit(lambda: _watch_start(job_id))
        _probe_pause(job_id)
    claimed = started or _reclaim(unclaimed, ImportStatus.WRITING)
    job.refresh_from_db()
    if not claimed:
        if _exhausted(unclaimed, ImportStatus.WRITING):
            return _fail_exhausted(job_id, writing=True)
        if job.status in (ImportStatus.VALIDATED, ImportStatus.WRITING) and not job.cancel_requested:
            raise Conflict(code="import_busy", message="Another import of this project is being written; wait.")
        if job.cancel_requested:
            return _stopped(job_id)
        return job
    configuration = job.project.label_configuration
    if job.summary.get("config_updated_at") != _config_stamp(configuration) and job_classes_gone(job):
        return _fail_configuration_changed(job_id)
    chunks = dict(ImportChunk.objects.filter(job=job).values_list("number", "status"))
    if chunks:
        ImportJob.objects.filter(pk=job_id).update(attempts=0)  # the chunks count their own
        pending = sorted(n for n, status in chunks.items() if status != ChunkStatus.WRITTEN)
        if pending:
            # Chunks that share a task are written one after the other, in file order
            # (each written chunk queues the next), so that keepData means what it says.
            if job.summary.get("write_in_order"):
                pending = pending[:1]
            transaction.on_commit(lambda: _enqueue_chunks(job.pk, pending, write=True))
            return job
        return _write_finish_if_complete(job_id)
    try:
        fmt = format_get(name=job.format)
        config = label_config_index(configuration=configuration)
        job_write_file(job=job, fmt=fmt, config=config, open_file=lambda: _open(job))
    except JobStopped:
        return _stopped(job_id)
    except ConfigurationChanged:
        return _fail_configuration_changed(job_id)
    except TRANSIENT_ERRORS:
        _release(job_id)
        raise
    except Exception:
        _fail_writing(job_id)
        raise
    return _write_succeeded(job_id)


def _fail_writing(job_id: UUID) -> None:
    written = ImportJob.objects.values_list("labels_written", flat=True).get(pk=job_id)
    _fail(
        job_id,
        f"The import stopped on an internal error after {counted(written, 'label')} "
        f"{'was' if written == 1 else 'were'} written. "
        "Run it again to resume where it stopped, or report it.",
    )


def _fail_configuration_changed(job_id: UUID) -> ImportJob:
    """The configuration lost a class the job writes with: fail it and remove what it wrote, so
    that the upload done again (a new job) writes every label once, keepData or not."""
    with transaction.atomic():
        # Chunk writers update the job row last in each batch, and only while it is writing
        # (`imports.pipeline._write_batch`): a batch either committed before this lock or goes.
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status in _FINAL:
            return job
        labels_remove_for_import(import_job_id=job_id)  # those of the deleted classes went with them
        classes = ", ".join(_classes_lost(job)) or "that it was validated with"
        if job.labels_written:
            outcome = f"What it had written ({counted(job.labels_written, 'label')}) was removed."
        else:
            outcome = "Nothing was written."
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportStatus.FAILED,
            message=f"The label configuration changed during the import and no longer has the class(es) "
            f"{classes} that the file uses. {outcome} Put the class(es) back in the label configuration, or take "
            "them out of the file, and upload the file again.",
            labels_written=0,
            items_written=0,
            finished_at=timezone.now(),
        )
    _staged_remove(job_id)
    return ImportJob.objects.get(pk=job_id)


def _classes_lost(job: ImportJob) -> list[str]:
    """The keys of the classes the job's validation found that the configuration no longer has."""
    recorded: dict[str, str] = job.summary.get("entries") or {}
    missing = label_config_entries_missing(project_id=job.project_id, entry_ids=recorded)
    return sorted({recorded[entry_id] for entry_id in missing})


def _write_succeeded(job_id: UUID) -> ImportJob:
    # Fresh statistics for the grown label table (docs/benchmarks.md, Load), once the job's
    # end is committed: ANALYZE of 1M labels and their tasks takes ~0.85 s, which the admin
    # need not wait for (the first batch's ANALYZE already gave the planner the table's scale).
    transaction.on_commit(label_statistics_refresh)
    job = ImportJob.objects.get(pk=job_id)
    if job.summary.get("media_created"):
        # The media a chunked import created were analyzed after its first batch only (imports.media_create).
        transaction.on_commit(lambda: table_statistics_refresh_if_stale(tables=[Media._meta.db_table]))
    message = f"{counted(job.labels_written, 'label')} written for {counted(job.items_written, 'item')}"
    if "media_created" in job.summary:
        message += f"; {job.summary['media_created']} media created, {job.summary.get('media_reused', 0)} found by URL"
        if job.summary.get("media_failed"):
            message += f", {job.summary['media_failed']} refused"
    message += f"; {counted(job.items_skipped, 'item')} skipped." if job.items_skipped else "."
    for warning in job.summary.get("warnings") or []:
        message += f" Warning: {warning}"
    if ImportJob.objects.filter(pk=job_id, status=ImportStatus.WRITING).update(
        status=ImportStatus.SUCCEEDED, finished_at=timezone.now(), message=message
    ):
        _turn_over(job_id)
    job.refresh_from_db()
    _staged_remove(job_id)
    return job


def import_chunk_write(*, job_id: UUID, number: int) -> ImportJob:
    """Write one chunk of a split job, resuming after its checkpoint; the last chunk ends the job.

    Raises `Conflict("import_busy")` while a live worker has the chunk: the task retries later.
    """
    chunk = _chunk_claim(
        job_id, number, job_status=ImportStatus.WRITING, free=Q(status=ChunkStatus.VALIDATED), status="writing"
    )
    if chunk is None:
        return _chunk_busy(job_id, number, job_status=ImportStatus.WRITING, status=ChunkStatus.WRITING)
    job = ImportJob.objects.select_related("project__label_configuration").get(pk=job_id)
    try:
        fmt = format_get(name=job.format)
        config = label_config_index(configuration=job.project.label_configuration)
        chunk_write_file(
            job=job, chunk=chunk, fmt=fmt, config=config, open_file=lambda: _open(job), storage=staging_storage(job)
        )
    except JobStopped:
        return _stopped(job_id)
    except ConfigurationChanged:
        return _fail_configuration_changed(job_id)
    except TRANSIENT_ERRORS:
        _heartbeat_clear(ImportChunk.objects.filter(pk=chunk.pk))
        raise
    except Exception:
        _fail_writing(job_id)
        raise
    ImportChunk.objects.filter(pk=chunk.pk, status=ChunkStatus.WRITING).update(status=ChunkStatus.WRITTEN)
    _chunks_requeue_stale(job_id)  # a chunk whose worker died is taken over by those still alive
    if job.summary.get("write_in_order"):
        following = (
            ImportChunk.objects.filter(job_id=job_id, number__gt=number, status=ChunkStatus.VALIDATED)
            .order_by("number")
            .values_list("number", flat=True)
            .first()
        )
        if following is not None:
            transaction.on_commit(lambda: _enqueue_chunks(job_id, [following], write=True))
    return _write_finish_if_complete(job_id)


def _write_finish_if_complete(job_id: UUID) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status != ImportStatus.WRITING:
            return job
        if ImportChunk.objects.filter(job=job).exclude(status=ChunkStatus.WRITTEN).exists():
            return job
        return _write_succeeded(job_id)


def import_jobs_resume(*, job_id: UUID | None = None) -> int:
    """Queue again the phase of every job whose worker stopped answering (after a crash).

    Claims and checkpoints make this safe to run any time: a job someone is working on is
    not taken, and a resumed job goes on from its last written batch. A phase or chunk whose
    workers stopped `ATTEMPTS_MAX` times is not queued again: its job fails. Over all jobs (no
    `job_id`), it also sends again the jobs given a turn whose message may have been lost, and
    gives waiting jobs the turns free. Returns the jobs and chunks queued (turns given aside).
    With `job_id`, looks at that job only.
    """
    _exhausted_fail(job_id)
    stale = timezone.now() - STALE_AFTER
    running = Q(status__in=[ImportStatus.VALIDATING, ImportStatus.WRITING])
    # A valid job that should go on to its write, whose message was lost with the broker.
    write_lost = Q(status=ImportStatus.VALIDATED, options__write_when_valid=True)
    dead = ImportJob.objects.filter(running | write_lost, cancel_requested=False).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale)
    )
    if job_id is not None:
        dead = dead.filter(pk=job_id)
    queued = 0
    for dead_id, status in dead.values_list("pk", "status"):
        enqueue = _enqueue_validate if status == ImportStatus.VALIDATING else _enqueue_write
        transaction.on_commit(lambda enqueue=enqueue, dead_id=dead_id: enqueue(dead_id, patient=True))  # type: ignore[misc]
        queued += 1
    if job_id is None:
        # A worker took the message of a job given a turn and died before it claimed the job
        # (the filesystem broker deletes a message as it is taken): else the turn is lost for good.
        unclaimed = ImportJob.objects.filter(status=ImportStatus.QUEUED, published_at__lt=stale, cancel_requested=False)
        for unclaimed_id in unclaimed.values_list("pk", flat=True):
            transaction.on_commit(lambda unclaimed_id=unclaimed_id: _enqueue_validate(unclaimed_id, patient=True))  # type: ignore[misc]
            queued += 1
    queued += _chunks_requeue_stale(job_id)
    if job_id is None:
        transaction.on_commit(import_jobs_admit)  # last: whatever befalls it, the rest is queued
    return queued


def _exhausted_fail(job_id: UUID | None) -> None:
    """Fail the jobs whose phase, or one of whose chunks, nobody works on after `ATTEMPTS_MAX` claims."""
    stale = timezone.now() - STALE_AFTER
    quiet = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale)
    running = [ImportStatus.VALIDATING, ImportStatus.WRITING]
    jobs = ImportJob.objects.filter(quiet, status__in=running, attempts__gte=ATTEMPTS_MAX, cancel_requested=False)
    chunks = ImportChunk.objects.filter(
        quiet,
        Q(status=ChunkStatus.VALIDATING, job__status=ImportStatus.VALIDATING)
        | Q(status=ChunkStatus.WRITING, job__status=ImportStatus.WRITING),
        attempts__gte=ATTEMPTS_MAX,
        job__cancel_requested=False,
    )
    if job_id is not None:
        jobs, chunks = jobs.filter(pk=job_id), chunks.filter(job_id=job_id)
    for exhausted_id, status in jobs.values_list("pk", "status"):
        _fail_exhausted(exhausted_id, writing=status == ImportStatus.WRITING)
    for chunk in chunks:
        _fail_exhausted(chunk.job_id, writing=chunk.status == ChunkStatus.WRITING, chunk=chunk)


def import_job_watch(*, job_id: UUID) -> bool:
    """Queue again what a lost broker message or a dead worker left of a job; False once it ended.

    A message can be lost for good: a worker had taken it when Redis restarted without it,
    or Redis kept it in its unacknowledged set (given back only after the visibility
    timeout, an hour). Workers that start resume dead jobs (`import_jobs_resume`), but a
    broker restart starts no worker: this check, repeated every `WATCH_EVERY` seconds while
    the job runs, finds the phase or the chunk that nobody works on and queues it again.
    """
    job = ImportJob.objects.filter(pk=job_id).values("status", "options", "cancel_requested").first()
    if job is None or job["cancel_requested"] or job["status"] in _FINAL or job["status"] == ImportStatus.QUEUED:
        return False
    if job["status"] == ImportStatus.VALIDATED and not job["options"].get("write_when_valid"):
        return False  # an admin confirms it; the confirmed write starts a watch of its own
    _probe_pause(job_id)
    import_jobs_resume(job_id=job_id)
    return True


def _probe_pause(job_id: UUID) -> None:
    """While the job runs, its organisation's media probing waits (`projects.media_probe`): a
    probe batch would hold one of the worker slots the job's chunks run in (100,000 URL media
    added just before an import are still being probed when it starts)."""
    organization_id = ImportJob.objects.filter(pk=job_id).values_list("project__organization_id", flat=True).first()
    if organization_id is not None:
        media_probe_pause(organization_id=organization_id, seconds=PROBE_PAUSE_SECONDS)


def _chunks_requeue_stale(job_id: UUID | None = None) -> int:
    """Queue again the chunks that nobody works on: the worker died, or the message was lost.

    A chunk in progress whose heartbeat is stale lost its worker; a chunk still waiting
    `STALE_AFTER` after it was queued may have lost its message (a duplicate message is
    harmless: the chunk is claimed by a conditional UPDATE, and done chunks are skipped).
    """
    stale = timezone.now() - STALE_AFTER
    chunks = ImportChunk.objects.filter(
        Q(status__in=[ChunkStatus.VALIDATING, ChunkStatus.PENDING], job__status=ImportStatus.VALIDATING)
        | Q(status__in=[ChunkStatus.WRITING, ChunkStatus.VALIDATED], job__status=ImportStatus.WRITING),
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale),
        job__cancel_requested=False,
    )
    if job_id is not None:
        chunks = chunks.filter(job_id=job_id)
    found = list(chunks.order_by("job_id", "number").values_list("job_id", "number", "status", "job__summary"))
    in_order_writing = set(
        ImportChunk.objects.filter(
            job_id__in={chunk_job for chunk_job, _, _, summary in found if summary.get("write_in_order")},
            status=ChunkStatus.WRITING,
        ).values_list("job_id", flat=True)
    )
    queued = 0
    for chunk_job, number, status, summary in found:
        write = status in (ChunkStatus.WRITING, ChunkStatus.VALIDATED)
        if status == ChunkStatus.VALIDATED and summary.get("write_in_order"):
            # Such chunks are written one after the other: only the first waiting one, and
            # only when none is being written, is due.
            if chunk_job in in_order_writing:
                continue
            in_order_writing.add(chunk_job)
        transaction.on_commit(
            lambda chunk_job=chunk_job, number=number, write=write: _enqueue_chunks(chunk_job, [number], write=write)  # type: ignore[misc]
        )
        queued += 1
    return queued


def import_job_cancel(*, job: ImportJob) -> ImportJob:
    """Cancel a job: at once if no worker is on it, else after the batch being written.

    The first job of a ZIP upload (the id its upload answered) stands for the upload: the
    archive's jobs that have not started are cancelled with it, and never queued.
    """
    now = timezone.now()
    stale = now - STALE_AFTER
    idle = Q(status__in=[ImportStatus.QUEUED, ImportStatus.VALIDATED]) | (
        Q(status__in=[ImportStatus.VALIDATING, ImportStatus.WRITING])
        & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale))
    )
    if ImportJob.objects.filter(Q(pk=job.pk) & idle).update(cancel_requested=True):
        job.refresh_from_db()
        job = _stopped(job.pk, patient=False) if job.status == ImportStatus.WRITING else _cancel_now(job)
        _archive_rest_cancel(job)
        return job
    running = ImportJob.objects.filter(pk=job.pk, status__in=[ImportStatus.VALIDATING, ImportStatus.WRITING]).update(
        cancel_requested=True
    )
    job.refresh_from_db()
    if not _archive_rest_cancel(job) and not running:
        raise Conflict(
            code="import_finished",
            message=f"The import has finished ({job.status}); there is nothing to cancel.",
            params=(job.status,),
        )
    return job


def _archive_rest_cancel(first: ImportJob) -> int:
    """Cancel the jobs of `first`'s archive that have not started, if `first` is an archive's first job."""
    cancelled = ImportJob.objects.filter(
        project_id=first.project_id, summary__archive__first_job=str(first.pk), status=ImportStatus.QUEUED
    ).update(
        status=ImportStatus.CANCELLED,
        cancel_requested=True,
        message=CANCELLED_WITH_THE_UPLOAD,
        finished_at=timezone.now(),
    )
    if cancelled:
        _turn_over(first.pk, patient=False)  # jobs of the archive at the broker had turns
    return cancelled


def _cancel_now(job: ImportJob) -> ImportJob:
    ended = ImportJob.objects.filter(pk=job.pk).exclude(status__in=_FINAL)
    if ended.update(
        status=ImportStatus.CANCELLED, message="Cancelled; nothing was written.", finished_at=timezone.now()
    ):
        _turn_over(job.pk, patient=False)
    job.refresh_from_db()
    _staged_remove(job.pk)
    return job


# --- inline (DataGym v1 POST /project/{id}/prediction) ---------------------------------------


@dataclass(frozen=True)
class InlineImportResult:
    items: int
    items_skipped: int
    labels_written: int
    tasks_updated: int


def _fragment(detail: ErrorDetail) -> ErrorDetail:
    """A detail with its pointer as a URI fragment (`#/0/labels`), as DataGym prints them."""
    return ErrorDetail(path=f"#{detail.path}", code=detail.code, message=detail.message, params=detail.params)


def import_items_inline(
    *,
    project: Project,
    items: list[Any],
    options: dict[str, Any] | None = None,
    format: str = "datagym",
) -> InlineImportResult:
    """Import a small, parsed request at once, with the job's functions.

    Every item is validated first, with no transaction open (on SQLite a transaction holds
    the database's one write lock, every organisation's writes wait for it), then written in
    the job's write batches, one short transaction each: a request up to
    `LABELSITE_V1_INLINE_MAX_BYTES` (2 MiB) is one batch.

    - the items break the schema: `ValidationFailed("schema_invalid")` with every violation
      (`path` like `#/0/labels/car/0/polygon`, the jsonschema message); nothing is written;
    - an item names an unknown media: `NotFound("media_not_found")`; another semantic error
      (`unknown_entry`, `geometry_type_mismatch`, `rectangle_extra_key`, ...):
      `ValidationFailed` with that code and its params. The first error (in item order,
      media first as DataGym checks it first) gives the code; `details` lists them all;
      nothing is written;
    - otherwise everything is written and the counts returned; if the configuration changes
      between two batches (a larger request), `Conflict("configuration_changed")` says how
      many labels were written.
    """
    fmt: ImportFormat = format_get(name=format)
    cleaned = import_options_clean(options, fmt=fmt, organization_id=project.organization_id)
    if not isinstance(items, list):
        raise ValidationFailed(
            code="not_an_array",
            message="The body must be a JSON array of items; wrap the items in [ and ].",
            params=("A JSONArray text must start with '['",),
        )
    schema_errors = [_fragment(detail) for detail in top_level_errors(fmt, len(items))]
    for index, data in enumerate(items):
        schema_errors.extend(_fragment(detail) for detail in fmt.item_schema.errors(data, prefix=(index,)))
    if schema_errors:
        raise ValidationFailed(
            code="schema_invalid",
            message=f"Schema validation failed with {len(schema_errors)} error(s)",
            details=schema_errors,
        )
    configuration = project.label_configuration
    config = label_config_index(configuration=configuration)
    matcher = MediaMatcher(project_id=project.pk, match_by=cleaned["match_by"])
    raw_items = (RawItem(index=i, location=pointer(i), data=data) for i, data in enumerate(items))
    checked = list(items_check(raw_items, fmt=fmt, config=config, matcher=matcher, check_schema=False, options=cleaned))
    problems = [_fragment(detail) for item in checked for detail in item.errors]
    if problems:
        first = problems[0]
        error_class: type[DomainError] = NotFound if first.code == "media_not_found" else ValidationFailed
        raise error_class(code=first.code, message=first.message, details=problems, params=first.params)
    labels_written = tasks_updated = 0
    for batch in write_batches(checked):
        writable = [(item.task_id, item.annotation) for item in batch if item.writable]
        with transaction.atomic():
            if label_config_hold(project_id=project.pk) != configuration.updated_at:
                raise Conflict(
                    code="configuration_changed",
                    message=(
                        "The label configuration changed while the request was checked; send it again."
                        if not labels_written
                        else f"The label configuration changed while the request was written, after "
                        f"{labels_written} label(s); send the items again with keepData false."
                    ),
                )
            result = labels_write_batch(items=writable)  # type: ignore[arg-type]
        labels_written += result.labels
        tasks_updated += result.tasks
    return InlineImportResult(
        items=len(items),
        items_skipped=sum(1 for item in checked if item.skipped),
        labels_written=labels_written,
        tasks_updated=tasks_updated,
    )


__all__ = [
    "InlineImportResult",
    "import_chunk_validate",
    "import_chunk_write",
    "import_items_inline",
    "import_job_cancel",
    "import_job_confirm",
    "import_job_create",
    "import_job_validate",
    "import_job_write",
    "import_jobs_resume",
    "import_options_clean",
    "shape_count",
]
