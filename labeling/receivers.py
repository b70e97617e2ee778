"""Create tasks when projects announces new media or a new dataset connection."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.dispatch import receiver

from labeling.services import task_create_for_dataset, task_create_for_media
from projects.models import Dataset, Project
from projects.signals import dataset_connected, media_created


@receiver(media_created, dispatch_uid="labeling.tasks_for_new_media")
def _tasks_for_new_media(
    sender: Any, *, dataset: Dataset, media_ids: list[UUID], tasks_made_in: tuple[Any, ...] = (), **kwargs: Any
) -> None:
    # `tasks_made_in`: projects whose tasks the sender made already (an import's planned tasks).
    task_create_for_media(dataset=dataset, media_ids=media_ids, except_projects=tasks_made_in)


@receiver(dataset_connected, dispatch_uid="labeling.tasks_for_connected_dataset")
def _tasks_for_connected_dataset(sender: Any, *, dataset: Dataset, project: Project, **kwargs: Any) -> None:
    task_create_for_dataset(dataset=dataset, project=project)
