"""Reads of the task browser (the project's Tasks page and `GET /api/projects/{id}/tasks`).

A browser query is the page's query string: filters, a search, a sort. `task_query_clean`
checks it (every problem with the parameter it is in) into a `TaskQuery`; `task_browser_list`
turns that into one queryset of the project's tasks, filtered in the database; the page of rows
then gets its label counts, predictions and import jobs from one aggregate over the labels of
those rows only (`task_rows_annotate`), never a query per row and never a count over every task.

Who sees what: admins and reviewers every task of the project; an annotator only the tasks that
are theirs (assigned to them, reserved by them now, or completed by them). The saved views a user
sees are theirs and the shared ones.
"""

from __future__ import annotations

import base64
import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Case, Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.urls import reverse
from django.utils import timezone

from labeling.models import Label, LabelSource, Task, TaskBulkJob, TaskState, TaskView
from labeling.selectors import task_assignee_choices
from labelsite.errors import ErrorDetail, NotFound, PermissionDenied, ValidationFailed
from projects.models import GEOMETRY_TYPES, Dataset, EntryType, LabelEntry, Media, Project, Role
from projects.selectors import AnyUser, project_get_for_user, user_role

#: The sorts the browser offers: name -> the columns ordered by (the task id breaks ties).
SORTS: dict[str, tuple[str, ...]] = {
    "created": ("created_at",),
    "updated": ("updated_at",),
    "name": ("media__name",),
    "state": ("state",),
    "assignee": ("assignee__username",),
    "completed_by": ("completed_by__username",),
    "completed_at": ("completed_at",),
    "dataset": ("media__dataset__name",),
    "global_key": ("media__global_key",),
    "external_id": ("media__external_id",),
    # the task's best prediction score (of the filtered model version, when one is asked for)
    "score": ("prediction_score",),
}
DEFAULT_SORT = "created"
MODEL_VERSION_MAX = 128  # Label.model_version
#: Sorts on columns that may be empty (no assignee, never completed, no global key): empty last.
NULLABLE_SORTS = frozenset({"assignee", "completed_by", "completed_at", "global_key", "score"})
#: Parameters a query may hold (saved views, bulk jobs and the API share them); `meta.<field>` besides.
QUERY_PARAMETERS = frozenset(
    {
        "state",
        "assignee",
        "holder",
        "completed_by",
        "reviewed_by",
        "dataset",
        "import_job",
        "has_predictions",
        "score_min",
        "score_max",
        "model_version",
        "label_class",
        "class_min",
        "class_max",
        "labels_min",
        "labels_max",
        "name",
        "global_key",
        "external_id",
        "updated_from",
        "updated_to",
        "search",
        "sort",
    }
)
#: Parameters of paging and of the page, not of the query.
PAGING_PARAMETERS = frozenset({"limit", "offset", "cursor", "format", "columns", "view"})
SEARCH_MAX = 200
#: A cursor's length, at most (its sort values: a name of 255 characters, 4 bytes each, in base64).
CURSOR_MAX = 4000
TEXT_FILTER_MAX = 200
META_FIELDS_MAX = 10
META_FIELD = re.compile(r"^[A-Za-z0-9_.\- ]{1,64}$")
#: Free-text questions a search reads, at most.
SEARCH_PATHS_MAX = 20
#: Media whose metadata field names the page offers as columns and filters.
META_SAMPLE = 500


@dataclass(frozen=True)
class UserFilter:
    """A filter on one user column: these users, and/or nobody."""

    ids: tuple[int, ...] = ()
    nobody: bool = False

    @property
    def active(self) -> bool:
        return bool(self.ids) or self.nobody


@dataclass(frozen=True)
class TaskQuery:
    """A cleaned browser query."""

    states: tuple[str, ...] = ()
    assignee: UserFilter = field(default_factory=UserFilter)
    holder: UserFilter = field(default_factory=UserFilter)
    completed_by: UserFilter = field(default_factory=UserFilter)
    reviewed_by: UserFilter = field(default_factory=UserFilter)
    dataset_ids: tuple[UUID, ...] = ()
    import_job_id: UUID | None = None
    has_predictions: bool | None = None
    score_min: float | None = None
    score_max: float | None = None
    model_version: str = ""
    label_class: LabelEntry | None = None
    class_min: int | None = None
    class_max: int | None = None
    labels_min: int | None = None
    labels_max: int | None = None
    name: str = ""
    global_key: str = ""
    external_id: str = ""
    meta: tuple[tuple[str, str], ...] = ()
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    search: str = ""
    sort: str = DEFAULT_SORT
    descending: bool = False


