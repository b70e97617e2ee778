"""Reads of the labeling app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from labeling.models import Label, LabelingPreference, Task, TaskState
from labelsite.errors import ErrorDetail, NotFound, PermissionDenied, ValidationFailed
from projects.models import LabelEntry, Membership, Project, Role
from projects.selectors import AnyUser, project_get_for_user, project_list_for_user, user_role


def label_as_json(label: Label, *, key: str, entry_type: str) -> dict[str, Any]:
    return {
        "id": label.id,
        "key": key,
        "type": entry_type,
        "points": label.points,
        "rotation": label.rotation,
        "answers": label.answers,
        "source": label.source,
        "score": label.score,
        "model_version": label.model_version,
        "valid": label.valid,
        "children": [],
    }


def task_annotation_get(*, task: Task) -> dict[str, Any]:
    """The task's whole annotation as one document (see labeling/documents.py), two queries;
    `notes` says what of the stored annotation the document leaves out, and why.

    The labels are read without a join to their entries (the configuration's few entries
    come in a query of their own): with a join, statistics that lag behind a large import
    (ANALYZE not yet run) led PostgreSQL to a plan that read every label of each entry,
    0.3 s instead of 1 ms per task on 1M labels (docs/benchmarks.md, Load)."""
    entries = {
        entry_id: (key, entry_type)
        for entry_id, key, entry_type in LabelEntry.objects.filter(
            configuration__project_id=task.project_id
        ).values_list("id", "key", "type")
    }
    rows = (
        Label.objects.filter(task=task)
        .only(
            "id", "parent_id", "entry_id", "points", "rotation", "answers", "source", "score", "model_version", "valid"
        )
        .order_by("id")
    )
    by_id: dict[int, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    children: list[tuple[int, dict[str, Any]]] = []
    # A label whose class is gone (Label.entry has no constraint; one written before every
    # writer held the configuration) is left out with a note, and so are its nested labels:
    # the task still opens, and its next save drops them.
    unknown: set[int] = set()
    for label in rows:
        entry = entries.get(label.entry_id)
        if entry is None:
            unknown.add(label.id)
            continue
        key, entry_type = entry
        node = label_as_json(label, key=key, entry_type=entry_type)
        by_id[label.id] = node
        if label.parent_id is None:
            roots.append(node)
        else:
            children.append((label.parent_id, node))
    for parent_id, node in children:
        if parent_id in unknown:
            unknown.add(node["id"])
            continue
        parent = by_id.get(parent_id)
        (parent["children"] if parent is not None else roots).append(node)
    return {
        "task": str(task.id),
        "version": task.version,
        "state": task.state,
        "answers": task.answers,
        "labels": roots,
        "notes": [_unknown_class_note(len(unknown))] if unknown else [],
    }


def _unknown_class_note(count: int) -> dict[str, str]:
    return {
        "code": "unknown_class",
        "message": f"{count} label(s) of this task name a class that is no longer in the label configuration; "
        "they are not shown, and the next save of the task deletes them.",
    }


# --- the labeling page: which task to open, and the task list -------------------------------

#: States in which a task still waits for an annotator.
OPEN_STATES = ("backlog", "waiting", "in_progress", "waiting_changed")


def task_get_for_user(*, user: Any, task_id: UUID | str) -> Task:
    """The task (with its media and project) if the user may see its project; NotFound otherwise."""
    visible = project_list_for_user(user=user).values("pk")
    task = (
        Task.objects.select_related("media", "project", "assignee", "reserved_by", "completed_by", "reviewed_by")
        .filter(pk=task_id, project_id__in=visible)
        .first()
    )
    if task is None:
        raise NotFound(code="not_found", message="No such task.", params=("Task", "id", str(task_id)))
    return task


@dataclass(frozen=True)
class TaskHolder:
    """Who holds a task now: its assignee, or whoever has a live reservation of it."""

    user_id: int
    username: str
    kind: str  # "assigned" or "reserved"
    until: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "username": self.username,
            "kind": self.kind,
            "until": self.until.isoformat() if self.until else None,
        }


def task_holder(*, task: Task, now: datetime | None = None) -> TaskHolder | None:
    """The holder of a task as loaded (select_related `assignee` and `reserved_by` saves queries)."""
    now = now or timezone.now()
    if task.assignee_id is not None and task.assignee is not None:
        return TaskHolder(user_id=task.assignee_id, username=task.assignee.get_username(), kind="assigned")
    if task_reservation_live(task=task, now=now) and task.reserved_by is not None:
        return TaskHolder(
            user_id=task.reserved_by.pk,
            username=task.reserved_by.get_username(),
            kind="reserved",
            until=task.reserved_until,
        )
    return None


def task_reservation_live(*, task: Task, now: datetime | None = None) -> bool:
    """Whether the task's reservation (if any) has not expired yet."""
    return (
        task.reserved_by_id is not None
        and task.reserved_until is not None
        and task.reserved_until > (now or timezone.now())
    )


