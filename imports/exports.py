"""Exports: read a project's labels in chunks, hand them to a format's writer, stream or store the result.

- `ExportReader` is what every writer reads: the configuration once, then the tasks that
  pass the filters in chunks of `CHUNK_SIZE` (keyset paging on the task id), each chunk's
  labels with one query, as rows (`rows()`, for the fast writers) or turned into the
  canonical label model (`chunks()`). Nothing holds more than a chunk, so memory stays
  flat however large the project is.
- `export_write` writes a whole export; a large one in a format that can be split (DataGym
  JSON, COCO) is written by forked processes, one per core, each a slice of the task ids,
  then joined (see `export_write_parallel`).
- `export_stream` runs a writer lazily and yields the bytes it wrote after each chunk, for
  a `StreamingHttpResponse` (small exports download at once).
- `export_job_create` / `export_job_run`: a large export runs in a worker (`queued ->
  running -> succeeded | failed`), writes to a temporary file, then to the default storage
  (local or S3), recording progress after each chunk.

Who may export: an admin or a reviewer of the project's organisation who may see the
project; anyone else who may see it gets PermissionDenied, everyone else NotFound.
"""

from __future__ import annotations

import gc
import logging
import os
import select
import signal
import tempfile
from collections import defaultdict
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import IO, Any
from uuid import UUID

import orjson
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import slugify

from imports.formats import export_format_get
from imports.formats.export_base import ExportConfig, ExportFormat, ExportItem, LabelRow, PartStart, TaskRows
from imports.models import ExportJob, ExportStatus
from labeling.annotation import MediaAnnotation, MediaRef, Shape, answers_from_json
from labeling.models import Label, LabelSource, Task, TaskState
from labelsite.errors import Conflict, ErrorDetail, NotFound, PermissionDenied, ValidationFailed
from projects.models import Dataset, LabelEntry, Project, Role
from projects.selectors import AnyUser, project_get_for_user, user_role

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2000
#: Label rows taken from the cursor at a time.
FETCH_ROWS = 5000
#: A format that can be split is written by several processes from this many tasks per process.
PARALLEL_MIN_TASKS = 20_000
#: The collector's first threshold while an export runs (700 by default), see `gc_relaxed`.
GC_THRESHOLD = 50_000
#: Finished tasks, as DataGym exports them.
DEFAULT_STATES: tuple[str, ...] = (TaskState.COMPLETED, TaskState.SKIPPED, TaskState.REVIEWED)
#: Above this many tasks a direct download is refused: start an export job instead.
STREAM_MAX_TASKS = 20_000
#: A running job without a heartbeat for this long is taken to be dead and may be claimed again.
STALE_AFTER = timedelta(minutes=5)
EXPORT_ROLES = (Role.ADMIN, Role.REVIEWER)
EMPTY_OBJECT = "{}"


# --- filters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFilters:
    """Which tasks and labels go into an export."""

    states: tuple[str, ...] = DEFAULT_STATES
    dataset_ids: tuple[UUID, ...] = ()
    #: Tasks updated at or after / before this moment.
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    include_predictions: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "states": list(self.states),
            "datasets": [str(pk) for pk in self.dataset_ids],
            "updated_from": self.updated_from.isoformat() if self.updated_from else None,
            "updated_to": self.updated_to.isoformat() if self.updated_to else None,
            "include_predictions": self.include_predictions,
        }


