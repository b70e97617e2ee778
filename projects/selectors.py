"""Reads of the projects app, and the access rules that pages and APIs share.

Who may see what:
- a superuser sees everything;
- an admin of an organisation sees all its projects and datasets and may change them;
- a reviewer or annotator sees the projects of their organisation they are a member of,
  and the datasets connected to those projects, but may not change them;
- an organisation's API token (`projects.authentication.OrganizationTokenUser`, a user
  without a primary key that carries `.organization`) acts as an admin of that organisation;
  a personal token acts as its user.
Anything a user may not see answers NotFound, exactly as if it did not exist.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from labelsite.errors import ErrorDetail, NotFound, PermissionDenied, ValidationFailed
from projects.models import (
    Dataset,
    LabelEntry,
    Media,
    Membership,
    MembershipInvitation,
    Organization,
    Project,
    Role,
)

AnyUser = AbstractBaseUser | AnonymousUser


def _is_superuser(user: AnyUser) -> bool:
    return bool(user.is_authenticated and getattr(user, "is_superuser", False))


def token_organization_id(user: Any) -> UUID | None:
    """The organisation an organisation token acts for, or None for a person (or anonymous).

    Duck-typed rather than imported: projects.authentication depends on DRF, reads don't.
    """
    organization = getattr(user, "organization", None)
    if getattr(user, "pk", None) is None and isinstance(organization, Organization):
        return organization.pk
    return None


def _admin_organization_ids(user: AnyUser) -> Any:
    """The ids (a list or a subquery) of the organisations the actor administers."""
    token_organization = token_organization_id(user)
    if token_organization is not None:
        return [token_organization]
    user_pk: Any = user.pk
    return Membership.objects.filter(user_id=user_pk, role=Role.ADMIN).values("organization_id")


def user_is_org_admin(*, user: AnyUser, organization: Organization | UUID) -> bool:
    """Whether the user may change the organisation's projects, datasets and media."""
    if not user.is_authenticated:
        return False
    if _is_superuser(user):
        return True
    organization_id = organization.pk if isinstance(organization, Organization) else organization
    token_organization = token_organization_id(user)
    if token_organization is not None:
        return token_organization == organization_id
    return Membership.objects.filter(user_id=user.pk, organization_id=organization_id, role=Role.ADMIN).exists()


def user_role(*, user: AnyUser, organization: Organization | UUID) -> str | None:
    """The actor's role in the organisation (admin for superusers and organisation tokens), or None."""
    if not user.is_authenticated:
        return None
    organization_id = organization.pk if isinstance(organization, Organization) else organization
    if _is_superuser(user) or token_organization_id(user) == organization_id:
        return Role.ADMIN
    if token_organization_id(user) is not None:
        return None
    return (
        Membership.objects.filter(user_id=user.pk, organization_id=organization_id)
        .values_list("role", flat=True)
        .first()
    )


def organization_get_for_admin(*, user: AnyUser, organization_id: UUID | str | None = None) -> Organization:
    """The organisation in which the actor creates something.

    Without an id: the organisation of an organisation token, or the only one the user
    administers. An organisation the actor is not in answers NotFound; one where they are
    not an admin, PermissionDenied.
    """
    token_organization = token_organization_id(user)
    if organization_id is None:
        if token_organization is not None:
            return Organization.objects.get(pk=token_organization)
        administered = list(Organization.objects.filter(pk__in=_admin_organization_ids(user))[:2])
        if len(administered) == 1:
            return administered[0]
        if not administered:
            raise PermissionDenied(
                code="permission_denied", message="Only an admin of an organisation may create this."
            )
        raise ValidationFailed(
            code="invalid",
            message="You administer several organisations; say which one with organization_id.",
            details=[ErrorDetail(path="organization_id", code="required", message="Choose an organisation.")],
        )
    organization = _in_organization_list(user, organization_id)
    if organization is None:
        raise NotFound(
            code="not_found", message="No such organisation.", params=("Organization", "id", organization_id)
        )
    if not user_is_org_admin(user=user, organization=organization):
        raise PermissionDenied(code="permission_denied", message="Only an admin of the organisation may create this.")
    return organization