def _values(raw: Mapping[str, Any], name: str) -> list[str]:
    """Every value of a parameter: repeated (`?state=a&state=b`), comma-separated, or a JSON list."""
    getlist = getattr(raw, "getlist", None)
    values: list[Any] = getlist(name) if getlist else [raw.get(name)]
    out: list[str] = []
    for value in values:
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            out.extend(part.strip() for part in str(item).split(",") if part.strip())
    return out


def _one(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if isinstance(value, list):
        value = value[-1] if value else ""
    return "" if value is None else str(value).strip()


def _users(raw: Mapping[str, Any], name: str, user: AnyUser, errors: list[ErrorDetail]) -> UserFilter:
    ids: list[int] = []
    nobody = False
    for value in _values(raw, name):
        if value == "none":
            nobody = True
        elif value == "me":
            ids.append(int(user.pk) if user.pk is not None else -1)
        elif value.isdigit() and len(value) < 12:
            ids.append(int(value))
        else:
            errors.append(ErrorDetail(path=name, code="invalid", message=f'{name}: give user ids, "me" or "none".'))
    return UserFilter(ids=tuple(dict.fromkeys(ids)), nobody=nobody)


def _count(raw: Mapping[str, Any], name: str, errors: list[ErrorDetail]) -> int | None:
    value = _one(raw, name)
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        errors.append(ErrorDetail(path=name, code="invalid", message=f"{name} is a whole number, 0 or more."))
        return None
    return int(value)


def _score(raw: Mapping[str, Any], name: str, errors: list[ErrorDetail]) -> float | None:
    value = _one(raw, name)
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not (number == number and -1e12 < number < 1e12):  # NaN and infinities are no scores
        errors.append(ErrorDetail(path=name, code="invalid", message=f"{name} is a number, e.g. 0.5."))
        return None
    return number


def _text(raw: Mapping[str, Any], name: str, errors: list[ErrorDetail], limit: int = TEXT_FILTER_MAX) -> str:
    value = _one(raw, name)
    if len(value) > limit:
        errors.append(ErrorDetail(path=name, code="too_long", message=f"{name} is at most {limit} characters."))
        return ""
    return value


def _uuid(value: str, name: str, errors: list[ErrorDetail]) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        errors.append(ErrorDetail(path=name, code="invalid", message=f"{name}: {value[:40]!r} is not an id."))
        return None


def _moment(raw: Mapping[str, Any], name: str, errors: list[ErrorDetail], *, end_of_day: bool) -> datetime | None:
    from datetime import time, timedelta

    from django.utils.dateparse import parse_date, parse_datetime

    value = _one(raw, name)
    if not value:
        return None
    try:
        day = parse_date(value)
        moment = None if day is not None else parse_datetime(value)
    except ValueError:
        day = moment = None
    if day is not None:
        moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time.min)
    if moment is None:
        errors.append(ErrorDetail(path=name, code="invalid", message=f"{name} is an ISO date or date-time."))
        return None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def task_query_clean(*, project: Project, raw: Mapping[str, Any], user: AnyUser) -> TaskQuery:
    """The browser query in `raw` (a query string or a saved JSON object), checked.

    Unknown parameters are refused (a typo must not silently show every task); every problem is
    reported with its parameter as the path. `me` in a user filter is `user`.
    """
    errors: list[ErrorDetail] = []
    if not isinstance(raw, Mapping):
        raise ValidationFailed(code="invalid", message="The task query is an object of parameters.")
    for name in raw:
        if name.startswith("meta."):
            if not META_FIELD.match(name[5:]):
                errors.append(
                    ErrorDetail(path=name, code="invalid", message="A metadata field name is 1-64 letters or digits.")
                )
        elif name not in QUERY_PARAMETERS and name not in PAGING_PARAMETERS:
            errors.append(
                ErrorDetail(
                    path=name,
                    code="unknown_parameter",
                    message=f"Unknown parameter {name!r}; use {', '.join(sorted(QUERY_PARAMETERS))} or meta.<field>.",
                )
            )
    states = _values(raw, "state")
    for state in states:
        if state not in TaskState.values:
            errors.append(
                ErrorDetail(
                    path="state",
                    code="invalid_choice",
                    message=f"{state!r} is not a task state; use {TaskState.values}.",
                )
            )
    dataset_ids = [pk for pk in (_uuid(value, "dataset", errors) for value in _values(raw, "dataset")) if pk]
    import_job = _one(raw, "import_job")
    has_predictions = _one(raw, "has_predictions").lower()
    if has_predictions not in ("", "true", "false", "1", "0"):
        errors.append(ErrorDetail(path="has_predictions", code="invalid", message="has_predictions is true or false."))
    label_class: LabelEntry | None = None
    class_key = _one(raw, "label_class")
    if class_key:
        label_class = LabelEntry.objects.filter(configuration__project=project, key=class_key.lower()).first()
        if label_class is None or not label_class.is_geometry:
            errors.append(
                ErrorDetail(
                    path="label_class", code="not_found", message=f"No class {class_key[:60]!r} in the project."
                )
            )
    meta = [(name[5:], _text(raw, name, errors)) for name in raw if name.startswith("meta.")]
    if len(meta) > META_FIELDS_MAX:
        errors.append(ErrorDetail(path="meta", code="too_many", message=f"At most {META_FIELDS_MAX} metadata filters."))
    sort = _one(raw, "sort") or DEFAULT_SORT
    descending = sort.startswith("-")
    if sort.lstrip("-") not in SORTS:
        errors.append(
            ErrorDetail(
                path="sort", code="invalid_choice", message=f"sort is one of {', '.join(SORTS)} (- for descending)."
            )
        )
    query = TaskQuery(
        states=tuple(dict.fromkeys(states)),
        assignee=_users(raw, "assignee", user, errors),
        holder=_users(raw, "holder", user, errors),
        completed_by=_users(raw, "completed_by", user, errors),
        reviewed_by=_users(raw, "reviewed_by", user, errors),
        dataset_ids=tuple(dict.fromkeys(dataset_ids)),
        import_job_id=_uuid(import_job, "import_job", errors) if import_job else None,
        has_predictions=None if not has_predictions else has_predictions in ("true", "1"),
        score_min=_score(raw, "score_min", errors),
        score_max=_score(raw, "score_max", errors),
        model_version=_model_version(raw, errors),
        label_class=label_class,
        class_min=_count(raw, "class_min", errors),
        class_max=_count(raw, "class_max", errors),
        labels_min=_count(raw, "labels_min", errors),
        labels_max=_count(raw, "labels_max", errors),
        name=_text(raw, "name", errors),
        global_key=_text(raw, "global_key", errors),
        external_id=_text(raw, "external_id", errors),
        meta=tuple((name, value) for name, value in meta if value)[:META_FIELDS_MAX],
        updated_from=_moment(raw, "updated_from", errors, end_of_day=False),
        updated_to=_moment(raw, "updated_to", errors, end_of_day=True),
        search=_text(raw, "search", errors, SEARCH_MAX),
        sort=sort.lstrip("-") if sort.lstrip("-") in SORTS else DEFAULT_SORT,
        descending=descending,
    )
    if (query.class_min is not None or query.class_max is not None) and query.label_class is None and not class_key:
        errors.append(
            ErrorDetail(path="label_class", code="required", message="class_min and class_max need a label_class.")
        )
    if errors:
        raise ValidationFailed(code="invalid", message="The task filters are not valid.", details=errors)
    return query


