"""Export jobs: an export of a project's labels that a worker writes to storage."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from projects.models import Project


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


def export_upload_to(instance: ExportJob, filename: str) -> str:
    # One folder per job: the file keeps its readable name and never collides.
    return f"exports/{instance.project_id}/{instance.id}/{filename}"


class ExportJob(models.Model):
    """An export of a project's labels, written by a worker to storage, with its progress."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="export_jobs"
    )
    format = models.CharField(max_length=32)
    # The cleaned filters: states, dataset ids, updated_from/updated_to, include_predictions.
    filters = models.JSONField(default=dict, blank=True)
    # The address of the request that started the job: the base of the image URLs it writes
    # when LABELSITE_PUBLIC_URL is not set (projects/media_urls.py).
    site_url = models.CharField(max_length=512, blank=True)
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    tasks_total = models.IntegerField(null=True, blank=True)
    tasks_done = models.IntegerField(default=0)
    file = models.FileField(upload_to=export_upload_to, max_length=512, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    file_size = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ExportStatus.values), name="exportjob_status_valid"),
        ]
        indexes = [models.Index(fields=["project", "-created_at"], name="exportjob_project_created")]

    def __str__(self) -> str:
        return f"Export {self.format} of {self.project_id} ({self.status})"
