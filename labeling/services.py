"""Writes of the labeling app: tasks and labels."""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.utils import timezone

from labeling.annotation import MediaAnnotation, Shape, answers_to_json, rotation_normalise
from labeling.documents import answers_problems, document_problems, labels_problems, required_problems
from labeling.models import (
    Label,
    LabelingPreference,
    LabelSource,
    PredictionOutcome,
    PredictionOutcomeKind,
    ReviewVerdict,
    Task,
    TaskState,
)
from labeling.selectors import task_annotation_get
from labelsite.bound_cursor import bound_cursor as _bound_cursor
from labelsite.bulk_insert import rows_insert
from labelsite.errors import Conflict, ErrorDetail, NotFound, PermissionDenied, ValidationFailed
from labelsite.ids import time_ordered_id
from labelsite.table_statistics import table_statistics_refresh_after_write
from projects.label_config import IndexedEntry, LabelConfigIndex, label_config_hold, label_config_index
from projects.models import Dataset, Media, Project, Role
from projects.selectors import user_role

TASK_BATCH = 2000


def task_create_for_media(*, dataset: Dataset, media_ids: Sequence[UUID], except_projects: Collection[Any] = ()) -> int:
    """One task per new media in every project the dataset is connected to (but `except_projects`,
    whose tasks the caller made), in bulk."""
    project_ids = list(dataset.projects.exclude(pk__in=list(except_projects)).values_list("id", flat=True))
    if not project_ids:
        return 0
    if connection.vendor == "postgresql":
        # One statement per project: only the ids vary (`labelsite.bulk_insert`).
        with transaction.atomic():
            created = 0
            for project_id in project_ids:
                created += len(
                    rows_insert(
                        Task,
                        arrays={
                            "id": ("uuid", [time_ordered_id() for _ in media_ids]),
                            "media_id": ("uuid", list(media_ids)),
                        },
                        constants={"project_id": project_id},
                    )
                )
            table_statistics_refresh_after_write(table=Task._meta.db_table, rows=created)
        return created
    tasks = [Task(project_id=project_id, media_id=media_id) for project_id in project_ids for media_id in media_ids]
    with transaction.atomic():
        Task.objects.bulk_create(tasks, batch_size=TASK_BATCH, ignore_conflicts=True)
        table_statistics_refresh_after_write(table=Task._meta.db_table, rows=len(tasks))
    return len(tasks)


def task_create_for_dataset(*, dataset: Dataset, project: Project) -> int:
    """A task in the project for every live media of a newly connected dataset."""
    created = 0
    media_ids = Media.objects.filter(dataset=dataset, deleted_at__isnull=True).values_list("id", flat=True)
    batch: list[Task] = []
    with transaction.atomic():
        for media_id in media_ids.iterator(chunk_size=TASK_BATCH):
            batch.append(Task(project=project, media_id=media_id))
            if len(batch) >= TASK_BATCH:
                Task.objects.bulk_create(batch, ignore_conflicts=True)
                created += len(batch)
                batch = []
        if batch:
            Task.objects.bulk_create(batch, ignore_conflicts=True)
            created += len(batch)
        table_statistics_refresh_after_write(table=Task._meta.db_table, rows=created)
    return created


# --- the one rule every writer of a task's annotation or state passes first ----------------------


def _task_holder(task_id: Any, *, now: datetime) -> tuple[int, str, str] | None:
    """(user id, username, "assigned" or "reserved") of whoever holds the task now, read afresh:
    its assignee, else whoever has a reservation that has not expired; None when it is free."""
    row = (
        Task.objects.filter(pk=task_id)
        .values_list("assignee_id", "assignee__username", "reserved_by_id", "reserved_by__username", "reserved_until")
        .first()
    )
    if row is None:
        return None
    assignee_id, assignee_name, reserved_id, reserved_name, reserved_until = row
    if assignee_id is not None:
        return assignee_id, assignee_name, "assigned"
    if reserved_id is not None and reserved_until is not None and reserved_until > now:
        return reserved_id, reserved_name, "reserved"
    return None


def _held_conflict(holder: tuple[int, str, str]) -> Conflict:
    user_id, username, kind = holder
    if kind == "assigned":
        message = f"This task is assigned to {username}; ask an admin to reassign it."
    else:
        message = (
            f"This task is reserved by {username}, who is labeling it; open another task, "
            "or ask an admin to release it."
        )
    return Conflict(code="task_held", message=message, params=(username, user_id, kind))


def _task_hold_check(*, task: Task, user: Any) -> None:
    """An annotator writes only a task that is free, or assigned or reserved to them: one assigned
    to someone else stays theirs until an admin reassigns it, one reserved by someone else until
    their reservation ends. Admins and reviewers write any task, as do scripts (no `user`: the
    DataGym v1 API acts for the organisation). The holder is read afresh, so a reassignment or a
    reservation committed before the write counts."""
    if user is None:
        return
    holder = _task_holder(task.pk, now=timezone.now())
    if holder is None or holder[0] == user.pk:
        return
    if user_role(user=user, organization=task.project.organization_id) in (Role.ADMIN, Role.REVIEWER):
        return
    raise _held_conflict(holder)


def _task_labels_hold(task: Task) -> None:
    """Hold the task's project configuration until the commit (`label_config_hold`): the classes
    checked after this stay, and the task is not deleted before the labels are written (labels
    have no foreign key to their task, see `Label.task`). A deletion of the task (its project's,
    or the admin's of its media) took the configuration first, and is committed when this
    returns: the task is looked for after the hold, and when it is gone nothing is written, a 404."""
    label_config_hold(project_id=task.project_id)
    if not Task.objects.filter(pk=task.pk).exists():
        raise NotFound(
            code="not_found",
            message="This task is gone: it was deleted with its project or its image.",
            params=("Task", "id", str(task.pk)),
        )


# --- reservations: opening a task to label it holds it for a lease ----------------------------------


def task_lease_seconds() -> int:
    return int(settings.LABELSITE_TASK_LEASE_SECONDS)


def _free_for(user: Any, *, now: datetime) -> Q:
    """Tasks `user` may reserve: open, assigned to nobody or to them, reserved by nobody (or an
    expired reservation) or by them."""
    return (
        Q(state__in=_OPEN_STATES)
        & (Q(assignee__isnull=True) | Q(assignee_id=user.pk))
        & (Q(reserved_by__isnull=True) | Q(reserved_until__lte=now) | Q(reserved_by_id=user.pk))
    )


def _free_for_review(user: Any, *, now: datetime) -> Q:
    """Tasks `user` may reserve to review: completed (so not reviewed yet: accepting makes a task
    reviewed, rejecting reopens it), not completed by them, held by nobody else."""
    return (
        Q(state=TaskState.COMPLETED)
        & ~Q(completed_by_id=user.pk)
        & (Q(reserved_by__isnull=True) | Q(reserved_until__lte=now) | Q(reserved_by_id=user.pk))
    )


def _reserve_row(*, task_id: Any, user: Any, now: datetime, active_seconds: int = 0, review: bool = False) -> bool:
    """Take or renew the reservation of one task with one conditional UPDATE (race-free on every
    database: of two writers, the second finds the condition false); answers whether it held.
    Only people reserve: an organisation's token (no `pk`) acts for nobody in particular.
    `review`: the reservation of a reviewer (the same lease, on a completed task)."""
    if not getattr(user, "pk", None):
        return False
    changes: dict[str, Any] = {"reserved_by": user, "reserved_until": now + timedelta(seconds=task_lease_seconds())}
    if active_seconds:
        changes["active_seconds"] = F("active_seconds") + active_seconds
    free = _free_for_review(user, now=now) if review else _free_for(user, now=now)
    return bool(Task.objects.filter(free, pk=task_id).update(**changes))


def _reservations_release_others(*, user: Any, project_id: Any, keep: Any, now: datetime) -> None:
    """A user labels one task of a project at a time: opening one gives back the others they hold,
    so browsing with Next does not keep a trail of tasks from everyone else.

    Only live reservations: an expired one holds nothing already, and it may be the very row
    another caller has locked as its next task (touching it could deadlock with that caller)."""
    Task.objects.filter(project_id=project_id, reserved_by_id=user.pk, reserved_until__gt=now).exclude(pk=keep).update(
        reserved_by=None, reserved_until=None
    )


def task_reserve(*, task: Task, user: Any) -> bool:
    """Reserve the task for `user` as they open it (a link, Next), or renew their reservation.

    Answers False, changing nothing, when the task is not open, or someone else holds it (an
    assignee, or a live reservation); the page then opens read-only for an annotator. Admins and
    reviewers who open a task someone else holds do not take it from them."""
    if user is None or not getattr(user, "pk", None):
        return False
    now = timezone.now()
    with transaction.atomic():
        if not _reserve_row(task_id=task.pk, user=user, now=now):
            return False
        _reservations_release_others(user=user, project_id=task.project_id, keep=task.pk, now=now)
    task.refresh_from_db(fields=["reserved_by", "reserved_until", "active_seconds"])
    return True


#: How many times "next task" tries again when another user took its candidate first.
_NEXT_ATTEMPTS = 200