# --- the queryset ---------------------------------------------------------------------------------


def _user_q(column: str, users: UserFilter) -> Q:
    condition = Q()
    if users.ids:
        condition |= Q(**{f"{column}__in": list(users.ids)})
    if users.nobody:
        condition |= Q(**{f"{column}__isnull": True})
    return condition


def _holder_q(users: UserFilter, now: datetime) -> Q:
    live = Q(reserved_until__gt=now)
    condition = Q()
    if users.ids:
        condition |= Q(reserved_by_id__in=list(users.ids)) & live
    if users.nobody:
        condition |= Q(reserved_by__isnull=True) | Q(reserved_until__isnull=True) | Q(reserved_until__lte=now)
    return condition


def _label_count_q(labels: QuerySet[Label], low: int | None, high: int | None) -> Q:
    """Tasks with `low` to `high` of these labels (0 as the low end takes in tasks without any).

    Each bound is its own condition: "at least one" a semi-join, "none" an anti-join, other bounds
    a grouped count of these labels (`HAVING n >= low`, `NOT IN (... HAVING n > high)`), read in
    task order from the class's covering index (`label_entry_task`) without touching the table.
    One bound a condition keeps PostgreSQL's estimates sane (a range in one HAVING it guesses at
    1 in 200 and answers with 50,000 index probes). Probing each task's labels instead
    (`EXISTS ... OFFSET n`) was fast for a page of a common class and 1 s for a rare one (a page
    that matches nothing probes every task), and for the count always."""
    condition = Q()
    grouped = labels.order_by().values("task_id").annotate(n=Count("*"))  # not Count("id"): the index has no id
    if low == 1:
        condition &= Q(pk__in=labels.values("task_id"))
    elif low:
        condition &= Q(pk__in=grouped.filter(n__gte=low).values("task_id"))
    if high == 0:
        condition &= ~Q(pk__in=labels.values("task_id"))
    elif high is not None:
        condition &= ~Q(pk__in=grouped.filter(n__gt=high).values("task_id"))
    return condition


