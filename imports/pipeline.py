"""The import pipeline: stream -> schema -> canonical model -> rows, in bounded chunks.

Three callers share the same functions, so that an item means the same everywhere:
- the validate phase of a job (`job_validate_file`): every item is checked, nothing is
  written; the report has counts per class and every error, located;
- the write phase of a job (`job_write_file`): the file is streamed again and written in
  batches, one short transaction per batch keyed by (job, batch number), with the
  checkpoint and progress saved in the same transaction;
- the DataGym v1 endpoint (`imports.services.import_items_inline`), for small requests.

Memory does not grow with the file: the reader yields one item at a time, and at most
one chunk (`CHECK_CHUNK` items) or one write batch is held at once. The configuration is
resolved from dicts built once per job; media references cost one query per chunk of
distinct references, never one per item.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from jsonschema import Draft7Validator

from imports.formats.base import FileError, ImportFormat, RawItem, schema_error_detail
from imports.jsonsplit import Span
from imports.models import ChunkStatus, ImportChunk, ImportJob, ImportJobError, ImportStatus
from labeling.annotation import MediaAnnotation, MediaRef, Shape
from labeling.models import Task
from labeling.services import labels_write_batch
from labelsite.errors import ErrorDetail
from projects.label_config import LabelConfigIndex

#: Items checked together: one media query per chunk, one progress update per chunk.
CHECK_CHUNK = 1000
#: A write batch closes once it holds this many labels (or `WRITE_BATCH_ITEMS` items): one
#: COPY and one short transaction each (COPY pays off from about 10,000 rows).
WRITE_BATCH_LABELS = int(getattr(settings, "LABELSITE_IMPORT_WRITE_BATCH_LABELS", 20_000))
WRITE_BATCH_ITEMS = 5_000
#: Write batches of chunk n are numbered from n * CHUNK_BATCH_STRIDE (the labels' `import_batch`).
CHUNK_BATCH_STRIDE = 100_000
#: Errors kept per job; the total is always counted.
ERRORS_KEPT = 10_000
#: Media references remembered per job (beyond this, the oldest are looked up again).
MEDIA_CACHE_SIZE = 200_000

MATCH_BY_FIELDS = {"id": "id", "name": "name", "external_id": "external_id", "global_key": "global_key"}


# --- media matching ---------------------------------------------------------------------------


def media_reference_value(reference: MediaRef, match_by: str) -> str:
    value = {
        "id": reference.media_id,
        "name": reference.name,
        "external_id": reference.external_id,
        "global_key": reference.global_key,
    }[match_by]
    return value or ""


_AMBIGUOUS = "ambiguous"


class MediaMatcher:
    """Finds the task of each referenced media in the project, a chunk of references at a time."""

    def __init__(self, *, project_id: UUID, match_by: str = "id") -> None:
        if match_by not in MATCH_BY_FIELDS:
            raise ValueError(f"unknown match_by {match_by!r}")
        self.project_id = project_id
        self.match_by = match_by
        self._known: dict[str, UUID | str | None] = {}

    def resolve(self, values: Iterable[str]) -> dict[str, UUID | str | None]:
        """Task id per reference value; None when no media matches, "ambiguous" for several."""
        wanted = set(values)
        missing = [v for v in wanted if v not in self._known]
        if missing:
            if len(self._known) + len(missing) > MEDIA_CACHE_SIZE:
                self._known.clear()
            self._known.update(self._lookup(missing))
        return {v: self._known[v] for v in wanted}

    def _lookup(self, values: list[str]) -> dict[str, UUID | str | None]:
        found: dict[str, UUID | str | None] = dict.fromkeys(values)
        lookup_values: list[Any] = values
        if self.match_by == "id":
            parsed = {}
            for value in values:
                try:
                    parsed[uuid.UUID(value)] = value
                except ValueError:
                    continue
            lookup_values = list(parsed)
        field_name = f"media__{MATCH_BY_FIELDS[self.match_by]}"
        for start in range(0, len(lookup_values), 1000):
            rows = Task.objects.filter(
                project_id=self.project_id,
                media__deleted_at__isnull=True,
                **{f"{field_name}__in": lookup_values[start : start + 1000]},
            ).values_list(field_name, "id")
            for media_value, task_id in rows:
                key = str(media_value)
                found[key] = _AMBIGUOUS if found.get(key) is not None else task_id
        return found


def _media_error(path: str, value: str, outcome: UUID | str | None, match_by: str) -> ErrorDetail:
    if outcome == _AMBIGUOUS:
        return ErrorDetail(
            path=path,
            code="media_ambiguous",
            message=(
                f"Several media of the project have the {match_by.replace('_', ' ')} {value!r}; "
                "match by media id instead, or rename them."
            ),
            params=(value,),
        )
    what = "id" if match_by == "id" else match_by.replace("_", " ")
    return ErrorDetail(
        path=path,
        code="media_not_found",
        message=(
            f"No media with the {what} {value!r} has a task in this project; use a media of a dataset "
            "connected to the project" + (" (its id, as internal_media_ID)." if match_by == "id" else ".")
        ),
        params=(),
    )


# --- checking items ---------------------------------------------------------------------------


@dataclass(slots=True)
class CheckedItem:
    """One item after the schema, the configuration and the media were checked."""

    index: int
    annotation: MediaAnnotation | None
    task_id: UUID | None
    errors: list[ErrorDetail] = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        """Names no media (DataGym skips such items silently)."""
        return self.annotation is None and not self.errors

    @property
    def writable(self) -> bool:
        return self.annotation is not None and self.task_id is not None and not self.errors


def items_check(
    raw_items: Iterable[RawItem],
    *,
    fmt: ImportFormat,
    config: LabelConfigIndex,
    matcher: MediaMatcher,
    check_schema: bool = True,
    chunk_size: int | None = None,
    options: dict[str, Any] | None = None,
) -> Iterator[CheckedItem]:
    """Check items chunk by chunk; every item comes out once, in order, with all its errors."""
    iterator = iter(raw_items)
    chunk_size = chunk_size or CHECK_CHUNK
    while chunk := list(islice(iterator, chunk_size)):
        checked: list[tuple[CheckedItem, MediaRef | None]] = []
        for raw in chunk:
            if check_schema:
                errors = fmt.item_schema.errors(raw.data, prefix=(raw.index,))
                if errors:
                    checked.append((CheckedItem(raw.index, None, None, errors), None))
                    continue
            converted = fmt.convert_item(raw.data, config, index=raw.index, match_by=matcher.match_by, options=options)
            checked.append((CheckedItem(raw.index, converted.annotation, None, converted.errors), converted.reference))
        del chunk
        values = {media_reference_value(ref, matcher.match_by) for _, ref in checked if ref is not None}
        tasks = matcher.resolve(values) if values else {}
        for item, ref in checked:
            if ref is not None:
                value = media_reference_value(ref, matcher.match_by)
                outcome = tasks.get(value)
                if outcome is None or outcome == _AMBIGUOUS:
                    path = f"/{item.index}/internal_media_ID"
                    item.errors.insert(
                        0, _media_error(path, value, outcome if isinstance(outcome, str) else None, matcher.match_by)
                    )
                    item.annotation = None
                elif isinstance(outcome, UUID):
                    item.task_id = outcome
            yield item


def top_level_errors(fmt: ImportFormat, count: int) -> list[ErrorDetail]:
    """Errors of the array itself (DataGym: at least one item), from the reference schema."""
    if fmt.schema is None:
        return []
    array_rules = {k: fmt.schema[k] for k in ("type", "minItems", "maxItems") if k in fmt.schema}
    sample: list[None] = [None] * min(count, 1)
    found = [] if count > 1 else list(Draft7Validator(array_rules).iter_errors(sample))
    details = [schema_error_detail(error) for error in found]
    return [
        ErrorDetail(path=d.path, code=d.code, message=f"{d.message}. The file needs at least one item.", params=())
        for d in details
    ]


def shape_count(shapes: list[Shape]) -> int:
    return sum(1 + shape_count(shape.children) for shape in shapes)


def _count_classes(shapes: list[Shape], counts: Counter[str]) -> None:
    for shape in shapes:
        counts[shape.key] += 1
        _count_classes(shape.children, counts)


# --- the job's phases -------------------------------------------------------------------------


class JobStopped(Exception):
    """The job was cancelled (or taken over) between two chunks."""


class _ErrorSink:
    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.total = 0
        self.kept = ImportJobError.objects.filter(job=job).count()
        self.pending: list[ImportJobError] = []

    def add(self, index: int | None, detail: ErrorDetail) -> None:
        self.total += 1
        if self.kept + len(self.pending) < ERRORS_KEPT:
            self.pending.append(
                ImportJobError(
                    job=self.job,
                    item_index=index,
                    location=detail.path[:512],
                    code=detail.code[:64],
                    message=detail.message,
                )
            )

    def flush(self) -> None:
        if self.pending:
            ImportJobError.objects.bulk_create(self.pending, batch_size=1000)
            self.kept += len(self.pending)
            self.pending = []


@dataclass
class ValidationReport:
    items: int = 0
    items_invalid: int = 0
    items_skipped: int = 0
    labels: int = 0
    errors: int = 0
    classes: Counter[str] = field(default_factory=Counter)


def _still_running(job_id: UUID, status: str) -> None:
    row = ImportJob.objects.filter(pk=job_id).values_list("status", "cancel_requested").first()
    if row is None or row[0] != status or row[1]:
        raise JobStopped


#: Young container objects (alive or cyclic garbage) tolerated before `gc_batch_done` collects.
#: A batch in flight holds about 150,000-350,000 of them; the pipeline itself makes no cycles.
GC_YOUNG_LIMIT = 600_000


@contextlib.contextmanager
def gc_relaxed() -> Iterator[None]:
    """No automatic cyclic collection while a phase streams (measured: it doubled the time of
    conversion); what lives long is frozen out of the collector's sight, and the few cycles
    that other code may make are collected by `gc_batch_done` once they add up."""
    enabled = gc.isenabled()
    # Only the young generations: a full collection walks the whole worker (Django, Celery,
    # ~100 MB) and cost ~0.15 s per chunk task; the old generation is left to the usual
    # collector between tasks.
    gc.collect(1)
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()


def gc_batch_done() -> None:
    """Collect cycles once the young objects pass `GC_YOUNG_LIMIT`, so memory stays bounded.

    Not after every batch: a full collection walks every object of the batches in flight
    (0.1-0.5 s each, measured: a fifth of a job's CPU), and the pipeline's own objects die
    by reference counting (no closures over themselves, no tracebacks kept)."""
    if not gc.isenabled() and gc.get_count()[0] > GC_YOUNG_LIMIT:
        gc.collect()


def _validate_items(
    items: Iterable[CheckedItem],
    *,
    report: ValidationReport,
    sink: _ErrorSink,
    on_progress: Callable[[int], None],
    task_ids: set[bytes] | None = None,
) -> None:
    for item in items:
        report.items += 1
        if item.errors:
            report.items_invalid += 1
            for detail in item.errors:
                sink.add(item.index, detail)
        elif item.skipped:
            report.items_skipped += 1
        elif item.annotation is not None:
            report.labels += shape_count(item.annotation.shapes)
            _count_classes(item.annotation.shapes, report.classes)
            if task_ids is not None and item.task_id is not None:
                task_ids.add(item.task_id.bytes)
        if report.items % CHECK_CHUNK == 0:
            sink.flush()
            on_progress(report.items)
            gc_batch_done()


def job_validate_file(
    *,
    job: ImportJob,
    fmt: ImportFormat,
    config: LabelConfigIndex,
    open_file: Callable[[], Any],
) -> ValidationReport:
    """Check every item of the job's file; store errors and progress; write no label."""
    ImportJobError.objects.filter(job=job).delete()
    sink = _ErrorSink(job)
    report = ValidationReport()
    matcher = MediaMatcher(project_id=job.project_id, match_by=job.options.get("match_by", "id"))

    def progress(done: int) -> None:
        _progress(job.pk, items_validated=done)
        _still_running(job.pk, ImportStatus.VALIDATING)

    with open_file() as file, gc_relaxed():
        raw_items = fmt.read(file)
        try:
            checked = items_check(raw_items, fmt=fmt, config=config, matcher=matcher)
            _validate_items(checked, report=report, sink=sink, on_progress=progress)
        except FileError as exc:
            sink.add(None, exc.detail)
        else:
            for detail in top_level_errors(fmt, report.items):
                sink.add(None, detail)
    sink.flush()
    report.errors = sink.total
    return report


# --- chunks: a large file validated and written by several workers at once ---------------------


def _span(chunk: ImportChunk) -> Span:
    return Span(
        byte_start=chunk.byte_start, byte_end=chunk.byte_end, item_start=chunk.item_start, item_count=chunk.item_count
    )


def job_chunks_plan(*, job: ImportJob, fmt: ImportFormat, open_file: Callable[[], Any], every: int) -> int:
    """Split the job's file into chunks of `every` items (rows of ImportChunk); 0 when it stays whole."""
    if fmt.split is None or fmt.read_span is None:
        return 0
    with open_file() as file:
        spans = fmt.split(file, every=every)
    if not spans or len(spans) < 2:
        return 0
    ImportChunk.objects.bulk_create(
        [
            ImportChunk(
                job=job,
                number=number,
                byte_start=span.byte_start,
                byte_end=span.byte_end,
                item_start=span.item_start,
                item_count=span.item_count,
            )
            for number, span in enumerate(spans)
        ]
    )
    return len(spans)


def chunk_validate_file(
    *,
    job: ImportJob,
    chunk: ImportChunk,
    fmt: ImportFormat,
    config: LabelConfigIndex,
    open_file: Callable[[], Any],
) -> tuple[ValidationReport, bytes]:
    """Check the items of one chunk; store its errors; add its progress to the job's.

    Returns the report and the chunk's task ids (sorted, 16 bytes each). Raises `FileError`
    when the chunk cannot be parsed alone.
    """
    assert fmt.read_span is not None
    last = chunk.item_start + chunk.item_count
    ImportJobError.objects.filter(job=job, item_index__gte=chunk.item_start, item_index__lt=last).delete()
    sink = _ErrorSink(job)
    report = ValidationReport()
    matcher = MediaMatcher(project_id=job.project_id, match_by=job.options.get("match_by", "id"))
    task_ids: set[bytes] = set()
    reported = 0

    def progress(done: int) -> None:
        nonlocal reported
        _chunk_progress(job.pk, chunk.pk, items_validated=done, added=done - reported)
        reported = done

    with open_file() as file, gc_relaxed():
        checked = items_check(fmt.read_span(file, _span(chunk)), fmt=fmt, config=config, matcher=matcher)
        _validate_items(checked, report=report, sink=sink, on_progress=progress, task_ids=task_ids)
    sink.flush()
    progress(report.items)
    report.errors = sink.total
    return report, b"".join(sorted(task_ids))


def _chunk_progress(job_id: UUID, chunk_id: int, *, items_validated: int, added: int) -> None:
    now = timezone.now()
    ImportChunk.objects.filter(pk=chunk_id).update(items_validated=items_validated, heartbeat_at=now)
    ImportJob.objects.filter(pk=job_id).update(items_validated=F("items_validated") + added, heartbeat_at=now)
    _still_running(job_id, ImportStatus.VALIDATING)


def _task_ids(blob: bytes) -> Iterator[bytes]:
    return (blob[i : i + 16] for i in range(0, len(blob), 16))


def chunks_share_tasks(blobs: Iterable[bytes]) -> bool:
    """Whether two chunks name the same task (then they are written one after the other, in order)."""
    streams = [_task_ids(blob) for blob in blobs]
    previous = None
    for task_id in heapq.merge(*streams):
        if task_id == previous:
            return True
        previous = task_id
    return False


def chunk_write_file(
    *,
    job: ImportJob,
    chunk: ImportChunk,
    fmt: ImportFormat,
    config: LabelConfigIndex,
    open_file: Callable[[], Any],
) -> WriteOutcome:
    """Write one chunk in batches after its checkpoint; the batches are keyed by (job, batch)."""
    assert fmt.read_span is not None
    skip_invalid = bool(job.options.get("skip_invalid"))
    matcher = MediaMatcher(project_id=job.project_id, match_by=job.options.get("match_by", "id"))
    outcome = WriteOutcome()
    with open_file() as file, gc_relaxed():
        raw_items = fmt.read_span(file, _span(chunk))
        checked = items_check(raw_items, fmt=fmt, config=config, matcher=matcher, check_schema=skip_invalid)
        for number, batch in _batches(checked):
            outcome.batches += 1
            if number <= chunk.checkpoint:
                continue
            writable = [(item.task_id, item.annotation) for item in batch if item.writable]
            skipped = len(batch) - len(writable)
            written = _write_batch(job, number, writable, items=len(writable), skipped=skipped, chunk=chunk)
            gc_batch_done()
            outcome.labels += written
            outcome.items += len(writable)
            outcome.skipped += skipped
    return outcome


def _progress(job_id: UUID, **fields: Any) -> None:
    ImportJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now(), **fields)


