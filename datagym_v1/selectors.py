"""Reads shaped for the DataGym v1 facade: each listing in a fixed, small number of queries.

An API token acts for its organisation, so everything here is scoped by organisation;
another organisation's ids answer NotFound exactly like ids that do not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from django.db.models import Count, Prefetch, Q, QuerySet

from exports.reader import ExportFilters, ExportReader
from formats.datagym import EXPORT_STATES as DATAGYM_EXPORT_STATES
from formats.datagym import datagym_rows
from labeling.models import Label, Task, TaskState
from labelsite.errors import NotFound, ValidationFailed
from projects.models import Dataset, LabelConfiguration, LabelEntry, Media, Organization, Project


def _uuid(value: UUID | str) -> UUID | None:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        return None


def _live_datasets() -> QuerySet[Dataset]:
    return Dataset.objects.filter(deleted_at__isnull=True).annotate(
        media_count=Count("media", filter=Q(media__deleted_at__isnull=True), distinct=True),
        project_count=Count("projects", filter=Q(projects__archived_at__isnull=True), distinct=True),
    )


def datagym_project_list(*, organization: Organization) -> list[Project]:
    """The organisation's live projects with their ids of configuration and iteration and datasets."""
    return list(
        Project.objects.filter(organization=organization, archived_at__isnull=True)
        .select_related("label_configuration", "label_iteration")
        .prefetch_related(Prefetch("datasets", queryset=_live_datasets().order_by("name")))
        .order_by("name", "id")
    )


def _with_media(datasets: QuerySet[Dataset]) -> QuerySet[Dataset]:
    live_media = Media.objects.filter(deleted_at__isnull=True).order_by("created_at", "id")
    return datasets.prefetch_related(Prefetch("media", queryset=live_media, to_attr="live_media"))


def datagym_dataset_list(*, organization: Organization) -> list[Dataset]:
    """The organisation's live datasets, each with its live media (`live_media`)."""
    return list(_with_media(_live_datasets().filter(organization=organization).order_by("name", "id")))


def datagym_dataset_get(*, organization: Organization, dataset_id: UUID | str) -> Dataset:
    pk = _uuid(dataset_id)
    dataset = _with_media(_live_datasets().filter(organization=organization, pk=pk)).first() if pk else None
    if dataset is None:
        raise NotFound(code="not_found", message="No such dataset.", params=("dataset", "id", str(dataset_id)))
    return dataset


def datagym_configuration_get(*, organization: Organization, configuration_id: UUID | str) -> LabelConfiguration:
    pk = _uuid(configuration_id)
    configuration = (
        LabelConfiguration.objects.select_related("project")
        .filter(pk=pk, project__organization=organization, project__archived_at__isnull=True)
        .first()
        if pk
        else None
    )
    if configuration is None:
        raise NotFound(
            code="not_found",
            message="No such label configuration.",
            params=("Label Configuration", "id", str(configuration_id)),
        )
    return configuration


def datagym_task_get(*, organization: Organization, task_id: UUID | str) -> Task:
    pk = _uuid(task_id)
    task = (
        Task.objects.select_related("project__label_iteration", "project__label_configuration", "media")
        .filter(pk=pk, project__organization=organization, media__deleted_at__isnull=True)
        .first()
        if pk
        else None
    )
    if task is None:
        raise NotFound(code="not_found", message="No such task.", params=("Task", "id", str(task_id)))
    return task


#: DataGym's task state names (upper case) -> ours.
TASK_STATES = {state.value.upper(): state.value for state in TaskState}


def datagym_task_list(*, project: Project, search: str = "", state: str = "", limit: int = 0) -> list[Task]:
    """The project's tasks of live media, filtered as DataGym's `task/{projectId}/list` does."""
    tasks = (
        Task.objects.filter(project=project, media__deleted_at__isnull=True)
        .select_related("project__label_iteration", "media", "assignee")
        .order_by("created_at", "id")
    )
    if search:
        tasks = tasks.filter(media__name__icontains=search)
    if state:
        if state.upper() not in TASK_STATES:
            raise ValidationFailed(
                code="invalid_state",
                message=f"Unknown task state {state!r}; use one of {sorted(TASK_STATES)}.",
            )
        tasks = tasks.filter(state=TASK_STATES[state.upper()])
    if limit > 0:
        tasks = tasks[:limit]
    return list(tasks)


def datagym_export_rows(*, project: Project, api_url: str = "") -> Iterator[dict[str, Any]]:
    """DataGym's export of the project as the v1 API gives it: every label, whatever its source.

    The elements of the export array, streamed (`formats.datagym.datagym_rows`) from the
    export reader; `api_url` is the base of the segmentation bitmaps' links.
    """
    filters = ExportFilters(states=DATAGYM_EXPORT_STATES, include_predictions=True)
    return datagym_rows(ExportReader(project=project, filters=filters, api_url=api_url))


def segmentation_rings(*, task: Task, entry: LabelEntry) -> list[list[tuple[float, float]]]:
    """The polygons of the task's labels of a segmentation class, as lists of (x, y)."""
    return [
        [(float(p[0]), float(p[1])) for p in ring if isinstance(p, list | tuple) and len(p) >= 2]
        for points in Label.objects.filter(task=task, entry=entry).values_list("points", flat=True)
        if isinstance(points, list)
        for ring in points
        if isinstance(ring, list)
    ]