def export_filters_clean(*, project: Project, raw: dict[str, Any] | None) -> ExportFilters:
    """Filters from a request (or a stored job), checked; every problem is reported, with its path.

    `states` (default completed, skipped, reviewed), `datasets` (ids of datasets connected to
    the project; default all), `updated_from` / `updated_to` (ISO dates or date-times; a date
    alone as `updated_to` includes that whole day), `include_predictions` (default false).
    """
    raw = raw or {}
    errors: list[ErrorDetail] = []
    if not isinstance(raw, dict):
        raise ValidationFailed(code="invalid", message="filters must be an object.")
    unknown = sorted(set(raw) - {"states", "datasets", "updated_from", "updated_to", "include_predictions"})
    errors.extend(
        ErrorDetail(path=name, code="unknown_filter", message=f"Unknown filter {name!r}.") for name in unknown
    )

    states = raw.get("states")
    if states is None:
        cleaned_states = DEFAULT_STATES
    elif not isinstance(states, list) or not all(isinstance(s, str) for s in states) or not states:
        errors.append(ErrorDetail(path="states", code="invalid", message="states is a non-empty list of task states."))
        cleaned_states = DEFAULT_STATES
    else:
        bad = [s for s in states if s not in TaskState.values]
        errors.extend(
            ErrorDetail(
                path="states", code="invalid_choice", message=f"{s!r} is not a task state; use {TaskState.values}."
            )
            for s in bad
        )
        cleaned_states = tuple(dict.fromkeys(states))

    dataset_ids: tuple[UUID, ...] = ()
    datasets = raw.get("datasets")
    if datasets:
        if not isinstance(datasets, list):
            errors.append(ErrorDetail(path="datasets", code="invalid", message="datasets is a list of dataset ids."))
        else:
            parsed: list[tuple[int, UUID]] = []
            for index, value in enumerate(datasets):
                try:
                    parsed.append((index, UUID(str(value))))
                except ValueError:
                    errors.append(ErrorDetail(path=f"datasets/{index}", code="invalid", message="Not a dataset id."))
            connected = set(
                Dataset.objects.filter(
                    projects=project, pk__in=[pk for _, pk in parsed], deleted_at__isnull=True
                ).values_list("pk", flat=True)
            )
            for index, pk in parsed:
                if pk not in connected:
                    errors.append(
                        ErrorDetail(
                            path=f"datasets/{index}",
                            code="not_found",
                            message=f"Dataset {pk} is not connected to this project.",
                        )
                    )
            dataset_ids = tuple(dict.fromkeys(pk for _, pk in parsed))

    updated_from = _moment(raw.get("updated_from"), "updated_from", errors, end_of_day=False)
    updated_to = _moment(raw.get("updated_to"), "updated_to", errors, end_of_day=True)
    if updated_from and updated_to and updated_from > updated_to:
        errors.append(ErrorDetail(path="updated_to", code="invalid", message="updated_to is before updated_from."))

    include_predictions = raw.get("include_predictions", False)
    if not isinstance(include_predictions, bool):
        errors.append(
            ErrorDetail(path="include_predictions", code="invalid", message="include_predictions is true or false.")
        )
        include_predictions = False
    if errors:
        raise ValidationFailed(code="invalid", message="The export filters are not valid.", details=errors)
    return ExportFilters(
        states=cleaned_states,
        dataset_ids=dataset_ids,
        updated_from=updated_from,
        updated_to=updated_to,
        include_predictions=include_predictions,
    )


def _moment(value: Any, path: str, errors: list[ErrorDetail], *, end_of_day: bool) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            day = parse_date(value)
            moment = None if day is not None else parse_datetime(value)
        except ValueError:
            day = moment = None
        if day is not None:
            moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time.min)
        if moment is not None:
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, timezone.get_current_timezone())
            return moment
    errors.append(ErrorDetail(path=path, code="invalid", message=f"{path} is an ISO date or date-time."))
    return None


# --- reading -----------------------------------------------------------------------------------