def _in_organization_list(user: AnyUser, organization_id: UUID | str) -> Organization | None:
    try:
        pk = organization_id if isinstance(organization_id, UUID) else UUID(str(organization_id))
    except ValueError:
        return None
    organizations = Organization.objects.filter(pk=pk)
    if _is_superuser(user):
        return organizations.first()
    token_organization = token_organization_id(user)
    if token_organization is not None:
        return organizations.filter(pk=token_organization).first()
    user_pk: Any = user.pk
    return organizations.filter(memberships__user_id=user_pk).first()


# --- projects -------------------------------------------------------------------------------


def project_list_for_user(*, user: AnyUser) -> QuerySet[Project]:
    """The live (not archived) projects the user may see, ordered by name."""
    return _projects_visible_to(user=user).filter(archived_at__isnull=True)


def _projects_visible_to(*, user: AnyUser) -> QuerySet[Project]:
    projects = Project.objects.all()
    if not user.is_authenticated:
        return projects.none()
    if _is_superuser(user):
        return projects
    token_organization = token_organization_id(user)
    if token_organization is not None:
        return projects.filter(organization_id=token_organization)
    # Subqueries rather than joins: no duplicate rows, so no DISTINCT over the whole project.
    admin_of = _admin_organization_ids(user)
    member_of = Membership.objects.filter(user_id=user.pk).values("organization_id")
    assigned = Project.members.through.objects.filter(user_id=user.pk).values("project_id")
    return projects.filter(Q(organization_id__in=admin_of) | Q(organization_id__in=member_of, pk__in=assigned))


def project_get_for_user(*, user: AnyUser, project_id: UUID | str) -> Project:
    """The project if the user may see it (archived ones included); NotFound otherwise."""
    project = _in_pk(_projects_visible_to(user=user).select_related("organization"), project_id)
    if project is None:
        raise _project_not_found(project_id)
    return project


def project_get_for_admin(*, user: AnyUser, project_id: UUID | str) -> Project:
    """The project if the user administers its organisation; NotFound or PermissionDenied otherwise."""
    project = project_get_for_user(user=user, project_id=project_id)
    if not user_is_org_admin(user=user, organization=project.organization_id):
        raise PermissionDenied(
            code="permission_denied", message="Only an admin of the organisation may change this project."
        )
    return project


def _project_not_found(project_id: UUID | str) -> NotFound:
    return NotFound(code="not_found", message="No such project.", params=("Project", "id", str(project_id)))


def project_list_with_counts(*, user: AnyUser) -> list[Project]:
    """The user's projects, each with `media_count`, `task_count`, `task_counts` (state -> n) and
    `task_summary` (the non-empty states with label and count, in order)."""
    live_media = Media.objects.filter(
        dataset__projects=OuterRef("pk"), deleted_at__isnull=True, dataset__deleted_at__isnull=True
    )
    # COUNT as a plain function, not an aggregate: a one-row subquery with no GROUP BY.
    media_count = live_media.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    projects: list[Project] = list(
        project_list_for_user(user=user)
        .select_related("organization")
        .annotate(media_count=Coalesce(Subquery(media_count, output_field=IntegerField()), Value(0)))
    )
    counts = project_task_counts(project_ids=[p.pk for p in projects])
    states = task_state_choices()
    for project in projects:
        project_counts = counts.get(project.pk, {})
        project.task_counts = project_counts  # type: ignore[attr-defined]
        project.task_count = sum(project_counts.values())  # type: ignore[attr-defined]
        # The states that have tasks, in the workflow's order, for display.
        project.task_summary = [  # type: ignore[attr-defined]
            {"state": value, "label": label, "count": project_counts[value]}
            for value, label in states
            if project_counts.get(value)
        ]
    return projects


