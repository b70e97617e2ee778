"""Reads of exports: who may export, the jobs, their progress and their files.

Who may export: an admin or a reviewer of the project's organisation who may see the
project; anyone else who may see it gets PermissionDenied, everyone else NotFound.
"""

from __future__ import annotations

from typing import IO
from uuid import UUID

from django.db.models import QuerySet

from exports.models import ExportJob, ExportStatus
from labelsite.errors import Conflict, NotFound, PermissionDenied
from projects.models import Project
from projects.selectors import EXPORT_ROLES, AnyUser, project_get_for_user, user_role

# --- who may export ------------------------------------------------------------------------------


def export_project_get(*, user: AnyUser, project_id: UUID | str) -> Project:
    """The project if the user may export it (admin or reviewer); NotFound or PermissionDenied otherwise."""
    project = project_get_for_user(user=user, project_id=project_id)
    if user_role(user=user, organization=project.organization_id) not in EXPORT_ROLES:
        raise PermissionDenied(code="permission_denied", message="Only admins and reviewers may export a project.")
    return project


def export_job_get(*, user: AnyUser, job_id: UUID | str) -> ExportJob:
    """The job if the user may export its project; NotFound or PermissionDenied otherwise."""
    not_found = NotFound(code="not_found", message="No such export.", params=("ExportJob", "id", str(job_id)))
    try:
        pk = job_id if isinstance(job_id, UUID) else UUID(str(job_id))
    except ValueError:
        raise not_found from None
    job = ExportJob.objects.select_related("created_by").filter(pk=pk).first()
    if job is None:
        raise not_found
    try:
        job.project = export_project_get(user=user, project_id=job.project_id)
    except NotFound:
        raise not_found from None
    return job


def export_job_list(*, project: Project) -> QuerySet[ExportJob]:
    """The project's exports, newest first."""
    return ExportJob.objects.filter(project=project).select_related("created_by").order_by("-created_at")


def export_job_progress(*, job: ExportJob) -> float | None:
    """How far the job is, from 0 to 1 (None while the number of tasks is not known yet)."""
    if job.status == ExportStatus.SUCCEEDED:
        return 1.0
    if not job.tasks_total:
        return 0.0 if job.tasks_total == 0 else None
    return min(1.0, job.tasks_done / job.tasks_total)


def export_job_open(*, job: ExportJob) -> IO[bytes]:
    """The finished export's file, opened for reading from storage."""
    if job.status != ExportStatus.SUCCEEDED or not job.file:
        raise Conflict(code="export_not_ready", message="The export has not finished; its file is not there yet.")
    return job.file.storage.open(str(job.file.name), "rb")