@dataclass
class ExportReader:
    """An `ExportSource` over the database (see `imports.formats.export_base`)."""

    project: Project
    filters: ExportFilters = field(default_factory=ExportFilters)
    api_url: str = ""
    chunk_size: int = CHUNK_SIZE
    #: Called after each chunk with the number of tasks read so far.
    on_chunk: Callable[[int], None] | None = None
    #: Only the tasks with an id after / up to these (a slice of the export written by one process).
    pk_after: Any = None
    pk_upto: Any = None
    config: ExportConfig = field(init=False)
    _entry_ids: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        entries = LabelEntry.objects.filter(configuration__project=self.project).order_by(
            "position", "created_at", "id"
        )
        self.config = ExportConfig(entries=list(entries))
        self._entry_ids = {str(entry.id): str(entry.id) for entry in self.config.entries}

    @property
    def include_predictions(self) -> bool:
        return self.filters.include_predictions

    def tasks(self) -> QuerySet[Task]:
        filters = self.filters
        tasks = Task.objects.filter(
            project=self.project, state__in=list(filters.states), media__deleted_at__isnull=True
        )
        if filters.dataset_ids:
            tasks = tasks.filter(media__dataset_id__in=list(filters.dataset_ids))
        if filters.updated_from is not None:
            tasks = tasks.filter(updated_at__gte=filters.updated_from)
        if filters.updated_to is not None:
            tasks = tasks.filter(updated_at__lt=filters.updated_to)
        if self.pk_after is not None:
            tasks = tasks.filter(pk__gt=self.pk_after)
        if self.pk_upto is not None:
            tasks = tasks.filter(pk__lte=self.pk_upto)
        return tasks

    def labels(self) -> QuerySet[Label]:
        """The labels that go into the export (of the tasks that do)."""
        labels = Label.objects.filter(task__in=self.tasks())
        if not self.filters.include_predictions:
            labels = labels.filter(~Q(source=LabelSource.PREDICTION))
        return labels

    def has_items(self) -> bool:
        return self.tasks().exists()

    def count(self) -> int:
        return self.tasks().count()

    def chunks(self) -> Iterator[list[ExportItem]]:
        for chunk in self.rows():
            yield [_item(task, self.config) for task in chunk]

    def rows(self) -> Iterator[list[TaskRows]]:
        tasks = self.tasks().order_by("pk")
        # Each task's labels are put in id order here: a sort in the database spilled to disk.
        labels = Label.objects.order_by()
        if not self.filters.include_predictions:
            labels = labels.filter(~Q(source=LabelSource.PREDICTION))
        last_pk = None
        done = 0
        loads = orjson.loads
        while True:
            page = tasks if last_pk is None else tasks.filter(pk__gt=last_pk)
            rows = list(
                page.annotate(id_text=Cast("id", TextField()), answers_json=Cast("answers", TextField())).values_list(
                    "id",
                    "id_text",
                    "media_id",
                    "media__name",
                    "media__url",
                    "media__file",
                    "media__width",
                    "media__height",
                    "media__external_id",
                    "media__global_key",
                    "state",
                    "assignee_id",
                    "updated_at",
                    "answers_json",
                )[: self.chunk_size]
            )
            if not rows:
                return
            by_task = self._labels([row[0] for row in rows], labels)  # keyed by the task id as text
            chunk = [
                TaskRows(
                    task_id=task_id,
                    media_id=media_id,
                    media_name=name,
                    media_url=url or (_file_url(file) if file else ""),
                    width=width,
                    height=height,
                    external_id=external_id,
                    global_key=global_key,
                    state=state,
                    assignee_id=assignee_id,
                    updated_at=updated_at,
                    answers=loads(answers) if answers and answers != EMPTY_OBJECT else None,
                    labels=by_task.get(task_text, []),
                )
                for (
                    task_id,
                    task_text,
                    media_id,
                    name,
                    url,
                    file,
                    width,
                    height,
                    external_id,
                    global_key,
                    state,
                    assignee_id,
                    updated_at,
                    answers,
                ) in rows
            ]
            yield chunk
            done += len(chunk)
            if self.on_chunk is not None:
                self.on_chunk(done)
            last_pk = rows[-1][0]

    def _labels(self, task_ids: list[Any], labels: QuerySet[Label]) -> dict[str, list[LabelRow]]:
        """The labels of each task (of entries in the configuration) in id order, from one query."""
        # The statement of the ORM on the bare cursor, JSON as text decoded by orjson: Django's
        # row handling and json.loads per value were most of the time otherwise.
        query = (
            labels.filter(task_id__in=task_ids)
            .annotate(
                task_text=Cast("task_id", TextField()),
                entry_text=Cast("entry_id", TextField()),
                points_json=Cast("points", TextField()),
                answers_json=Cast("answers", TextField()),
            )
            .values_list(
                "id",
                "task_text",
                "entry_text",
                "parent_id",
                "points_json",
                "answers_json",
                "source",
                "score",
                "model_version",
                "valid",
            )
        )
        sql, params = query.query.sql_with_params()
        by_id = self.config.by_id
        entry_ids = self._entry_ids
        loads = orjson.loads
        new_row = tuple.__new__
        found: dict[str, list[LabelRow]] = defaultdict(list)
        with connections[query.db].cursor() as cursor:
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(FETCH_ROWS):
                for label_id, task_id, entry_id, parent_id, points, answers, source, score, version, valid in batch:
                    entry_text = entry_ids.get(entry_id)
                    if entry_text is None:
                        if entry_id not in by_id:
                            continue
                        entry_text = entry_ids[entry_id] = str(by_id[entry_id].id)
                    # tuple.__new__ skips the named tuple's own __new__ (Python code run a million times).
                    found[task_id].append(
                        new_row(
                            LabelRow,
                            (
                                label_id,
                                entry_text,
                                parent_id,
                                loads(points) if points else [],
                                loads(answers) if answers and answers != EMPTY_OBJECT else None,
                                source,
                                score,
                                version,
                                bool(valid),
                            ),
                        )
                    )
        for task_labels in found.values():
            task_labels.sort()
        return found


