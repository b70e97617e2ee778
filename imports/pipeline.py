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
import hashlib
import heapq
import os
import struct
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any
from uuid import UUID

import orjson
from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from jsonschema import Draft7Validator

from formats.jsonsplit import Span
from formats.media_rows import MediaRow, duplicate_global_key, media_row_errors
from formats.reading import (
    Converted,
    FileError,
    ImportFormat,
    MediaScale,
    RawItem,
    SizeCheck,
    corners_to_rectangle,
    item_plain,
    pointer,
    schema_error_detail,
)
from imports.media_create import (
    GlobalKeyChecker,
    PlannedMediaTaken,
    media_planned_ids,
    media_rows_create,
    media_rows_create_planned,
    media_rows_dataset,
    media_rows_dataset_errors,
    planned_index,
    planned_record,
)
from imports.models import ChunkStatus, ImportChunk, ImportJob, ImportJobError, ImportStatus
from labeling.annotation import MediaAnnotation, MediaRef, Shape
from labeling.models import Task
from labeling.selectors import task_media_matches
from labeling.services import (
    LabelBatchWritten,
    StagedLabelBatch,
    bulk_write_settings,
    label_statistics_refresh,
    labels_batch_stage,
    labels_write_batch,
    labels_write_staged,
    tasks_answers_new,
)
from labelsite.errors import ErrorDetail
from projects.label_config import LabelConfigIndex, label_config_entries_missing, label_config_hold
from projects.models import Dataset, Project

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

MATCH_BY_FIELDS = {
    "id": "id",
    "name": "name",
    "external_id": "external_id",
    "global_key": "global_key",
    # The media's name without its extension (YOLO names an image by its label file's stem).
    "stem": "name",
}


# --- media matching ---------------------------------------------------------------------------


#: Between the kind and the value of a reference an item gives instead of the job's `match_by`.
_KIND_SEPARATOR = "\x1f"
#: The kinds an item's own reference is tried in (`ImportFormat.match_by_item`).
_ITEM_REFERENCE_ORDER = ("external_id", "id", "global_key", "name")


def media_reference_value(reference: MediaRef, match_by: str, *, by_item: bool = False) -> str:
    """The value the matcher looks up: the reference's `match_by` field; with `by_item`, when it
    has none, `<kind>\x1f<value>` of the first field it has."""
    values = {
        "id": reference.media_id,
        "name": reference.name,
        "external_id": reference.external_id,
        "global_key": reference.global_key,
        "stem": reference.name,
    }
    if values[match_by] or not by_item:
        return values[match_by] or ""
    for kind in _ITEM_REFERENCE_ORDER:
        if values[kind]:
            return f"{kind}{_KIND_SEPARATOR}{values[kind]}"
    return ""


def _reference_kind(value: str, match_by: str) -> tuple[str, str]:
    """(kind, value) of a looked-up value (`media_reference_value`)."""
    kind, separator, rest = value.partition(_KIND_SEPARATOR)
    return (kind, rest) if separator else (match_by, value)


_AMBIGUOUS = "ambiguous"
#: References looked up per query. With PostgreSQL's default costs, 1,000 ids made the planner
#: scan the whole media table for each query (20-40 ms per 1,000 items at 100,000 media);
#: 250 keep it on the two indexes (2.3 ms per 250).
MEDIA_LOOKUP_BATCH = 250


class MediaMatcher:
    """Finds the task of each referenced media in the project, a chunk of references at a time."""

    def __init__(self, *, project_id: UUID, match_by: str = "id") -> None:
        if match_by not in MATCH_BY_FIELDS:
            raise ValueError(f"unknown match_by {match_by!r}")
        self.project_id = project_id
        self.match_by = match_by
        self._known: dict[str, UUID | str | None] = {}
        #: (width, height) of the media of each matched task, where stored.
        self.sizes: dict[UUID, tuple[int, int]] = {}

    def resolve(self, values: Iterable[str]) -> dict[str, UUID | str | None]:
        """Task id per reference value; None when no media matches, "ambiguous" for several."""
        wanted = set(values)
        missing = [v for v in wanted if v not in self._known]
        if missing:
            if len(self._known) + len(missing) > MEDIA_CACHE_SIZE:
                self._known.clear()
                self.sizes.clear()
            self._known.update(self._lookup(missing))
        return {v: self._known[v] for v in wanted}

    def remember(self, value: str, task_id: UUID) -> None:
        """A media created by this job: later items that name it find its task."""
        self._known[value] = task_id

    def _lookup(self, values: list[str]) -> dict[str, UUID | str | None]:
        found: dict[str, UUID | str | None] = dict.fromkeys(values)
        by_kind: dict[str, list[str]] = {}
        for value in values:
            kind, plain = _reference_kind(value, self.match_by)
            by_kind.setdefault(kind, []).append(plain)
        for kind, plain_values in by_kind.items():
            if kind == "stem":  # only ever the job's own match_by: its values carry no prefix
                self._lookup_stems(plain_values, found)
                continue
            prefix = "" if kind == self.match_by else f"{kind}{_KIND_SEPARATOR}"
            self._lookup_kind(kind, plain_values, prefix, found)
        return found

    def _lookup_kind(self, kind: str, values: list[str], prefix: str, found: dict[str, UUID | str | None]) -> None:
        lookup_values: list[Any] = values
        if kind == "id":
            parsed = {}
            for value in values:
                try:
                    parsed[uuid.UUID(value)] = value
                except ValueError:
                    continue
            lookup_values = list(parsed)
        field_name = f"media__{MATCH_BY_FIELDS[kind]}"
        for start in range(0, len(lookup_values), MEDIA_LOOKUP_BATCH):
            batch = lookup_values[start : start + MEDIA_LOOKUP_BATCH]
            rows: Iterable[tuple[Any, UUID, Any, Any]]
            if connection.vendor == "postgresql":
                rows = task_media_matches(project_id=self.project_id, field=MATCH_BY_FIELDS[kind], values=batch)
            else:
                rows = Task.objects.filter(
                    project_id=self.project_id, media__deleted_at__isnull=True, **{f"{field_name}__in": batch}
                ).values_list(field_name, "id", "media__width", "media__height")
            for media_value, task_id, width, height in rows:
                key = f"{prefix}{media_value}"
                found[key] = _AMBIGUOUS if found.get(key) is not None else task_id
                if width and height:
                    self.sizes[task_id] = (width, height)

    def _lookup_stems(self, values: list[str], found: dict[str, UUID | str | None]) -> dict[str, UUID | str | None]:
        """Media whose name is the stem, or the stem and an extension (`img_001` finds `img_001.jpg`)."""
        for start in range(0, len(values), MEDIA_LOOKUP_BATCH):
            batch = values[start : start + MEDIA_LOOKUP_BATCH]
            wanted = Q(media__name__in=batch)
            for value in batch:
                wanted |= Q(media__name__startswith=f"{value}.")
            rows = Task.objects.filter(wanted, project_id=self.project_id, media__deleted_at__isnull=True).values_list(
                "media__name", "id", "media__width", "media__height"
            )
            for name, task_id, width, height in rows:
                for key in {str(name), str(name).rsplit(".", 1)[0]} & set(batch):
                    found[key] = _AMBIGUOUS if found.get(key) is not None else task_id
                if width and height:
                    self.sizes[task_id] = (width, height)
        return found