@dataclass
class WriteOutcome:
    batches: int = 0
    labels: int = 0
    items: int = 0
    skipped: int = 0
    errors: int = 0


def _batches(items: Iterable[CheckedItem]) -> Iterator[tuple[int, list[CheckedItem]]]:
    """Group items into numbered write batches; the same file gives the same batches."""
    number, batch, labels = 0, [], 0
    for item in items:
        batch.append(item)
        if item.annotation is not None:
            labels += shape_count(item.annotation.shapes)
        if labels >= WRITE_BATCH_LABELS or len(batch) >= WRITE_BATCH_ITEMS:
            yield number, batch
            number, batch, labels = number + 1, [], 0
    if batch:
        yield number, batch


def job_write_file(
    *,
    job: ImportJob,
    fmt: ImportFormat,
    config: LabelConfigIndex,
    open_file: Callable[[], Any],
) -> WriteOutcome:
    """Write the job's file in batches after its checkpoint; each batch once, with progress.

    With `skip_invalid` the items are checked again (same functions, same answers) and the
    invalid ones skipped; otherwise validation proved every item valid and only the
    configuration and the media are resolved again.
    """
    skip_invalid = bool(job.options.get("skip_invalid"))
    matcher = MediaMatcher(project_id=job.project_id, match_by=job.options.get("match_by", "id"))
    outcome = WriteOutcome()
    sink = _ErrorSink(job) if not skip_invalid else None
    with open_file() as file:
        checked = items_check(
            fmt.items(file, options=job.options),
            fmt=fmt,
            config=config,
            matcher=matcher,
            check_schema=skip_invalid,
            options=job.options,
        )
        for number, batch in _batches(checked):
            outcome.batches += 1
            if number <= job.checkpoint:
                continue  # written by an earlier run of this job
            writable = [(item.task_id, item.annotation) for item in batch if item.writable]
            skipped = len(batch) - len(writable)
            if sink is not None:
                for item in batch:
                    for detail in item.errors:
                        sink.add(item.index, detail)
                sink.flush()
            written = _write_batch(job, number, writable, items=len(writable), skipped=skipped)
            gc_batch_done()
            outcome.labels += written
            outcome.items += len(writable)
            outcome.skipped += skipped
    if sink is not None:
        outcome.errors = sink.total
    return outcome