def task_next_reserve(*, user: Any, project: Project) -> Task | None:
    """The task `user` should label next, reserved for them; None when none is left.

    Their own reservation first (a reload, or a second Start, resumes it), then open tasks
    assigned to them, then open tasks nobody holds, oldest first. Never a task assigned to or
    reserved by someone else. Race-free: on PostgreSQL the candidate row is locked with
    `FOR UPDATE SKIP LOCKED`, so concurrent callers pass over each other's candidates instead of
    queueing on them; on every database the reservation itself is a conditional UPDATE, and a
    caller that lost its candidate to another (SQLite serialises writers) tries the next one.
    """
    skip_locked = connection.features.has_select_for_update_skip_locked
    for _ in range(_NEXT_ATTEMPTS):
        now = timezone.now()
        with transaction.atomic():
            order = Case(
                When(reserved_by_id=user.pk, reserved_until__gt=now, then=Value(0)),
                When(assignee_id=user.pk, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
            candidates = Task.objects.filter(_free_for(user, now=now), project=project).order_by(
                order, "created_at", "id"
            )
            if skip_locked:
                candidates = candidates.select_for_update(skip_locked=True)
            task_id = candidates.values_list("pk", flat=True).first()
            if task_id is None:
                return None
            if _reserve_row(task_id=task_id, user=user, now=now):
                _reservations_release_others(user=user, project_id=project.pk, keep=task_id, now=now)
                return Task.objects.select_related("media", "project").get(pk=task_id)
    return None


def _may_review(*, user: Any, task: Task) -> bool:
    return user_role(user=user, organization=task.project.organization_id) in (Role.ADMIN, Role.REVIEWER)


def task_review_reserve(*, task: Task, user: Any) -> bool:
    """Reserve a completed task for the reviewer who opens it (a link, the review queue), or renew
    their reservation; False, changing nothing, when it is not to review, they completed it, or
    another reviewer holds it. The caller checks the role (`task_get_for_review`)."""
    if user is None or not getattr(user, "pk", None):
        return False
    now = timezone.now()
    with transaction.atomic():
        if not _reserve_row(task_id=task.pk, user=user, now=now, review=True):
            return False
        _reservations_release_others(user=user, project_id=task.project_id, keep=task.pk, now=now)
    task.refresh_from_db(fields=["reserved_by", "reserved_until", "active_seconds"])
    return True


def task_review_next_reserve(*, user: Any, project: Project) -> Task | None:
    """The task `user` should review next, reserved for them with the labeling lease; None when
    none is left. Their own live review reservation first, then completed tasks in the order they
    were completed; never one they completed themselves, nor one another reviewer holds. Race-free
    the way `task_next_reserve` is: two reviewers never get the same task."""
    if not getattr(user, "pk", None):
        return None  # an organisation's token reviews as nobody in particular: it reserves nothing
    skip_locked = connection.features.has_select_for_update_skip_locked
    for _ in range(_NEXT_ATTEMPTS):
        now = timezone.now()
        with transaction.atomic():
            order = Case(
                When(reserved_by_id=user.pk, reserved_until__gt=now, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
            candidates = Task.objects.filter(_free_for_review(user, now=now), project=project).order_by(
                order, F("completed_at").asc(nulls_first=True), "created_at", "id"
            )
            if skip_locked:
                candidates = candidates.select_for_update(skip_locked=True)
            task_id = candidates.values_list("pk", flat=True).first()
            if task_id is None:
                return None
            if _reserve_row(task_id=task_id, user=user, now=now, review=True):
                _reservations_release_others(user=user, project_id=project.pk, keep=task_id, now=now)
                return Task.objects.select_related("media", "project").get(pk=task_id)
    return None


#: The most active time one heartbeat or save may add: a page sends its increments every minute,
#: so more than a lease's worth at once is not time spent on this task.
def _active_seconds_clean(value: int | None) -> int:
    if not value or value < 0:
        return 0
    return min(int(value), task_lease_seconds())


def task_heartbeat(*, task: Task, user: Any, active_seconds: int = 0) -> Task:
    """The open labeling page says it is still there: renew the user's reservation, and add the
    active time it counted since its last heartbeat. An annotator whose task someone else holds
    (their reservation expired and another took it) gets 409 `task_held` naming the holder; an
    admin or reviewer looking at a task someone else holds adds their time without taking it."""
    _task_hold_check(task=task, user=user)
    seconds = _active_seconds_clean(active_seconds)
    now = timezone.now()
    with transaction.atomic():
        # A reviewer's page renews the review reservation of the completed task it shows.
        review = task.state == TaskState.COMPLETED and _may_review(user=user, task=task)
        if not _reserve_row(task_id=task.pk, user=user, now=now, active_seconds=seconds, review=review) and seconds:
            Task.objects.filter(pk=task.pk).update(active_seconds=F("active_seconds") + seconds)
    task.refresh_from_db(fields=["reserved_by", "reserved_until", "active_seconds", "assignee"])
    return task


def task_release(*, task: Task) -> Task:
    """End the task's reservation (an admin freeing a task, or its holder giving it back). Who may
    do that is the selector's rule (`task_get_for_release`)."""
    Task.objects.filter(pk=task.pk).update(reserved_by=None, reserved_until=None)
    task.reserved_by = None
    task.reserved_until = None
    return task


# --- task states set by a script (the DataGym v1 API) ----------------------------------------

#: States a script may move a task out of by completing or skipping it.
_OPEN_STATES = frozenset({TaskState.BACKLOG, TaskState.WAITING, TaskState.IN_PROGRESS, TaskState.WAITING_CHANGED})


def _task_state_set(*, task: Task, state: str, user: Any = None) -> Task:
    """Move an open task to completed or skipped. Completing records who and when; either ends
    the task's reservation (the user is done with it)."""
    if task.state == state:
        return task
    if task.state not in _OPEN_STATES:
        raise Conflict(
            code="task_state",
            message=f"The task is {task.get_state_display().lower()} already and cannot be changed this way.",
            params=(task.state.upper(),),
        )
    now = timezone.now()
    changes: dict[str, Any] = {"state": state, "updated_at": now, "reserved_by": None, "reserved_until": None}
    if state == TaskState.COMPLETED:
        changes.update(completed_by=user if getattr(user, "pk", None) else None, completed_at=now)
    updated = Task.objects.filter(pk=task.pk, state=task.state).update(**changes)
    if not updated:
        raise Conflict(
            code="task_state", message="The task changed meanwhile; reload it.", params=(task.state.upper(),)
        )
    for name, value in changes.items():
        setattr(task, name, value)
    return task


def task_complete(*, task: Task, user: Any = None) -> Task:
    _task_hold_check(task=task, user=user)
    return _task_state_set(task=task, state=TaskState.COMPLETED, user=user)


def task_skip(*, task: Task, user: Any = None) -> Task:
    _task_hold_check(task=task, user=user)
    return _task_state_set(task=task, state=TaskState.SKIPPED, user=user)


# --- the whole annotation of a task, saved by the labeling page and the native API ----------


#: What makes two versions of a label the same label, as far as who changed it is concerned.
_LABEL_CONTENT = ("entry_id", "points", "answers", "source", "score", "model_version")


def _label_content(label: Label) -> tuple[Any, ...]:
    # The class as text: the index gives it as a string, the database as a UUID.
    return (str(label.entry_id), *(getattr(label, name) for name in _LABEL_CONTENT[1:]))


@dataclass(frozen=True)
class _Kept:
    """Who wrote a stored label, kept when a save sends it back with its `id`."""

    author_id: int | None
    updated_by_id: int | None
    content: tuple[Any, ...]
    created_at: datetime
    rotation: float = 0.0

    @property
    def was_prediction(self) -> bool:
        return bool(self.content[3] == LabelSource.PREDICTION)

    def outcome(self, label_id: int, task: Task, kind: str, user_id: int | None) -> PredictionOutcome:
        """What became of this stored prediction, as `_outcome_note` notes it on the labeling page."""
        return PredictionOutcome(
            project_id=task.project_id,
            label_id=label_id,
            model_version=self.content[5],
            score=self.content[4],
            outcome=kind,
            user_id=user_id,
        )


def _label_rows(
    labels: list[dict[str, Any]],
    *,
    task: Task,
    index: LabelConfigIndex,
    parent: IndexedEntry | None,
    author: Any,
    kept: dict[int, _Kept] | None = None,
    outcomes: list[PredictionOutcome] | None = None,
) -> list[tuple[Label, list[dict[str, Any]]]]:
    """Label rows of a document's labels (not their nested ones). With `outcomes`, a stored
    prediction sent back as a label of another source is noted accepted (its class and shape as
    they were) or edited."""
    rows = []
    user_id = author.pk if getattr(author, "pk", None) else None
    for label in labels:
        entry = index.child(parent.id, label["key"]) if parent is not None else index.root(label["key"])
        assert entry is not None  # checked by document_problems
        row = Label(
            task=task,
            entry_id=entry.id,
            points=label["points"],
            rotation=rotation_normalise(label.get("rotation") or 0.0),
            answers=label.get("answers") or {},
            source=label.get("source", LabelSource.MANUAL),
            score=label.get("score"),
            model_version=label.get("model_version") or "",
            author_id=user_id,
            updated_by_id=user_id,
        )
        # A label the document sends back with its stored id keeps that id and its author; its
        # last editor changes only when its content did.
        previous = (kept or {}).pop(label["id"], None) if isinstance(label.get("id"), int) else None
        if previous is not None:
            row.id = label["id"]
            row.author_id = previous.author_id
            if _label_content(row) == previous.content:
                row.updated_by_id = previous.updated_by_id
            if outcomes is not None and previous.was_prediction and row.source != LabelSource.PREDICTION:
                same = (str(row.entry_id), row.points, row.rotation) == (
                    previous.content[0],
                    previous.content[1],
                    previous.rotation,
                )
                kind = PredictionOutcomeKind.ACCEPTED if same else PredictionOutcomeKind.EDITED
                outcomes.append(previous.outcome(row.id, task, kind, user_id))
        rows.append((row, label.get("children") or []))
    return rows


def _labels_kept(task: Task) -> dict[int, _Kept]:
    fields = ("id", "author_id", "updated_by_id", "created_at", "rotation", *_LABEL_CONTENT)
    return {
        row["id"]: _Kept(
            author_id=row["author_id"],
            updated_by_id=row["updated_by_id"],
            content=_label_content(Label(**{name: row[name] for name in _LABEL_CONTENT})),
            created_at=row["created_at"],
            rotation=row["rotation"],
        )
        for row in Label.objects.filter(task=task).values(*fields)
    }


def _reservation_renew(*, task: Task, user: Any, active_seconds: int = 0) -> None:
    """A save by the task's holder (or on a free task) renews or takes its reservation, and adds the
    active time the page counted; an admin's save on a task someone else holds takes nothing."""
    seconds = _active_seconds_clean(active_seconds)
    if getattr(user, "pk", None) and _reserve_row(
        task_id=task.pk, user=user, now=timezone.now(), active_seconds=seconds
    ):
        return
    if seconds:
        Task.objects.filter(pk=task.pk).update(active_seconds=F("active_seconds") + seconds)


@transaction.atomic
def task_annotation_replace(
    *,
    task: Task,
    document: dict[str, Any],
    user: Any = None,
    expected_version: int | None = None,
    active_seconds: int = 0,
) -> dict[str, Any]:
    """Replace a task's answers and labels with `document`; answers the stored document.

    Every problem of the document is reported at once, with its path. When the caller says
    which version it edited (`expected_version`), a save over a newer version is refused
    with a conflict instead of silently overwriting another person's work. A label sent back
    with its stored `id` keeps its author. The save renews the saver's reservation.
    """
    _task_hold_check(task=task, user=user)
    _task_labels_hold(task)  # the classes checked below stay until the commit
    index = label_config_index(configuration=task.project.label_configuration)
    problems = document_problems(document, index=index)
    if problems:
        raise ValidationFailed(
            code="invalid_annotation",
            message=f"The annotation has {len(problems)} problem(s); see details.",
            details=problems,
        )
    version_filter = {"version": expected_version} if expected_version is not None else {}
    updated = Task.objects.filter(pk=task.pk, **version_filter).update(
        answers=document.get("answers") or {}, version=F("version") + 1, updated_at=timezone.now()
    )
    if not updated:
        raise Conflict(
            code="version_conflict",
            message="Someone saved this task after you opened it; reload it or merge your changes.",
        )
    _reservation_renew(task=task, user=user, active_seconds=active_seconds)
    kept = _labels_kept(task)
    made_at = {label_id: previous.created_at for label_id, previous in kept.items()}
    Label.objects.filter(task=task).delete()
    outcomes: list[PredictionOutcome] = []
    roots = _label_rows(
        document.get("labels") or [], task=task, index=index, parent=None, author=user, kept=kept, outcomes=outcomes
    )
    # Parents first, so that nested geometries get their parent's id (bulk_create returns ids).
    Label.objects.bulk_create([row for row, _ in roots])
    nested: list[Label] = []
    for row, children in roots:
        parent_entry = index.entries[str(row.entry_id)]
        for child, _ in _label_rows(
            children, task=task, index=index, parent=parent_entry, author=user, kept=kept, outcomes=outcomes
        ):
            child.parent = row
            nested.append(child)
    Label.objects.bulk_create(nested)
    # What the labeling page notes of predictions, a whole-document save notes too (the model's
    # figures count them): those sent back as labels above, those left out as deleted.
    user_id = user.pk if getattr(user, "pk", None) else None
    outcomes += [
        previous.outcome(label_id, task, PredictionOutcomeKind.DELETED, user_id)
        for label_id, previous in kept.items()
        if previous.was_prediction
    ]
    if outcomes:
        PredictionOutcome.objects.bulk_create(outcomes)
    _labels_made_at_keep(made_at, [row.id for row, _ in roots] + [row.id for row in nested])
    task.refresh_from_db()
    return task_annotation_get(task=task)


def _labels_made_at_keep(made_at: dict[int, datetime], label_ids: Sequence[int | None]) -> None:
    """Labels a whole-document save sent back keep when they were made, as they keep their author
    (the team figures count labels made per day): one UPDATE, since inserting sets `created_at`."""
    kept = [(label_id, made_at[label_id]) for label_id in label_ids if label_id in made_at]
    if kept:
        Label.objects.filter(pk__in=[label_id for label_id, _ in kept]).update(
            created_at=Case(*(When(pk=label_id, then=Value(when)) for label_id, when in kept))
        )


def task_complete_checked(*, task: Task, user: Any = None) -> Task:
    """Complete a task from the labeling page: required questions must be answered."""
    _task_hold_check(task=task, user=user)
    index = label_config_index(configuration=task.project.label_configuration)
    problems = required_problems(task_annotation_get(task=task), index=index)
    if problems:
        raise ValidationFailed(
            code="required_unanswered",
            message=f"{len(problems)} required question(s) are unanswered; see details.",
            details=problems,
        )
    return _task_state_set(task=task, state=TaskState.COMPLETED, user=user)


# --- bulk label writes (imports) -----------------------------------------------------------

#: Label columns in the order the bulk writers send them.
_LABEL_COLUMNS = (
    "id",
    "task_id",
    "entry_id",
    "parent_id",
    "points",
    "rotation",
    "answers",
    "source",
    "score",
    "model_version",
    "import_job_id",
    "import_batch",
    "valid",
    "author_id",
    "created_at",
    "updated_at",
)
_DELETE_CHUNK = 500


@dataclass(frozen=True)
class LabelBatchWritten:
    labels: int
    tasks: int


#: Per task of a batch: (whether its stored labels and answers go, the answer trees to merge in
#: order over what it keeps: nothing when they go, its stored answers otherwise). A staged
#: plan keeps each tree as its JSON text (`str`), decoded only when it must be merged.
TaskAnswersPlan = dict[UUID, tuple[bool, list[Any]]]  # trees: dict, or str when staged


def labels_write_batch(
    *,
    items: Sequence[tuple[UUID, MediaAnnotation]],
    import_job_id: UUID | None = None,
    import_batch: int | None = None,
    author_id: int | None = None,
) -> LabelBatchWritten:
    """Write the annotations of a batch of tasks: one row per shape, and the global answers.

    `items` pairs a task id with what an import item says about its media, in file order;
    every shape must carry its resolved `entry_id`. In one transaction:

    - the rows of an earlier attempt at the same `(import_job_id, import_batch)` are
      deleted first, so that a batch written twice is written once;
    - `keep_data=False` deletes the task's labels and replaces its global answers (a later
      item of the same task in the batch wipes what an earlier one added); `keep_data=True`
      adds shapes and merges answers (an answer without a value keeps the stored one);
    - label ids are reserved up front (one `nextval` query on PostgreSQL), so a nested
      shape names its parent in the same insert; PostgreSQL gets the rows by COPY,
      SQLite by one prepared INSERT;
    - the tasks' answers, `has_import` and `version` are updated in bulk.

    `labels_batch_stage` + `labels_write_staged` do the same in two steps (an import's chunks).
    """
    with transaction.atomic():
        if import_job_id is not None and import_batch is not None:
            _labels_delete(import_job_id=import_job_id, import_batch=import_batch)
        shapes_by_task, plan = _batch_plan(items)
        _labels_wipe(plan)
        # The tasks first, as `labels_write_staged` does: labels have no foreign key to their
        # task, and a task deleted since the batch was read is then known, its shapes left out.
        updated = _tasks_answers_store(plan)
        if updated < len(plan):
            live = set(Task.objects.filter(pk__in=list(plan)).values_list("pk", flat=True))
            shapes_by_task = {task_id: shapes for task_id, shapes in shapes_by_task.items() if task_id in live}
        rows = _import_label_rows(
            shapes_by_task, import_job_id=import_job_id, import_batch=import_batch, author_id=author_id
        )
        _labels_insert(rows)
    return LabelBatchWritten(labels=len(rows), tasks=updated)


def predictions_write_batch(
    *, items: Sequence[tuple[UUID, MediaAnnotation]], project_id: UUID, config_stamp: datetime | None
) -> LabelBatchWritten:
    """Store a model's predictions on a batch of tasks (`ml/`): shapes with source `prediction`.

    A task's earlier predictions of the same model version are replaced (asking the same model
    again refreshes its answer rather than doubling it); everything else the task holds stays,
    and the global answers a prediction gives fill only questions left unanswered (as the Label
    Studio reader merges them). The tasks' versions are bumped, so an open labeling page reloads
    instead of overwriting them. In one transaction holding the configuration: when it changed
    since `config_stamp` (the classes the shapes were resolved with), nothing is written and
    Conflict `configuration_changed` is raised for the caller to resolve the batch again.
    """
    with transaction.atomic():
        stamp = label_config_hold(project_id=project_id)
        if stamp is None or stamp != config_stamp:
            raise Conflict(
                code="configuration_changed",
                message="The label configuration changed while the predictions were read; read them again.",
            )
        task_ids = list(dict.fromkeys(task_id for task_id, _ in items))
        # Labels have no foreign key to their task: the tasks deleted before the hold are left out.
        live = set(Task.objects.filter(pk__in=task_ids).values_list("pk", flat=True))
        if len(live) < len(task_ids):
            items = [(task_id, annotation) for task_id, annotation in items if task_id in live]
            task_ids = [task_id for task_id in task_ids if task_id in live]
        versions = sorted({shape.model_version for _, annotation in items for shape in annotation.shapes})
        for start in range(0, len(task_ids), _DELETE_CHUNK):
            _labels_delete(
                task_id__in=task_ids[start : start + _DELETE_CHUNK],
                source=LabelSource.PREDICTION,
                model_version__in=versions,
            )
        kept = [(task_id, dataclass_replace(annotation, keep_data=True)) for task_id, annotation in items]
        shapes_by_task, plan = _batch_plan(kept)
        rows = _import_label_rows(shapes_by_task, import_job_id=None, import_batch=None, author_id=None)
        _labels_insert(rows)
        stored = _tasks_answers_get(task_ids)
        final: dict[UUID, dict[str, Any] | str] = {}
        for task_id, (_, trees) in plan.items():
            current = stored.get(task_id) or {}
            for tree in trees:
                decoded: dict[str, Any] = orjson.loads(tree) if isinstance(tree, str) else tree
                # A prediction fills a question nobody answered; it never overrides an answer.
                current = {**decoded, **current}
            final[task_id] = current
        _tasks_update_answers(final, imported=False)
    return LabelBatchWritten(labels=len(rows), tasks=len(plan))


def predictions_accept(*, project_id: UUID, label_ids: Sequence[int], user_id: int | None) -> int:
    """Make predictions labels (source `manual`, as the labeling page's Accept does), keeping
    their score and model version, each noted as accepted (`PredictionOutcome`); their tasks'
    versions are bumped. Answers how many were accepted (a label no longer a prediction is passed over)."""
    with transaction.atomic():
        labels = Label.objects.filter(
            pk__in=list(label_ids), source=LabelSource.PREDICTION, task__project_id=project_id
        )
        rows = list(labels.values_list("pk", "task_id", "model_version", "score"))
        task_ids = list({task_id for _, task_id, _, _ in rows})
        accepted = labels.update(source=LabelSource.MANUAL, updated_by_id=user_id, updated_at=timezone.now())
        PredictionOutcome.objects.bulk_create(
            [
                PredictionOutcome(
                    project_id=project_id,
                    label_id=pk,
                    model_version=version,
                    score=score,
                    outcome=PredictionOutcomeKind.ACCEPTED,
                    user_id=user_id,
                )
                for pk, _, version, score in rows
            ],
            batch_size=1000,
        )
        for start in range(0, len(task_ids), TASK_BATCH):
            Task.objects.filter(pk__in=task_ids[start : start + TASK_BATCH]).update(
                version=F("version") + 1, updated_at=timezone.now()
            )
    return int(accepted)


@dataclass(frozen=True)
class StagedLabelBatch:
    """A batch made ready before it may be written: the label rows as the data of a binary COPY
    (ids reserved), and the answer plan per task. Nothing of it is visible until written."""

    copy_data: bytes
    labels: int
    tasks: TaskAnswersPlan

    def header(self) -> bytes:
        """Everything but the COPY data, as JSON; each answer tree as a JSON string, which the
        write decodes only to merge it (mostly it goes to the database as it is)."""
        return orjson.dumps(
            {
                "labels": self.labels,
                "tasks": [
                    [
                        task_id,
                        replace,
                        [tree if isinstance(tree, str) else orjson.dumps(tree).decode() for tree in trees],
                    ]
                    for task_id, (replace, trees) in self.tasks.items()
                ],
            }
        )

    @classmethod
    def from_parts(cls, header: bytes, copy_data: bytes) -> StagedLabelBatch:
        data = orjson.loads(header)
        tasks: TaskAnswersPlan = {UUID(task_id): (replace, trees) for task_id, replace, trees in data["tasks"]}
        return cls(copy_data=copy_data, labels=data["labels"], tasks=tasks)


def labels_batch_stage(
    *,
    items: Sequence[tuple[UUID, MediaAnnotation]],
    import_job_id: UUID,
    import_batch: int,
    author_id: int | None = None,
) -> StagedLabelBatch:
    """Prepare the write of `items` (as `labels_write_batch` would write them) without writing.

    Reserves the label ids (PostgreSQL's sequence values, SQLite's AUTOINCREMENT high-water
    mark: never given twice, so the staged rows may be written any time later) and encodes the
    rows, so that the write needs neither the file nor the conversion again: for a binary COPY on
    PostgreSQL; on SQLite as the parameters of its prepared INSERT (UUIDs as hex, JSON as text),
    the batch one JSON array of rows. What depends on the tasks' stored answers at write time
    (`keep_data`) is left to `labels_write_staged`.
    """
    shapes_by_task, plan = _batch_plan(items)
    if connection.vendor != "postgresql":
        rows = _import_label_rows(
            shapes_by_task, import_job_id=import_job_id, import_batch=import_batch, author_id=author_id, staged=True
        )
        return StagedLabelBatch(copy_data=orjson.dumps(rows) if rows else b"", labels=len(rows), tasks=plan)
    count = _shapes_count(shapes_by_task)
    if not count:
        return StagedLabelBatch(copy_data=b"", labels=0, tasks=plan)
    copy_data = _import_label_copy(
        shapes_by_task,
        ids=_label_ids_reserve(count),
        now=timezone.now(),
        import_job_id=import_job_id,
        import_batch=import_batch,
        author_id=author_id,
    )
    return StagedLabelBatch(copy_data=copy_data, labels=count, tasks=plan)


def labels_write_staged(
    *, batch: StagedLabelBatch, import_job_id: UUID, import_batch: int, fresh: Collection[UUID] = ()
) -> LabelBatchWritten:
    """Write a staged batch, once: the same transaction as `labels_write_batch`, without Python work per row.

    The tasks are updated first: a task deleted since the batch was staged is then known
    before the COPY, and its rows are left out (through a temporary table, the rare path),
    as a fresh read of the file would leave out an item whose media is gone. `fresh`: tasks the
    caller made in this transaction with the answers of `tasks_answers_new` (an import's new
    media): they have no labels to wipe and no answers to update."""
    with transaction.atomic():
        _labels_delete(import_job_id=import_job_id, import_batch=import_batch)
        plan = {task_id: planned for task_id, planned in batch.tasks.items() if task_id not in fresh}
        _labels_wipe(plan)
        updated = _tasks_answers_store(plan) + (len(batch.tasks) - len(plan))
        if updated == len(batch.tasks):
            _labels_copy(batch.copy_data)
            return LabelBatchWritten(labels=batch.labels, tasks=updated)
        labels = _labels_copy_for_live_tasks(batch)
    return LabelBatchWritten(labels=labels, tasks=updated)


def labels_copy_staged(*, batch: StagedLabelBatch) -> None:
    """The label half of `labels_write_staged`, in the caller's transaction: the stored labels of
    the tasks the batch replaces are deleted, then its rows are copied. The tasks' answers are
    left to `tasks_answers_write_staged`, which the caller runs later in the same transaction
    (an import written while it is validated: `imports.prewrite`), and which finds a task deleted
    meanwhile (labels have no foreign key to their task): the caller then rolls back."""
    _labels_wipe(batch.tasks)
    _labels_copy(batch.copy_data)


def tasks_answers_write_staged(*, tasks: TaskAnswersPlan) -> int:
    """The task half of `labels_write_staged` (answers, `has_import`, version), in the caller's
    transaction; answers how many of the tasks it found."""
    return _tasks_answers_store(tasks)


def _labels_copy(copy_data: bytes) -> None:
    if not copy_data:
        return
    if connection.vendor != "postgresql":
        _labels_insert_prepared(orjson.loads(copy_data))
        return
    with _bound_cursor() as cursor, cursor.copy(_COPY_SQL) as copy:
        copy.write(copy_data)


def _labels_insert_prepared(rows: Sequence[Sequence[Any]]) -> None:
    """SQLite: rows already in the driver's types (`_import_label_rows` on SQLite), one prepared
    INSERT run for all of them."""
    with connection.cursor() as cursor:
        cursor.executemany(_SQLITE_INSERT_SQL, rows)


def _labels_copy_for_live_tasks(batch: StagedLabelBatch) -> int:
    """COPY the staged rows into a temporary table, and insert those of the tasks that still exist
    (SQLite: the rows of the tasks found, from one lookup)."""
    table = Label._meta.db_table
    columns = ", ".join(_LABEL_COLUMNS)
    if connection.vendor != "postgresql":
        rows = orjson.loads(batch.copy_data) if batch.copy_data else []
        live = set(Task.objects.filter(id__in=list(batch.tasks)).values_list("id", flat=True))
        kept = [row for row in rows if UUID(row[1]) in live]
        _labels_insert_prepared(kept)
        return len(kept)
    with _bound_cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE staged_label (LIKE {table}) ON COMMIT DROP")
        with cursor.copy(f"COPY staged_label ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(batch.copy_data)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM staged_label AS s "  # noqa: S608 - our names
            f"WHERE EXISTS (SELECT 1 FROM {Task._meta.db_table} AS t WHERE t.id = s.task_id)"
        )
        return int(cursor.rowcount)


def bulk_write_settings() -> None:
    """For the rest of the transaction (PostgreSQL): foreign keys checked per statement, a
    commit that does not wait for its WAL, index lookups costed as on SSD or in memory. For
    the transactions of a resumable job only.

    Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: deferred, every row's check waits
    in a queue until COMMIT, which measured a third slower than checking them at the end of the
    statement (the new tasks and media of an import; labels have none). Not waiting for the WAL
    flush is safe for these writes: a batch and its checkpoint commit together, so a batch lost
    by a database crash is lost with its checkpoint and written again on resume, and the job's
    final status commits normally."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        # Every statement of these transactions looks rows up by key (a batch's 2,000 tasks,
        # their labels). At the default random_page_cost (4, for spinning disks) the planner
        # scanned the whole task table for each batch's answer UPDATE instead (52 ms per
        # batch at 100,000 tasks, growing with the project; 17 ms by the index).
        cursor.execute("SET LOCAL random_page_cost TO 1.1")


def _labels_wipe(plan: TaskAnswersPlan) -> None:
    """Delete the stored labels of the tasks whose items replace what they had (`keep_data=False`)."""
    wiped = [task_id for task_id, (replace, _) in plan.items() if replace]
    for start in range(0, len(wiped), _DELETE_CHUNK):
        _labels_delete(task_id__in=wiped[start : start + _DELETE_CHUNK])


def tasks_answers_new(plan: TaskAnswersPlan) -> dict[UUID, str]:
    """The answer tree (JSON text) each task of a staged plan ends with when it has none stored:
    what a task made with the batch starts with (`labels_write_staged`'s `fresh`), as the write
    would have stored it, its has_import set and its version 1."""
    final: dict[UUID, str] = {}
    for task_id, (_, trees) in plan.items():
        if len(trees) == 1:
            tree = trees[0]
            final[task_id] = tree if isinstance(tree, str) else orjson.dumps(tree).decode()
            continue
        current: dict[str, Any] = {}
        for tree in trees:
            decoded: dict[str, Any] = orjson.loads(tree) if isinstance(tree, str) else tree
            current = answers_merge(current, decoded) if current else decoded
        final[task_id] = orjson.dumps(current).decode()
    return final


def _tasks_answers_store(plan: TaskAnswersPlan) -> int:
    """Store the answer tree each task of `plan` ends with (`_answers_final`), mark it imported,
    bump its version; answers how many of the tasks were found.

    On PostgreSQL the tasks whose stored answers do not count (replaced, or none stored: every task
    of a first import) get theirs in one UPDATE with no read before it; only the others are read
    and merged. A publish of 100,000 tasks read each of them first."""
    if connection.vendor != "postgresql" or not plan:
        return _tasks_update_answers(_answers_final(plan))
    direct = tasks_answers_new(plan)
    with _bound_cursor() as cursor:
        cursor.execute(
            f"UPDATE {Task._meta.db_table} AS t SET answers = v.answers::jsonb, has_import = true, "  # noqa: S608
            "version = t.version + 1, updated_at = %s "
            "FROM unnest(%b::uuid[], %b::text[], %b::bool[]) AS v(id, answers, replace) "
            "WHERE t.id = v.id AND (v.replace OR t.answers = '{}'::jsonb) RETURNING t.id",
            [timezone.now(), list(direct), list(direct.values()), [replace for replace, _ in plan.values()]],
            binary=True,
        )
        stored = {task_id for (task_id,) in cursor.fetchall()}
    rest = {task_id: planned for task_id, planned in plan.items() if not planned[0] and task_id not in stored}
    return len(stored) + (_tasks_update_answers(_answers_final(rest)) if rest else 0)


def _answers_final(plan: TaskAnswersPlan) -> dict[UUID, dict[str, Any] | str]:
    """The answer tree each task ends with: its trees merged in order over what it keeps.

    A task that keeps nothing and gets one tree ends with that tree: as its JSON text when
    the plan was staged (no decoding and encoding again)."""
    stored = _tasks_answers_get([task_id for task_id, (replace, _) in plan.items() if not replace])
    final: dict[UUID, dict[str, Any] | str] = {}
    for task_id, (replace, trees) in plan.items():
        current: dict[str, Any] = {} if replace else (stored.get(task_id) or {})
        if not current and len(trees) == 1:
            final[task_id] = trees[0]
            continue
        for tree in trees:
            decoded: dict[str, Any] = orjson.loads(tree) if isinstance(tree, str) else tree
            current = answers_merge(current, decoded) if current else decoded
        final[task_id] = current
    return final


def _batch_plan(items: Sequence[tuple[UUID, MediaAnnotation]]) -> tuple[dict[UUID, list[Shape]], TaskAnswersPlan]:
    """Per task: the shapes to insert, and its answer plan; needs nothing from the database.

    A `keep_data=False` item wipes what earlier items of the batch gave its task (shapes and
    answers); the trees of the task's later items merge over its tree."""
    shapes_by_task: dict[UUID, list[Shape]] = {}
    plan: TaskAnswersPlan = {}
    for task_id, annotation in items:
        tree = answers_to_json(annotation.answers)
        if not annotation.keep_data:
            shapes_by_task[task_id] = list(annotation.shapes)
            plan[task_id] = (True, [tree])
            continue
        shapes_by_task.setdefault(task_id, []).extend(annotation.shapes)
        replace, trees = plan.setdefault(task_id, (False, []))
        if replace:
            # Merged now: nothing stored takes part in a replaced task's answers.
            trees[:] = [answers_merge(trees[0], tree)]
        else:
            trees.append(tree)
    return shapes_by_task, plan


def _is_unset(value: Any) -> bool:
    return value is None or value == []


def answers_merge(stored: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new` answer tree over `stored`: a question answered without a value keeps its stored value."""
    merged = dict(stored)
    for key, node in new.items():
        previous = stored.get(key)
        if not isinstance(previous, dict):
            merged[key] = node
            continue
        result = dict(node)
        if _is_unset(node.get("value")) and not _is_unset(previous.get("value")):
            result["value"] = previous["value"]
            result.pop("valid", None)
            if previous.get("valid") is False:
                result["valid"] = False
        children = answers_merge(previous.get("answers") or {}, node.get("answers") or {})
        if children:
            result["answers"] = children
        merged[key] = result
    return merged


def _import_label_rows(
    shapes_by_task: dict[UUID, list[Shape]],
    *,
    import_job_id: UUID | None,
    import_batch: int | None,
    author_id: int | None,
    staged: bool = False,
) -> list[tuple[Any, ...]]:
    """The label rows of a batch, ids reserved, in `_LABEL_COLUMNS` order. On PostgreSQL the
    two JSON columns come encoded for a binary COPY already (`_json_text`); on SQLite every value is
    in the driver's type already (UUIDs as hex, JSON and datetimes as text), as its fields would
    store them. `staged`: written later, in another transaction (the ids are reserved for good)."""
    postgres = connection.vendor == "postgresql"
    count = _shapes_count(shapes_by_task)
    if not count:
        return []
    ids = iter(_label_ids_reserve_staged(count) if staged and not postgres else _label_ids_reserve(count))
    if not postgres:
        return _sqlite_label_rows(
            shapes_by_task, ids, import_job_id=import_job_id, import_batch=import_batch, author_id=author_id
        )
    now = timezone.now()
    return [
        (
            label_id,
            task_id,
            entry_id,
            parent_id,
            _json_text(shape.points),
            rotation_normalise(shape.rotation) if shape.rotation else 0.0,
            _json_text(answers_to_json(shape.answers)),
            shape.source,
            shape.score,
            shape.model_version,
            import_job_id,
            import_batch,
            shape.valid,
            author_id,
            now,
            now,
        )
        for task_id, entry_id, shape, label_id, parent_id in _shapes_in_order(shapes_by_task, ids)
    ]


def _shapes_in_order(
    shapes_by_task: dict[UUID, list[Shape]], ids: Iterator[int]
) -> Iterator[tuple[UUID, UUID, Shape, int, int | None]]:
    """(task id, class id, shape, label id, parent's label id) of every shape, nested ones included,
    in the order the label ids are given: depth first, a parent before its children (with an explicit
    stack: a recursive closure would be a reference cycle holding every row of the batch until a
    cyclic collection). `_import_label_copy` walks the shapes in this order too."""
    entry_ids: dict[str, UUID] = {}
    for task_id, shapes in shapes_by_task.items():
        pending: list[tuple[Shape, int | None]] = [(shape, None) for shape in reversed(shapes)]
        while pending:
            shape, parent_id = pending.pop()
            if shape.entry_id is None:
                raise ValueError(f"shape {shape.key!r} has no resolved entry id")
            entry_id = entry_ids.get(shape.entry_id)
            if entry_id is None:
                entry_id = entry_ids[shape.entry_id] = UUID(str(shape.entry_id))
            label_id = next(ids)
            yield task_id, entry_id, shape, label_id, parent_id
            if shape.children:
                pending.extend((child, label_id) for child in reversed(shape.children))


def _shapes_count(shapes_by_task: dict[UUID, list[Shape]]) -> int:
    """How many rows the shapes make, nested ones included."""
    count = 0
    stack: list[Shape] = [shape for shapes in shapes_by_task.values() for shape in shapes]
    while stack:
        shape = stack.pop()
        count += 1
        if shape.children:
            stack.extend(shape.children)
    return count


_PACK_ROW_HEAD = struct.Struct(">hiq").pack  # field count, then the id (length 8, int8)
_PACK_UUID = struct.Struct(">i16s").pack
_PACK_INT8 = struct.Struct(">iq").pack
_PACK_LENGTH = struct.Struct(">i").pack
_PACK_FLOAT8 = struct.Struct(">id").pack
_COPY_NULL = b"\xff\xff\xff\xff"
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\0" + b"\0" * 8  # signature, flags, header extension length
_COPY_TRAILER = b"\xff\xff"


def _import_label_copy(
    shapes_by_task: dict[UUID, list[Shape]],
    *,
    ids: list[int],
    now: datetime,
    import_job_id: UUID | None,
    import_batch: int | None,
    author_id: int | None,
) -> bytes:
    """The rows `_import_label_rows` makes (with `ids`), as the data of a binary COPY: the same
    bytes as `_copy_encode` of those rows, without a row tuple or a psycopg dumper call per field
    (a third of staging a batch). The fields from `source` on are the same for most rows: they
    are dumped by psycopg once per distinct (source, score, model version, valid)."""
    if not ids:
        return b""
    parts: list[bytes] = [_COPY_SIGNATURE]
    append = parts.append
    join = b"".join
    dumps = orjson.dumps
    label_ids = iter(ids)
    entries: dict[str, bytes] = {}
    tails: dict[tuple[str, float | None, str, bool], bytes] = {}
    null = _COPY_NULL
    zero_rotation = _PACK_FLOAT8(8, 0.0)
    #: The answers' field (length, json) per list of answer objects: the fast paths share answers between shapes.
    answers_made: dict[tuple[int, ...], tuple[list[Any], bytes]] = {}
    for task_id, shapes in shapes_by_task.items():
        task = _PACK_UUID(16, task_id.bytes)
        pending: list[tuple[Shape, int | None]] = [(shape, None) for shape in reversed(shapes)]
        while pending:
            shape, parent_id = pending.pop()
            entry_key = shape.entry_id
            entry = entries.get(entry_key)  # type: ignore[arg-type]
            if entry is None:
                if entry_key is None:
                    raise ValueError(f"shape {shape.key!r} has no resolved entry id")
                entry = entries[entry_key] = _PACK_UUID(16, UUID(str(entry_key)).bytes)
            label_id = next(label_ids)
            points = dumps(shape.points)
            answers_key = tuple(map(id, shape.answers))
            made = answers_made.get(answers_key)
            if made is None:
                tree = dumps(answers_to_json(shape.answers))
                made = answers_made[answers_key] = (shape.answers, _PACK_LENGTH(len(tree)) + tree)
            answers = made[1]
            tail_key = (shape.source, shape.score, shape.model_version, shape.valid)
            tail = tails.get(tail_key)
            if tail is None:
                tail = tails[tail_key] = _label_copy_tail(
                    tail_key, import_job_id=import_job_id, import_batch=import_batch, author_id=author_id, now=now
                )
            # One bytes object per row: orjson's results are at least 4 KiB each, kept they would
            # hold a chunk's rows several times over.
            append(
                join(
                    (
                        _PACK_ROW_HEAD(16, 8, label_id),
                        task,
                        entry,
                        null if parent_id is None else _PACK_INT8(8, parent_id),
                        _PACK_LENGTH(len(points)),
                        points,
                        _PACK_FLOAT8(8, rotation_normalise(shape.rotation)) if shape.rotation else zero_rotation,
                        answers,
                        tail,
                    )
                )
            )
            if shape.children:
                pending.extend((child, label_id) for child in reversed(shape.children))
    append(_COPY_TRAILER)
    return b"".join(parts)


def _label_copy_tail(
    key: tuple[str, float | None, str, bool],
    *,
    import_job_id: UUID | None,
    import_batch: int | None,
    author_id: int | None,
    now: datetime,
) -> bytes:
    """The binary COPY fields of a label row from `source` to `updated_at`, dumped by psycopg."""
    source, score, model_version, valid = key
    row = (0, None, None, None, None, 0.0, None, source, score, model_version, import_job_id, import_batch, valid,
           author_id, now, now)  # fmt: skip
    encoded = _copy_encode([row])
    # The row without the signature, the field count, the first seven fields and the trailer.
    head = len(_COPY_SIGNATURE) + 2 + (4 + 8) + 4 * 5 + (4 + 8)
    return encoded[head : -len(_COPY_TRAILER)]


def _sqlite_label_rows(
    shapes_by_task: dict[UUID, list[Shape]],
    ids: Iterator[int],
    *,
    import_job_id: UUID | None,
    import_batch: int | None,
    author_id: int | None,
) -> list[tuple[Any, ...]]:
    """`_import_label_rows` on SQLite: the parameters of its prepared INSERT (`_SQLITE_INSERT_SQL`)."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    job_hex = import_job_id.hex if import_job_id is not None else None
    dumps = orjson.dumps
    hexes: dict[UUID, str] = {}  # the tasks' and classes' ids as SQLite stores them, each made once
    rows: list[tuple[Any, ...]] = []
    for task_id, entry_id, shape, label_id, parent_id in _shapes_in_order(shapes_by_task, ids):
        task_hex = hexes.get(task_id) or hexes.setdefault(task_id, task_id.hex)
        entry_hex = hexes.get(entry_id) or hexes.setdefault(entry_id, entry_id.hex)
        points = shape.points
        rows.append(
            (
                label_id,
                task_hex,
                entry_hex,
                parent_id,
                None if points is None else dumps(points).decode(),
                rotation_normalise(shape.rotation) if shape.rotation else 0.0,
                dumps(answers_to_json(shape.answers)).decode(),
                shape.source,
                shape.score,
                shape.model_version,
                job_hex,
                import_batch,
                shape.valid,
                author_id,
                now,
                now,
            )
        )
    # In task order: the insert then walks the label's task-keyed indexes once from left to right
    # instead of jumping to a random page for each task (a staged chunk of 50,000 labels into a
    # table of 1,000,000: 2.2-2.3 s of CPU to write, 1.4-1.5 s sorted). The ids are the rows' own.
    rows.sort(key=_row_task)
    return rows


def _row_task(row: tuple[Any, ...]) -> Any:
    return row[1]


def _label_ids_reserve_staged(count: int) -> list[int]:
    """SQLite: `count` label ids for rows written in a later transaction. AUTOINCREMENT never gives
    an id at or below its high-water mark (`sqlite_sequence`), and the writers that pick ids
    themselves (`_label_ids_reserve`) start above it too: raising it reserves the ids, as
    PostgreSQL's `nextval` does. One short write transaction (the validation's workers take turns)."""
    table = Label._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - our table name
        highest = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        found = cursor.fetchone()
        highest = max(highest, found[0] if found else 0)
        if found:
            cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [highest + count, table])
        else:
            cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, highest + count])
    return list(range(highest + 1, highest + 1 + count))


def _label_ids_reserve(count: int) -> list[int]:
    """`count` fresh label ids, taken before the insert so that children can name parents."""
    table = Label._meta.db_table
    if connection.vendor == "postgresql":
        # The sequence's name looked up once (a subquery), not once per id: 15 ms instead of
        # 150 ms of PostgreSQL for 50,000 ids; the ids come back as one binary array.
        with _bound_cursor() as cursor:
            cursor.execute(
                "SELECT array_agg(nextval((SELECT pg_get_serial_sequence(%s, 'id'))::regclass)) "
                "FROM generate_series(1, %s)",
                [table, count],
                binary=True,
            )
            ids: list[int] = cursor.fetchone()[0]
            return ids
    with connection.cursor() as cursor:
        # SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so the ids above
        # both the highest row and AUTOINCREMENT's high-water mark are ours.
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - our table name
        highest = cursor.fetchone()[0]
        if connection.vendor == "sqlite":
            cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = %s", [table])
            highest = max(highest, cursor.fetchone()[0])
        return list(range(highest + 1, highest + 1 + count))


def _json_text(value: Any) -> bytes:
    """A value in the binary form of `json` (`JSONTextField`): its JSON text."""
    return orjson.dumps(value)


#: How psycopg sends `_LABEL_COLUMNS` in a binary COPY (about 20 % faster than text). The two
#: JSON columns are given as `bytea`: the rows carry them in json's binary form already
#: (`_json_text`), which psycopg's C bytes dumper passes through, and PostgreSQL reads the field
#: as the column's type. psycopg's own json dumper, a Python call per value, was about 6 %
#: of the validate phase.
_LABEL_COLUMN_TYPES = (
    "int8",
    "uuid",
    "uuid",
    "int8",
    "bytea",
    "float8",
    "bytea",
    "text",
    "float8",
    "text",
    "uuid",
    "int4",
    "bool",
    "int4",
    "timestamptz",
    "timestamptz",
)


_COPY_SQL = f"COPY {Label._meta.db_table} ({', '.join(_LABEL_COLUMNS)}) FROM STDIN (FORMAT BINARY)"


def _copy_encode(rows: list[tuple[Any, ...]]) -> bytes:
    """The rows as the data of a binary COPY into the label table, encoded by psycopg (no COPY runs)."""
    if not rows:
        return b""
    from psycopg.copy import Copy, FileWriter

    buffer = io.BytesIO()
    with _bound_cursor() as cursor, Copy(cursor, binary=True, writer=FileWriter(buffer)) as copy:
        copy.set_types(list(_LABEL_COLUMN_TYPES))
        for row in rows:
            copy.write_row(row)
    return buffer.getvalue()


def _labels_insert(rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        with _bound_cursor() as cursor, cursor.copy(_COPY_SQL) as copy:
            copy.set_types(list(_LABEL_COLUMN_TYPES))
            for row in rows:
                copy.write_row(row)
        return
    # SQLite: one prepared INSERT run for every row, made in the driver's types already. The
    # ORM's bulk_create compiled each value through its expression machinery: 0.3 s of the 0.5 s
    # that writing 300 tasks took.
    _labels_insert_prepared(rows)


_SQLITE_INSERT_SQL = (
    f"INSERT INTO {Label._meta.db_table} ({', '.join(_LABEL_COLUMNS)}) "  # noqa: S608 - our names
    f"VALUES ({', '.join(['%s'] * len(_LABEL_COLUMNS))})"
)


def _uuid_hex(value: Any) -> Any:
    return value.hex if isinstance(value, UUID) else value


def _row_adapter(model: Any, columns: Sequence[str]) -> Callable[[tuple[Any, ...]], list[Any]]:
    """Rows of `columns` values as the database driver takes them (not PostgreSQL: its rows go by
    COPY): UUIDs, JSON and datetimes prepared as their fields do, once per distinct datetime."""
    converters: list[Callable[[Any], Any] | None] = []
    for name in columns:
        field = model._meta.get_field(name)  # a foreign key by its column's name too ("task_id")
        if isinstance(field, models.ForeignKey):
            field = field.target_field
        if isinstance(field, models.UUIDField) and not connection.features.has_native_uuid_field:
            converters.append(_uuid_hex)  # what UUIDField stores there (SQLite), without its checks per value
        elif isinstance(field, models.UUIDField):
            converters.append(None)
        elif isinstance(field, models.JSONField):
            converters.append(lambda value: None if value is None else orjson.dumps(value).decode())
        elif isinstance(field, models.DateTimeField):
            seen: dict[Any, Any] = {}

            def when(value: Any, field: Any = field, seen: dict[Any, Any] = seen) -> Any:
                if value not in seen:
                    seen[value] = field.get_db_prep_value(value, connection)
                return seen[value]

            converters.append(when)
        else:
            converters.append(None)

    def adapt(row: tuple[Any, ...]) -> list[Any]:
        return [value if convert is None else convert(value) for convert, value in zip(converters, row, strict=True)]

    return adapt


def labels_remove_for_import(*, import_job_id: UUID) -> int:
    """Delete every label an import job wrote (a job that failed half way); answers how many."""
    return _labels_delete(import_job_id=import_job_id)


def _labels_delete(**lookups: Any) -> int:
    # A plain DELETE: the ORM's delete() would load every row to cascade to nested labels,
    # which go in the same statement anyway (they belong to the same task, or batch).
    queryset = Label.objects.filter(**lookups)
    return int(queryset._raw_delete(queryset.db))


def _tasks_answers_get(task_ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
    """The stored answer trees of these tasks."""
    if not task_ids:
        return {}
    if connection.vendor != "postgresql":
        # SQLite: the JSON text straight to orjson, one parameter for the ids (the ORM's JSONField
        # decoded each tree with the json module: 0.4 s of the 3.3 s a chunk of 5,000 took to write).
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, answers FROM {Task._meta.db_table} WHERE id IN (SELECT value FROM json_each(%s))",  # noqa: S608
                [orjson.dumps([task_id.hex for task_id in task_ids]).decode()],
            )
            return {UUID(task_hex): orjson.loads(answers) for task_hex, answers in cursor.fetchall()}
    with _bound_cursor() as cursor:
        cursor.execute(
            f"SELECT id, answers::text FROM {Task._meta.db_table} WHERE id = ANY(%b::uuid[])",  # noqa: S608
            [task_ids],
            binary=True,
        )
        rows = cursor.fetchall()
    return {task_id: orjson.loads(answers) for task_id, answers in rows}


def _tasks_update_answers(answers_by_task: dict[UUID, dict[str, Any] | str], *, imported: bool = True) -> int:
    """Store the tasks' answer trees, mark them imported (unless `imported` is False: a model's
    predictions), bump their version; answers the tasks found."""
    if not answers_by_task:
        return 0
    now = timezone.now()
    if connection.vendor == "postgresql":
        # `%b`: the arrays in binary. With `%s` psycopg sent a list of strings as a text array,
        # escaping every element with a regex: 70 ms of Python per 5,000 tasks, now 3 ms.
        with _bound_cursor() as cursor:
            cursor.execute(
                f"UPDATE {Task._meta.db_table} AS t SET answers = v.answers::jsonb, "  # noqa: S608
                f"has_import = {'true' if imported else 't.has_import'}, version = t.version + 1, updated_at = %s "
                "FROM unnest(%b::uuid[], %b::text[]) AS v(id, answers) WHERE t.id = v.id",
                [
                    now,
                    list(answers_by_task),
                    [
                        tree if isinstance(tree, str) else orjson.dumps(tree).decode()
                        for tree in answers_by_task.values()
                    ],
                ],
                binary=True,
            )
            return int(cursor.rowcount)
    # SQLite: one prepared UPDATE run per task (the ORM's bulk_update built a CASE per batch,
    # 0.2 s for 300 tasks).
    adapt = _row_adapter(Task, ("updated_at", "id"))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {Task._meta.db_table} SET answers = %s, has_import = (has_import OR %s), "  # noqa: S608
            "version = version + 1, updated_at = %s WHERE id = %s",
            [
                [tree if isinstance(tree, str) else orjson.dumps(tree).decode(), imported, *adapt((now, task_id))]
                for task_id, tree in answers_by_task.items()
            ],
        )
        return int(cursor.rowcount)


def tasks_reset_after_configuration_clear(*, project: Project) -> int:
    """After the configuration was emptied: drop global answers, reopen finished tasks.

    Labels went with their entries (cascade); DataGym then moves completed and reviewed
    tasks to "waiting (changed)". Returns the number of tasks reopened.
    """
    with transaction.atomic():
        Task.objects.filter(project=project).exclude(answers={}).update(answers={}, updated_at=timezone.now())
        return Task.objects.filter(project=project, state__in=[TaskState.COMPLETED, TaskState.REVIEWED]).update(
            state=TaskState.WAITING_CHANGED, updated_at=timezone.now()
        )


# --- assignment and review (the native API) ---------------------------------------------------


def task_assign(*, task: Task, assignee: Any) -> Task:
    """Give the task to `assignee`, or to nobody (None). Who may do that is the selector's rule."""
    Task.objects.filter(pk=task.pk).update(assignee=assignee, updated_at=timezone.now())
    task.assignee = assignee
    return task


def task_review(*, task: Task, accept: bool, comment: str = "", user: Any = None) -> Task:
    """Accept a completed task (reviewed), or send it back with the comment: in progress again,
    assigned to whoever completed it, so that it comes back first in their queue (and nobody else
    takes it) with the comment shown on the labeling page. Records who reviewed it, the verdict
    and when, and ends the review reservation.

    A task another reviewer holds (the review queue reserved it for them) is theirs to review
    until their lease ends; admins may still review it."""
    if task.state != TaskState.COMPLETED:
        raise Conflict(
            code="task_state",
            message=f"Only completed tasks are reviewed; this one is {task.get_state_display().lower()}.",
            params=(task.state.upper(),),
        )
    now = timezone.now()
    if getattr(user, "pk", None):
        # Read afresh: a reservation taken after the page loaded counts.
        holder = (
            Task.objects.filter(pk=task.pk, reserved_until__gt=now)
            .exclude(reserved_by_id=user.pk)
            .exclude(reserved_by__isnull=True)
            .values_list("reserved_by_id", "reserved_by__username")
            .first()
        )
        if holder is not None and user_role(user=user, organization=task.project.organization_id) != Role.ADMIN:
            raise Conflict(
                code="task_held",
                message=f"This task is reserved by {holder[1]}, who is reviewing it; review another task.",
                params=(holder[1], holder[0], "reserved"),
            )
    changes: dict[str, Any] = {
        "state": TaskState.REVIEWED if accept else TaskState.IN_PROGRESS,
        "review_comment": comment,
        "review_verdict": ReviewVerdict.ACCEPTED if accept else ReviewVerdict.REJECTED,
        "reviewed_by": user if getattr(user, "pk", None) else None,
        "reviewed_at": now,
        "updated_at": now,
        "reserved_by": None,
        "reserved_until": None,
    }
    if not accept and task.completed_by_id is not None:
        changes["assignee_id"] = task.completed_by_id
    updated = Task.objects.filter(pk=task.pk, state=TaskState.COMPLETED).update(**changes)
    if not updated:
        raise Conflict(code="task_state", message="The task changed meanwhile; reload it.", params=(task.state,))
    for name, value in changes.items():
        setattr(task, name, value)
    return task


# --- single labels (the native API); each write bumps the task's version -------------------------

#: What a client may change on a label; its class and parent stay.
LABEL_EDITABLE_FIELDS = ("points", "rotation", "answers", "source", "score", "model_version")


def _task_version_bump(*, task: Task, expected_version: int | None) -> None:
    version_filter = {"version": expected_version} if expected_version is not None else {}
    updated = Task.objects.filter(pk=task.pk, **version_filter).update(
        version=F("version") + 1, updated_at=timezone.now()
    )
    if not updated:
        raise Conflict(
            code="version_conflict",
            message="Someone saved this task after you opened it; reload it or merge your changes.",
        )
    task.refresh_from_db(fields=["version"])


def _label_problems(label: Any, *, index: LabelConfigIndex, parent: IndexedEntry | None) -> list[ErrorDetail]:
    """The document rules for one label, with paths relative to the label ("points", "key", ...)."""
    problems = labels_problems([label], index=index, parent=parent, path="label")
    return [
        ErrorDetail(path=p.path.removeprefix("label[0]").lstrip("."), code=p.code, message=p.message, params=p.params)
        for p in problems
    ]


def _label_gone(label_id: int) -> NotFound:
    return NotFound(
        code="not_found",
        message="This label is gone: it was deleted, or its class was removed from the label configuration; "
        "reload the task.",
        params=("Label", "id", str(label_id)),
    )


def _invalid_label(problems: list[ErrorDetail]) -> ValidationFailed:
    return ValidationFailed(
        code="invalid_label", message=f"The label has {len(problems)} problem(s); see details.", details=problems
    )


@transaction.atomic
def label_create(
    *,
    task: Task,
    label: dict[str, Any],
    parent_id: int | None = None,
    user: Any = None,
    expected_version: int | None = None,
) -> Label:
    """Add one geometry (with its nested geometries) to a task, checked like a whole document."""
    _task_hold_check(task=task, user=user)
    _task_labels_hold(task)  # the classes checked below stay until the commit
    index = label_config_index(configuration=task.project.label_configuration)
    parent_label: Label | None = None
    parent_entry: IndexedEntry | None = None
    if parent_id is not None:
        parent_label = Label.objects.filter(pk=parent_id, task=task, parent__isnull=True).first()
        if parent_label is None:
            raise ValidationFailed(
                code="invalid_label",
                message="The parent label is not a top-level label of this task.",
                details=[ErrorDetail(path="parent_id", code="not_found", message="No such label on this task.")],
            )
        parent_entry = index.entries.get(str(parent_label.entry_id))
        if parent_entry is None:
            raise ValidationFailed(
                code="invalid_label",
                message="The parent label's class is no longer in the label configuration.",
                details=[
                    ErrorDetail(
                        path="parent_id",
                        code="unknown_class",
                        message="Nest the label in a label whose class is in the configuration, or add it at the top.",
                    )
                ],
            )
    problems = _label_problems(label, index=index, parent=parent_entry)
    if problems:
        raise _invalid_label(problems)
    _task_version_bump(task=task, expected_version=expected_version)
    _reservation_renew(task=task, user=user)
    ((row, children),) = _label_rows([label], task=task, index=index, parent=parent_entry, author=user)
    row.parent = parent_label
    row.save()
    entry = index.entries[str(row.entry_id)]
    nested = _label_rows(children, task=task, index=index, parent=entry, author=user)
    for child, _ in nested:
        child.parent = row
    Label.objects.bulk_create([child for child, _ in nested])
    return row


@transaction.atomic
def label_update(
    *, label: Label, changes: dict[str, Any], user: Any = None, expected_version: int | None = None
) -> Label:
    """Change a label's points, rotation, answers, source, score or model version; the rest stays."""
    unknown = sorted(set(changes) - set(LABEL_EDITABLE_FIELDS))
    if unknown:
        raise _invalid_label(
            [
                ErrorDetail(path=key, code="read_only", message=f"Only {', '.join(LABEL_EDITABLE_FIELDS)} change.")
                for key in unknown
            ]
        )
    task = label.task
    _task_hold_check(task=task, user=user)
    _task_labels_hold(task)  # the label's class stays until the commit
    index = label_config_index(configuration=task.project.label_configuration)
    # Read again under the hold: a configuration change may have deleted the label with its class.
    classes = {
        pk: str(entry_id)
        for pk, entry_id in Label.objects.filter(pk__in=[label.pk, label.parent_id]).values_list("pk", "entry_id")
    }
    entry = index.entries.get(classes.get(label.pk, ""))
    parent_entry = index.entries.get(classes.get(label.parent_id, "")) if label.parent_id is not None else None
    if entry is None or (label.parent_id is not None and parent_entry is None):
        raise _label_gone(label.pk)
    merged = {
        "key": entry.key,
        "type": entry.type,
        "points": label.points,
        "rotation": label.rotation,
        "answers": label.answers,
        "source": label.source,
        "score": label.score,
        "model_version": label.model_version,
        **changes,
    }
    problems = _label_problems(merged, index=index, parent=parent_entry)
    if problems:
        raise _invalid_label(problems)
    _task_version_bump(task=task, expected_version=expected_version)
    _reservation_renew(task=task, user=user)
    label.points = merged["points"]
    label.rotation = rotation_normalise(merged["rotation"] or 0.0)
    label.answers = merged["answers"] or {}
    label.source = merged["source"] or LabelSource.MANUAL
    label.score = merged["score"]
    label.model_version = merged["model_version"] or ""
    # A label someone edited by hand has passed the rules again.
    label.valid = True
    label.updated_at = timezone.now()
    label.updated_by_id = user.pk if getattr(user, "pk", None) else label.updated_by_id
    # A label deleted by another writer of the task (which bumped the version first) is gone now.
    if not Label.objects.filter(pk=label.pk).update(
        **{name: getattr(label, name) for name in (*LABEL_EDITABLE_FIELDS, "valid", "updated_at", "updated_by_id")}
    ):
        raise _label_gone(label.pk)
    return label


@transaction.atomic
def label_delete(*, label: Label, expected_version: int | None = None, user: Any = None) -> None:
    """Delete a label and its nested labels."""
    _task_hold_check(task=label.task, user=user)
    _task_version_bump(task=label.task, expected_version=expected_version)
    _reservation_renew(task=label.task, user=user)
    label.delete()


def label_ids_reserve(*, count: int) -> list[int]:
    """`count` fresh label ids for rows written by the caller (a restore renumbering labels)."""
    return _label_ids_reserve(count)


#: The tables a bulk label write changes wholesale.
_BULK_WRITTEN_TABLES = (Label._meta.db_table, Task._meta.db_table)


def label_statistics_refresh(*, tasks: bool = True) -> None:
    """ANALYZE the label and task tables (PostgreSQL) after a bulk write changed them wholesale.

    The planner's row estimates come from these statistics; after an import into a table that
    was small (or empty) they are far off until autovacuum analyzes it (a minute or more, or
    never where autovacuum is off), and reads of a task's labels may pick a plan hundreds of
    times slower. ANALYZE samples a fixed number of rows (a fraction of a second) and takes a
    lock that blocks no reads or writes."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in _BULK_WRITTEN_TABLES if tasks else _BULK_WRITTEN_TABLES[:1]:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


# --- the labeling page's keys, per person -------------------------------------------------------

#: "task.next", "view.zoomIn", or "class:<entry id>": the page's action ids.
_KEY_ACTION_RE = re.compile(r"[a-z]+\.[a-zA-Z]+|class:[0-9a-f-]{36}")
#: "k", "shift+a", "ctrl+shift+enter", "arrowleft", "+": modifiers, then one key name.
_KEY_COMBO_RE = re.compile(r"((ctrl|alt|shift)\+){0,3}(.|[a-z0-9]{2,20})")
KEYS_MAX = 500


def labeling_keys_replace(*, user: Any, keys: Any) -> dict[str, str]:
    """Keep the keys a person moved on the labeling page (all of them: this replaces the last ones).

    Which keys are fixed on the page is the page's business; here only the shape is checked,
    and that no key is given to two of the page's actions.
    """
    if user.pk is None:
        raise PermissionDenied(
            code="not_a_person",
            message="An organisation token acts for no person; the labeling page's keys are kept per user.",
        )
    problems: list[ErrorDetail] = []
    if not isinstance(keys, dict):
        raise ValidationFailed(
            code="invalid",
            message="The keys are not valid.",
            details=[ErrorDetail("keys", "invalid", 'Send an object of action ids to keys, e.g. {"task.next": "k"}.')],
        )
    if len(keys) > KEYS_MAX:
        problems.append(ErrorDetail("keys", "too_many", f"At most {KEYS_MAX} keys; send only the ones you moved."))
    holders: dict[str, str] = {}
    for action, combo in keys.items():
        path = f"keys.{action}"
        if not isinstance(action, str) or not _KEY_ACTION_RE.fullmatch(action):
            problems.append(
                ErrorDetail(path, "unknown_action", 'An action id is like "task.next" or "class:<entry id>".')
            )
            continue
        if not isinstance(combo, str) or (combo and not _KEY_COMBO_RE.fullmatch(combo)):
            problems.append(
                ErrorDetail(path, "invalid_key", 'A key is like "k", "shift+a" or "ctrl+enter"; "" for none.')
            )
            continue
        if action.startswith("class:"):
            continue  # classes of different projects may share a key; the page checks its own
        if combo and combo in holders:
            problems.append(
                ErrorDetail(
                    path, "duplicate_key", f"{combo!r} is already the key of {holders[combo]!r}; give one another."
                )
            )
        holders.setdefault(combo, action)
    if problems:
        raise ValidationFailed(code="invalid", message="The keys are not valid.", details=problems)
    LabelingPreference.objects.update_or_create(user_id=user.pk, defaults={"keys": keys})
    return dict(keys)


# --- a save of the labeling page: only what changed ----------------------------------------------

#: What a save's `changed` item may set: the editable fields, and `key` (the page changes a label's class).
LABEL_PATCH_FIELDS = ("key", "type", *LABEL_EDITABLE_FIELDS)
_PATCH_BULK_UPDATE = 10
_PATCH_PARTS = ("version", "active_seconds", "added", "changed", "deleted", "answers")
#: The stored columns a save reads of the labels it changes.
_PATCH_COLUMNS = ("id", "parent_id", "entry_id", *LABEL_EDITABLE_FIELDS, "author_id", "updated_by_id")


def _located(problems: list[ErrorDetail], prefix: str) -> list[ErrorDetail]:
    return [
        ErrorDetail(path=f"{prefix}.{p.path}" if p.path else prefix, code=p.code, message=p.message, params=p.params)
        for p in problems
    ]


def _stale_version(task: Task, expected_version: int | None) -> Conflict:
    current = Task.objects.filter(pk=task.pk).values_list("version", flat=True).first()
    return Conflict(
        code="version_conflict",
        message="Someone saved this task after you opened it; reload it or merge your changes.",
        details=[
            ErrorDetail(
                path="version",
                code="stale",
                message=f"You edited version {expected_version}; the task is at version {current} now.",
                params=(current,),
            )
        ],
        params=(current,),
    )


@dataclass
class _PatchPlan:
    """A checked save: what to delete, the stored rows to change, the rows to add by client uid."""

    deleted: set[int]
    changed: list[Label]
    added: list[tuple[str, Label, int | str | None]]
    #: What became of the predictions this save accepts or deletes (`PredictionOutcome`).
    outcomes: list[PredictionOutcome] = field(default_factory=list)


def _patch_list(patch: dict[str, Any], name: str, problems: list[ErrorDetail]) -> list[Any]:
    value = patch.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(ErrorDetail(path=name, code="invalid", message=f"{name} must be a list."))
        return []
    return value


def _patch_plan(*, task: Task, patch: dict[str, Any], index: LabelConfigIndex, user_id: int | None) -> _PatchPlan:
    problems: list[ErrorDetail] = [
        ErrorDetail(path=name, code="unknown_field", message=f"A save has {', '.join(_PATCH_PARTS)}; leave {name} out.")
        for name in patch
        if name not in _PATCH_PARTS
    ]
    added = _patch_list(patch, "added", problems)
    changed = _patch_list(patch, "changed", problems)
    deleted_ids = _patch_list(patch, "deleted", problems)
    if "answers" in patch:
        problems.extend(answers_problems(patch["answers"] or {}, index=index, parent=None, path="answers"))

    wanted = {i for i in deleted_ids if isinstance(i, int)}
    wanted |= {item["id"] for item in changed if isinstance(item, dict) and isinstance(item.get("id"), int)}
    wanted |= {item["parent"] for item in added if isinstance(item, dict) and isinstance(item.get("parent"), int)}
    stored = {label.pk: label for label in Label.objects.filter(task=task, pk__in=wanted).only(*_PATCH_COLUMNS)}
    # The classes of the parents of changed labels (nested labels are checked under their parent's class).
    parent_ids = {label.parent_id for label in stored.values() if label.parent_id is not None} - set(stored)
    parent_classes = {label.pk: str(label.entry_id) for label in stored.values()}
    parent_classes |= {
        pk: str(entry_id)
        for pk, entry_id in Label.objects.filter(task=task, pk__in=parent_ids).values_list("pk", "entry_id")
    }

    deleted: set[int] = set()
    outcomes: list[PredictionOutcome] = []
    for position, label_id in enumerate(deleted_ids):
        if not isinstance(label_id, int) or label_id not in stored:
            message = "No label with this id on the task: it was deleted, or never saved; reload the task."
            problems.append(ErrorDetail(path=f"deleted[{position}]", code="not_found", message=message))
        else:
            deleted.add(label_id)
            _outcome_note(outcomes, task, stored[label_id], PredictionOutcomeKind.DELETED, user_id)

    changed_rows: list[Label] = []
    for position, item in enumerate(changed):
        here = f"changed[{position}]"
        if not isinstance(item, dict):
            problems.append(ErrorDetail(path=here, code="invalid", message='a change is {"id": ..., "points": ...}'))
            continue
        label_id = item.get("id")
        label = stored.get(label_id) if isinstance(label_id, int) else None
        if label is None or label.pk in deleted or (label.parent_id is not None and label.parent_id in deleted):
            message = "No label with this id on the task (or it is deleted in this save); reload the task."
            problems.append(ErrorDetail(path=f"{here}.id", code="not_found", message=message))
            continue
        fields = {name: value for name, value in item.items() if name != "id"}
        problems.extend(
            ErrorDetail(path=f"{here}.{name}", code="read_only", message=f"Only {', '.join(LABEL_PATCH_FIELDS)} change")
            for name in fields
            if name not in LABEL_PATCH_FIELDS
        )
        entry = index.entries.get(str(label.entry_id))
        parent_entry = index.entries.get(parent_classes.get(label.parent_id, "")) if label.parent_id else None
        if entry is None or (label.parent_id is not None and parent_entry is None):
            message = "This label's class left the label configuration; reload the task."
            problems.append(ErrorDetail(path=f"{here}.id", code="not_found", message=message))
            continue
        merged = {
            "key": entry.key,
            "type": entry.type,  # a new class must be of the same type as the stored geometry
            "points": label.points,
            "rotation": label.rotation,
            "answers": label.answers,
            "source": label.source,
            "score": label.score,
            "model_version": label.model_version,
            **{name: value for name, value in fields.items() if name in LABEL_PATCH_FIELDS},
        }
        found = _label_problems(merged, index=index, parent=parent_entry)
        problems.extend(_located(found, here))
        if found:
            continue
        new_entry = index.child(parent_entry.id, merged["key"]) if parent_entry else index.root(merged["key"])
        assert new_entry is not None  # checked by _label_problems
        if new_entry.id != entry.id and label.parent_id is None:
            # A label that changes its class keeps only nested labels its new class has.
            for child_id, child_class in (
                Label.objects.filter(parent_id=label.pk).exclude(pk__in=deleted).values_list("pk", "entry_id")
            ):
                child_entry = index.entries.get(str(child_class))
                if child_entry is None or index.child(new_entry.id, child_entry.key) is None:
                    message = f"Nested label {child_id} has no class in {new_entry.key!r}; delete it in the same save."
                    problems.append(ErrorDetail(path=f"{here}.key", code="unknown_class", message=message))
        before = (_label_content(label), label.rotation)
        was_prediction, drawn = label.source == LabelSource.PREDICTION, (label.points, label.rotation)
        prediction_score, prediction_entry = label.score, label.entry_id
        label.entry_id = new_entry.id
        label.points = merged["points"]
        label.rotation = rotation_normalise(merged.get("rotation") or 0.0)
        label.answers = merged.get("answers") or {}
        label.source = merged.get("source") or LabelSource.MANUAL
        label.score = merged.get("score")
        label.model_version = merged.get("model_version") or ""
        # A label someone edited by hand has passed the rules again; its last editor is who changed it.
        label.valid = True
        label.updated_at = timezone.now()
        if (_label_content(label), label.rotation) != before:
            label.updated_by_id = user_id if user_id is not None else label.updated_by_id
        if was_prediction and label.source != LabelSource.PREDICTION:
            kept = (label.points, label.rotation) == drawn and str(label.entry_id) == str(prediction_entry)
            kind = PredictionOutcomeKind.ACCEPTED if kept else PredictionOutcomeKind.EDITED
            _outcome_note(outcomes, task, label, kind, user_id, score=prediction_score)
        changed_rows.append(label)

    added_rows: list[tuple[str, Label, int | str | None]] = []
    roots_added: dict[str, IndexedEntry] = {}
    uids: set[str] = set()
    # Roots first, so that a nested label may name a root added later in the list.
    order = sorted(range(len(added)), key=lambda i: isinstance(added[i], dict) and added[i].get("parent") is not None)
    for position in order:
        item = added[position]
        here = f"added[{position}]"
        if not isinstance(item, dict):
            problems.append(ErrorDetail(path=here, code="invalid", message='a new label is {"uid": ..., "key": ...}'))
            continue
        uid = item.get("uid")
        if not isinstance(uid, str) or not uid or uid in uids:
            message = "Give each new label a uid of its own (a string), to map it to the id it gets."
            problems.append(ErrorDetail(path=f"{here}.uid", code="invalid", message=message))
            continue
        uids.add(uid)
        parent_ref = item.get("parent")
        parent_entry = None
        if parent_ref is not None:
            if isinstance(parent_ref, int) and parent_ref in stored and parent_ref not in deleted:
                parent_label = stored[parent_ref]
                parent_entry = index.entries.get(str(parent_label.entry_id)) if parent_label.parent_id is None else None
            elif isinstance(parent_ref, str):
                parent_entry = roots_added.get(parent_ref)
            if parent_entry is None:
                message = "The parent is not a top-level label of the task, nor one added in this save."
                problems.append(ErrorDetail(path=f"{here}.parent", code="not_found", message=message))
                continue
        body = {name: value for name, value in item.items() if name not in ("uid", "parent")}
        if body.get("children"):
            message = "Send nested labels as added items of their own, with the parent's uid as `parent`."
            problems.append(ErrorDetail(path=f"{here}.children", code="invalid", message=message))
            continue
        found = _label_problems(body, index=index, parent=parent_entry)
        problems.extend(_located(found, here))
        if found:
            continue
        ((row, _),) = _label_rows([body], task=task, index=index, parent=parent_entry, author=None)
        row.author_id = row.updated_by_id = user_id
        if parent_ref is None:
            roots_added[uid] = index.entries[str(row.entry_id)]
        added_rows.append((uid, row, parent_ref))
    if problems:
        raise ValidationFailed(
            code="invalid_annotation",
            message=f"The save has {len(problems)} problem(s); see details.",
            details=problems,
        )
    return _PatchPlan(deleted=deleted, changed=changed_rows, added=added_rows, outcomes=outcomes)


def _outcome_note(
    outcomes: list[PredictionOutcome],
    task: Task,
    label: Label,
    kind: str,
    user_id: int | None,
    *,
    score: float | None = None,
) -> None:
    """Note what became of a prediction (`label` as stored, or as it is being changed)."""
    if kind == PredictionOutcomeKind.DELETED and label.source != LabelSource.PREDICTION:
        return
    outcomes.append(
        PredictionOutcome(
            project_id=task.project_id,
            label_id=label.pk,
            model_version=label.model_version,
            score=label.score if score is None else score,
            outcome=kind,
            user_id=user_id,
        )
    )


@transaction.atomic
def task_annotation_patch(
    *,
    task: Task,
    patch: dict[str, Any],
    user: Any = None,
    expected_version: int | None = None,
    active_seconds: int = 0,
) -> dict[str, Any]:
    """Apply one save of the labeling page: labels `added`, `changed` (by id, only the fields
    sent), `deleted` (ids, with their nested labels), and the task's `answers` when sent.

    Checked like a whole-document save (every problem at once, each with its place in the
    save), applied in one transaction with the version check. Answers the new version and
    `ids`: the id each added label got, by the client's `uid` (a nested label added in the
    same save names its parent by that uid). Changed labels keep their author; their last
    editor becomes the saver when their content changed. The save renews the reservation.
    """
    _task_hold_check(task=task, user=user)
    _task_labels_hold(task)  # the classes checked below stay until the commit
    version_filter = {"version": expected_version} if expected_version is not None else {}
    # The version first: it locks the task's row, so the labels read below stay as they are.
    bump: dict[str, Any] = {"version": F("version") + 1, "updated_at": timezone.now()}
    if not Task.objects.filter(pk=task.pk, **version_filter).update(**bump):
        raise _stale_version(task, expected_version)
    index = label_config_index(configuration=task.project.label_configuration)
    user_id = user.pk if getattr(user, "pk", None) else None
    plan = _patch_plan(task=task, patch=patch, index=index, user_id=user_id)
    if "answers" in patch:
        Task.objects.filter(pk=task.pk).update(answers=patch["answers"] or {})
    _reservation_renew(task=task, user=user, active_seconds=active_seconds)
    # Labels whose class left the configuration are not in the page's document (see
    # task_annotation_get's note): the next save drops them, as a whole-document save does.
    orphans = list(
        Label.objects.filter(task=task).exclude(entry_id__in=list(index.entries)).values_list("pk", flat=True)
    )
    gone = plan.deleted | set(orphans)
    if gone:
        Label.objects.filter(task=task).filter(Q(pk__in=gone) | Q(parent_id__in=gone)).delete()
    written = ("entry_id", *LABEL_EDITABLE_FIELDS, "valid", "updated_at", "updated_by_id")
    if len(plan.changed) > _PATCH_BULK_UPDATE:
        Label.objects.bulk_update(plan.changed, written)
    else:
        # A save after an edit changes a label or two: plain updates cost less than bulk_update's CASEs.
        for row in plan.changed:
            Label.objects.filter(pk=row.pk).update(**{name: getattr(row, name) for name in written})
    roots = [(uid, row) for uid, row, parent in plan.added if parent is None]
    Label.objects.bulk_create([row for _, row in roots])
    ids = {uid: row.pk for uid, row in roots}
    nested = [(uid, row, parent) for uid, row, parent in plan.added if parent is not None]
    for _, row, parent in nested:
        row.parent_id = parent if isinstance(parent, int) else ids[str(parent)]
    Label.objects.bulk_create([row for _, row, _ in nested])
    ids |= {uid: row.pk for uid, row, _ in nested}
    if plan.outcomes:
        PredictionOutcome.objects.bulk_create(plan.outcomes)
    # Under the row lock the version check took, the version is the one it set.
    if expected_version is not None:
        version = expected_version + 1
    else:
        version = Task.objects.filter(pk=task.pk).values_list("version", flat=True).get()
    return {"task": str(task.pk), "version": version, "ids": ids}
