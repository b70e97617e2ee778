"""Writes of the labeling app: tasks and labels."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from django.db import transaction

from labeling.models import Task
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