def _write_batch(
    job: ImportJob,
    number: int,
    writable: list[tuple[Any, Any]],
    *,
    items: int,
    skipped: int,
    chunk: ImportChunk | None = None,
) -> int:
    """One batch in one transaction, with the checkpoint that says it is written.

    Without chunks the job row is the lock and its checkpoint the batch number; a chunk's
    batch locks the chunk row only (other chunks write at the same time) and adds its counts
    to the job's with F() updates.
    """
    with transaction.atomic():
        if chunk is None:
            status, checkpoint, cancel_requested = (
                ImportJob.objects.select_for_update()
                .filter(pk=job.pk)
                .values_list("status", "checkpoint", "cancel_requested")
                .get()
            )
        else:
            chunk_status, checkpoint = (
                ImportChunk.objects.select_for_update().filter(pk=chunk.pk).values_list("status", "checkpoint").get()
            )
            status, cancel_requested = (
                ImportJob.objects.filter(pk=job.pk).values_list("status", "cancel_requested").get()
            )
            if chunk_status != ChunkStatus.WRITING:
                raise JobStopped
        if status != ImportStatus.WRITING or cancel_requested:
            raise JobStopped
        if number <= checkpoint:
            return 0  # another worker wrote it meanwhile
        batch_key = number if chunk is None else chunk.number * CHUNK_BATCH_STRIDE + number
        result = labels_write_batch(items=writable, import_job_id=job.pk, import_batch=batch_key)
        now = timezone.now()
        if chunk is not None:
            ImportChunk.objects.filter(pk=chunk.pk).update(
                checkpoint=number,
                labels_written=F("labels_written") + result.labels,
                items_written=F("items_written") + items,
                heartbeat_at=now,
            )
        ImportJob.objects.filter(pk=job.pk).update(
            checkpoint=number if chunk is None else F("checkpoint") + 1,
            labels_written=F("labels_written") + result.labels,
            items_written=F("items_written") + items,
            items_skipped=F("items_skipped") + skipped,
            heartbeat_at=now,
        )
    if chunk is None:
        job.checkpoint = number
    else:
        chunk.checkpoint = number
    return result.labels
