"""Writes of the task browser: saved views, and bulk actions on tasks.

A bulk action runs over the checked rows in the request (`task_bulk_apply_selection`, at most
`SELECTION_MAX` tasks), or over every task a browser query matches as a `TaskBulkJob` that a
worker runs (`task_bulk_job_create`, `task_bulk_job_run`): batches of `BULK_BATCH` tasks in id
order, each batch and its checkpoint in one transaction, progress after each. Each batch is a
handful of statements (one UPDATE per assignee, one DELETE of labels), never one per task.
Who may run them is the selectors' rule (`project_get_for_bulk`: admins).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.browser_selectors import (
    PAGING_PARAMETERS,
    task_query_clean,
    task_query_filter,
)
from labeling.models import (
    Label,
    LabelSource,
    Task,
    TaskBulkAction,
    TaskBulkJob,
    TaskBulkStatus,
    TaskState,
    TaskView,
)
from labelsite.errors import ErrorDetail, NotFound, PermissionDenied, ValidationFailed
from labelsite.queue import task_publish
from projects.models import Membership, Project, Role
from projects.selectors import AnyUser, user_role

logger = logging.getLogger(__name__)

#: Tasks a bulk action over checked rows may name; more run as a job over a filter.
SELECTION_MAX = 1000
#: Tasks per batch (one transaction) of a bulk job.
BULK_BATCH = 1000
#: Users a round-robin assignment may spread over.
ASSIGNEES_MAX = 200
#: A running job without a heartbeat this long is taken for dead and may be claimed again.
STALE_AFTER = timedelta(minutes=5)
#: The Celery task that runs a bulk job (labeling/tasks.py).
TASK_BULK_JOB_RUN = "labeling.task_bulk_job_run"
#: Saved views one user may keep per project, and the size of one view.
VIEWS_MAX = 100
VIEW_QUERY_MAX_PARAMETERS = 40
COLUMNS_MAX = 60


# --- saved views ----------------------------------------------------------------------------------


def _view_query_clean(*, project: Project, user: AnyUser, query: Any, columns: Any) -> tuple[dict[str, Any], list[str]]:
    errors: list[ErrorDetail] = []
    if not isinstance(query, dict) or len(query) > VIEW_QUERY_MAX_PARAMETERS:
        errors.append(
            ErrorDetail(
                path="query",
                code="invalid",
                message=f"query is an object of at most {VIEW_QUERY_MAX_PARAMETERS} browser parameters.",
            )
        )
        query = {}
    cleaned: dict[str, Any] = {}
    for name, value in query.items():
        if name in PAGING_PARAMETERS:
            continue
        if isinstance(value, list) and all(isinstance(item, str | int) for item in value) and len(value) <= 50:
            cleaned[name] = [str(item)[:200] for item in value]
        elif isinstance(value, str | int | float | bool):
            cleaned[name] = str(value).lower() if isinstance(value, bool) else str(value)
        else:
            errors.append(
                ErrorDetail(path=f"query.{name}", code="invalid", message="A value is text or a list of text.")
            )
    if not errors:
        try:
            task_query_clean(project=project, raw=cleaned, user=user)
        except ValidationFailed as failed:
            errors.extend(
                ErrorDetail(path=f"query.{detail.path}", code=detail.code, message=detail.message)
                for detail in failed.details
            )
    if not isinstance(columns, list) or len(columns) > COLUMNS_MAX or not all(isinstance(c, str) for c in columns):
        errors.append(
            ErrorDetail(path="columns", code="invalid", message=f"columns is a list of at most {COLUMNS_MAX} names.")
        )
        columns = []
    if errors:
        raise ValidationFailed(code="invalid", message="The view is not valid.", details=errors)
    return cleaned, [column[:80] for column in columns]


def _shared_check(*, project: Project, user: AnyUser, shared: bool) -> None:
    if shared and user_role(user=user, organization=project.organization_id) != Role.ADMIN:
        raise PermissionDenied(code="permission_denied", message="Only an admin shares a view with the project.")


def task_view_create(
    *, project: Project, user: AnyUser, name: str, query: Any, columns: Any = None, shared: bool = False
) -> TaskView:
    """Save a view of the browser: private to `user`, or shared with the project (admins only).
    An organisation token's views are always shared (they belong to nobody)."""
    owner: Any = user if user.pk is not None else None
    shared = shared or owner is None
    _shared_check(project=project, user=user, shared=shared)
    cleaned, cleaned_columns = _view_query_clean(project=project, user=user, query=query, columns=columns or [])
    if owner is not None and TaskView.objects.filter(project=project, owner=owner).count() >= VIEWS_MAX:
        raise ValidationFailed(
            code="too_many_views",
            message=f"You keep {VIEWS_MAX} views of this project already; delete one first.",
        )
    return TaskView.objects.create(
        project=project, owner=owner, name=name, shared=shared, query=cleaned, columns=cleaned_columns
    )