def task_browser_visible(*, project: Project, user: AnyUser) -> QuerySet[Task]:
    """The project's tasks the user may see in the browser: all for admins and reviewers; an
    annotator's own (assigned to them, reserved by them now, completed by them)."""
    tasks = Task.objects.filter(project=project)
    if user_role(user=user, organization=project.organization_id) in (Role.ADMIN, Role.REVIEWER):
        return tasks
    own = (
        Q(assignee_id=user.pk)
        | Q(completed_by_id=user.pk)
        | Q(reserved_by_id=user.pk, reserved_until__gt=timezone.now())
    )
    return tasks.filter(own) if user.pk is not None else tasks.none()


def task_query_filter(*, tasks: QuerySet[Task], project: Project, query: TaskQuery) -> QuerySet[Task]:
    """`tasks` narrowed to what the query's filters and search keep (no order).

    The query stays on the task table: conditions on the media are a subquery of the media table
    (trigram-indexed text on PostgreSQL), conditions on labels are semi-joins against indexed
    label columns (class, import job) or the task's own labels (`label_task`); counting 100,000
    tasks never joins each of them to its media or counts labels per task.
    """
    now = timezone.now()
    conditions = Q()
    if query.states:
        conditions &= Q(state__in=list(query.states))
    if query.assignee.active:
        conditions &= _user_q("assignee_id", query.assignee)
    if query.completed_by.active:
        conditions &= _user_q("completed_by_id", query.completed_by)
    if query.reviewed_by.active:
        conditions &= _user_q("reviewed_by_id", query.reviewed_by)
    if query.holder.active:
        conditions &= _holder_q(query.holder, now)
    if query.updated_from is not None:
        conditions &= Q(updated_at__gte=query.updated_from)
    if query.updated_to is not None:
        conditions &= Q(updated_at__lt=query.updated_to)
    media = _live_media(project)
    media_conditions = Q()
    if query.dataset_ids:
        media_conditions &= Q(dataset_id__in=list(query.dataset_ids))
    if query.name:
        media_conditions &= Q(name__icontains=query.name)
    if query.global_key:
        media_conditions &= Q(global_key__icontains=query.global_key)
    if query.external_id:
        media_conditions &= Q(external_id__icontains=query.external_id)
    for name, value in query.meta:
        # Wrapped in CASE, which PostgreSQL estimates at one row in two: a bare LIKE on a JSON field
        # it guesses at 1 in 200, and for a common value ("valid", a third of the media) it then
        # probes tasks for each media and sorts them all instead of walking the task order (a page:
        # 200 ms to 20 ms), and counts by 33,000 index probes instead of one hash join.
        media_conditions &= Q(
            Case(When(Q(**{f"metadata__{name}__icontains": value}), then=Value(True)), default=Value(False))
        )
    if media_conditions:
        conditions &= Q(media_id__in=media.filter(media_conditions).values("pk"))
    task_labels = Label.objects.filter(task_id=OuterRef("pk"))
    if query.import_job_id is not None:
        conditions &= Q(pk__in=Label.objects.filter(import_job_id=query.import_job_id).values("task_id"))
    if query.has_predictions is not None:
        predicted = Exists(task_labels.filter(source=LabelSource.PREDICTION))
        conditions &= Q(predicted) if query.has_predictions else ~Q(predicted)
    if query.model_version and query.score_min is None and query.score_max is None:
        conditions &= Q(Exists(task_labels.filter(source=LabelSource.PREDICTION, model_version=query.model_version)))
    if query.score_min is not None or query.score_max is not None:
        scored = task_labels.filter(source=LabelSource.PREDICTION, score__isnull=False)
        if query.model_version:
            scored = scored.filter(model_version=query.model_version)
        if query.score_min is not None:
            scored = scored.filter(score__gte=query.score_min)
        if query.score_max is not None:
            scored = scored.filter(score__lte=query.score_max)
        conditions &= Q(Exists(scored))
    if query.label_class is not None:
        low = 1 if query.class_min is None and query.class_max is None else query.class_min
        of_class = Label.objects.filter(entry=query.label_class).exclude(source=LabelSource.PREDICTION)
        conditions &= _label_count_q(of_class, low, query.class_max)
    if query.labels_min is not None or query.labels_max is not None:
        not_predicted = Label.objects.filter(task__project=project).exclude(source=LabelSource.PREDICTION)
        conditions &= _label_count_q(not_predicted, query.labels_min, query.labels_max)
    # Tasks of deleted media are left out as an anti-join on the few deleted media (a partial
    # index), not as a join of every task to its media.
    deleted = Media.objects.filter(organization_id=project.organization_id, deleted_at__isnull=False)
    tasks = tasks.filter(conditions).exclude(media_id__in=deleted.values("pk"))
    if query.search:
        tasks = _searched(tasks, project=project, text=query.search)
    return tasks


