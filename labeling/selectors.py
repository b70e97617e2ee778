"""Reads of the labeling app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import BooleanField, Count, F, Q, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber, TruncDate
from django.utils import timezone

from labeling.models import Label, LabelingPreference, ReviewVerdict, Task, TaskState
from labelsite.bound_cursor import bound_cursor
from labelsite.errors import ErrorDetail, NotFound, PermissionDenied, ValidationFailed
from projects.models import LabelEntry, Media, Membership, Project, Role
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


# --- team figures: per member, per day -------------------------------------------------------
#
# Days are UTC days (the site's TIME_ZONE; a project has no time zone of its own). Every figure
# comes from what the task and label rows record, so a task counts once, at its latest event:
# - tasks completed: tasks whose `completed_by` is the member, on the day of `completed_at`
#   (a task sent back and completed again counts on the day of its last completion);
# - labels made: labels the member authored (`author`; imports author none), on the day of
#   `created_at`;
# - median active time: the median of `active_seconds` over those completed tasks (the time the
#   labeling page was in use on the task, by everyone who opened it);
# - reviews accepted / rejected: the latest verdict on the member's completed tasks, on the day of
#   `reviewed_at`; the acceptance rate is accepted / (accepted + rejected);
# - reviews done: verdicts the member gave as a reviewer, on the day of `reviewed_at`.

#: The range the figures cover when none is given, and the longest one accepted.
TEAM_FIGURES_DEFAULT_DAYS = 30
TEAM_FIGURES_MAX_DAYS = 366
#: The days a range may name (the day after the last must still be a date).
TEAM_FIGURES_EARLIEST = date(1900, 1, 1)
TEAM_FIGURES_LATEST = date(9999, 12, 30)


@dataclass
class Figures:
    """One member's figures over one day (`day`) or over the whole range (`day` None)."""

    tasks_completed: int = 0
    labels_made: int = 0
    median_active_seconds: float | None = None
    reviews_accepted: int = 0
    reviews_rejected: int = 0
    reviews_done: int = 0
    day: date | None = None

    @property
    def acceptance_rate(self) -> float | None:
        reviewed = self.reviews_accepted + self.reviews_rejected
        return round(self.reviews_accepted / reviewed, 4) if reviewed else None


@dataclass
class MemberFigures:
    user_id: int
    username: str
    totals: Figures
    days: list[Figures]  # the days with any figure, in order


@dataclass
class TeamFigures:
    date_from: date
    date_to: date
    members: list[MemberFigures]
    timezone: str = "UTC"

    @property
    def dates(self) -> list[date]:
        """Every day of the range, in order."""
        return [self.date_from + timedelta(days=n) for n in range((self.date_to - self.date_from).days + 1)]


class UtcDay(TruncDate):
    """The UTC day of a timestamp column.

    On SQLite, Django's TruncDate calls a Python function for every row (14 of the 16 s the
    figures of 100,000 tasks and 500,000 labels took); SQLite keeps aware timestamps as UTC text
    (`YYYY-MM-DD HH:MM:SS[.ffffff]`), whose day its own `date()` reads. PostgreSQL truncates
    `AT TIME ZONE 'UTC'` as TruncDate does."""

    def __init__(self, expression: str) -> None:
        super().__init__(expression, tzinfo=UTC)

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, Any]:
        sql, params = compiler.compile(self.lhs)
        return f"date({sql})", params


def team_figures_range(*, date_from: date | None, date_to: date | None) -> tuple[date, date]:
    """The range asked for, both ends included: `date_to` defaults to today (UTC), `date_from` to
    TEAM_FIGURES_DEFAULT_DAYS days up to `date_to`; a reversed or too long range is refused."""
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        if value is not None and not TEAM_FIGURES_EARLIEST <= value <= TEAM_FIGURES_LATEST:
            raise ValidationFailed(
                code="invalid",
                message=f"{name} {value} is out of range; give a day from {TEAM_FIGURES_EARLIEST} "
                f"to {TEAM_FIGURES_LATEST}.",
                details=[ErrorDetail(path=name, code="out_of_range", message="Give a day of a real range.")],
            )
    date_to = date_to or timezone.now().astimezone(UTC).date()
    date_from = date_from or max(date_to - timedelta(days=TEAM_FIGURES_DEFAULT_DAYS - 1), TEAM_FIGURES_EARLIEST)
    if date_from > date_to:
        raise ValidationFailed(
            code="invalid",
            message=f"The range starts ({date_from}) after it ends ({date_to}); give date_from on or before date_to.",
            details=[ErrorDetail(path="date_from", code="after_date_to", message="Start on or before date_to.")],
        )
    days = (date_to - date_from).days + 1
    if days > TEAM_FIGURES_MAX_DAYS:
        raise ValidationFailed(
            code="invalid",
            message=f"The range covers {days} days; ask for at most {TEAM_FIGURES_MAX_DAYS} at a time.",
            details=[
                ErrorDetail(
                    path="date_from",
                    code="range_too_long",
                    message=f"Move date_from to {date_to - timedelta(days=TEAM_FIGURES_MAX_DAYS - 1)} or later.",
                )
            ],
        )
    return date_from, date_to


