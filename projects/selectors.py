"""Reads of the projects app, and the access rules that pages and APIs share.

Who may see what:
- a superuser sees everything;
- an admin of an organisation sees all its projects and datasets and may change them;
- a reviewer or annotator sees the projects of their organisation they are a member of,
  and the datasets connected to those projects, but may not change them.
Anything a user may not see answers NotFound, exactly as if it did not exist.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from labelsite.errors import NotFound, PermissionDenied
from projects.models import Dataset, Media, Membership, Organization, Project, Role

AnyUser = AbstractBaseUser | AnonymousUser


def _is_superuser(user: AnyUser) -> bool:
    return bool(user.is_authenticated and getattr(user, "is_superuser", False))


def user_is_org_admin(*, user: AnyUser, organization: Organization | UUID) -> bool:
    """Whether the user may change the organisation's projects, datasets and media."""
    if not user.is_authenticated:
        return False
    if _is_superuser(user):
        return True
    organization_id = organization.pk if isinstance(organization, Organization) else organization
    return Membership.objects.filter(user_id=user.pk, organization_id=organization_id, role=Role.ADMIN).exists()


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
    # Subqueries rather than joins: no duplicate rows, so no DISTINCT over the whole project.
    admin_of = Membership.objects.filter(user_id=user.pk, role=Role.ADMIN).values("organization_id")
    member_of = Membership.objects.filter(user_id=user.pk).values("organization_id")
    assigned = Project.members.through.objects.filter(user_id=user.pk).values("project_id")
    return projects.filter(Q(organization_id__in=admin_of) | Q(organization_id__in=member_of, pk__in=assigned))


def project_get_for_user(*, user: AnyUser, project_id: UUID | str) -> Project:
    """The project if the user may see it (archived ones included); NotFound otherwise."""
    project = _projects_visible_to(user=user).select_related("organization").filter(pk=project_id).first()
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
    if not _is_superuser(user):
        admin_of = Membership.objects.filter(user_id=user.pk, role=Role.ADMIN).values("organization_id")
        visible_projects = project_list_for_user(user=user).values("pk")
        datasets = datasets.filter(
            Q(organization_id__in=admin_of)
            | Q(pk__in=Dataset.projects.through.objects.filter(project_id__in=visible_projects).values("dataset_id"))
        )
    dataset = datasets.filter(pk=dataset_id).first()
    if dataset is None:
        raise _dataset_not_found(dataset_id)
    return dataset


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


def media_list(*, dataset: Dataset) -> QuerySet[Media]:
    """The dataset's live media, oldest first (stable for paging)."""
    return Media.objects.filter(dataset=dataset, deleted_at__isnull=True).order_by("created_at", "id")


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
