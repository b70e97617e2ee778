"""Writes of the labeling app: tasks and labels."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from labeling.models import Task, TaskState
from labelsite.errors import Conflict
from projects.models import Dataset, Media, Project

TASK_BATCH = 2000


def task_create_for_media(*, dataset: Dataset, media_ids: Sequence[UUID]) -> int:
    """One task per new media in every project the dataset is connected to, in bulk."""
    project_ids = list(dataset.projects.values_list("id", flat=True))
    tasks = [Task(project_id=project_id, media_id=media_id) for project_id in project_ids for media_id in media_ids]
    with transaction.atomic():
        Task.objects.bulk_create(tasks, batch_size=TASK_BATCH, ignore_conflicts=True)
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
    return created


# --- task states set by a script (the DataGym v1 API) ----------------------------------------

#: States a script may move a task out of by completing or skipping it.
_OPEN_STATES = frozenset({TaskState.BACKLOG, TaskState.WAITING, TaskState.IN_PROGRESS, TaskState.WAITING_CHANGED})


def _task_state_set(*, task: Task, state: str) -> Task:
    if task.state == state:
        return task
    if task.state not in _OPEN_STATES:
        raise Conflict(
            code="task_state",
            message=f"The task is {task.get_state_display().lower()} already and cannot be changed this way.",
            params=(task.state.upper(),),
        )
    updated = Task.objects.filter(pk=task.pk, state=task.state).update(state=state, updated_at=timezone.now())
    if not updated:
        raise Conflict(
            code="task_state", message="The task changed meanwhile; reload it.", params=(task.state.upper(),)
        )
    task.state = state
    return task


def task_complete(*, task: Task) -> Task:
    return _task_state_set(task=task, state=TaskState.COMPLETED)


def task_skip(*, task: Task) -> Task:
    return _task_state_set(task=task, state=TaskState.SKIPPED)