def task_neighbours_get(*, task: Task) -> tuple[Task | None, Task | None]:
    """The previous and next task of the same project, in the stable order (created_at, id).

    A row comparison, `(created_at, id) < (...)`, is a range of the `task_project_order`
    index: one index probe each way. The same condition spelt with OR made PostgreSQL scan
    every task of the project, twice per page (40 and 20 ms for 100,000 tasks).
    """
    tasks = Task.objects.filter(project_id=task.project_id).only("id", "created_at")
    position = [
        Task._meta.get_field("created_at").get_db_prep_value(task.created_at, connection),
        Task._meta.get_field("id").get_db_prep_value(task.id, connection),
    ]
    before = RawSQL('("labeling_task"."created_at", "labeling_task"."id") < (%s, %s)', position, BooleanField())
    after = RawSQL('("labeling_task"."created_at", "labeling_task"."id") > (%s, %s)', position, BooleanField())
    previous = tasks.filter(before).order_by("-created_at", "-id").first()
    following = tasks.filter(after).order_by("created_at", "id").first()
    return previous, following


def task_list_for_project(
    *, project: Project, state: str = "", assignee_id: int | None = None, unassigned: bool = False
) -> QuerySet[Task]:
    """The project's tasks in the stable order, filtered by state and assignee, with media and assignee."""
    tasks = (
        Task.objects.filter(project=project)
        .select_related("media", "assignee", "reserved_by", "completed_by", "reviewed_by")
        .order_by("created_at", "id")
    )
    if state:
        tasks = tasks.filter(state=state)
    if unassigned:
        tasks = tasks.filter(assignee__isnull=True)
    elif assignee_id is not None:
        tasks = tasks.filter(assignee_id=assignee_id)
    return tasks


def task_assignee_choices(*, project: Project) -> list[tuple[int, str]]:
    """(user id, username) of everyone a task of the project is assigned to, or who is a member, by name."""
    user_model = get_user_model()
    users = user_model.objects.filter(
        Q(pk__in=Task.objects.filter(project=project, assignee__isnull=False).values("assignee_id"))
        | Q(pk__in=project.members.values("pk"))
    ).order_by("username")
    return [(user.pk, user.get_username()) for user in users]


# --- tasks and labels, with who may do what to them ----------------------------------------
#
# Anyone who may see a project reads its tasks and annotations. Writing an annotation or a
# label, completing and skipping need an admin, or an annotator or reviewer when the task
# is open or assigned to them. Reviewing needs a reviewer or an admin. Anything the user
# may not see answers NotFound, as if it did not exist. An annotator's write to a task
# assigned to someone else, or reserved by someone else (a live reservation), answers
# Conflict("task_held") naming the holder: the writers in labeling.services check that
# (`_task_hold_check`).

_LABELING_ROLES = frozenset({Role.ADMIN, Role.REVIEWER, Role.ANNOTATOR})
_REVIEWING_ROLES = frozenset({Role.ADMIN, Role.REVIEWER})


def task_may_label(*, user: AnyUser, task: Task) -> bool:
    role = user_role(user=user, organization=task.project.organization_id)
    if role == Role.ADMIN:
        return True
    if role not in _LABELING_ROLES:
        return False
    return task.state in OPEN_STATES or (task.assignee_id is not None and task.assignee_id == user.pk)


def task_get_for_labeling(*, user: AnyUser, task_id: UUID | str) -> Task:
    """The task if the user may change its annotation, complete or skip it."""
    task = task_get_for_user(user=user, task_id=task_id)
    if not task_may_label(user=user, task=task):
        raise PermissionDenied(
            code="permission_denied",
            message="You may change only tasks that are open or assigned to you.",
        )
    return task


def task_get_for_review(*, user: AnyUser, task_id: UUID | str) -> Task:
    """The task if the user is a reviewer or an admin of its organisation."""
    task = task_get_for_user(user=user, task_id=task_id)
    if user_role(user=user, organization=task.project.organization_id) not in _REVIEWING_ROLES:
        raise PermissionDenied(code="permission_denied", message="Only reviewers and admins review tasks.")
    return task