def _item(task: TaskRows, config: ExportConfig) -> ExportItem:
    """A task in the canonical model (the general path every writer can read)."""
    by_id = config.by_id
    roots: list[Shape] = []
    shapes: dict[int, Shape] = {}
    orphans: list[tuple[int, Shape]] = []
    for row in task.labels:
        entry = by_id[row.entry_id]
        shape = Shape(
            key=entry.key,
            type=entry.type,
            points=row.points,
            answers=answers_from_json(row.answers) if row.answers else [],
            source=row.source,
            score=row.score,
            model_version=row.model_version,
            valid=row.valid,
            entry_id=row.entry_id,
        )
        shapes[row.id] = shape
        if row.parent_id is None:
            roots.append(shape)
        elif row.parent_id in shapes:
            shapes[row.parent_id].children.append(shape)
        else:
            orphans.append((row.parent_id, shape))
    for parent_id, shape in orphans:
        # A parent left out (a prediction when predictions are not exported): the child stands alone.
        parent = shapes.get(parent_id)
        (parent.children if parent is not None else roots).append(shape)
    return ExportItem(
        task_id=task.task_id,
        media_id=task.media_id,
        media_name=task.media_name,
        media_url=task.media_url,
        width=task.width,
        height=task.height,
        external_id=task.external_id,
        global_key=task.global_key,
        state=task.state,
        assignee_id=task.assignee_id,
        updated_at=task.updated_at,
        annotation=MediaAnnotation(
            media=MediaRef(media_id=str(task.media_id)),
            answers=answers_from_json(task.answers) if task.answers else [],
            shapes=roots,
        ),
    )


def _file_url(name: str) -> str:
    try:
        return str(default_storage.url(name))
    except Exception:
        return name


# --- who may export ------------------------------------------------------------------------------


def export_project_get(*, user: AnyUser, project_id: UUID | str) -> Project:
    """The project if the user may export it (admin or reviewer); NotFound or PermissionDenied otherwise."""
    project = project_get_for_user(user=user, project_id=project_id)
    if user_role(user=user, organization=project.organization_id) not in EXPORT_ROLES:
        raise PermissionDenied(code="permission_denied", message="Only admins and reviewers may export a project.")
    return project


def export_job_get(*, user: AnyUser, job_id: UUID | str) -> ExportJob:
    """The job if the user may export its project; NotFound or PermissionDenied otherwise."""
    not_found = NotFound(code="not_found", message="No such export.", params=("ExportJob", "id", str(job_id)))
    try:
        pk = job_id if isinstance(job_id, UUID) else UUID(str(job_id))
    except ValueError:
        raise not_found from None
    job = ExportJob.objects.select_related("created_by").filter(pk=pk).first()
    if job is None:
        raise not_found
    try:
        job.project = export_project_get(user=user, project_id=job.project_id)
    except NotFound:
        raise not_found from None
    return job