def _media_error(path: str, value: str, outcome: UUID | str | None, match_by: str) -> ErrorDetail:
    match_by, value = _reference_kind(value, match_by)
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
    if not value:
        return ErrorDetail(
            path=path,
            code="media_reference_missing",
            message=(
                f"The item does not name its media by {what}, which this import matches by; choose how the "
                "file names its media under “Match media by” (the option match_by: id, name, external_id or "
                "global_key)."
            ),
            params=(),
        )
    return ErrorDetail(
        path=path,
        code="media_not_found",
        message=(
            f"No media with the {what} {value!r} has a task in this project; use a media of a dataset "
            "connected to the project" + (" (its id, as internal_media_ID)." if match_by == "id" else ".")
        ),
        params=(),
    )


# --- media created by an import ---------------------------------------------------------------


class MediaCreation:
    """The media a job may create: items of a `creates_media` format whose media does not
    exist (no match, or the format names none) carry a `MediaRow`.

    Validation checks each row (URL, global key rules) and the global keys of the whole
    file against each other and the organisation (one query per chunk); the write phase
    creates the rows of a batch in bulk, inside the batch's transaction, before its labels.
    Built once per job phase: it remembers the global keys seen, so such a job is never
    split into chunks (two workers could not see each other's keys).
    """

    def __init__(self, *, project: Project, dataset_id: Any = None) -> None:
        self.project = project
        self.dataset_id = dataset_id
        self.checker = GlobalKeyChecker(organization_id=project.organization_id)
        self._dataset: Dataset | None = None

    @classmethod
    def for_job(cls, job: ImportJob, fmt: ImportFormat) -> MediaCreation | None:
        if not fmt.creates_media or job.options.get("create_media") is False:
            return None
        return cls(project=job.project, dataset_id=job.options.get("dataset_id"))

    def setup_errors(self) -> list[ErrorDetail]:
        return media_rows_dataset_errors(project=self.project, dataset_id=self.dataset_id)

    def check(self, rows: list[MediaRow]) -> list[list[ErrorDetail]]:
        """The errors of each row: its own, then a global key repeated in the file or taken."""
        found = [media_row_errors(row) for row in rows]
        clean = [position for position, errors in enumerate(found) if not errors]
        duplicates = self.checker.check([rows[position] for position in clean])
        for position, error in duplicates.items():
            found[clean[position]].append(error)
        return found

    def dataset(self) -> Dataset:
        if self._dataset is None:
            self._dataset = media_rows_dataset(project=self.project, dataset_id=self.dataset_id)
        return self._dataset


# --- checking items ---------------------------------------------------------------------------


@dataclass(slots=True)
class CheckedItem:
    """One item after the schema, the configuration and the media were checked."""

    index: int
    annotation: MediaAnnotation | None
    task_id: UUID | None
    errors: list[ErrorDetail] = field(default_factory=list)
    #: The media to create before the item's labels are written (no media matched).
    new_media: MediaRow | None = None
    #: The value the item's media is matched by (remembered once its new media exists).
    reference_value: str | None = None
    #: The id its new media will have, planned while a staged chunk is validated (its `task_id`
    #: is then the planned task's: `imports.media_create.media_planned_ids`).
    planned_media_id: UUID | None = None

    @property
    def skipped(self) -> bool:
        """Names no media (DataGym skips such items silently)."""
        return self.annotation is None and not self.errors

    @property
    def writable(self) -> bool:
        """Valid, and its task is known or will be once its new media is created."""
        return (
            self.annotation is not None and (self.task_id is not None or self.new_media is not None) and not self.errors
        )