def _live_media(project: Project) -> QuerySet[Media]:
    return Media.objects.filter(organization_id=project.organization_id, deleted_at__isnull=True)


def _freetext_paths(project: Project) -> tuple[list[list[str]], dict[Any, list[list[str]]]]:
    """Where free-text answers live in answer trees: key paths from the task's answers (global
    questions) and, per class, from its labels' answers (questions under a class)."""
    entries: dict[Any, LabelEntry] = {
        entry.pk: entry
        for entry in LabelEntry.objects.filter(configuration__project=project).only("id", "parent_id", "key", "type")
    }
    task_paths: list[list[str]] = []
    label_paths: dict[Any, list[list[str]]] = defaultdict(list)
    for entry in entries.values():
        if entry.type != EntryType.FREETEXT:
            continue
        keys = [entry.key]
        parent = entries.get(entry.parent_id)
        while parent is not None and parent.type not in GEOMETRY_TYPES:
            keys.insert(0, parent.key)
            parent = entries.get(parent.parent_id)
        (label_paths[parent.pk] if parent is not None else task_paths).append(keys)
    return task_paths, label_paths


def _answer_text(keys: list[str]) -> KeyTextTransform:
    """The text of the answer at `keys` in an `answers` column: answers[k1].answers[k2]...value."""
    node: Any = "answers"
    for depth, key in enumerate(keys):
        if depth:
            node = KeyTransform("answers", node)
        node = KeyTransform(key, node)
    return KeyTextTransform("value", node)


def _searched(tasks: QuerySet[Task], *, project: Project, text: str) -> QuerySet[Task]:
    """Names, global keys and external ids containing `text` (any case; trigram indexes on
    PostgreSQL), and free-text answers containing it: the task's (global questions) and its
    labels' (questions under a class; only those classes' labels are read, by the class index)."""
    media = _live_media(project).filter(
        Q(name__icontains=text) | Q(global_key__icontains=text) | Q(external_id__icontains=text)
    )
    found = Q(media_id__in=media.values("pk"))
    task_paths, label_paths = _freetext_paths(project)
    for index, keys in enumerate(task_paths[:SEARCH_PATHS_MAX]):
        tasks = tasks.annotate(**{f"answer_text_{index}": _answer_text(keys)})
        found |= Q(**{f"answer_text_{index}__icontains": text})
    answered = Q()
    labels = Label.objects.all()
    paths = [(entry_id, keys) for entry_id, each in label_paths.items() for keys in each][:SEARCH_PATHS_MAX]
    for index, (entry_id, keys) in enumerate(paths):
        labels = labels.annotate(**{f"answer_text_{index}": _answer_text(keys)})
        answered |= Q(entry_id=entry_id) & Q(**{f"answer_text_{index}__icontains": text})
    if paths:
        found |= Q(pk__in=labels.filter(answered).values("task_id"))
    return tasks.filter(found)


def _model_version(raw: Mapping[str, Any], errors: list[ErrorDetail]) -> str:
    value = _one(raw, "model_version")
    if len(value) > MODEL_VERSION_MAX:
        errors.append(
            ErrorDetail(
                path="model_version",
                code="too_long",
                message=f"model_version is at most {MODEL_VERSION_MAX} characters.",
            )
        )
        return ""
    return value


@dataclass(frozen=True)
class _SortKey:
    """One column of a sort: its lookup, its direction, and where its empty values go."""

    column: str
    descending: bool
    nullable: bool  # empty values last in the forward order, first in the reversed one
    kind: str  # how a cursor carries its value: "time", "text", "number", "id"


#: How a cursor carries each sort's column.
SORT_KINDS = {"created": "time", "updated": "time", "completed_at": "time", "score": "number"}


def _sort_keys(query: TaskQuery) -> list[_SortKey]:
    """The query's order, column by column: the sort's column, then the stable task order
    (created_at, id), which breaks ties, so that every task has one place (keyset paging)."""
    descending = query.descending
    tie = [_SortKey("created_at", descending, False, "time"), _SortKey("pk", descending, False, "id")]
    if query.sort == "created":
        return tie
    nullable = query.sort in NULLABLE_SORTS
    kind = SORT_KINDS.get(query.sort, "text")
    return [*(_SortKey(column, descending, nullable, kind) for column in SORTS[query.sort]), *tie]


