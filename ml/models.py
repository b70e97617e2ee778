"""Model servers a project connects (Label Studio's ML backend protocol), and their jobs.

- `MLBackend`: one connected server: its URL, an optional header it wants (its credentials),
  what it last said about its health and model version, and the limits we keep toward it.
- `PrelabelJob`: a background run that sends tasks to the server's /predict in batches and
  stores the answers as predictions; at most one queued or running per server (the server's
  concurrency limit holds within that job).
- `PredictionAcceptJob`: predictions above a score made labels in bulk, in the background.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from projects.models import Project


class BackendState(models.TextChoices):
    UNKNOWN = "unknown", "Not checked"
    UP = "up", "Up"
    DOWN = "down", "Down"


def _token_nonce() -> str:
    return secrets.token_hex(16)


class MLBackend(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="ml_backends")
    title = models.CharField(max_length=128)
    url = models.CharField(max_length=2048)
    # An optional header sent with every call (a model server behind Basic auth or a gateway):
    # its name and value; the value is a secret and never shown again.
    auth_header_name = models.CharField(max_length=64, blank=True)
    auth_header_value = models.CharField(max_length=2048, blank=True)
    # The server answers clicks and boxes on the labeling page (Label Studio's `is_interactive`).
    interactive = models.BooleanField(default=False)
    # How many /predict calls of a pre-label job may be in flight at once, and tasks per call.
    max_concurrency = models.PositiveSmallIntegerField(default=2)
    batch_size = models.PositiveSmallIntegerField(default=32)
    # Seconds one /predict may take.
    timeout_seconds = models.FloatField(default=100.0)
    state = models.CharField(max_length=16, choices=BackendState.choices, default=BackendState.UNKNOWN)
    state_message = models.CharField(max_length=500, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    model_version = models.CharField(max_length=128, blank=True)
    # The base URL the server fetches our images from (LABELSITE_PUBLIC_URL, else the address of
    # the request that connected it): /setup's `hostname`, the start of the tasks' image URLs.
    site_url = models.CharField(max_length=512, blank=True)
    # Part of the secret the server's media token is derived from: a new value revokes the token.
    token_nonce = models.CharField(max_length=32, default=_token_nonce)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "url"], name="mlbackend_unique_project_url"),
            models.CheckConstraint(condition=Q(state__in=BackendState.values), name="mlbackend_state_valid"),
            models.CheckConstraint(
                condition=Q(max_concurrency__gte=1, max_concurrency__lte=16), name="mlbackend_concurrency_range"
            ),
            models.CheckConstraint(condition=Q(batch_size__gte=1, batch_size__lte=500), name="mlbackend_batch_range"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.url})"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class PrelabelScope(models.TextChoices):
    UNLABELED = "unlabeled", "All tasks without labels"
    TASKS = "tasks", "The listed tasks"


class PrelabelJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    backend = models.ForeignKey(MLBackend, on_delete=models.CASCADE, related_name="prelabel_jobs")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prelabel_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    scope = models.CharField(max_length=16, choices=PrelabelScope.choices, default=PrelabelScope.UNLABELED)
    # The tasks to send, in order: the listed ids, or those without labels when the job started.
    task_ids = models.JSONField(default=list, blank=True)
    tasks_total = models.IntegerField(default=0)
    tasks_done = models.IntegerField(default=0)
    tasks_failed = models.IntegerField(default=0)
    predictions_written = models.IntegerField(default=0)
    # The tasks that got no predictions (the server failed, or its answer did not fit): a retry sends them.
    failed_task_ids = models.JSONField(default=list, blank=True)
    # Batches done from the start without a gap: a rerun (a worker that died) resumes after them.
    checkpoint = models.IntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    model_version = models.CharField(max_length=128, blank=True)
    # Located errors ({"path", "code", "message"}), at most ERRORS_KEPT of them.
    errors = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=JobStatus.values), name="prelabeljob_status_valid"),
            models.CheckConstraint(condition=Q(scope__in=PrelabelScope.values), name="prelabeljob_scope_valid"),
            # One job at a time per server: its concurrency limit is the job's thread count.
            models.UniqueConstraint(
                fields=["backend"], condition=Q(status__in=["queued", "running"]), name="prelabeljob_one_active"
            ),
        ]
        indexes = [models.Index(fields=["project", "-created_at"], name="prelabeljob_project_created")]

    def __str__(self) -> str:
        return f"Pre-label job {self.id} ({self.status})"


class PredictionAcceptJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prediction_accept_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    min_score = models.FloatField()
    # Only predictions of this model version; "" for every version.
    model_version = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    predictions_total = models.IntegerField(default=0)
    accepted = models.IntegerField(default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=JobStatus.values), name="predictionacceptjob_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Accept predictions >= {self.min_score} ({self.status})"