def items_check(
    raw_items: Iterable[RawItem],
    *,
    fmt: ImportFormat,
    config: LabelConfigIndex,
    matcher: MediaMatcher,
    check_schema: bool = True,
    chunk_size: int | None = None,
    options: dict[str, Any] | None = None,
    creation: MediaCreation | None = None,
) -> Iterator[CheckedItem]:
    """Check items chunk by chunk; every item comes out once, in order, with all its errors.

    With `creation`, an item whose media does not exist (or that names none) but carries a
    `new_media` row is valid when the row is: it comes out with `new_media` set."""
    iterator = iter(raw_items)
    chunk_size = chunk_size or CHECK_CHUNK
    while chunk := list(islice(iterator, chunk_size)):
        checked: list[tuple[CheckedItem, Converted | None, MediaRow | None]] = []
        rows = {raw.index: raw for raw in chunk if _is_row(raw)} if _TEXT_KINDS.issuperset(fmt.file_kinds) else {}
        for raw in chunk:
            # The format's fast path checks the schema as it converts; the items it leaves get both steps.
            converted = fmt.convert_item_checked(
                raw.data, config, index=raw.index, match_by=matcher.match_by, options=options
            )
            if converted is None:
                data = item_plain(raw.data)
                if check_schema:
                    errors = fmt.item_schema.errors(data, prefix=(raw.index,))
                    if errors:
                        checked.append((CheckedItem(raw.index, None, None, errors), None, None))
                        continue
                converted = fmt.convert_item(data, config, index=raw.index, match_by=matcher.match_by, options=options)
            row = converted.new_media if creation is not None else None
            checked.append((CheckedItem(raw.index, converted.annotation, None, list(converted.errors)), converted, row))
        del chunk
        # Each item's looked-up value, made once (None: the item names no media).
        looked_up = [
            media_reference_value(c.reference, matcher.match_by, by_item=fmt.match_by_item)
            if c is not None and c.reference is not None
            else None
            for _, c, _ in checked
        ]
        values = {value for value in looked_up if value is not None}
        tasks = matcher.resolve(values) if values else {}
        fallbacks = {
            media_reference_value(c.fallback_reference, matcher.match_by, by_item=fmt.match_by_item)
            for (_, c, _), value in zip(checked, looked_up, strict=True)
            if c is not None and value is not None and c.fallback_reference is not None
            if tasks.get(value) is None
        }
        if fallbacks:
            tasks = {**matcher.resolve(fallbacks), **{k: v for k, v in tasks.items() if v is not None}}
        to_create: list[tuple[CheckedItem, MediaRow]] = []
        for (item, found, row), looked in zip(checked, looked_up, strict=True):
            if found is not None and looked is not None:
                value = looked
                if tasks.get(value) is None and found.fallback_reference is not None:
                    fallback = media_reference_value(
                        found.fallback_reference, matcher.match_by, by_item=fmt.match_by_item
                    )
                    value = fallback or value
                item.reference_value = value
                outcome = tasks.get(value)
                if isinstance(outcome, UUID):
                    item.task_id = outcome
                    size = matcher.sizes.get(outcome)
                    size_error = _size_error(found.size_check, size) or _media_scale(found.media_scale, size)
                    if size_error is not None:
                        item.errors.append(size_error)
                        item.annotation = None
                elif outcome is None and row is not None:
                    item.new_media = row
                else:
                    path = (
                        found.reference_path
                        or getattr(found.new_media, "location", None)
                        or f"/{item.index}/internal_media_ID"
                    )
                    item.errors.insert(
                        0, _media_error(path, value, outcome if isinstance(outcome, str) else None, matcher.match_by)
                    )
                    item.annotation = None
            elif row is not None:
                item.new_media = row
            if item.new_media is not None and found is not None:
                # A media to create has only the size the item gives (the image is not fetched).
                size = (row.width, row.height) if row is not None and row.width and row.height else None
                size_error = _media_scale(found.media_scale, size)
                if size_error is not None:
                    item.errors.append(size_error)
                    item.annotation = None
            if item.new_media is not None and not item.errors:
                to_create.append((item, item.new_media))
        if creation is not None and to_create:
            problems = creation.check([new for _, new in to_create])
            for (item, _), errors in zip(to_create, problems, strict=True):
                if errors:
                    item.errors.extend(errors)
                    item.annotation = None
        for item, _, _ in checked:
            if item.index in rows and item.errors:
                item.errors = [_at_row(detail, rows[item.index]) for detail in item.errors]
            yield item


#: File kinds whose items are lines or rows of cells (not JSON): their errors name lines.
_TEXT_KINDS = frozenset({"txt", "csv", "tsv"})


def _is_row(raw: RawItem) -> bool:
    """An item that is a line or row of a text file (TXT, CSV): flat text cells, placed by line."""
    return (
        not raw.location.startswith(("/", "#"))
        and isinstance(raw.data, dict)
        and all(isinstance(value, str) for value in raw.data.values())
    )


def _at_row(detail: ErrorDetail, raw: RawItem) -> ErrorDetail:
    """An error of a line or row placed by its line ("line 3", "line 3, column image"), not by a
    JSON pointer into a JSON the person never wrote ("/2/image")."""
    own = pointer(raw.index)
    if detail.path != own and not detail.path.startswith(own + "/"):
        return detail
    rest = detail.path[len(own) + 1 :].split("/", 1)[0] if detail.path != own else ""
    place = f"{raw.location}, column {rest}" if rest and len(raw.data) > 1 else raw.location
    return ErrorDetail(path=place, code=detail.code, message=detail.message, params=detail.params)


def _media_scale(scale: MediaScale | None, size: tuple[int, int] | None) -> ErrorDetail | None:
    """Percent points to pixels with the media's stored size; an error when it has none."""
    if scale is None:
        return None
    if size is None:
        return ErrorDetail(
            path=scale.path,
            code="missing_original_size",
            message="The region's coordinates are percentages and neither the result (original_width, "
            "original_height) nor the image gives its size in pixels (an import does not fetch images, and this "
            "one has no stored size); add original_width and original_height to the result.",
        )
    sx, sy = size[0] / 100.0, size[1] / 100.0
    for shape in scale.shapes:
        shape.points = _scaled(shape.points, sx, sy)
    for shape, place in scale.corner_boxes:
        problem = corners_to_rectangle(shape)
        if problem is not None:
            return ErrorDetail(path=place, code="not_a_rectangle", message=problem)
    return None


def _scaled(points: Any, sx: float, sy: float) -> Any:
    """Every [x, y] of a nested point list multiplied by (sx, sy)."""
    if points and isinstance(points[0], int | float):
        return [points[0] * sx, points[1] * sy, *points[2:]]
    return [_scaled(part, sx, sy) for part in points]


def _size_error(check: SizeCheck | None, size: tuple[int, int] | None) -> ErrorDetail | None:
    """The item's pixels assume another image size than the media's (unknown sizes pass)."""
    if check is None or size is None or (check.width, check.height) == size:
        return None
    return ErrorDetail(
        path=check.path,
        code="size_mismatch",
        message=f"{check.subject} is {check.width}x{check.height} pixels but the image is {size[0]}x{size[1]}; "
        "it must have the image's size.",
    )