def task_view_update(*, view: TaskView, user: AnyUser, changes: Mapping[str, Any]) -> TaskView:
    """Rename a view, replace its query or columns, share or unshare it (sharing: admins only)."""
    if "shared" in changes:
        _shared_check(project=view.project, user=user, shared=bool(changes["shared"]))
        view.shared = bool(changes["shared"]) or view.owner_id is None
    if "name" in changes:
        view.name = changes["name"]
    if "query" in changes or "columns" in changes:
        view.query, view.columns = _view_query_clean(
            project=view.project,
            user=user,
            query=changes.get("query", view.query),
            columns=changes.get("columns", view.columns),
        )
    view.save()
    return view


def task_view_delete(*, view: TaskView) -> None:
    view.delete()


# --- bulk actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkAction:
    """A checked bulk action: what, and its parameters (assignees in order, or the state)."""

    action: str
    user_ids: tuple[int, ...] = ()
    state: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"user_ids": list(self.user_ids), "state": self.state}


def task_bulk_action_clean(*, project: Project, action: Any, params: Any) -> BulkAction:
    """The action and its parameters, checked: assignees must be members of the project's
    organisation; `set_state` needs a task state."""
    errors: list[ErrorDetail] = []
    if action not in TaskBulkAction.values:
        raise ValidationFailed(
            code="invalid",
            message=f"Unknown bulk action; use one of {', '.join(TaskBulkAction.values)}.",
            details=[ErrorDetail(path="action", code="invalid_choice", message="Choose a bulk action.")],
        )
    params = params if isinstance(params, Mapping) else {}
    user_ids: list[int] = []
    state = ""
    if action == TaskBulkAction.ASSIGN:
        raw_ids = params.get("user_ids")
        if (
            not isinstance(raw_ids, list)
            or not raw_ids
            or len(raw_ids) > ASSIGNEES_MAX
            or not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in raw_ids)
        ):
            errors.append(
                ErrorDetail(
                    path="params.user_ids",
                    code="invalid",
                    message=f"Give the ids of 1 to {ASSIGNEES_MAX} users; several are assigned round-robin.",
                )
            )
        else:
            user_ids = list(dict.fromkeys(raw_ids))
            members = set(
                Membership.objects.filter(organization_id=project.organization_id, user_id__in=user_ids).values_list(
                    "user_id", flat=True
                )
            )
            errors.extend(
                ErrorDetail(
                    path="params.user_ids",
                    code="not_a_member",
                    message=f"User {pk} is not a member of the project's organisation.",
                )
                for pk in user_ids
                if pk not in members
            )
    if action == TaskBulkAction.SET_STATE:
        state = params.get("state")
        if state not in TaskState.values:
            errors.append(
                ErrorDetail(path="params.state", code="invalid_choice", message=f"state is one of {TaskState.values}.")
            )
    if errors:
        raise ValidationFailed(code="invalid", message="The bulk action is not valid.", details=errors)
    return BulkAction(action=action, user_ids=tuple(user_ids), state=str(state or ""))


