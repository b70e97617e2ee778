"""Writes of the labeling app: tasks and labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from labeling.documents import document_problems, required_problems
from labeling.models import Label, LabelSource, Task, TaskState
from labeling.selectors import task_annotation_get
from labelsite.errors import Conflict, ValidationFailed
from projects.label_config import IndexedEntry, LabelConfigIndex, label_config_index
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


# --- the whole annotation of a task, saved by the labeling page and the native API ----------


def _label_rows(
    labels: list[dict[str, Any]], *, task: Task, index: LabelConfigIndex, parent: IndexedEntry | None, author: Any
) -> list[tuple[Label, list[dict[str, Any]]]]:
    rows = []
    for label in labels:
        entry = index.child(parent.id, label["key"]) if parent is not None else index.root(label["key"])
        assert entry is not None  # checked by document_problems
        row = Label(
            task=task,
            entry_id=entry.id,
            points=label["points"],
            answers=label.get("answers") or {},
            source=label.get("source", LabelSource.MANUAL),
            score=label.get("score"),
            model_version=label.get("model_version") or "",
            author=author if getattr(author, "pk", None) else None,
        )
        rows.append((row, label.get("children") or []))
    return rows


@transaction.atomic
def task_annotation_replace(
    *, task: Task, document: dict[str, Any], user: Any = None, expected_version: int | None = None
) -> dict[str, Any]:
    """Replace a task's answers and labels with `document`; answers the stored document.

    Every problem of the document is reported at once, with its path. When the caller says
    which version it edited (`expected_version`), a save over a newer version is refused
    with a conflict instead of silently overwriting another person's work.
    """
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
    Label.objects.filter(task=task).delete()
    roots = _label_rows(document.get("labels") or [], task=task, index=index, parent=None, author=user)
    # Parents first, so that nested geometries get their parent's id (bulk_create returns ids).
    Label.objects.bulk_create([row for row, _ in roots])
    nested: list[Label] = []
    for row, children in roots:
        parent_entry = index.entries[str(row.entry_id)]
        for child, _ in _label_rows(children, task=task, index=index, parent=parent_entry, author=user):
            child.parent = row
            nested.append(child)
    Label.objects.bulk_create(nested)
    task.refresh_from_db()
    return task_annotation_get(task=task)


def task_complete_checked(*, task: Task, user: Any = None) -> Task:
    """Complete a task from the labeling page: required questions must be answered."""
    index = label_config_index(configuration=task.project.label_configuration)
    problems = required_problems(task_annotation_get(task=task), index=index)
    if problems:
        raise ValidationFailed(
            code="required_unanswered",
            message=f"{len(problems)} required question(s) are unanswered; see details.",
            details=problems,
        )
    return task_complete(task=task)