def project_task_counts(*, project_ids: list[UUID]) -> dict[UUID, dict[str, int]]:
    """Tasks per state of each project, in one query (through the reverse relation `tasks`)."""
    counts: dict[UUID, dict[str, int]] = defaultdict(dict)
    rows = (
        Project.objects.filter(pk__in=project_ids, tasks__isnull=False)
        .values("pk", "tasks__state")
        .annotate(n=Count("tasks"))
        .order_by()
    )
    for row in rows:
        counts[row["pk"]][row["tasks__state"]] = row["n"]
    return dict(counts)


def task_state_choices() -> list[tuple[str, str]]:
    """(value, label) of every task state, read from the model behind `Project.tasks`.

    projects may not import labeling, so it asks the relation for the model.
    """
    task_model: Any = Project._meta.get_field("tasks").related_model
    return list(task_model._meta.get_field("state").choices)


def project_task_state_summary(*, project: Project) -> list[dict[str, Any]]:
    """Every task state with its label and the number of the project's tasks in it."""
    rows = project.tasks.values("state").annotate(n=Count("pk")).order_by()
    counts = {row["state"]: row["n"] for row in rows}
    return [{"state": value, "label": label, "count": counts.get(value, 0)} for value, label in task_state_choices()]


#: Task states and verdict as labeling stores them (projects may not import labeling).
_OPEN_TASK_STATES = ("backlog", "waiting", "in_progress", "waiting_changed")


def project_review_counts(*, project: Project) -> dict[str, int]:
    """The review's progress: tasks to review (completed, not reviewed yet), accepted, and
    rejected (sent back and not completed again yet), in one query."""
    return project.tasks.aggregate(
        to_review=Count("pk", filter=Q(state="completed")),
        accepted=Count("pk", filter=Q(state="reviewed")),
        rejected=Count("pk", filter=Q(review_verdict="rejected", state__in=_OPEN_TASK_STATES)),
    )


def user_may_review_project(*, user: AnyUser, project: Project) -> bool:
    """Reviewers and admins review (labeling's `project_get_for_review` enforces the same rule)."""
    return user_role(user=user, organization=project.organization_id) in (Role.ADMIN, Role.REVIEWER)


#: Who may export a project's labels: `exports.selectors.export_project_get` enforces this rule,
#: the project's tabs show the Export tab by it.
EXPORT_ROLES = (Role.ADMIN, Role.REVIEWER)

#: The project's tabs in their order: (key, label, URL name, least role). Each view enforces its
#: role: Overview, Tasks and Data `project_get_for_user`; Import and Settings `project_get_for_admin`
#: (`user_is_org_admin`); Export `EXPORT_ROLES`.
PROJECT_TABS = (
    ("overview", "Overview", "project-detail", None),
    ("tasks", "Tasks", "project-task-list", None),
    ("data", "Data", "project-data", None),
    ("import", "Import", "project-import", Role.ADMIN),
    ("export", "Export", "project-export", Role.REVIEWER),
    ("settings", "Settings", "setup-project-settings", Role.ADMIN),
)
_ROLES_FROM = {
    None: (Role.ADMIN, Role.REVIEWER, Role.ANNOTATOR),
    Role.REVIEWER: EXPORT_ROLES,
    Role.ADMIN: (Role.ADMIN,),
}


def project_tab_list(*, user: AnyUser, project: Project) -> list[tuple[str, str, str]]:
    """The project's tabs the user may open, as (key, label, URL name): one role query."""
    role = user_role(user=user, organization=project.organization_id)
    return [(key, label, url_name) for key, label, url_name, least in PROJECT_TABS if role in _ROLES_FROM[least]]


def project_setup_steps(*, project: Project) -> list[dict[str, Any]]:
    """The setup checklist of the Overview, in order: configuration, data, members, labeling;
    each with `done`. Four short queries."""
    return [
        {"key": "configuration", "done": LabelEntry.objects.filter(configuration__project=project).exists()},
        {"key": "data", "done": project.tasks.exists()},
        {"key": "members", "done": project.members.exists()},
        {"key": "labeling", "done": project.tasks.exclude(state__in=("backlog", "waiting")).exists()},
    ]