def _with_sort_columns(tasks: QuerySet[Task], *, query: TaskQuery) -> QuerySet[Task]:
    if query.sort == "score":
        predictions = Label.objects.filter(task_id=OuterRef("pk"), source=LabelSource.PREDICTION, score__isnull=False)
        if query.model_version:
            predictions = predictions.filter(model_version=query.model_version)
        tasks = tasks.annotate(prediction_score=Subquery(predictions.order_by("-score").values("score")[:1]))
    return tasks


def _ordered(tasks: QuerySet[Task], keys: list[_SortKey], *, reverse: bool) -> QuerySet[Task]:
    """`tasks` in the keys' order, or in exactly its reverse (the last page read from the end).

    NULLS LAST only where a column has nulls: on a NOT NULL column it would keep PostgreSQL from
    walking an index backwards (the media name's, for a descending sort by name)."""
    columns = []
    for key in keys:
        descending = key.descending != reverse
        if not key.nullable:
            columns.append(F(key.column).desc() if descending else F(key.column).asc())
        elif reverse:  # the reverse of "empty last" is "empty first"
            columns.append(F(key.column).desc(nulls_first=True) if descending else F(key.column).asc(nulls_first=True))
        else:
            columns.append(F(key.column).desc(nulls_last=True) if descending else F(key.column).asc(nulls_last=True))
    return tasks.order_by(*columns)


def task_query_order(tasks: QuerySet[Task], *, query: TaskQuery) -> QuerySet[Task]:
    """The query's sort, ties broken by the stable task order (created_at, id); empty values last."""
    return _ordered(_with_sort_columns(tasks, query=query), _sort_keys(query), reverse=False)


def _after(keys: list[_SortKey], values: list[Any], *, reverse: bool) -> Q:
    """The rows strictly after the row whose sort values are `values`, in the keys' order (or,
    `reverse`, strictly before it). The first column also gets a plain range (`>=`), which an
    index walk can start from; the OR of the exact condition alone it could not."""
    condition: Q | None = None
    for key, value in reversed(list(zip(keys, values, strict=True))):
        descending = key.descending != reverse
        nulls_after = key.nullable and not reverse  # empty values come after every value
        if value is None:
            beyond = Q(**{f"{key.column}__isnull": False}) if not nulls_after and key.nullable else None
            same = Q(**{f"{key.column}__isnull": True})
        else:
            beyond = Q(**{f"{key.column}__{'lt' if descending else 'gt'}": value})
            if nulls_after:
                beyond |= Q(**{f"{key.column}__isnull": True})
            same = Q(**{key.column: value})
        if condition is None:  # the last column (the id): strictly after only
            condition = beyond if beyond is not None else Q(pk__in=[])
            continue
        rest = same & condition
        condition = rest if beyond is None else beyond | rest
    assert condition is not None
    first, value = keys[0], values[0]
    if value is not None and not (first.nullable and not reverse):
        condition &= Q(**{f"{first.column}__{'lte' if first.descending != reverse else 'gte'}": value})
    return condition


@dataclass(frozen=True)
class TaskPage:
    """A page of the browser: its task ids in order, where it starts, the count of every task the
    query matches, and cursors to the pages before and after it (None at either end)."""

    task_ids: list[Any]
    offset: int
    count: int
    next_cursor: str | None
    previous_cursor: str | None


def _cursor_encode(*, query: TaskQuery, offset: int, forward: bool, keys: list[_SortKey], row: tuple[Any, ...]) -> str:
    values: list[Any] = []
    for key, value in zip(keys, row, strict=True):
        if value is None:
            values.append(None)
        elif key.kind == "time":
            values.append(value.isoformat())
        elif key.kind == "number":
            values.append(float(value))
        else:
            values.append(str(value))
    sort = f"{'-' if query.descending else ''}{query.sort}"
    body = json.dumps({"s": sort, "o": offset, "f": forward, "v": values}, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str, *, query: TaskQuery, keys: list[_SortKey]) -> tuple[int, bool, list[Any]]:
    """(offset, forward, sort values) of a cursor this list gave out, else a located 400."""
    invalid = ValidationFailed(
        code="invalid",
        message="The task filters are not valid.",
        details=[
            ErrorDetail(path="cursor", code="invalid", message="cursor is not one of this list's (its sort changed?).")
        ],
    )
    try:
        if len(cursor) > CURSOR_MAX:
            raise ValueError
        body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        sort = f"{'-' if query.descending else ''}{query.sort}"
        offset, forward, raw = body["o"], body["f"], body["v"]
        if body["s"] != sort or not isinstance(offset, int) or offset < 0 or not isinstance(forward, bool):
            raise ValueError
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError
        values: list[Any] = []
        for key, value in zip(keys, raw, strict=True):
            if value is None:
                if not key.nullable:
                    raise ValueError
                values.append(None)
            elif key.kind == "time":
                moment = datetime.fromisoformat(str(value))
                values.append(moment if timezone.is_aware(moment) else timezone.make_aware(moment))
            elif key.kind == "number":
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ValueError
                values.append(float(value))
            elif key.kind == "id":
                values.append(UUID(str(value)))
            elif isinstance(value, str):
                values.append(value)
            else:
                raise ValueError
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, AttributeError):
        raise invalid from None
    return offset, forward, values