def batch_items(fmt: ImportFormat, options: dict[str, Any] | None) -> int | None:
    """Items per check chunk and write batch when the format lets the job choose (else None)."""
    if fmt.batch_option is None or not options or not options.get(fmt.batch_option):
        return None
    return max(1, min(int(options[fmt.batch_option]), WRITE_BATCH_ITEMS))


def top_level_errors(fmt: ImportFormat, count: int) -> list[ErrorDetail]:
    """Errors of the array itself (DataGym: at least one item), from the reference schema."""
    if fmt.schema is None:
        return []
    array_rules = {k: fmt.schema[k] for k in ("type", "minItems", "maxItems") if k in fmt.schema}
    sample: list[None] = [None] * min(count, 1)
    found = [] if count > 1 else list(Draft7Validator(array_rules).iter_errors(sample))
    details = [schema_error_detail(error) for error in found]
    return [
        ErrorDetail(path=d.path, code=d.code, message=f"{d.message} The file needs at least one item.", params=())
        for d in details
    ]


def shape_count(shapes: list[Shape]) -> int:
    # A loop that recurses only into the few shapes with children: a third of the time of a
    # sum over a generator (run twice per item, for every item of a job).
    count = len(shapes)
    for shape in shapes:
        if shape.children:
            count += shape_count(shape.children)
    return count


def _count_classes(shapes: list[Shape], counts: Counter[str], entries: dict[str, str]) -> None:
    for shape in shapes:
        counts[shape.key] += 1
        if shape.entry_id is not None:
            entries[shape.entry_id] = shape.key
        if shape.children:
            _count_classes(shape.children, counts, entries)


def job_classes_gone(job: ImportJob, entry_ids: Collection[str] = ()) -> bool:
    """Whether the project's configuration lost a class the job's validation found (its labels
    written so far went with it) or one of `entry_ids` (those a batch resolved again); a job
    validated before the classes were recorded counts any change."""
    recorded = job.summary.get("entries")
    if recorded is None:
        return True
    return bool(label_config_entries_missing(project_id=job.project_id, entry_ids={*recorded, *entry_ids}))


def _entry_ids(items: Iterable[CheckedItem]) -> set[str]:
    """The classes (entry ids) the shapes of these items are written with."""
    found: set[str] = set()
    pending = [shape for item in items if item.annotation is not None for shape in item.annotation.shapes]
    while pending:
        shape = pending.pop()
        if shape.entry_id is not None:
            found.add(shape.entry_id)
        pending.extend(shape.children)
    return found


# --- the job's phases -------------------------------------------------------------------------


class JobStopped(Exception):
    """The job was cancelled (or taken over) between two chunks."""


class ConfigurationChanged(Exception):
    """The project's label configuration lost a class the job writes with (or is gone)."""


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
    #: The classes the valid items use: entry id -> key. The write checks that they still exist.
    entries: dict[str, str] = field(default_factory=dict)
    #: Valid items that create (or, by URL, reuse) a media of the target dataset.
    media_new: int = 0


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
    keys: list[tuple[bytes, int, str, str]] | None = None,
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
            new = item.new_media
            if new is not None:
                report.media_new += 1
                if task_ids is not None and item.task_id is None and not new.global_key:
                    task_ids.add(new_media_task(new.url))
                if keys is not None and new.global_key:
                    keys.append((_key_digest(new.global_key), item.index, new.global_key, new.global_key_place()))
            report.labels += shape_count(item.annotation.shapes)
            _count_classes(item.annotation.shapes, report.classes, report.entries)
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
    creation = MediaCreation.for_job(job, fmt)
    if creation is not None:
        for detail in creation.setup_errors():
            sink.add(None, detail)
        if sink.pending:
            sink.flush()
            report.errors = sink.total
            return report

    def progress(done: int) -> None:
        _progress(job.pk, items_validated=done)
        _still_running(job.pk, ImportStatus.VALIDATING)

    with open_file() as file, gc_relaxed():
        # The job's options reach the reader and the converter here as in the write phase.
        raw_items = fmt.items(file, options=job.options)
        try:
            checked = items_check(
                raw_items,
                fmt=fmt,
                config=config,
                matcher=matcher,
                options=job.options,
                chunk_size=batch_items(fmt, job.options),
                creation=creation,
            )
            _validate_items(checked, report=report, sink=sink, on_progress=progress)
        except FileError as exc:
            for detail in exc.details:
                sink.add(None, detail)
        else:
            for detail in top_level_errors(fmt, report.items):
                sink.add(None, detail)
    sink.flush()
    report.errors = sink.total
    return report


# --- chunks: a large file validated and written by several workers at once ---------------------


def _span(chunk: ImportChunk) -> Span:
    return Span(
        byte_start=chunk.byte_start,
        byte_end=chunk.byte_end,
        item_start=chunk.item_start,
        item_count=chunk.item_count,
        part_starts=tuple(chunk.part_starts),
        line_start=chunk.line_start,
    )