def task_get_for_presence(*, user: AnyUser, task_id: UUID | str) -> Task:
    """The task if the user may keep it open to work on: label it (`task_get_for_labeling`), or
    review it (a reviewer or admin on a completed task, whose review reservation the page renews)."""
    task = task_get_for_user(user=user, task_id=task_id)
    reviewing = task.state == TaskState.COMPLETED and user_may_review(user=user, project=task.project)
    if not (reviewing or task_may_label(user=user, task=task)):
        raise PermissionDenied(
            code="permission_denied",
            message="You may change only tasks that are open or assigned to you.",
        )
    return task


def project_get_for_review(*, user: AnyUser, project_id: UUID | str) -> Project:
    """The project if the user reviews in its organisation (a reviewer or an admin)."""
    project = project_get_for_user(user=user, project_id=project_id)
    if user_role(user=user, organization=project.organization_id) not in _REVIEWING_ROLES:
        raise PermissionDenied(code="permission_denied", message="Only reviewers and admins review tasks.")
    return project


def user_may_review(*, user: AnyUser, project: Project) -> bool:
    """Whether the review queue and the review buttons are the user's: the rule of
    `project_get_for_review` and `task_get_for_review`, for pages that show or hide them."""
    return user_role(user=user, organization=project.organization_id) in _REVIEWING_ROLES


def task_get_for_assign(*, user: AnyUser, task_id: UUID | str, assignee_id: int | None) -> tuple[Task, Any]:
    """The task and the user to assign it to (None: unassign), if the actor may do that.

    Admins assign anyone of the organisation. Others may take an open task that nobody
    has, or give back one they have.
    """
    task = task_get_for_user(user=user, task_id=task_id)
    organization_id = task.project.organization_id
    role = user_role(user=user, organization=organization_id)
    if role != Role.ADMIN:
        taking = assignee_id is not None and assignee_id == user.pk and task.assignee_id is None
        giving_back = assignee_id is None and task.assignee_id is not None and task.assignee_id == user.pk
        if role not in _LABELING_ROLES or not (
            (taking and task.state in OPEN_STATES) or giving_back or assignee_id == task.assignee_id == user.pk
        ):
            raise PermissionDenied(
                code="permission_denied",
                message="You may take an open task nobody has, or give back yours; admins assign others.",
            )
    if assignee_id is None:
        return task, None
    in_organization = Membership.objects.filter(user_id=assignee_id, organization_id=organization_id)
    assignee = get_user_model().objects.filter(pk=assignee_id, pk__in=in_organization.values("user_id")).first()
    if assignee is None:
        raise ValidationFailed(
            code="invalid",
            message="The assignee is not a member of the project's organisation.",
            details=[ErrorDetail(path="user_id", code="not_a_member", message="Choose a member of the organisation.")],
        )
    return task, assignee


def task_get_for_release(*, user: AnyUser, task_id: UUID | str) -> Task:
    """The task if the user may end its reservation: an admin of its organisation, or its holder."""
    task = task_get_for_user(user=user, task_id=task_id)
    if task.reserved_by_id is not None and task.reserved_by_id == user.pk:
        return task
    if user_role(user=user, organization=task.project.organization_id) != Role.ADMIN:
        raise PermissionDenied(
            code="permission_denied",
            message="Only an admin releases a task someone else has reserved; you may release your own.",
        )
    return task


def label_get_for_labeling(*, user: AnyUser, label_id: int) -> Label:
    """The label if the user may change the annotation of its task; NotFound otherwise."""
    label = (
        Label.objects.select_related("entry", "task", "task__project")
        .filter(pk=label_id, task__project__in=project_list_for_user(user=user))
        .first()
    )
    if label is None:
        raise NotFound(code="not_found", message="No such label.", params=("Label", "id", str(label_id)))
    if not task_may_label(user=user, task=label.task):
        raise PermissionDenied(
            code="permission_denied",
            message="You may change only labels of tasks that are open or assigned to you.",
        )
    return label


def labeling_keys_get(*, user: AnyUser) -> dict[str, str]:
    """The keys a person moved on the labeling page (none for an organisation token)."""
    if user.pk is None:
        return {}
    preference = LabelingPreference.objects.filter(user_id=user.pk).first()
    return dict(preference.keys) if preference else {}