def task_page_get(
    *, project: Project, user: AnyUser, query: TaskQuery, limit: int, offset: int = 0, cursor: str = ""
) -> TaskPage:
    """A page of the browser's tasks, each page as cheap as the first.

    With a cursor (from the page before or after), a keyset seek: the rows after (or before) that
    row in the sort, read from the index where the sort has one. With an offset past the middle,
    the page is read from the end in the reverse order, so the last page costs what the first
    does; only offsets near the middle walk far. The count is of every matching task (exact: it
    costs about what the page does, `docs/benchmarks.md`)."""
    tasks = task_query_filter(tasks=task_browser_visible(project=project, user=user), project=project, query=query)
    count = tasks.count()
    tasks = _with_sort_columns(tasks, query=query)
    keys = _sort_keys(query)
    columns = [key.column for key in keys]
    if cursor:
        offset, forward, values = _cursor_decode(cursor, query=query, keys=keys)
        seek = tasks.filter(_after(keys, values, reverse=not forward))
        rows = list(_ordered(seek, keys, reverse=not forward).values_list(*columns)[: limit + 1])
        more = len(rows) > limit  # past the page in the direction read
        rows = rows[:limit]
        if forward:
            has_next, has_previous = more, True
        else:
            rows.reverse()
            has_next, has_previous = True, more
            if not more:  # nothing before it: the first page, whatever offset the cursor said
                offset = 0
    elif offset > count // 2 and offset < count:
        size = min(limit, count - offset)
        rows = list(_ordered(tasks, keys, reverse=True).values_list(*columns)[count - offset - size : count - offset])
        rows.reverse()
        has_next, has_previous = offset + size < count, offset > 0
    else:
        rows = list(_ordered(tasks, keys, reverse=False).values_list(*columns)[offset : offset + limit + 1])
        has_next, has_previous = len(rows) > limit, offset > 0
        rows = rows[:limit]
    return TaskPage(
        task_ids=[row[-1] for row in rows],
        offset=offset,
        count=count,
        next_cursor=_cursor_encode(query=query, offset=offset + len(rows), forward=True, keys=keys, row=rows[-1])
        if rows and has_next
        else None,
        previous_cursor=_cursor_encode(
            query=query, offset=max(0, offset - limit), forward=False, keys=keys, row=rows[0]
        )
        if rows and has_previous
        else None,
    )


def task_browser_list(*, project: Project, user: AnyUser, query: TaskQuery) -> QuerySet[Task]:
    """The browser's tasks: visible to the user, filtered, searched and sorted (every one: for a
    page, `task_page_get`)."""
    tasks = task_query_filter(tasks=task_browser_visible(project=project, user=user), project=project, query=query)
    return task_query_order(tasks, query=query)


def task_rows_get(*, task_ids: list[Any]) -> list[Task]:
    """The tasks of a page with what a row shows, in the order of `task_ids`."""
    tasks = (
        Task.objects.filter(pk__in=task_ids)
        .select_related("media", "media__dataset", "assignee", "reserved_by", "completed_by", "reviewed_by")
        .defer("answers")
    )
    by_id = {task.pk: task for task in tasks}
    return [by_id[pk] for pk in task_ids if pk in by_id]


# --- a page of rows: what the labels say, in one aggregate ---------------------------------------


@dataclass
class TaskRowExtras:
    label_counts: dict[str, int] = field(default_factory=dict)
    predictions: int = 0
    score_min: float | None = None
    score_max: float | None = None
    import_job_ids: list[str] = field(default_factory=list)