def export_job_list(*, project: Project) -> QuerySet[ExportJob]:
    """The project's exports, newest first."""
    return ExportJob.objects.filter(project=project).select_related("created_by").order_by("-created_at")


def export_job_progress(*, job: ExportJob) -> float | None:
    """How far the job is, from 0 to 1 (None while the number of tasks is not known yet)."""
    if job.status == ExportStatus.SUCCEEDED:
        return 1.0
    if not job.tasks_total:
        return 0.0 if job.tasks_total == 0 else None
    return min(1.0, job.tasks_done / job.tasks_total)


# --- writing -------------------------------------------------------------------------------------


def export_file_name(*, project: Project, fmt: ExportFormat, moment: datetime | None = None) -> str:
    stamp = (moment or timezone.now()).strftime("%Y%m%d-%H%M%S")
    return f"{slugify(project.name) or 'project'}-{fmt.name}-{stamp}.{fmt.extension}"


class _Pipe:
    """A write-only file that keeps what was written until it is taken (for streaming)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def export_stream(*, reader: ExportReader, format: str) -> Iterator[bytes]:
    """The export as bytes, produced lazily chunk by chunk (for a streaming response)."""
    fmt = export_format_get(name=format)
    pipe = _Pipe()
    for _ in fmt.write(reader, pipe):  # type: ignore[arg-type]
        data = pipe.take()
        if data:
            yield data
    data = pipe.take()
    if data:
        yield data


def export_stream_check(*, reader: ExportReader) -> None:
    """Refuse a direct download of a project too large to stream within one request."""
    if reader.tasks()[STREAM_MAX_TASKS : STREAM_MAX_TASKS + 1].exists():
        raise Conflict(
            code="export_too_large",
            message=f"More than {STREAM_MAX_TASKS} tasks: start an export job (POST /api/projects/{{id}}/exports).",
        )


def export_write(
    *,
    reader: ExportReader,
    format: str,
    out: IO[bytes],
    processes: int | None = None,
    min_tasks_per_process: int = PARALLEL_MIN_TASKS,
) -> None:
    """Write the whole export to `out`.

    A format that declares `parts` is split over `processes` worker processes (default: the
    machine's cores) when the export is large enough to gain from it (see `export_processes`);
    anything else is written by this process.
    """
    fmt = export_format_get(name=format)
    with gc_relaxed():
        count = export_processes(
            reader=reader, fmt=fmt, processes=processes, min_tasks_per_process=min_tasks_per_process
        )
        if count > 1:
            export_write_parallel(reader=reader, fmt=fmt, out=out, processes=count)
            return
        for _ in fmt.write(reader, out):
            pass


@contextmanager
def gc_relaxed() -> Iterator[None]:
    """Fewer cyclic garbage collections while an export runs.

    An export makes millions of short-lived containers; with the default thresholds the
    collector runs thousands of times and walks every object Django keeps alive, which was
    a third of the time. What the export makes is freed by reference counting (it builds no
    cycles), so the collector can run rarely; the objects alive before are left out of it.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def export_processes(
    *,
    reader: ExportReader,
    fmt: ExportFormat,
    processes: int | None = None,
    min_tasks_per_process: int = PARALLEL_MIN_TASKS,
) -> int:
    """How many processes write this export: 1 unless the format can be split, the database is
    PostgreSQL (each process reads with its own connection, so none may be in an open
    transaction) and there are at least `min_tasks_per_process` tasks per process."""
    wanted = processes if processes is not None else (os.cpu_count() or 1)
    connection = connections[Task.objects.db]
    if (
        wanted < 2
        or fmt.parts is None
        or not hasattr(os, "fork")
        or connection.vendor != "postgresql"
        or any(conn.in_atomic_block for conn in connections.all(initialized_only=True))
    ):
        return 1
    tasks = reader.count()
    return max(1, min(wanted, tasks // max(1, min_tasks_per_process)))


@dataclass(frozen=True)
class _Slice:
    pk_after: Any
    pk_upto: Any
    start: PartStart


def _slices(reader: ExportReader, fmt: ExportFormat, count: int) -> list[_Slice]:
    """The tasks cut into `count` runs of about the same size, by task id, with where each starts."""
    assert fmt.parts is not None
    tasks = reader.tasks().order_by("pk")
    total = tasks.count()
    sizes = [total // count + (1 if i < total % count else 0) for i in range(count)]
    bounds: list[Any] = [reader.pk_after]
    offset = 0
    for size in sizes[:-1]:
        offset += size
        bounds.append(tasks.values_list("pk", flat=True)[offset - 1])
    bounds.append(reader.pk_upto)
    slices = []
    done_tasks = done_labels = 0
    geometry_ids = [entry.id for entry in reader.config.geometry_classes()]
    for index, size in enumerate(sizes):
        part = replace(reader, pk_after=bounds[index], pk_upto=bounds[index + 1], on_chunk=None)
        slices.append(_Slice(bounds[index], bounds[index + 1], PartStart(tasks=done_tasks, labels=done_labels)))
        done_tasks += size
        if fmt.parts.needs_label_offsets:
            done_labels += part.labels().filter(entry_id__in=geometry_ids).count()
    return slices


def export_write_parallel(*, reader: ExportReader, fmt: ExportFormat, out: IO[bytes], processes: int) -> None:
    """Write the export in `processes` slices of the tasks, each by a forked process into its own
    temporary files, then join them in order. Progress comes back through a pipe per process.

    A slice that wrote another number of labels than counted before (the labels changed
    meanwhile) would break COCO's annotation ids: then the export is written again by this process.
    """
    assert fmt.parts is not None
    slices = _slices(reader, fmt, processes)
    with ExitStack() as stack:
        parts: list[tuple[IO[bytes], IO[bytes]]] = [
            (stack.enter_context(tempfile.TemporaryFile()), stack.enter_context(tempfile.TemporaryFile()))
            for _ in slices
        ]
        results = _fork_parts(reader, fmt, slices, parts)
        following = [next_slice.start.labels for next_slice in slices[1:]]
        for (written, _), part_slice, upto in zip(results, slices, [*following, None], strict=True):
            if fmt.parts.needs_label_offsets and upto is not None and part_slice.start.labels + written != upto:
                logger.warning("export of %s: labels changed while it ran; writing it again", reader.project.pk)
                for _ in fmt.write(reader, out):
                    pass
                return
        for files in parts:
            for file in files:
                file.seek(0, os.SEEK_END)
        for _ in fmt.parts.join(reader, parts, out):
            pass


def _fork_parts(
    reader: ExportReader, fmt: ExportFormat, slices: list[_Slice], parts: list[tuple[IO[bytes], IO[bytes]]]
) -> list[tuple[int, int]]:
    """Run the slices in forked processes; `(labels written, tasks written)` per slice, in order."""
    assert fmt.parts is not None
    # A forked process must not share the parent's database connections: each opens its own.
    connections.close_all()
    children: list[tuple[int, int]] = []  # (pid, read end of its pipe)
    try:
        for part_slice, (out, side) in zip(slices, parts, strict=True):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: write the slice, report, and leave without running the parent's exit handlers
                os.close(read_end)
                code = 1
                try:
                    code = _run_part(reader, fmt, part_slice, out, side, write_end)
                finally:
                    os._exit(code)
            os.close(write_end)
            children.append((pid, read_end))
        try:
            return _collect(reader, children)
        except BaseException:
            for pid, _ in children:  # the export has failed (or was stopped): its other processes stop too
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise
    finally:
        for pid, read_end in children:
            with suppress(OSError):
                os.close(read_end)
            with suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _run_part(
    reader: ExportReader, fmt: ExportFormat, part_slice: _Slice, out: IO[bytes], side: IO[bytes], report: int
) -> int:
    assert fmt.parts is not None
    with os.fdopen(report, "w", buffering=1) as pipe:
        try:
            part = replace(
                reader,
                pk_after=part_slice.pk_after,
                pk_upto=part_slice.pk_upto,
                on_chunk=lambda done: _report(pipe, f"tasks {done}"),
            )
            labels = yield_from_result(fmt.parts.write(part, out, side, part_slice.start))
            out.flush()
            side.flush()
            pipe.write(f"done {labels}\n")
            return 0
        except BaseException as exc:  # reported to the parent, which raises it
            pipe.write("error " + f"{type(exc).__name__}: {exc}".replace("\n", " ") + "\n")
            return 1
        finally:
            connections.close_all()


def _report(pipe: IO[str], line: str) -> None:
    pipe.write(line + "\n")


def yield_from_result(generator: Generator[None, None, int]) -> int:
    """Run a generator to its end and give back what it returned."""
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return int(stop.value or 0)


def _collect(reader: ExportReader, children: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Read the children's reports until all are done, passing their summed progress on."""
    done_tasks = [0] * len(children)
    results: list[tuple[int, int] | None] = [None] * len(children)
    errors: list[str] = []
    buffers = [b""] * len(children)
    open_ends = {read_end: index for index, (_, read_end) in enumerate(children)}
    while open_ends:
        ready, _, _ = select.select(list(open_ends), [], [])
        for read_end in ready:
            index = open_ends[read_end]
            data = os.read(read_end, 65536)
            if not data:
                del open_ends[read_end]
                continue
            buffers[index] += data
            *lines, buffers[index] = buffers[index].split(b"\n")
            for line in lines:
                kind, _, value = line.decode().partition(" ")
                if kind == "tasks":
                    done_tasks[index] = int(value)
                    if reader.on_chunk is not None:
                        reader.on_chunk(sum(done_tasks))
                elif kind == "done":
                    results[index] = (int(value), done_tasks[index])
                elif kind == "error":
                    errors.append(value)
    if errors or any(result is None for result in results):
        raise RuntimeError("An export process failed: " + ("; ".join(errors) or "it ended without a report."))
    return [result for result in results if result is not None]


# --- jobs ----------------------------------------------------------------------------------------


def export_job_create(
    *, project: Project, format: str, filters: dict[str, Any] | None = None, created_by: Any = None
) -> ExportJob:
    """A queued export job (format and filters checked first); the worker starts once this commits."""
    fmt = export_format_get(name=format)
    cleaned = export_filters_clean(project=project, raw=filters)
    job = ExportJob.objects.create(
        project=project,
        created_by=created_by if getattr(created_by, "pk", None) else None,
        format=fmt.name,
        filters=cleaned.as_json(),
    )
    job_id = job.pk
    transaction.on_commit(lambda: _enqueue(job_id))
    return job


def _enqueue(job_id: UUID) -> None:
    from imports.export_tasks import export_job_run_task

    export_job_run_task.delay(str(job_id))


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

        reader = ExportReader(project=project, filters=filters, on_chunk=progress)
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


def _stored_filters(stored: dict[str, Any]) -> dict[str, Any]:
    """A job's stored filters (see `ExportFilters.as_json`) as filters to clean again."""
    return {key: value for key, value in stored.items() if value is not None}


def export_job_open(*, job: ExportJob) -> IO[bytes]:
    """The finished export's file, opened for reading from storage."""
    if job.status != ExportStatus.SUCCEEDED or not job.file:
        raise Conflict(code="export_not_ready", message="The export has not finished; its file is not there yet.")
    return job.file.storage.open(str(job.file.name), "rb")


__all__ = [
    "DEFAULT_STATES",
    "ExportFilters",
    "ExportReader",
    "export_filters_clean",
    "export_job_create",
    "export_job_get",
    "export_job_list",
    "export_job_open",
    "export_job_progress",
    "export_job_run",
    "export_project_get",
    "export_stream",
    "export_stream_check",
    "export_write",
]