def _labels_delete(task_ids: Sequence[Any], *, predictions: bool) -> int:
    """Delete the tasks' labels (or their predictions) and nested labels left without a parent;
    bump the tasks' versions so that an open labeling page reloads instead of saving them back."""
    labels = Label.objects.filter(task_id__in=list(task_ids))
    chosen = (
        labels.filter(source=LabelSource.PREDICTION) if predictions else labels.exclude(source=LabelSource.PREDICTION)
    )
    deleted = int(chosen._raw_delete(chosen.db))
    if deleted:
        orphans = labels.filter(parent__isnull=False).exclude(parent_id__in=labels.values("id"))
        deleted += int(orphans._raw_delete(orphans.db))
        Task.objects.filter(pk__in=list(task_ids)).update(version=F("version") + 1, updated_at=timezone.now())
    return deleted


def _apply(*, task_ids: Sequence[Any], action: BulkAction, position: int) -> int:
    """Apply the action to these tasks (one batch); answers how many tasks changed (labels deleted,
    for the delete actions). `position` is how many tasks came before, for round-robin."""
    if not task_ids:
        return 0
    now = timezone.now()
    tasks = Task.objects.filter(pk__in=list(task_ids))
    free = {"reserved_by": None, "reserved_until": None, "updated_at": now}
    if action.action == TaskBulkAction.ASSIGN:
        users = action.user_ids
        by_user: dict[int, list[Any]] = {}
        for index, task_id in enumerate(task_ids):
            by_user.setdefault(users[(position + index) % len(users)], []).append(task_id)
        return sum(
            Task.objects.filter(pk__in=ids).update(assignee_id=user_id, updated_at=now)
            for user_id, ids in by_user.items()
        )
    if action.action == TaskBulkAction.UNASSIGN:
        return tasks.update(assignee=None, updated_at=now)
    if action.action == TaskBulkAction.SET_STATE:
        return tasks.update(state=action.state, **free)
    if action.action == TaskBulkAction.SEND_TO_REVIEW:
        # Completed is what the review queue takes; when the task never was, "now" is its completion.
        return tasks.update(state=TaskState.COMPLETED, completed_at=Coalesce("completed_at", now), **free)
    if action.action == TaskBulkAction.DELETE_LABELS:
        return _labels_delete(task_ids, predictions=False)
    if action.action == TaskBulkAction.DELETE_PREDICTIONS:
        return _labels_delete(task_ids, predictions=True)
    raise ValidationFailed(code="invalid", message=f"Unknown bulk action {action.action!r}.")


@dataclass(frozen=True)
class BulkResult:
    action: str
    tasks: int
    changed: int


def task_bulk_apply_selection(*, project: Project, action: BulkAction, task_ids: Any) -> BulkResult:
    """Apply the action to the checked tasks, in the order given (round-robin follows it), in one
    transaction. Every id must be a task of the project, or nothing is done."""
    if not isinstance(task_ids, list) or not task_ids or len(task_ids) > SELECTION_MAX:
        raise ValidationFailed(
            code="invalid",
            message=f"Check 1 to {SELECTION_MAX} tasks, or run the action on every task of the filter.",
            details=[ErrorDetail(path="task_ids", code="invalid", message=f"Give 1 to {SELECTION_MAX} task ids.")],
        )
    ids: list[UUID] = []
    errors: list[ErrorDetail] = []
    for index, value in enumerate(task_ids):
        try:
            ids.append(UUID(str(value)))
        except ValueError:
            errors.append(ErrorDetail(path=f"task_ids/{index}", code="invalid", message="Not a task id."))
    ids = list(dict.fromkeys(ids))
    found = set(Task.objects.filter(project=project, pk__in=ids).values_list("pk", flat=True))
    errors.extend(
        ErrorDetail(path="task_ids", code="not_found", message=f"Task {pk} is not a task of this project.")
        for pk in ids
        if pk not in found
    )
    if errors:
        raise ValidationFailed(code="invalid", message="Some checked tasks are not valid.", details=errors[:20])
    with transaction.atomic():
        changed = _apply(task_ids=ids, action=action, position=0)
    return BulkResult(action=action.action, tasks=len(ids), changed=changed)