def task_rows_extras(*, project: Project, task_ids: list[Any]) -> dict[Any, TaskRowExtras]:
    """Per task of a page: its labels per class (predictions apart), its predictions with their
    lowest and highest score, and the import jobs its labels came from. One grouped query over the
    labels of these tasks only (the `label_task` index)."""
    keys = dict(LabelEntry.objects.filter(configuration__project=project).values_list("id", "key"))
    extras: dict[Any, TaskRowExtras] = defaultdict(TaskRowExtras)
    rows = (
        Label.objects.filter(task_id__in=task_ids)
        .order_by()
        .values("task_id", "entry_id", "source", "import_job_id")
        .annotate(n=Count("id"), low=Min("score"), high=Max("score"))
    )
    for row in rows:
        extra = extras[row["task_id"]]
        if row["source"] == LabelSource.PREDICTION:
            extra.predictions += row["n"]
            for low, high in ((row["low"], row["high"]),):
                if low is not None:
                    extra.score_min = low if extra.score_min is None else min(extra.score_min, low)
                if high is not None:
                    extra.score_max = high if extra.score_max is None else max(extra.score_max, high)
        else:
            key = keys.get(row["entry_id"])
            if key is not None:
                extra.label_counts[key] = extra.label_counts.get(key, 0) + row["n"]
        job = row["import_job_id"]
        if job is not None and str(job) not in extra.import_job_ids:
            extra.import_job_ids.append(str(job))
    return extras


def task_thumbnail_url(*, media_id: Any) -> str:
    return reverse("setup-media-thumbnail", kwargs={"media_id": media_id})


# --- what the page offers ------------------------------------------------------------------------


def task_browser_choices(*, project: Project) -> dict[str, Any]:
    """The classes, datasets, members and metadata fields the page's filters and columns offer."""
    classes = [
        {"key": key, "title": title, "color": color}
        for key, title, color, kind in LabelEntry.objects.filter(configuration__project=project)
        .order_by("position", "created_at")
        .values_list("key", "title", "color", "type")
        if kind in ("rectangle", "polygon", "line", "point", "segmentation")
    ]
    datasets = [
        {"id": str(pk), "name": name}
        for pk, name in Dataset.objects.filter(projects=project, deleted_at__isnull=True).values_list("pk", "name")
    ]
    fields: dict[str, None] = {}
    sample = Media.objects.filter(tasks__project=project).exclude(metadata={}).values_list("metadata", flat=True)
    for metadata in sample[:META_SAMPLE]:
        if isinstance(metadata, dict):
            fields.update(dict.fromkeys(str(name) for name in metadata if META_FIELD.match(str(name))))
    return {
        "classes": classes,
        "datasets": datasets,
        "users": [{"id": pk, "username": name} for pk, name in task_assignee_choices(project=project)],
        "metaFields": sorted(fields)[:50],
        "states": [{"value": value, "label": label} for value, label in TaskState.choices],
        "sorts": list(SORTS),
    }


# --- saved views and bulk jobs ---------------------------------------------------------------------


def task_view_list(*, project: Project, user: AnyUser) -> QuerySet[TaskView]:
    """The project's shared views and the user's own, by name."""
    own = Q(owner_id=user.pk) if user.pk is not None else Q(pk__in=[])
    return TaskView.objects.filter(Q(shared=True) | own, project=project).order_by("-shared", "name")


def task_view_get_for_change(*, user: AnyUser, view_id: UUID | str) -> TaskView:
    """A view the user may change or delete: their own, or a shared one when they are an admin."""
    view = TaskView.objects.select_related("project").filter(pk=view_id).first()
    if view is None:
        raise NotFound(code="not_found", message="No such view.", params=("TaskView", "id", str(view_id)))
    try:
        project_get_for_user(user=user, project_id=view.project_id)
    except NotFound:
        raise NotFound(code="not_found", message="No such view.", params=("TaskView", "id", str(view_id))) from None
    admin = user_role(user=user, organization=view.project.organization_id) == Role.ADMIN
    own = view.owner_id is not None and view.owner_id == user.pk
    if not own and not view.shared:
        raise NotFound(code="not_found", message="No such view.", params=("TaskView", "id", str(view_id)))
    if not own and not admin:
        raise PermissionDenied(code="permission_denied", message="Only an admin changes a shared view.")
    return view


def project_get_for_bulk(*, user: AnyUser, project_id: UUID | str) -> Project:
    """The project if the user runs bulk actions on its tasks: an admin of its organisation."""
    project = project_get_for_user(user=user, project_id=project_id)
    if user_role(user=user, organization=project.organization_id) != Role.ADMIN:
        raise PermissionDenied(code="permission_denied", message="Only an admin of the project runs bulk actions.")
    return project


def task_bulk_job_get(*, user: AnyUser, job_id: UUID | str) -> TaskBulkJob:
    """A bulk job of a project the user administers; NotFound otherwise."""
    job = TaskBulkJob.objects.select_related("project").filter(pk=job_id).first()
    if job is None:
        raise NotFound(code="not_found", message="No such bulk job.", params=("TaskBulkJob", "id", str(job_id)))
    try:
        project_get_for_bulk(user=user, project_id=job.project_id)
    except (NotFound, PermissionDenied):
        raise NotFound(
            code="not_found", message="No such bulk job.", params=("TaskBulkJob", "id", str(job_id))
        ) from None
    return job