def project_media_list(*, project: Project) -> QuerySet[Media]:
    """The live media of the project's connected live datasets, newest first (the Data tab's grid)."""
    return (
        Media.objects.filter(
            deleted_at__isnull=True,
            dataset__deleted_at__isnull=True,
            dataset__in=project.datasets.values("pk"),
        )
        .select_related("dataset")
        .order_by("-created_at", "-id")
    )


def project_queue_counts_for_user(*, user: AnyUser, project_ids: list[UUID]) -> dict[UUID, dict[str, int]]:
    """Per project, what waits for the user: open tasks assigned to them, tasks they have reserved
    (a live lease), and tasks a reviewer sent back to them (rejected, open again)."""
    if not getattr(user, "pk", None):
        return {}
    now = timezone.now()
    open_mine = Q(tasks__state__in=_OPEN_TASK_STATES)
    rows = (
        Project.objects.filter(pk__in=project_ids)
        .annotate(
            assigned=Count("tasks", filter=open_mine & Q(tasks__assignee_id=user.pk)),
            reserved=Count("tasks", filter=Q(tasks__reserved_by_id=user.pk, tasks__reserved_until__gt=now)),
            rejected=Count("tasks", filter=open_mine & Q(tasks__assignee_id=user.pk, tasks__review_verdict="rejected")),
        )
        .values("pk", "assigned", "reserved", "rejected")
    )
    return {
        row["pk"]: {"assigned": row["assigned"], "reserved": row["reserved"], "rejected": row["rejected"]}
        for row in rows
    }


def project_dataset_list(*, project: Project) -> QuerySet[Dataset]:
    """The live datasets connected to the project, each with `media_count`."""
    return project.datasets.filter(deleted_at__isnull=True).annotate(
        media_count=Count("media", filter=Q(media__deleted_at__isnull=True))
    )


# --- datasets -------------------------------------------------------------------------------


def dataset_list_for_organization(*, organization: Organization | UUID) -> QuerySet[Dataset]:
    """The organisation's live datasets, ordered by name."""
    organization_id = organization.pk if isinstance(organization, Organization) else organization
    return Dataset.objects.filter(organization_id=organization_id, deleted_at__isnull=True)


def dataset_list_connectable(*, project: Project) -> QuerySet[Dataset]:
    """The organisation's live datasets that are not connected to the project yet."""
    return dataset_list_for_organization(organization=project.organization_id).exclude(projects=project)


def dataset_get_for_user(*, user: AnyUser, dataset_id: UUID | str) -> Dataset:
    """The live dataset if the user may see it; NotFound otherwise.

    Admins see every dataset of their organisation; others see the datasets connected to a
    project they may see.
    """
    if not user.is_authenticated:
        raise _dataset_not_found(dataset_id)
    datasets = Dataset.objects.select_related("organization").filter(deleted_at__isnull=True)
    dataset = _in_pk(_datasets_visible_to(user=user, datasets=datasets), dataset_id)
    if dataset is None:
        raise _dataset_not_found(dataset_id)
    return dataset


def _datasets_visible_to(*, user: AnyUser, datasets: QuerySet[Dataset]) -> QuerySet[Dataset]:
    if _is_superuser(user):
        return datasets
    if not user.is_authenticated:
        return datasets.none()
    visible_projects = project_list_for_user(user=user).values("pk")
    return datasets.filter(
        Q(organization_id__in=_admin_organization_ids(user))
        | Q(pk__in=Dataset.projects.through.objects.filter(project_id__in=visible_projects).values("dataset_id"))
    )