def job_chunks_plan(*, job: ImportJob, fmt: ImportFormat, open_file: Callable[[], Any], every: int) -> int:
    """Split the job's file into chunks of `every` items (rows of ImportChunk); 0 when it stays whole."""
    if fmt.split is None or fmt.read_span is None or job.summary.get("whole_file"):
        return 0
    creation = MediaCreation.for_job(job, fmt)
    if creation is not None and creation.setup_errors():
        return 0  # the whole file's validation reports them, before reading an item
    with open_file() as file:
        spans = fmt.split(file, every=every, options=job.options)
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
                part_starts=list(span.part_starts),
                line_start=span.line_start,
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
    storage: Storage | None = None,
) -> ChunkValidated:
    """Check the items of one chunk; store its errors; add its progress to the job's.

    With a `storage`, the chunk's write batches are staged on the way
    (`ChunkStager`): the write phase then copies them without reading the file again. A media
    an item creates gets its ids now (`media_planned_ids`, the same in every chunk for one URL
    or key) and is staged with the batch; the write creates it with them before the labels.
    Raises `FileError` when the chunk cannot be parsed alone.

    The media a chunk asks for are checked as a job without chunks checks them: each row's
    own rules, its global key against the organisation's media and the chunk's earlier rows.
    Keys that two chunks repeat are found when the job's chunks are all validated
    (`chunks_key_repeats`), from the keys each chunk records.
    """
    assert fmt.read_span is not None
    last = chunk.item_start + chunk.item_count
    ImportJobError.objects.filter(job=job, item_index__gte=chunk.item_start, item_index__lt=last).delete()
    sink = _ErrorSink(job)
    report = ValidationReport()
    matcher = MediaMatcher(project_id=job.project_id, match_by=job.options.get("match_by", "id"))
    creation = MediaCreation.for_job(job, fmt)
    task_ids: set[bytes] = set()
    keys: list[tuple[bytes, int, str, str]] = []
    reported = 0

    def progress(done: int) -> None:
        nonlocal reported
        _chunk_progress(job.pk, chunk.pk, items_validated=done, added=done - reported)
        reported = done

    stager = ChunkStager(job=job, chunk=chunk) if storage is not None else None
    with open_file() as file, gc_relaxed(), contextlib.ExitStack() as stack:
        if stager is not None:
            stack.callback(stager.close)
        checked = items_check(
            fmt.read_span(file, _span(chunk), options=job.options),
            fmt=fmt,
            config=config,
            matcher=matcher,
            options=job.options,
            creation=creation,
        )
        if stager is not None:
            checked = stager.staging(stager.planning(checked) if creation is not None else checked)
        _validate_items(checked, report=report, sink=sink, on_progress=progress, task_ids=task_ids, keys=keys)
        sink.flush()
        progress(report.items)
        if stager is not None and storage is not None:
            stager.save(storage)
    report.errors = sink.total
    return ChunkValidated(report, b"".join(sorted(task_ids)), global_keys_record(keys))


@dataclass(frozen=True)
class ChunkValidated:
    report: ValidationReport
    #: The chunk's tasks, sorted, 16 bytes each; a media it creates by URL counts as the task
    #: of that URL (`new_media_task`), so that chunks creating one URL write in file order.
    task_ids: bytes
    #: The global keys of the media it creates (`global_keys_record`).
    global_keys: bytes


def new_media_task(url: str) -> bytes:
    """The 16 bytes that stand for the task of a media an import creates from `url`."""
    return hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=16, person=b"new-media-url").digest()


_KEY_HEAD = struct.Struct("<8siHH")  # digest of the lower-case key, item index, key length, place length


def global_keys_record(keys: list[tuple[bytes, int, str, str]]) -> bytes:
    """(digest, item index, key, place) records, sorted by digest and index, as bytes."""
    parts = []
    for digest, index, key, place in sorted(keys):
        key_bytes, place_bytes = key.encode("utf-8", "surrogatepass"), place.encode("utf-8", "surrogatepass")
        parts.append(_KEY_HEAD.pack(digest, index, len(key_bytes), len(place_bytes)) + key_bytes + place_bytes)
    return b"".join(parts)


def _key_records(blob: bytes) -> Iterator[tuple[bytes, int, str, str]]:
    offset = 0
    while offset < len(blob):
        digest, index, key_length, place_length = _KEY_HEAD.unpack_from(blob, offset)
        offset += _KEY_HEAD.size
        key = blob[offset : offset + key_length].decode("utf-8", "surrogatepass")
        offset += key_length
        place = blob[offset : offset + place_length].decode("utf-8", "surrogatepass")
        offset += place_length
        yield digest, index, key, place


def _key_digest(key: str) -> bytes:
    return hashlib.blake2b(key.lower().encode("utf-8", "surrogatepass"), digest_size=8).digest()


def chunks_key_repeats_report(*, job: ImportJob, blobs: list[bytes], report: ValidationReport) -> None:
    """Store an error for each media whose global key an earlier item of another chunk has, and
    count its item invalid (`blobs`: the chunks' `global_keys`)."""
    if len(blobs) < 2:
        return
    sink = _ErrorSink(job)
    for index, detail in chunks_key_repeats(blobs):
        sink.add(index, detail)
        report.items_invalid += 1
        report.media_new -= 1
    sink.flush()
    report.errors += sink.total


def chunks_key_repeats(blobs: Iterable[bytes]) -> Iterator[tuple[int, ErrorDetail]]:
    """(item index, error) of each media a chunk creates with a global key that an earlier item of
    another chunk has too (the first in the file keeps it, as in a job without chunks)."""
    previous: tuple[bytes, str] | None = None
    for digest, index, key, place in heapq.merge(*(_key_records(blob) for blob in blobs)):
        current = (digest, key.lower())
        if current == previous:
            yield index, duplicate_global_key(place, key)
        previous = current


# --- staging: validated write batches kept in storage until the write phase ---------------------

_ENDED = (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.CANCELLED)
#: Batch number, items, items skipped, header length, COPY data length, media length.
_RECORD_HEAD = struct.Struct("<iiiIII")


def _media_record(item: CheckedItem) -> list[Any]:
    """A new media of a staged batch: its planned ids, the item's index and the row, as JSON
    (`imports.media_create.PLANNED_FIELDS`)."""
    assert item.new_media is not None
    assert item.planned_media_id is not None
    assert item.task_id is not None
    return planned_record(item.planned_media_id, item.task_id, item.index, item.new_media)


def staged_dir(job_id: UUID) -> str:
    return f"imports/staged/{job_id}"


def staged_name(job_id: UUID, number: int) -> str:
    # `v2`: label JSON in json's binary form (`labeling 0016`). A chunk staged before, with
    # jsonb's, is not found under this name: its write reads the chunk from the file again.
    return f"{staged_dir(job_id)}/{number:06d}.v2.stage"