def team_figures_get(
    *, project: Project, date_from: date, date_to: date, member_ids: list[int] | None = None
) -> TeamFigures:
    """Each member's figures per UTC day and over the range (both ends included), in six grouped
    queries (and two for the members) whatever the number of tasks; `member_ids` keeps only those.

    The members listed are the project's members and whoever has a figure in the range."""
    start = datetime.combine(date_from, time.min, tzinfo=UTC)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC)
    tasks = Task.objects.filter(project=project).order_by()
    completed = tasks.filter(completed_by__isnull=False, completed_at__gte=start, completed_at__lt=end)
    reviewed = tasks.filter(reviewed_at__gte=start, reviewed_at__lt=end, review_verdict__in=ReviewVerdict.values)
    labels = Label.objects.filter(
        task__project=project, author__isnull=False, created_at__gte=start, created_at__lt=end
    ).order_by()
    if member_ids is not None:
        completed = completed.filter(completed_by_id__in=member_ids)
        labels = labels.filter(author_id__in=member_ids)

    days: dict[tuple[int, date], Figures] = {}
    totals: dict[int, Figures] = {}

    def day_of(user_id: int, day: date) -> Figures:
        return days.setdefault((user_id, day), Figures(day=day))

    def total_of(user_id: int) -> Figures:
        return totals.setdefault(user_id, Figures())

    completed_day = UtcDay("completed_at")
    for user_id, day, count in (
        completed.annotate(day=completed_day).values("completed_by_id", "day").annotate(n=Count("pk"))
    ).values_list("completed_by_id", "day", "n"):
        day_of(user_id, day).tasks_completed = count
        total_of(user_id).tasks_completed += count
    for user_id, day, count in (
        labels.annotate(day=UtcDay("created_at")).values("author_id", "day").annotate(n=Count("pk"))
    ).values_list("author_id", "day", "n"):
        day_of(user_id, day).labels_made = count
        total_of(user_id).labels_made += count
    reviewed_day = UtcDay("reviewed_at")
    of_work = reviewed.filter(completed_by__isnull=False)
    if member_ids is not None:
        of_work = of_work.filter(completed_by_id__in=member_ids)
    for user_id, day, accepted, rejected in (
        of_work.annotate(day=reviewed_day)
        .values("completed_by_id", "day")
        .annotate(
            accepted=Count("pk", filter=Q(review_verdict=ReviewVerdict.ACCEPTED)),
            rejected=Count("pk", filter=Q(review_verdict=ReviewVerdict.REJECTED)),
        )
    ).values_list("completed_by_id", "day", "accepted", "rejected"):
        figures = day_of(user_id, day)
        figures.reviews_accepted, figures.reviews_rejected = accepted, rejected
        total_of(user_id).reviews_accepted += accepted
        total_of(user_id).reviews_rejected += rejected
    by_reviewer = reviewed.filter(reviewed_by__isnull=False)
    if member_ids is not None:
        by_reviewer = by_reviewer.filter(reviewed_by_id__in=member_ids)
    for user_id, day, count in (
        by_reviewer.annotate(day=reviewed_day).values("reviewed_by_id", "day").annotate(n=Count("pk"))
    ).values_list("reviewed_by_id", "day", "n"):
        day_of(user_id, day).reviews_done = count
        total_of(user_id).reviews_done += count
    for (user_id, completion_day), median in _active_seconds_medians(completed, by_day=True).items():
        if completion_day is not None:
            day_of(user_id, completion_day).median_active_seconds = median
    for (user_id, _), median in _active_seconds_medians(completed, by_day=False).items():
        total_of(user_id).median_active_seconds = median

    team = project.members.values_list("pk", flat=True)
    if member_ids is not None:
        team = team.filter(pk__in=member_ids)
    user_ids = set(totals) | set(team)
    names = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    per_member: dict[int, list[Figures]] = {}
    for (user_id, _), figures in sorted(days.items(), key=lambda item: item[0][1]):
        per_member.setdefault(user_id, []).append(figures)
    members = [
        MemberFigures(
            user_id=user_id,
            username=names[user_id],
            totals=totals.get(user_id) or Figures(),
            days=per_member.get(user_id, []),
        )
        for user_id in user_ids
        if user_id in names
    ]
    members.sort(key=lambda member: (member.username.lower(), member.user_id))
    return TeamFigures(date_from=date_from, date_to=date_to, members=members)


