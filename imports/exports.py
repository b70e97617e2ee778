"""Exports: read a project's labels in chunks, hand them to a format's writer, stream or store the result.

- `ExportReader` is what every writer reads: the configuration once, then the tasks that
  pass the filters in chunks of `CHUNK_SIZE` (keyset paging on the task id), each chunk's
  labels with one query, turned into the canonical label model. Nothing holds more than a
  chunk, so memory stays flat however large the project is.
- `export_stream` runs a writer lazily and yields the bytes it wrote after each chunk, for
  a `StreamingHttpResponse` (small exports download at once).
- `export_job_create` / `export_job_run`: a large export runs in a worker (`queued ->
  running -> succeeded | failed`), writes to a temporary file, then to the default storage
  (local or S3), recording progress after each chunk.

Who may export: an admin or a reviewer of the project's organisation who may see the
project; anyone else who may see it gets PermissionDenied, everyone else NotFound.
"""

from __future__ import annotations

import logging
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import IO, Any
from uuid import UUID

import orjson
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import slugify

from imports.formats import export_format_get
from imports.formats.export_base import ExportConfig, ExportFormat, ExportItem
from imports.models import ExportJob, ExportStatus
from labeling.annotation import MediaAnnotation, MediaRef, Shape, answers_from_json
from labeling.models import Label, LabelSource, Task, TaskState
from labelsite.errors import Conflict, ErrorDetail, NotFound, PermissionDenied, ValidationFailed
from projects.models import Dataset, LabelEntry, Project, Role
from projects.selectors import AnyUser, project_get_for_user, user_role

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
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
    config: ExportConfig = field(init=False)

    def __post_init__(self) -> None:
        entries = LabelEntry.objects.filter(configuration__project=self.project).order_by(
            "position", "created_at", "id"
        )
        self.config = ExportConfig(entries=list(entries))

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
        return tasks

    def has_items(self) -> bool:
        return self.tasks().exists()

    def count(self) -> int:
        return self.tasks().count()

    def chunks(self) -> Iterator[list[ExportItem]]:
        tasks = self.tasks().order_by("pk")
        labels = Label.objects.order_by("id")
        if not self.filters.include_predictions:
            labels = labels.filter(~Q(source=LabelSource.PREDICTION))
        last_pk = None
        done = 0
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
            shapes = self._shapes([row[0] for row in rows], labels)  # keyed by the task id as text
            chunk = [
                ExportItem(
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
                    annotation=MediaAnnotation(
                        media=MediaRef(media_id=str(media_id)),
                        answers=answers_from_json(orjson.loads(answers)) if answers else [],
                        shapes=shapes.get(task_text, []),
                    ),
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

    def _shapes(self, task_ids: list[Any], labels: QuerySet[Label]) -> dict[Any, list[Shape]]:
        """The root shapes of each task (children nested), from one query."""
        by_id = self.config.by_id
        roots: dict[Any, list[Shape]] = defaultdict(list)
        shapes: dict[int, Shape] = {}
        orphans: list[tuple[Any, int, Shape]] = []
        # JSON as text, decoded by orjson: Django's json.loads per value is most of the time otherwise.
        rows = (
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
        loads = orjson.loads
        entry_ids = {key: str(entry.id) for key, entry in by_id.items()}
        for label_id, task_id, entry_id, parent_id, points, answers, source, score, model_version, valid in rows:
            entry = by_id.get(entry_id)
            if entry is None:
                continue
            shape = Shape(
                key=entry.key,
                type=entry.type,
                points=loads(points) if points else [],
                answers=answers_from_json(loads(answers)) if answers and answers != EMPTY_OBJECT else [],
                source=source,
                score=score,
                model_version=model_version,
                valid=valid,
                entry_id=entry_ids[entry_id],
            )
            shapes[label_id] = shape
            if parent_id is None:
                roots[task_id].append(shape)
            elif parent_id in shapes:
                shapes[parent_id].children.append(shape)
            else:
                orphans.append((task_id, parent_id, shape))
        for task_id, parent_id, shape in orphans:
            # A parent left out (a prediction when predictions are not exported): the child stands alone.
            parent = shapes.get(parent_id)
            (parent.children if parent is not None else roots[task_id]).append(shape)
        return roots


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


def export_write(*, reader: ExportReader, format: str, out: IO[bytes]) -> None:
    """Write the whole export to `out`."""
    fmt = export_format_get(name=format)
    for _ in fmt.write(reader, out):
        pass


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
            for _ in fmt.write(reader, spool):
                pass
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