class ChunkStager:
    """The write batches of one chunk, built while it is validated (label ids reserved, rows
    encoded for COPY, or for SQLite's prepared INSERT) and kept in a temporary file, then saved
    to storage with the chunk.

    The batches are those the write phase would make from the file (`_batches`); with
    all-or-nothing, staging stops at the first invalid item, since the job will not be
    written. Nothing is visible: the rows only reach the label table in the write phase.
    """

    def __init__(self, *, job: ImportJob, chunk: ImportChunk) -> None:
        self.job_id = job.pk
        self.chunk_number = chunk.number
        self.skip_invalid = bool(job.options.get("skip_invalid"))
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close(); gone if the worker dies
        self.useful = True

    def planning(self, items: Iterable[CheckedItem]) -> Iterator[CheckedItem]:
        """Give each valid item that creates a media the media and task ids the job plans for it,
        so that its labels can be staged; the write creates the media with them."""
        for item in items:
            if item.new_media is not None and item.task_id is None and not item.errors:
                item.planned_media_id, item.task_id = media_planned_ids(self.job_id, item.new_media)
            yield item

    def staging(self, items: Iterable[CheckedItem]) -> Iterator[CheckedItem]:
        """Pass the items through, staging them in batches."""
        writable: list[tuple[Any, Any]] = []
        media: list[list[Any]] = []
        number = count = labels = 0
        for item in items:
            yield item
            if not self.useful:
                continue
            if item.errors and not self.skip_invalid:
                self.useful = False
                continue
            count += 1
            if item.writable:
                writable.append((item.task_id, item.annotation))
                labels += shape_count(item.annotation.shapes)  # type: ignore[union-attr]
                if item.planned_media_id is not None and item.new_media is not None:
                    media.append(_media_record(item))
            if labels >= WRITE_BATCH_LABELS or count >= WRITE_BATCH_ITEMS:
                self._stage(number, writable, count, media)
                number, writable, count, labels, media = number + 1, [], 0, 0, []
        if count and self.useful:
            self._stage(number, writable, count, media)

    def _stage(self, number: int, writable: list[tuple[Any, Any]], count: int, media: list[list[Any]]) -> None:
        batch = labels_batch_stage(
            items=writable, import_job_id=self.job_id, import_batch=_batch_key(self.chunk_number, number)
        )
        header = batch.header()
        media_data = orjson.dumps(media) if media else b""
        self.file.write(
            _RECORD_HEAD.pack(
                number, len(writable), count - len(writable), len(header), len(batch.copy_data), len(media_data)
            )
        )
        self.file.write(header)
        self.file.write(batch.copy_data)
        self.file.write(media_data)
        gc_batch_done()

    def save(self, storage: Storage) -> None:
        if not self.useful:
            return
        name = staged_name(self.job_id, self.chunk_number)
        if storage.exists(name):  # an earlier attempt at this chunk
            storage.delete(name)
        self.file.seek(0)
        saved = storage.save(name, File(self.file, name=name))
        if saved != name:  # never expected: another attempt saved meanwhile
            storage.delete(saved)
            raise JobStopped
        if ImportJob.objects.filter(pk=self.job_id, status__in=_ENDED).exists():
            # The job ended (cancel, failure) after the last check: its staged files were removed.
            storage.delete(saved)
            raise JobStopped

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True)
class StagedRecord:
    number: int
    items: int
    skipped: int
    batch: StagedLabelBatch | None  # None when skipped over (written before)
    #: The media the batch creates (their planned ids, `imports.media_create.PLANNED_FIELDS`), before its labels.
    media: list[list[Any]] = field(default_factory=list)


def staged_records(file: Any, *, after: int = -1) -> Iterator[StagedRecord]:
    """The staged batches of a chunk in order; those numbered up to `after` are not decoded."""
    while head := file.read(_RECORD_HEAD.size):
        number, items, skipped, header_length, data_length, media_length = _RECORD_HEAD.unpack(head)
        if number <= after:
            file.seek(header_length + data_length + media_length, 1)
            yield StagedRecord(number, items, skipped, None)
            continue
        header = file.read(header_length)
        data = file.read(data_length)
        media = orjson.loads(file.read(media_length)) if media_length else []
        yield StagedRecord(number, items, skipped, StagedLabelBatch.from_parts(header, data), media)


def staged_remove(storage: Storage, job_id: UUID) -> None:
    """Delete what the job staged (after success, failure or cancel); safe to call any time."""
    directory = staged_dir(job_id)
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        _, files = storage.listdir(directory)
        for name in files:
            storage.delete(f"{directory}/{name}")
        with contextlib.suppress(NotImplementedError, OSError):
            os.rmdir(storage.path(directory))


def staging_storage(job: ImportJob) -> Storage | None:
    """Where a job's chunks are staged (with its file). On both databases: the workers stage in
    parallel what the write phase then only inserts (SQLite's writes take turns on one lock, so
    staging its rows moves the conversion out of that one-writer phase)."""
    return job.file.storage


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
    storage: Storage | None = None,
) -> WriteOutcome:
    """Write one chunk in batches after its checkpoint; the batches are keyed by (job, batch).

    From the batches staged during validation when `storage` holds them; otherwise the
    chunk is read and converted again."""
    name = staged_name(job.pk, chunk.number)
    creation = MediaCreation.for_job(job, fmt)
    skip_invalid = bool(job.options.get("skip_invalid"))
    # Items found invalid when the chunks were validated: a global key another chunk repeats is
    # known only then, not to the chunk's own check.
    invalid: set[int] = (
        set(
            ImportJobError.objects.filter(
                job=job, item_index__gte=chunk.item_start, item_index__lt=chunk.item_start + chunk.item_count
            )
            .exclude(item_index=None)
            .values_list("item_index", flat=True)  # type: ignore[arg-type]
        )
        if skip_invalid and creation is not None
        else set()
    )
    if storage is not None and storage.exists(name):
        try:
            return _chunk_write_staged(
                job=job, chunk=chunk, open_staged=lambda: storage.open(name, "rb"), creation=creation, invalid=invalid
            )
        except PlannedMediaTaken:
            pass  # a media made since validation holds a URL or key: read the rest of the chunk again
    assert fmt.read_span is not None
    matcher = MediaMatcher(project_id=job.project_id, match_by=job.options.get("match_by", "id"))
    sink = _ErrorSink(job)
    outcome = WriteOutcome()
    with open_file() as file, gc_relaxed():
        raw_items = fmt.read_span(file, _span(chunk), options=job.options)
        checked = items_check(
            raw_items,
            fmt=fmt,
            config=config,
            matcher=matcher,
            check_schema=skip_invalid,
            options=job.options,
            creation=creation,
        )
        for number, batch in _batches(checked):
            outcome.batches += 1
            if number <= chunk.checkpoint:
                continue
            for item in batch:
                if item.index in invalid:
                    item.annotation, item.new_media = None, None
            key = _batch_key(chunk.number, number)
            media_counts: Counter[str] = Counter()
            written, items = _write_batch(
                job,
                number,
                lambda batch=batch, key=key, media_counts=media_counts: _write_items(  # type: ignore[misc]
                    job, key, batch, creation=creation, matcher=matcher, sink=sink, media_counts=media_counts
                ),
                chunk=chunk,
                entry_ids=_entry_ids(item for item in batch if item.writable),
                media_counts=media_counts,
            )
            gc_batch_done()
            outcome.labels += written
            outcome.items += items
            outcome.skipped += len(batch) - items
    return outcome


