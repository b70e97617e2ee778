"""What every export writer reads: a project's labels, filtered, in chunks.

`ExportReader` reads the configuration once, then the tasks that pass the filters in chunks
of `CHUNK_SIZE` (keyset paging on the task id), each chunk's labels with one query, as rows
(`rows()`, for the fast writers) or turned into the canonical label model (`chunks()`).
Nothing holds more than a chunk, so memory stays flat however large the project is.
`export_filters_clean` checks the filters a user asks for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID

import orjson
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from formats.writing import ExportConfig, ExportItem, LabelRow, TaskAttribution, TaskRows
from labeling.annotation import MediaAnnotation, MediaRef, Shape, answers_from_json
from labeling.browser_selectors import task_query_clean, task_query_filter
from labeling.models import Label, LabelSource, Task, TaskState
from labelsite.errors import ErrorDetail, ValidationFailed
from projects.media_urls import media_image_url
from projects.models import Dataset, LabelEntry, Project

CHUNK_SIZE = 2000
#: Label rows taken from the cursor at a time.
FETCH_ROWS = 5000
#: Finished tasks, as DataGym exports them.
DEFAULT_STATES: tuple[str, ...] = (TaskState.COMPLETED, TaskState.SKIPPED, TaskState.REVIEWED)
EMPTY_OBJECT = "{}"
EMPTY_LIST = "[]"


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
    #: The task browser's selection: these tasks only, and/or the tasks its query matches.
    task_ids: tuple[UUID, ...] = ()
    task_query: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        selection: dict[str, Any] = {}
        if self.task_ids:
            selection["task_ids"] = [str(pk) for pk in self.task_ids]
        if self.task_query:
            selection["tasks"] = self.task_query
        return {
            **selection,
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
    alone as `updated_to` includes that whole day), `include_predictions` (default false);
    the task browser's selection: `task_ids` (at most `TASK_IDS_MAX` tasks of the project) and
    `tasks` (a browser query, `labeling.browser_selectors`), with every state by default.
    """
    raw = raw or {}
    errors: list[ErrorDetail] = []
    if not isinstance(raw, dict):
        raise ValidationFailed(code="invalid", message="filters must be an object.")
    unknown = sorted(
        set(raw) - {"states", "datasets", "updated_from", "updated_to", "include_predictions", "task_ids", "tasks"}
    )
    errors.extend(
        ErrorDetail(path=name, code="unknown_filter", message=f"Unknown filter {name!r}.") for name in unknown
    )

    task_ids, task_query = _selection_clean(project=project, raw=raw, errors=errors)
    states = raw.get("states")
    if states is None:
        cleaned_states = tuple(TaskState.values) if task_ids or task_query else DEFAULT_STATES
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
        task_ids=task_ids,
        task_query=task_query,
    )


#: Tasks an export of the browser's checked rows may name.
TASK_IDS_MAX = 10000


class _Nobody:
    """`me` in an export's browser query matches nobody: the page sends user ids."""

    pk = None
    is_authenticated = False