def dataset_list_for_user(*, user: AnyUser) -> QuerySet[Dataset]:
    """The live datasets the user may see (see `dataset_get_for_user`), by name, with `media_count`."""
    datasets = Dataset.objects.filter(deleted_at__isnull=True)
    return (
        _datasets_visible_to(user=user, datasets=datasets)
        .annotate(media_count=Count("media", filter=Q(media__deleted_at__isnull=True)))
        .order_by("name", "id")
    )


def dataset_get_for_admin(*, user: AnyUser, dataset_id: UUID | str) -> Dataset:
    """The dataset if the user administers its organisation; NotFound or PermissionDenied otherwise."""
    dataset = dataset_get_for_user(user=user, dataset_id=dataset_id)
    if not user_is_org_admin(user=user, organization=dataset.organization_id):
        raise PermissionDenied(
            code="permission_denied", message="Only an admin of the organisation may change this dataset."
        )
    return dataset


def _dataset_not_found(dataset_id: UUID | str) -> NotFound:
    return NotFound(code="not_found", message="No such dataset.", params=("Dataset", "id", str(dataset_id)))


def dataset_project_list_for_user(*, user: AnyUser, dataset: Dataset) -> QuerySet[Project]:
    """The projects the dataset is connected to that the user may see."""
    return project_list_for_user(user=user).filter(datasets=dataset)


def media_list(*, dataset: Dataset, name_contains: str = "", source: str = "") -> QuerySet[Media]:
    """The dataset's live media, oldest first (stable for paging), optionally filtered."""
    media = Media.objects.filter(dataset=dataset, deleted_at__isnull=True)
    if name_contains:
        media = media.filter(name__icontains=name_contains)
    if source:
        media = media.filter(source=source)
    return media.order_by("created_at", "id")


def media_get_for_admin(*, user: AnyUser, media_id: UUID | str) -> Media:
    """A live media of a dataset the user may see and administers; NotFound or PermissionDenied otherwise."""
    media = Media.objects.select_related("dataset").filter(deleted_at__isnull=True)
    found = _in_pk(media, media_id)
    if found is None:
        raise NotFound(code="not_found", message="No such media.", params=("media", "id", str(media_id)))
    try:
        dataset_get_for_admin(user=user, dataset_id=found.dataset_id)
    except NotFound:
        raise NotFound(code="not_found", message="No such media.", params=("media", "id", str(media_id))) from None
    return found


def _in_pk(queryset: QuerySet[Any], pk: UUID | str) -> Any:
    try:
        pk = pk if isinstance(pk, UUID) else UUID(str(pk))
    except ValueError:
        return None
    return queryset.filter(pk=pk).first()


# --- organisation-scoped reads (API tokens act for their organisation) ------------------------


def project_get_for_organization(*, organization: Organization | UUID, project_id: UUID | str) -> Project:
    """A live project of the organisation; NotFound for any other id (or a malformed one)."""
    project = _in_organization(Project.objects.filter(archived_at__isnull=True), organization, project_id)
    if project is None:
        raise _project_not_found(project_id)
    return project


def dataset_get_for_organization(*, organization: Organization | UUID, dataset_id: UUID | str) -> Dataset:
    """A live dataset of the organisation; NotFound otherwise."""
    dataset = _in_organization(Dataset.objects.filter(deleted_at__isnull=True), organization, dataset_id)
    if dataset is None:
        raise _dataset_not_found(dataset_id)
    return dataset


def media_get_for_organization(
    *, organization: Organization | UUID, media_id: UUID | str, include_deleted: bool = False
) -> Media:
    """A media of the organisation (live only, unless `include_deleted`); NotFound otherwise."""
    media = Media.objects.select_related("dataset")
    if not include_deleted:
        media = media.filter(deleted_at__isnull=True)
    found = _in_organization(media, organization, media_id)
    if found is None:
        raise NotFound(code="not_found", message="No such media.", params=("media", "id", str(media_id)))
    return found