def _chunk_write_staged(
    *,
    job: ImportJob,
    chunk: ImportChunk,
    open_staged: Callable[[], Any],
    creation: MediaCreation | None = None,
    invalid: Collection[int] = (),
) -> WriteOutcome:
    """Write a chunk's staged batches, each after the media it creates. Raises `PlannedMediaTaken`
    (its batch rolled back) when a planned media is not there to be made as planned, or one of
    its items was found invalid after it was staged (`invalid`: a key another chunk repeats)."""
    outcome = WriteOutcome()
    with open_staged() as file:
        for record in staged_records(file, after=chunk.checkpoint):
            outcome.batches += 1
            staged = record.batch
            if staged is None:
                continue
            key = _batch_key(chunk.number, record.number)
            media_counts: Counter[str] = Counter()

            def write(
                staged: StagedLabelBatch = staged, key: int = key, record: StagedRecord = record,
                media_counts: Counter[str] = media_counts,
            ) -> tuple[LabelBatchWritten, int, int]:  # fmt: skip
                if any(planned_index(planned) in invalid for planned in record.media):
                    raise PlannedMediaTaken
                fresh: set[UUID] = set()
                if record.media and creation is not None:
                    counts, fresh = media_rows_create_planned(
                        project=creation.project,
                        dataset=creation.dataset(),
                        records=record.media,
                        answers=tasks_answers_new(staged.tasks),
                        # The job's first batch asks for fresh statistics; its end asks again.
                        statistics=chunk.number == 0 and record.number == 0,
                    )
                    media_counts.update(counts)
                return (
                    labels_write_staged(batch=staged, import_job_id=job.pk, import_batch=key, fresh=fresh),
                    record.items,
                    record.skipped,
                )

            written, items = _write_batch(job, record.number, write, chunk=chunk, media_counts=media_counts)
            outcome.labels += written
            outcome.items += items
            outcome.skipped += record.skipped
    return outcome


def chunk_write_lock(job_id: UUID, number: int, *, wait: bool) -> bool:
    """Take, for the rest of the transaction, the lock of the writer of a chunk's batches
    (PostgreSQL; elsewhere writers are serialised anyway): with `wait`, wait for it; without,
    answer whether it was free. A key of the job's id and the chunk's number (two jobs that share
    a key only wait for each other)."""
    if connection.vendor != "postgresql":
        return True
    key = int.from_bytes(job_id.bytes[:4], "big", signed=True)
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [key, number])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [key, number])
        return bool(cursor.fetchone()[0])


def _batch_key(chunk_number: int, number: int) -> int:
    return chunk_number * CHUNK_BATCH_STRIDE + number


def _progress(job_id: UUID, **fields: Any) -> None:
    ImportJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now(), **fields)


@dataclass
class WriteOutcome:
    batches: int = 0
    labels: int = 0
    items: int = 0
    skipped: int = 0
    errors: int = 0


def _batches(items: Iterable[CheckedItem], max_items: int | None = None) -> Iterator[tuple[int, list[CheckedItem]]]:
    """Group items into numbered write batches; the same file gives the same batches."""
    number, batch, labels = 0, [], 0
    max_items = max_items or WRITE_BATCH_ITEMS
    for item in items:
        batch.append(item)
        if item.annotation is not None:
            labels += shape_count(item.annotation.shapes)
        if labels >= WRITE_BATCH_LABELS or len(batch) >= max_items:
            yield number, batch
            number, batch, labels = number + 1, [], 0
    if batch:
        yield number, batch