def _active_seconds_medians(completed: QuerySet[Task], *, by_day: bool) -> dict[tuple[int, date | None], float]:
    """The median `active_seconds` of the completed tasks per member (and per UTC day of completion).

    The same SQL on PostgreSQL and SQLite (which has no median aggregate): window functions number
    each group's tasks by active time and count them, and the database returns only the middle
    task of each group, or the two middle ones of an even group, whose mean is the median
    (PostgreSQL's `percentile_cont(0.5)`). At most two rows per group come back."""
    partition: list[Any] = [F("completed_by_id")]
    if by_day:
        partition.append(UtcDay("completed_at"))
    middle = completed.annotate(
        position=Window(RowNumber(), partition_by=partition, order_by=[F("active_seconds").asc(), F("pk").asc()]),
        group_size=Window(Count("pk"), partition_by=partition),
        day=UtcDay("completed_at"),
    ).filter(position__gte=(F("group_size") + 1) / 2, position__lte=(F("group_size") + 2) / 2)
    values: dict[tuple[int, date | None], list[int]] = {}
    for user_id, day, seconds in middle.values_list("completed_by_id", "day", "active_seconds"):
        values.setdefault((user_id, day if by_day else None), []).append(seconds)
    return {key: sum(middle_values) / len(middle_values) for key, middle_values in values.items()}


def team_figures_get_for_user(
    *,
    user: AnyUser,
    project_id: UUID | str,
    date_from: date | None = None,
    date_to: date | None = None,
    member_id: int | None = None,
) -> TeamFigures:
    """The team figures of a project the user may see (NotFound otherwise).

    Admins and reviewers, who lead and check the team's work, see every member (or the one
    `member_id` names); anyone else sees their own row only, and naming another member is refused."""
    project = project_get_for_user(user=user, project_id=project_id)
    date_from, date_to = team_figures_range(date_from=date_from, date_to=date_to)
    if user_role(user=user, organization=project.organization_id) in _REVIEWING_ROLES:
        member_ids = None if member_id is None else [member_id]
    else:
        if member_id is not None and member_id != user.pk:
            raise PermissionDenied(
                code="permission_denied",
                message="Annotators see their own figures only; leave out `member` or give your own user id.",
            )
        member_ids = [int(user.pk)] if user.pk is not None else []
    return team_figures_get(project=project, date_from=date_from, date_to=date_to, member_ids=member_ids)


#: The media columns an import matches its items by (`imports.pipeline.MATCH_BY_FIELDS`).
_MEDIA_MATCH_COLUMNS = {"id": "id", "name": "name", "external_id": "external_id", "global_key": "global_key"}


def task_media_matches(*, project_id: UUID, field: str, values: list[Any]) -> list[tuple[Any, UUID, Any, Any]]:
    """(the media's `field` value, task id, width, height) of each live media of the project's
    tasks whose `field` (id, name, external_id or global_key) is one of `values`. PostgreSQL:
    one statement with the values as one binary array, the rows read in binary; through the ORM
    (an IN list compiled and every row built per value) an import spent 47 ms of Python per
    5,000 items on these lookups, 9 ms this way."""
    media = Media._meta
    column = _MEDIA_MATCH_COLUMNS[field]  # only these names go into the statement
    array_type = "uuid[]" if field == "id" else "text[]"
    with bound_cursor() as cursor:
        cursor.execute(
            f"SELECT m.{column}, t.id, m.width, m.height FROM {Task._meta.db_table} AS t "  # noqa: S608 - our names
            f"JOIN {media.db_table} AS m ON m.id = t.media_id "
            f"WHERE t.project_id = %b AND m.deleted_at IS NULL AND m.{column} = ANY(%b::{array_type})",
            [project_id, values],
            binary=True,
        )
        return list(cursor.fetchall())