def _in_organization(queryset: QuerySet[Any], organization: Organization | UUID, pk: UUID | str) -> Any:
    organization_id = organization.pk if isinstance(organization, Organization) else organization
    try:
        pk = pk if isinstance(pk, UUID) else UUID(str(pk))
    except ValueError:
        return None
    return queryset.filter(organization_id=organization_id, pk=pk).first()


# --- project setup: organisations, members, tokens, overview statistics, the media grid --------
# (read by the setup pages and their API; see projects/setup_views.py and projects/setup_api.py)


def organization_list_for_admin(*, user: AnyUser) -> QuerySet[Organization]:
    """The organisations the actor administers (all of them for a superuser), by name."""
    if not user.is_authenticated:
        return Organization.objects.none()
    if _is_superuser(user):
        return Organization.objects.order_by("name")
    return Organization.objects.filter(pk__in=_admin_organization_ids(user)).order_by("name")


def organization_get_for_admin_page(*, user: AnyUser, organization_id: UUID | str | None = None) -> Organization:
    """The organisation an admin page works on: the one asked for, or the first one administered."""
    if organization_id:
        return organization_get_for_admin(user=user, organization_id=organization_id)
    organization = organization_list_for_admin(user=user).first()
    if organization is None:
        raise PermissionDenied(code="permission_denied", message="Only an admin of an organisation may do this.")
    return organization


def membership_list(*, organization: Organization) -> QuerySet[Membership]:
    """The organisation's members with their users, by user name."""
    return Membership.objects.filter(organization=organization).select_related("user").order_by("user__username")


def member_get(*, organization: Organization, user_id: int | str) -> Any:
    """A user who is a member of the organisation; NotFound otherwise."""
    membership = membership_list(organization=organization).filter(user_id=user_id).first()
    if membership is None:
        raise NotFound(code="not_found", message="No such member.", params=("User", "id", str(user_id)))
    return membership.user


def invitation_list_for_organization(*, organization: Organization) -> QuerySet[MembershipInvitation]:
    """The organisation's invitations, by name as typed. Pending or declined, of an account or of
    none: the admin's page shows them all alike, "Invited"."""
    return MembershipInvitation.objects.filter(organization=organization).select_related("project")


def invitation_get_for_organization(*, organization: Organization, invitation_id: UUID | str) -> MembershipInvitation:
    invitation = _in_pk(invitation_list_for_organization(organization=organization), invitation_id)
    if invitation is None:
        raise NotFound(code="not_found", message="No such invitation.", params=("Invitation", "id", str(invitation_id)))
    return invitation


def invitation_list_for_user(*, user: AnyUser) -> QuerySet[MembershipInvitation]:
    """The invitations the user has not answered yet, oldest first."""
    if not user.is_authenticated or user.pk is None:  # an organisation token is nobody's invitee
        return MembershipInvitation.objects.none()
    return (
        MembershipInvitation.objects.filter(user_id=user.pk, declined_at__isnull=True)
        .select_related("organization", "project", "invited_by")
        .order_by("created_at")
    )


def invitation_get_for_user(*, user: AnyUser, invitation_id: UUID | str) -> MembershipInvitation:
    """An invitation addressed to this user and not yet answered; NotFound for any other."""
    invitation = _in_pk(invitation_list_for_user(user=user), invitation_id)
    if invitation is None:
        raise NotFound(code="not_found", message="No such invitation.", params=("Invitation", "id", str(invitation_id)))
    return invitation


def project_member_list(*, project: Project) -> list[dict[str, Any]]:
    """The users assigned to the project, each with their organisation role."""
    roles = dict(Membership.objects.filter(organization_id=project.organization_id).values_list("user_id", "role"))
    return [{"user": user, "role": roles.get(user.pk, "")} for user in project.members.order_by("username")]


def api_token_list(*, organization: Organization) -> QuerySet[Any]:
    """The organisation's tokens, newest first, revoked ones included (they show as revoked)."""
    return organization.api_tokens.select_related("user").order_by("-created_at")