def write_batches(items: Iterable[CheckedItem]) -> Iterator[list[CheckedItem]]:
    """The items in the write batches of the job's writer (`LABELSITE_IMPORT_WRITE_BATCH_LABELS`
    labels or `WRITE_BATCH_ITEMS` items each): one short transaction per batch."""
    for _, batch in _batches(items):
        yield batch


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
    configuration and the media are resolved again. Media that items ask for are created
    in the batch's transaction (`MediaCreation`); a row refused then (its global key was
    taken since validation) is skipped and its error stored.
    """
    skip_invalid = bool(job.options.get("skip_invalid"))
    matcher = MediaMatcher(project_id=job.project_id, match_by=job.options.get("match_by", "id"))
    creation = MediaCreation.for_job(job, fmt)
    outcome = WriteOutcome()
    sink = _ErrorSink(job)
    # Items that validation found invalid (skipped now) have their errors stored already; an
    # error found only now (a global key taken since, a changed media) is stored too.
    reported = (
        set(ImportJobError.objects.filter(job=job, item_index__isnull=False).values_list("item_index", flat=True))
        if skip_invalid
        else set()
    )
    with open_file() as file:
        checked = items_check(
            fmt.items(file, options=job.options),
            fmt=fmt,
            config=config,
            matcher=matcher,
            check_schema=skip_invalid,
            options=job.options,
            chunk_size=batch_items(fmt, job.options),
            creation=creation,
        )
        for number, batch in _batches(checked, batch_items(fmt, job.options)):
            outcome.batches += 1
            if number <= job.checkpoint:
                continue  # written by an earlier run of this job
            for item in batch:
                if item.errors and item.index not in reported:
                    for detail in item.errors:
                        sink.add(item.index, detail)
            sink.flush()
            media_counts: Counter[str] = Counter()
            written, items = _write_batch(
                job,
                number,
                lambda batch=batch, number=number, media_counts=media_counts: _write_items(  # type: ignore[misc]
                    job, number, batch, creation=creation, matcher=matcher, sink=sink, media_counts=media_counts
                ),
                entry_ids=_entry_ids(item for item in batch if item.writable),
                media_counts=media_counts,
            )
            gc_batch_done()
            outcome.labels += written
            outcome.items += items
            outcome.skipped += len(batch) - items
    outcome.errors = sink.total
    return outcome


def _write_items(
    job: ImportJob,
    number: int,
    batch: list[CheckedItem],
    *,
    creation: MediaCreation | None,
    matcher: MediaMatcher,
    sink: _ErrorSink,
    media_counts: Counter[str],
) -> tuple[LabelBatchWritten, int, int]:
    """A batch: its new media first (a refused row is skipped), then its labels."""
    if creation is not None:
        media_counts.update(_media_create(batch, creation=creation, matcher=matcher, sink=sink))
    writable = [(item.task_id, item.annotation) for item in batch if item.writable and item.task_id is not None]
    result = labels_write_batch(items=writable, import_job_id=job.pk, import_batch=number)  # type: ignore[arg-type]
    return result, len(writable), len(batch) - len(writable)


def _media_create(
    batch: list[CheckedItem], *, creation: MediaCreation, matcher: MediaMatcher, sink: _ErrorSink
) -> Counter[str]:
    """Create the batch's new media (in the caller's transaction) and give their items a task;
    answers how many were created, found by URL and refused."""
    pending = [item for item in batch if item.writable and item.task_id is None and item.new_media is not None]
    if not pending:
        return Counter()
    outcomes = media_rows_create(
        project=creation.project,
        dataset=creation.dataset(),
        rows=[item.new_media for item in pending],  # type: ignore[misc]
    )
    created = reused = failed = 0
    for item, result in zip(pending, outcomes, strict=True):
        if result.errors:
            failed += 1
            item.errors.extend(result.errors)
            for detail in result.errors:
                sink.add(item.index, detail)
            continue
        created += result.created
        reused += not result.created
        item.task_id = result.task_id
        if item.reference_value:
            matcher.remember(item.reference_value, result.task_id)
    sink.flush()
    return Counter(media_created=created, media_reused=reused, media_failed=failed)


def _write_batch(
    job: ImportJob,
    number: int,
    write: Callable[[], tuple[LabelBatchWritten, int, int]],
    *,
    chunk: ImportChunk | None = None,
    entry_ids: Collection[str] = (),
    media_counts: Counter[str] | None = None,
) -> tuple[int, int]:
    """One batch in one transaction, with the checkpoint that says it is written; returns
    (labels written, items written). `write` writes the batch in that transaction and says
    what it wrote: (labels, items written, items skipped). `entry_ids` are the classes a
    batch resolved again writes with (a staged batch's are those the validation found).

    Without chunks the job row is the lock and its checkpoint the batch number; a chunk's
    batch locks the chunk row only (other chunks write at the same time) and adds its counts
    to the job's with F() updates. New media (jobs without chunks only) are created first.
    """
    with transaction.atomic():
        bulk_write_settings()
        if chunk is not None:
            # A worker that wrote the chunk while it was validated (`imports.prewrite`) holds this
            # lock until it commits or rolls back: then the checkpoint below says what it wrote.
            chunk_write_lock(job.pk, chunk.number, wait=True)
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
            return 0, 0  # another worker wrote it meanwhile
        # The classes the batch names exist until it commits: a configuration change that
        # deletes entries waits. One saved since validation stops the job only if it took a
        # class the batch writes with (a class added, a title changed do not).
        stamp = label_config_hold(project_id=job.project_id)
        if stamp is None or (
            stamp.isoformat() != job.summary.get("config_updated_at") and job_classes_gone(job, entry_ids)
        ):
            raise ConfigurationChanged
        result, items, skipped = write()
        now = timezone.now()
        if chunk is not None:
            ImportChunk.objects.filter(pk=chunk.pk).update(
                checkpoint=number,
                labels_written=F("labels_written") + result.labels,
                items_written=F("items_written") + items,
                heartbeat_at=now,
            )
        written = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.WRITING).update(
            checkpoint=number if chunk is None else F("checkpoint") + 1,
            labels_written=F("labels_written") + result.labels,
            items_written=F("items_written") + items,
            items_skipped=F("items_skipped") + skipped,
            heartbeat_at=now,
        )
        if not written:
            # Another chunk's worker failed the job meanwhile (and removed what it had written,
            # see `_fail_configuration_changed`): this batch goes too. PostgreSQL re-reads the
            # row this UPDATE waited for, so a batch that commits after that removal is none.
            raise JobStopped
        if media_counts is not None and (media_counts["media_created"] or media_counts["media_reused"] or
                                         media_counts["media_failed"]):  # fmt: skip
            # The media counts in the job's summary, added while the UPDATE above holds the
            # job row: the other chunks' batches add theirs one after the other.
            summary = ImportJob.objects.values_list("summary", flat=True).get(pk=job.pk)
            for name in ("media_created", "media_reused", "media_failed"):
                summary[name] = summary.get(name, 0) + media_counts[name]
            ImportJob.objects.filter(pk=job.pk).update(summary=summary)
    if number == 0 and (chunk is None or chunk.number == 0):
        # The job's first batch, committed: a table that was empty or small has grown a lot
        # and keeps growing. Fresh statistics keep the labeling page's reads on the right
        # plan while the import runs (ANALYZE's estimates then scale with the table's size).
        # The task table keeps its size: it is analyzed when the job ends.
        label_statistics_refresh(tasks=False)
    if chunk is None:
        job.checkpoint = number
    else:
        chunk.checkpoint = number
    return result.labels, items