def _selection_clean(
    *, project: Project, raw: dict[str, Any], errors: list[ErrorDetail]
) -> tuple[tuple[UUID, ...], dict[str, Any]]:
    task_ids: list[UUID] = []
    raw_ids = raw.get("task_ids")
    if raw_ids is not None:
        if not isinstance(raw_ids, list) or not raw_ids or len(raw_ids) > TASK_IDS_MAX:
            errors.append(
                ErrorDetail(path="task_ids", code="invalid", message=f"task_ids is a list of 1 to {TASK_IDS_MAX} ids.")
            )
        else:
            for index, value in enumerate(raw_ids):
                try:
                    task_ids.append(UUID(str(value)))
                except ValueError:
                    errors.append(ErrorDetail(path=f"task_ids/{index}", code="invalid", message="Not a task id."))
    task_query = raw.get("tasks") or {}
    if not isinstance(task_query, dict):
        errors.append(ErrorDetail(path="tasks", code="invalid", message="tasks is a task browser query (an object)."))
        task_query = {}
    elif task_query:
        try:
            task_query_clean(project=project, raw=task_query, user=_Nobody())  # type: ignore[arg-type]
        except ValidationFailed as failed:
            errors.extend(
                ErrorDetail(path=f"tasks/{detail.path}", code=detail.code, message=detail.message)
                for detail in failed.details
            )
    return tuple(dict.fromkeys(task_ids)), dict(task_query)


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
    """An `ExportSource` over the database (see `formats.writing`)."""

    project: Project
    filters: ExportFilters = field(default_factory=ExportFilters)
    api_url: str = ""
    #: The base of the image URLs written (`projects.media_urls.site_url`), "" for paths alone.
    site_url: str = ""
    chunk_size: int = CHUNK_SIZE
    #: Called after each chunk with the number of tasks read so far.
    on_chunk: Callable[[int], None] | None = None
    #: Leave out the labels of tasks whose media size is unknown (formats that need the size:
    #: `ExportFormat.needs_media_size`); their tasks and answers stay.
    sizeless_labels_left_out: bool = False
    #: Only the tasks with an id after / up to these (a slice of the export written by one process).
    pk_after: Any = None
    pk_upto: Any = None
    config: ExportConfig = field(init=False)
    _entry_ids: dict[str, str] = field(init=False, repr=False)
    _usernames: dict[int, str] = field(init=False, repr=False, default_factory=dict)

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
        if filters.task_ids:
            tasks = tasks.filter(pk__in=list(filters.task_ids))
        if filters.task_query:
            query = task_query_clean(project=self.project, raw=filters.task_query, user=_Nobody())  # type: ignore[arg-type]
            tasks = task_query_filter(tasks=tasks, project=self.project, query=query)
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
        if self.sizeless_labels_left_out:
            labels = labels.filter(task__media__width__isnull=False, task__media__height__isnull=False)
        return labels

    def sizeless_tasks(self) -> QuerySet[Task]:
        """The tasks whose media size is unknown and that have labels to export (whose regions a
        format that needs the size leaves out), in id order."""
        labels = Label.objects.filter(task_id=OuterRef("pk"))
        if not self.filters.include_predictions:
            labels = labels.filter(~Q(source=LabelSource.PREDICTION))
        return (
            self.tasks()
            .filter(Q(media__width__isnull=True) | Q(media__height__isnull=True))
            .filter(Exists(labels))
            .order_by("pk")
        )

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
                page.annotate(
                    id_text=Cast("id", TextField()),
                    answers_json=Cast("answers", TextField()),
                    metadata_json=Cast("media__metadata", TextField()),
                    attachments_json=Cast("media__attachments", TextField()),
                ).values_list(
                    "id",
                    "id_text",
                    "media_id",
                    "media__name",
                    "media__source",
                    "media__url",
                    "media__width",
                    "media__height",
                    "media__external_id",
                    "media__global_key",
                    "state",
                    "assignee_id",
                    "updated_at",
                    "answers_json",
                    "metadata_json",
                    "attachments_json",
                    "completed_by_id",
                    "completed_at",
                    "reviewed_by_id",
                    "reviewed_at",
                    "review_verdict",
                    "active_seconds",
                )[: self.chunk_size]
            )
            if not rows:
                return
            # Keyed by the task id as text.
            by_task = self._labels([row[0] for row in rows], [row[1] for row in rows], labels)
            people: set[int | None] = {row[16] for row in rows}  # completed_by_id
            usernames = self._usernames_of(
                people
                | {row[18] for row in rows}  # reviewed_by_id
                | {label.author_id for task_labels in by_task.values() for label in task_labels}
            )
            chunk = [
                TaskRows(
                    task_id=task_id,
                    media_id=media_id,
                    media_name=name,
                    media_url=media_image_url(media_id=media_id, source=source, url=url, base=self.site_url),
                    width=width,
                    height=height,
                    external_id=external_id,
                    global_key=global_key,
                    state=state,
                    assignee_id=assignee_id,
                    updated_at=updated_at,
                    answers=loads(answers) if answers and answers != EMPTY_OBJECT else None,
                    labels=[]
                    if self.sizeless_labels_left_out and (width is None or height is None)
                    else by_task.get(task_text, []),
                    metadata=loads(metadata) if metadata and metadata != EMPTY_OBJECT else {},
                    attachments=loads(attachments) if attachments and attachments != EMPTY_LIST else [],
                    who=TaskAttribution(
                        completed_by_id=completed_by_id,
                        completed_by=usernames.get(completed_by_id) if completed_by_id is not None else None,
                        completed_at=completed_at,
                        reviewed_by_id=reviewed_by_id,
                        reviewed_by=usernames.get(reviewed_by_id) if reviewed_by_id is not None else None,
                        reviewed_at=reviewed_at,
                        review_verdict=review_verdict,
                        active_seconds=active_seconds,
                    ),
                    usernames=usernames,
                )
                for (
                    task_id,
                    task_text,
                    media_id,
                    name,
                    source,
                    url,
                    width,
                    height,
                    external_id,
                    global_key,
                    state,
                    assignee_id,
                    updated_at,
                    answers,
                    metadata,
                    attachments,
                    completed_by_id,
                    completed_at,
                    reviewed_by_id,
                    reviewed_at,
                    review_verdict,
                    active_seconds,
                ) in rows
            ]
            yield chunk
            done += len(chunk)
            if self.on_chunk is not None:
                self.on_chunk(done)
            last_pk = rows[-1][0]

    def _usernames_of(self, user_ids: set[int | None]) -> dict[int, str]:
        """Usernames of these users, one query for those not seen in an earlier chunk."""
        unknown = [pk for pk in user_ids if pk is not None and pk not in self._usernames]
        if unknown:
            self._usernames.update(get_user_model().objects.filter(pk__in=unknown).values_list("pk", "username"))
        return self._usernames

    def _labels(self, task_ids: list[Any], task_texts: list[str], labels: QuerySet[Label]) -> dict[str, list[LabelRow]]:
        """The labels of each task (of entries in the configuration) in id order, from one query."""
        # The statement of the ORM on the bare cursor, JSON as text decoded by orjson: Django's
        # row handling and json.loads per value were most of the time otherwise.
        connection = connections[labels.db]
        if connection.vendor == "postgresql":
            # One array parameter, not an IN list of a chunk's ids: Django prepared and psycopg
            # quoted each of the 2,000 ids, a tenth of the reading's CPU. The array goes as its text
            # (the ids as the task query read them): psycopg dumping 2,000 UUID objects was 3-4 us a task.
            column = f"{connection.ops.quote_name(Label._meta.db_table)}.{connection.ops.quote_name('task_id')}"
            ids = "{" + ",".join(task_texts) + "}"
            labels = labels.filter(RawSQL(f"{column} = ANY(%s::uuid[])", (ids,), output_field=BooleanField()))  # noqa: S611 - our quoted column, the ids one parameter
        else:
            labels = labels.filter(task_id__in=task_ids)
        query = labels.annotate(
            task_text=Cast("task_id", TextField()),
            entry_text=Cast("entry_id", TextField()),
            points_json=Cast("points", TextField()),
            answers_json=Cast("answers", TextField()),
        ).values_list(
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
            "author_id",
            "rotation",
        )
        sql, params = query.query.sql_with_params()
        by_id = self.config.by_id
        entry_ids = self._entry_ids
        loads = orjson.loads
        new_row = tuple.__new__
        found: dict[str, list[LabelRow]] = defaultdict(list)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(FETCH_ROWS):
                for (
                    label_id,
                    task_id,
                    entry_id,
                    parent_id,
                    points,
                    answers,
                    source,
                    score,
                    version,
                    valid,
                    author,
                    turn,
                ) in batch:
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
                                author,
                                turn or 0.0,
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
            rotation=row.rotation,
            answers=answers_from_json(row.answers) if row.answers else [],
            source=row.source,
            score=row.score,
            model_version=row.model_version,
            valid=row.valid,
            entry_id=row.entry_id,
            created_by=task.usernames.get(row.author_id) if row.author_id is not None else None,
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
        metadata=task.metadata,
        attachments=task.attachments,
        who=task.who,
    )