def api_token_get(*, organization: Organization, token_id: UUID | str) -> Any:
    token = _in_pk(organization.api_tokens.all(), token_id)
    if token is None:
        raise NotFound(code="not_found", message="No such token.", params=("ApiToken", "id", str(token_id)))
    return token


def project_deletion_summary(*, project: Project) -> dict[str, int]:
    """What deleting the project loses: its tasks, labels and configuration entries."""
    tasks = project.tasks.count()
    labels = project.tasks.aggregate(n=Count("labels"))["n"] or 0
    entries = project.label_configuration.entries.count() if hasattr(project, "label_configuration") else 0
    return {"tasks": tasks, "labels": labels, "entries": entries}


def project_label_counts_by_class(*, project: Project) -> list[dict[str, Any]]:
    """Labels of each geometry class of the project (zero included), in configuration order."""
    from projects.models import GEOMETRY_TYPES

    rows = (
        LabelEntry.objects.filter(configuration__project=project, type__in=list(GEOMETRY_TYPES))
        .annotate(n=Count("labels"))
        .order_by("parent_id", "position")
        .values("key", "title", "color", "n")
    )
    return [{"key": r["key"], "title": r["title"], "color": r["color"], "count": r["n"]} for r in rows]


def project_counts_by_annotator(*, project: Project) -> list[dict[str, Any]]:
    """Per user: tasks assigned, tasks completed or reviewed, and labels drawn."""
    done_states = ["completed", "reviewed"]
    per_user: dict[Any, dict[str, Any]] = {}
    for row in (
        project.tasks.filter(assignee__isnull=False)
        .values("assignee__username")
        .annotate(assigned=Count("pk"), done=Count("pk", filter=Q(state__in=done_states)))
    ):
        per_user[row["assignee__username"]] = {
            "username": row["assignee__username"],
            "assigned": row["assigned"],
            "done": row["done"],
            "labels": 0,
        }
    label_rows = (
        project.tasks.filter(labels__author__isnull=False)
        .values("labels__author__username")
        .annotate(n=Count("labels"))
        .order_by()
    )
    for label_row in label_rows:
        name = label_row["labels__author__username"]
        per_user.setdefault(name, {"username": name, "assigned": 0, "done": 0, "labels": 0})["labels"] = label_row["n"]
    return sorted(per_user.values(), key=lambda item: item["username"])


def media_grid_list(
    *,
    dataset: Dataset,
    name_contains: str = "",
    state: str = "",
    min_labels: int | None = None,
    max_labels: int | None = None,
) -> QuerySet[Media]:
    """The dataset's live media for the grid, each with `label_count` (over all its tasks) and
    `states` filterable: `state` keeps media with a task in that state."""
    task_model: Any = Project._meta.get_field("tasks").related_model
    label_count = (
        task_model.objects.filter(media=OuterRef("pk"))
        .order_by()
        .annotate(n=Func(F("labels"), function="COUNT"))
        .values("n")
    )
    media = media_list(dataset=dataset, name_contains=name_contains).annotate(
        label_count=Coalesce(Subquery(label_count[:1], output_field=IntegerField()), Value(0))
    )
    if state:
        media = media.filter(pk__in=task_model.objects.filter(state=state).values("media_id"))
    if min_labels is not None:
        media = media.filter(label_count__gte=min_labels)
    if max_labels is not None:
        media = media.filter(label_count__lte=max_labels)
    return media


def media_get_for_user(*, user: AnyUser, media_id: UUID | str) -> Media:
    """A live media of a dataset the user may see; NotFound otherwise."""
    found = _in_pk(Media.objects.select_related("dataset").filter(deleted_at__isnull=True), media_id)
    if found is None:
        raise NotFound(code="not_found", message="No such media.", params=("media", "id", str(media_id)))
    try:
        dataset_get_for_user(user=user, dataset_id=found.dataset_id)
    except NotFound:
        raise NotFound(code="not_found", message="No such media.", params=("media", "id", str(media_id))) from None
    return found
