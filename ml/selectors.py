"""Reads of model servers: who may connect and use them, the jobs, the predictions by model version.

Connecting, pre-labelling and accepting predictions in bulk are for admins of the project's
organisation (`project_get_for_admin`); the labeling page's interactive calls are for whoever
may label the task (`task_get_for_labeling`). Anyone outside the organisation gets NotFound.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Avg, Count, QuerySet

from labeling.models import Label, LabelSource, PredictionOutcome, Task
from labeling.selectors import task_get_for_labeling
from labelsite.errors import NotFound, PermissionDenied
from ml.models import MLBackend, PredictionAcceptJob, PrelabelJob
from ml.tokens import media_token_backend_id, media_token_matches
from projects.models import Media, Project
from projects.selectors import AnyUser, project_get_for_admin, project_get_for_user


def _uuid(value: UUID | str) -> UUID | None:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _backend_not_found(backend_id: Any) -> NotFound:
    return NotFound(code="not_found", message="No such model server.", params=("MLBackend", "id", str(backend_id)))


def backend_list(*, project: Project) -> QuerySet[MLBackend]:
    return MLBackend.objects.filter(project=project).order_by("created_at")


def backend_get_for_admin(*, user: AnyUser, backend_id: UUID | str) -> MLBackend:
    """The connection if the user administers its project; NotFound or PermissionDenied otherwise."""
    pk = _uuid(backend_id)
    backend = MLBackend.objects.select_related("project").filter(pk=pk).first() if pk else None
    if backend is None:
        raise _backend_not_found(backend_id)
    try:
        backend.project = project_get_for_admin(user=user, project_id=backend.project_id)
    except NotFound:
        raise _backend_not_found(backend_id) from None
    return backend


def backend_get_for_task(*, user: AnyUser, backend_id: UUID | str, task_id: UUID | str) -> tuple[MLBackend, Task]:
    """An interactive connection of the task's project, if the user may label the task."""
    task = task_get_for_labeling(user=user, task_id=task_id)
    pk = _uuid(backend_id)
    backend = MLBackend.objects.filter(pk=pk, project_id=task.project_id).first() if pk else None
    if backend is None:
        raise _backend_not_found(backend_id)
    if not backend.interactive:
        raise PermissionDenied(
            code="not_interactive",
            message="This model server is not marked interactive; an admin turns that on in the project's settings.",
        )
    return backend, task


def interactive_backends_for_user(*, user: AnyUser, project_id: UUID | str) -> list[MLBackend]:
    """The interactive connections of a project the user may see (for the labeling page)."""
    project = project_get_for_user(user=user, project_id=project_id)
    return list(MLBackend.objects.filter(project=project, interactive=True).order_by("created_at"))


def backend_for_media_token(*, raw: str) -> MLBackend | None:
    """The connection a media token belongs to, None for a token that is not one (constant-time check)."""
    backend_id = media_token_backend_id(raw)
    if backend_id is None:
        return None
    backend = MLBackend.objects.filter(pk=backend_id).only("id", "project_id", "token_nonce").first()
    if backend is None or not media_token_matches(raw, backend_id=backend.id, nonce=backend.token_nonce):
        return None
    return backend


def media_for_backend(*, backend: MLBackend, media_id: UUID) -> Media | None:
    """A live media that is a task of the connection's project; None otherwise."""
    task = (
        Task.objects.filter(
            project_id=backend.project_id,
            media_id=media_id,
            media__deleted_at__isnull=True,
            media__dataset__deleted_at__isnull=True,
        )
        .select_related("media")
        .first()
    )
    return task.media if task is not None else None


def prelabel_job_get_for_admin(*, user: AnyUser, job_id: UUID | str) -> PrelabelJob:
    pk = _uuid(job_id)
    job = PrelabelJob.objects.select_related("backend").filter(pk=pk).first() if pk else None
    not_found = NotFound(code="not_found", message="No such pre-label job.", params=("PrelabelJob", "id", str(job_id)))
    if job is None:
        raise not_found
    try:
        project_get_for_admin(user=user, project_id=job.project_id)
    except NotFound:
        raise not_found from None
    return job


def prelabel_job_list(*, project: Project) -> QuerySet[PrelabelJob]:
    return PrelabelJob.objects.filter(project=project).select_related("backend").order_by("-created_at")


def accept_job_get_for_admin(*, user: AnyUser, job_id: UUID | str) -> PredictionAcceptJob:
    pk = _uuid(job_id)
    job = PredictionAcceptJob.objects.filter(pk=pk).first() if pk else None
    not_found = NotFound(
        code="not_found", message="No such accept job.", params=("PredictionAcceptJob", "id", str(job_id))
    )
    if job is None:
        raise not_found
    try:
        project_get_for_admin(user=user, project_id=job.project_id)
    except NotFound:
        raise not_found from None
    return job


def prediction_versions(*, project: Project) -> list[dict[str, Any]]:
    """The project's predictions by model version: how many wait (and their mean score), and how
    many of that version's predictions were accepted as they were, edited, or deleted
    (`labeling.PredictionOutcome`). Two grouped queries."""
    versions: dict[str, dict[str, Any]] = {}

    def item(version: str) -> dict[str, Any]:
        return versions.setdefault(
            version,
            {"model_version": version, "predictions": 0, "mean_score": None, "accepted": 0, "edited": 0, "deleted": 0},
        )

    waiting = (
        Label.objects.filter(task__project=project, source=LabelSource.PREDICTION)
        .values("model_version")
        .annotate(n=Count("id"), mean=Avg("score"))
    )
    for row in waiting:
        item(row["model_version"]).update(predictions=row["n"], mean_score=row["mean"])
    outcomes = (
        PredictionOutcome.objects.filter(project=project).values("model_version", "outcome").annotate(n=Count("id"))
    )
    for outcome in outcomes:
        item(outcome["model_version"])[outcome["outcome"]] = outcome["n"]
    return [versions[key] for key in sorted(versions)]
