"""Import jobs and their located errors."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from projects.models import Project


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    VALIDATING = "validating", "Validating"
    VALIDATED = "validated", "Validated"
    WRITING = "writing", "Writing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ImportJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )
    format = models.CharField(max_length=32)
    file = models.FileField(upload_to="imports/%Y/%m/", max_length=512)
    file_name = models.CharField(max_length=255)
    file_size = models.BigIntegerField(default=0)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    items_total = models.IntegerField(null=True, blank=True)
    items_validated = models.IntegerField(default=0)
    items_invalid = models.IntegerField(default=0)
    # Items without a media reference, which DataGym skips silently (and we count).
    items_skipped = models.IntegerField(default=0)
    items_written = models.IntegerField(default=0)
    labels_total = models.IntegerField(null=True, blank=True)
    labels_written = models.IntegerField(default=0)
    error_count = models.IntegerField(default=0)
    # The last batch number written; a resumed job starts after it.
    checkpoint = models.IntegerField(default=-1)
    summary = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    # When the job's first message went to the broker. A queued job without it waits for its
    # organisation's turn (`imports.services.import_jobs_admit`), in the database only.
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Claims of the running phase by a worker (the file read whole; a split job's chunks count
    # their own): a phase whose workers died this often fails (`imports.services.ATTEMPTS_MAX`).
    attempts = models.IntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ImportStatus.values), name="importjob_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Import {self.file_name} ({self.status})"


class ImportJobError(models.Model):
    """One located problem of an import file (the first 10,000 of a job are kept)."""

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="errors")
    item_index = models.IntegerField(null=True, blank=True)
    location = models.CharField(max_length=512, blank=True, help_text="JSON pointer, or line and column")
    code = models.CharField(max_length=64)
    message = models.TextField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ChunkStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    VALIDATING = "validating", "Validating"
    VALIDATED = "validated", "Validated"
    # The chunk could not be parsed alone: the job validates the file in one piece instead.
    BROKEN = "broken", "Broken"
    WRITING = "writing", "Writing"
    WRITTEN = "written", "Written"


class ImportChunk(models.Model):
    """A byte range of a large import file holding consecutive items, for one worker at a time.

    Chunks of a job are validated and written in parallel by any worker; each records its
    own counts, and the job row aggregates the progress.
    """

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    number = models.IntegerField()
    byte_start = models.BigIntegerField()
    byte_end = models.BigIntegerField()
    item_start = models.IntegerField()
    item_count = models.IntegerField()
    # Where the chunk's later parts start (byte offsets in the file), for readers that parse
    # a chunk a part at a time (`formats.jsonsplit.Span.part_starts`).
    part_starts = models.JSONField(default=list, blank=True)
    # The file's line number where the chunk starts (text files name their errors by line).
    line_start = models.IntegerField(default=1)
    status = models.CharField(max_length=16, choices=ChunkStatus.choices, default=ChunkStatus.PENDING)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Claims of the chunk's running phase by a worker (see `ImportJob.attempts`).
    attempts = models.IntegerField(default=0)
    items_validated = models.IntegerField(default=0)
    items_invalid = models.IntegerField(default=0)
    items_skipped = models.IntegerField(default=0)
    labels = models.IntegerField(default=0)
    error_count = models.IntegerField(default=0)
    # Valid items that create (or, by URL, reuse) a media: the job's `media_to_create`.
    media_new = models.IntegerField(default=0)
    # The global keys the chunk's valid items create media with: sorted records of an 8-byte
    # digest of the lower-case key and the item's index, so that the job finds a key two chunks
    # repeat without one worker reading the whole file (`imports.pipeline.chunks_key_repeats`).
    global_keys = models.BinaryField(default=b"", blank=True)
    classes = models.JSONField(default=dict, blank=True)
    # The classes its valid items use (entry id -> key): the job's write checks that they still exist.
    entries = models.JSONField(default=dict, blank=True)
    # The chunk's tasks, 16 bytes each and sorted: chunks that share a task are written in file order.
    task_ids = models.BinaryField(default=b"", blank=True)
    # The last write batch of the chunk written (batches are numbered within the chunk).
    checkpoint = models.IntegerField(default=-1)
    labels_written = models.IntegerField(default=0)
    items_written = models.IntegerField(default=0)

    class Meta:
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="importchunk_unique_job_number"),
            models.CheckConstraint(condition=Q(status__in=ChunkStatus.values), name="importchunk_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Chunk {self.number} of {self.job_id} ({self.status})"