def task_bulk_job_create(
    *, project: Project, user: AnyUser, action: BulkAction, query: Mapping[str, Any]
) -> TaskBulkJob:
    """Queue the action over every task the browser query matches; a worker runs it once this
    commits. The query is checked now and kept as given (`me` is the job's creator)."""
    raw = {name: value for name, value in dict(query).items() if name not in PAGING_PARAMETERS}
    task_query_clean(project=project, raw=raw, user=user)
    job = TaskBulkJob.objects.create(
        project=project,
        created_by_id=user.pk,
        action=action.action,
        params=action.as_json(),
        query=raw,
    )
    job_id = job.pk
    transaction.on_commit(lambda: task_publish(TASK_BULK_JOB_RUN, str(job_id)))
    return job


def _claim(job_id: UUID) -> bool:
    now = timezone.now()
    claimable = Q(status=TaskBulkStatus.QUEUED) | Q(status=TaskBulkStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    return bool(
        TaskBulkJob.objects.filter(claimable, pk=job_id).update(
            status=TaskBulkStatus.RUNNING, started_at=Coalesce("started_at", now), heartbeat_at=now
        )
    )


class _Actor:
    """Whom `me` in a stored query means when the job runs: its creator (or nobody)."""

    def __init__(self, pk: int | None) -> None:
        self.pk = pk
        self.is_authenticated = pk is not None


def task_bulk_job_run(*, job_id: UUID) -> TaskBulkJob:
    """Run a queued bulk job from its checkpoint: batches in task id order, each batch with its
    checkpoint in one transaction, so a rerun after a crash neither skips nor repeats a batch.
    A transient database error is raised for the task to retry; any other fails the job."""
    job = TaskBulkJob.objects.select_related("project").filter(pk=job_id).first()
    if job is None:
        raise NotFound(code="not_found", message="No such bulk job.", params=("TaskBulkJob", "id", str(job_id)))
    if not _claim(job_id):
        job.refresh_from_db()
        return job
    try:
        project = job.project
        actor: Any = _Actor(job.created_by_id)
        query = task_query_clean(project=project, raw=job.query, user=actor)
        action = BulkAction(
            action=job.action, user_ids=tuple(job.params.get("user_ids") or ()), state=job.params.get("state") or ""
        )
        # The job runs for an admin: every task of the project, narrowed by the query.
        matching = task_query_filter(tasks=Task.objects.filter(project=project), project=project, query=query)
        if job.total is None:
            TaskBulkJob.objects.filter(pk=job_id).update(total=matching.count())
        while True:
            job.refresh_from_db(fields=["done", "last_task_id"])
            batch = matching if job.last_task_id is None else matching.filter(pk__gt=job.last_task_id)
            ids = list(batch.order_by("pk").values_list("pk", flat=True)[:BULK_BATCH])
            if not ids:
                break
            with transaction.atomic():
                changed = _apply(task_ids=ids, action=action, position=job.done)
                TaskBulkJob.objects.filter(pk=job_id).update(
                    done=F("done") + len(ids),
                    changed=F("changed") + changed,
                    last_task_id=ids[-1],
                    heartbeat_at=timezone.now(),
                )
        TaskBulkJob.objects.filter(pk=job_id).update(
            status=TaskBulkStatus.SUCCEEDED, finished_at=timezone.now(), heartbeat_at=timezone.now()
        )
    except (OperationalError, InterfaceError):
        TaskBulkJob.objects.filter(pk=job_id).update(status=TaskBulkStatus.QUEUED, heartbeat_at=None)
        raise
    except Exception as exc:
        logger.exception("bulk job %s failed", job_id)
        message = exc.message if isinstance(exc, ValidationFailed) else f"The bulk action failed: {exc}"
        TaskBulkJob.objects.filter(pk=job_id).update(
            status=TaskBulkStatus.FAILED, message=message, finished_at=timezone.now()
        )
    job.refresh_from_db()
    return job
