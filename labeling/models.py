"""Tasks (a media in a project) and labels (one row per geometry)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from psycopg.types.json import Json, Jsonb

from labelsite.ids import time_ordered_id
from projects.models import LabelEntry, Media, Project


class JSONTextField(models.JSONField):
    """A JSONField that PostgreSQL stores as `json`: the text as it was written, checked for syntax
    but not parsed into `jsonb`'s binary form (SQLite stores text either way).

    For the label rows a bulk import writes by the million: `jsonb` input parses every number of
    every point into a `numeric`, 2.2 s of PostgreSQL's CPU per million labels in the import
    bench, and its output serialises them again on every export. What `json` gives up is not used
    on these columns: no equality (so no DISTINCT, GROUP BY or `=` over them), no containment or
    key operators, no GIN index; objects keep their keys in the order written, duplicates too
    (our writers write none). `labeling.apps` makes psycopg hand `json` values over as text, as
    Django has it do for `jsonb`, so the field reads them as any JSONField does."""

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        adapted = super().get_db_prep_value(value, connection, prepared)
        if connection.vendor == "postgresql" and isinstance(adapted, Jsonb):
            return Json(adapted.obj, dumps=adapted.dumps)  # sent as json: no jsonb parse and cast
        return adapted


class TaskState(models.TextChoices):
    BACKLOG = "backlog", "Backlog"
    WAITING = "waiting", "Waiting"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    SKIPPED = "skipped", "Skipped"
    REVIEWED = "reviewed", "Reviewed"
    WAITING_CHANGED = "waiting_changed", "Waiting (configuration changed)"


class ReviewVerdict(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class Task(models.Model):
    # Time-ordered: made by the hundred thousand, and the label indexes are keyed by it (labelsite/ids.py).
    id = models.UUIDField(primary_key=True, default=time_ordered_id, editable=False)
    # No index of its own: `task_project_order` and `task_project_state` start with it.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks", db_index=False)
    media = models.ForeignKey(Media, on_delete=models.CASCADE, related_name="tasks")
    state = models.CharField(max_length=16, choices=TaskState.choices, default=TaskState.BACKLOG)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    # Answers to the global (image-level) classification questions: an answer tree keyed
    # by entry key, see labeling/annotation.py.
    answers = models.JSONField(default=dict, blank=True)
    has_import = models.BooleanField(default=False)
    # Bumped on every save of the annotation, so that a stale save is refused, not applied.
    version = models.PositiveIntegerField(default=0)
    # What the reviewer said when sending the task back (or accepting it).
    review_comment = models.TextField(blank=True)
    # The reservation: opening a task to label it holds it for its user until `reserved_until`
    # (renewed by the open page and by each save); past that moment the task is free again,
    # with no sweeper needed. Taken and renewed only by conditional UPDATEs (labeling.services).
    # The user columns have no index: nothing looks tasks up by them yet, and an unindexed
    # column keeps a heartbeat's or a completion's UPDATE a HOT update (fillfactor 50 above).
    reserved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    reserved_until = models.DateTimeField(null=True, blank=True)
    # Who did what, and when: set by completing and by reviewing.
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_verdict = models.CharField(max_length=16, choices=ReviewVerdict.choices, blank=True)
    # Seconds the labeling page was visible and in use on this task, by everyone who opened it
    # (Label Studio's `lead_time`).
    active_seconds = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "media"], name="task_unique_project_media"),
            models.CheckConstraint(condition=Q(state__in=TaskState.values), name="task_state_valid"),
            models.CheckConstraint(
                condition=Q(review_verdict__in=["", *ReviewVerdict.values]), name="task_review_verdict_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "state"], name="task_project_state"),
            # The stable task order of lists and of the labeling page's previous/next links.
            models.Index(fields=["project", "created_at", "id"], name="task_project_order"),
            # The team figures' days (labeling.selectors.team_figures_get): the tasks completed or
            # reviewed in a range, not every task of the project. Completing and reviewing change
            # the indexed `state` anyway; a heartbeat changes neither column and stays a HOT update.
            models.Index(
                fields=["project", "completed_at"],
                condition=Q(completed_at__isnull=False),
                name="task_project_completed",
            ),
            models.Index(
                fields=["project", "reviewed_at"], condition=Q(reviewed_at__isnull=False), name="task_project_reviewed"
            ),
        ]

    def __str__(self) -> str:
        return f"Task {self.id} ({self.state})"


class LabelSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    IMPORT = "import", "Import"
    PREDICTION = "prediction", "Prediction"


class Label(models.Model):
    """One geometry on a task.

    A bulk import writes exactly one row per geometry and never comes back to update it:
    ids are reserved before the write so that nested geometries can name their parent,
    and the answers to the geometry's child questions are stored on the row itself.
    `import_job_id` and `import_batch` are plain columns rather than a foreign key, since
    imports depend on labeling and not the other way round; together they make a batch
    that is written twice be written once.
    """

    id = models.BigAutoField(primary_key=True)
    # Indexed by `label_task` below; the FK's own index would be the same index twice, which
    # every bulk import (COPY) has to maintain.
    # No foreign-key constraint in the database for `task`, `entry`, `parent` and `author`
    # (their deletes still cascade, through Django). Checking them cost PostgreSQL a third of
    # its CPU for a bulk import: the task's check alone, a per-row `SELECT ... FOR KEY SHARE`,
    # took 6.7 of the 14.5 s a COPY of a million imported labels costs it (docs/benchmarks.md,
    # "The label's task constraint"), the entry's 4 s more, mostly locks on the same ten class
    # rows shared by concurrent writers. What the constraints guarded is kept by one lock: a
    # writer of labels holds the project's configuration (`label_config_hold`), checks that it
    # is still the one it resolved classes against, and writes only to tasks it finds after
    # that. A configuration replace, which deletes entries, and a deletion of tasks (a project's,
    # `projects.services.project_delete`, and the admin's deletes) take that row FOR UPDATE
    # first: they wait for the writers holding it, and a writer after them finds its classes or
    # its task gone and writes nothing. A parent is written in the same statement as
    # its children and deleted with them; a restore checks both ids.
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="labels", db_constraint=False, db_index=False)
    # Indexed by `label_entry_task` below (the FK's own index would be its first column again).
    entry = models.ForeignKey(
        LabelEntry, on_delete=models.CASCADE, related_name="labels", db_constraint=False, db_index=False
    )
    # Indexed by `label_parent` below, only where set: most labels have no parent, and an index
    # of a million NULLs, all on the same leaf pages, slowed two concurrent COPYs down.
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
        db_constraint=False,
        db_index=False,
    )
    # Image pixels: [[x, y], ...]; a rectangle is [[x, y], [x + w, y + h]]; a segmentation
    # is a list of rings ([[[x, y], ...], ...]).
    points = JSONTextField(default=list)
    # A rectangle's rotation: degrees clockwise (image y points down) about the unrotated box's
    # top-left corner, as Label Studio turns boxes; (-180, 180], 0 for every other type. A
    # default in the database too: a batch staged for COPY before this column came has no value.
    rotation = models.FloatField(default=0.0, db_default=0.0)
    answers = JSONTextField(default=dict, blank=True)
    source = models.CharField(max_length=16, choices=LabelSource.choices, default=LabelSource.MANUAL)
    score = models.FloatField(null=True, blank=True)
    model_version = models.CharField(max_length=128, blank=True)
    import_job_id = models.UUIDField(null=True, blank=True)
    import_batch = models.IntegerField(null=True, blank=True)
    valid = models.BooleanField(default=True)
    # Not indexed: no query looks labels up by author (deleting a user, rare, scans once).
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="labels",
        db_index=False,
        db_constraint=False,
    )
    # The last person who changed the label (its author until someone else edits it); no
    # constraint or index, for the same reasons as `author`.
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(source__in=LabelSource.values), name="label_source_valid"),
            models.CheckConstraint(
                condition=Q(rotation__gt=-180.0, rotation__lte=180.0), name="label_rotation_normalised"
            ),
        ]
        indexes = [
            models.Index(fields=["task"], name="label_task"),
            # A class's labels by task, with their source: the task browser's class filters count
            # them per task from the index alone (an index-only scan, in task order), where the
            # entry's plain index made them read every label row of the class. It replaces that
            # index, so a bulk import still maintains the same number of indexes. `source` is a
            # key column, not INCLUDE, so that SQLite's index covers the query too.
            models.Index(fields=["entry", "task", "source"], name="label_entry_task"),
            models.Index(fields=["import_job_id", "import_batch"], name="label_import_batch"),
            models.Index(fields=["parent"], condition=Q(parent__isnull=False), name="label_parent"),
            # The labels people made in a range of days (the team figures). Only labels with an
            # author: an import's labels have none, so its COPY adds nothing to this index.
            models.Index(fields=["created_at"], condition=Q(author__isnull=False), name="label_made"),
        ]

    def __str__(self) -> str:
        return f"Label {self.id} on {self.task_id}"


class PredictionOutcomeKind(models.TextChoices):
    ACCEPTED = "accepted", "Accepted as it was"
    EDITED = "edited", "Accepted with changes"
    DELETED = "deleted", "Deleted"


class PredictionOutcome(models.Model):
    """What became of one prediction: accepted as it was, accepted with changes, or deleted.

    Written when a save turns a prediction into a label (the labeling page's Accept, or the bulk
    accept of `ml/`) or deletes it; one row per prediction and event, so the outcomes per model
    version are one GROUP BY. `label_id` is the label it was (gone when deleted): no constraint.
    """

    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    label_id = models.BigIntegerField()
    model_version = models.CharField(max_length=128, blank=True)
    score = models.FloatField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=PredictionOutcomeKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=PredictionOutcomeKind.values), name="predictionoutcome_outcome_valid"
            ),
        ]
        indexes = [models.Index(fields=["project", "model_version"], name="predictionoutcome_version")]

    def __str__(self) -> str:
        return f"{self.outcome} prediction {self.label_id} ({self.model_version})"


class LabelingPreference(models.Model):
    """One person's settings of the labeling page: for now, the keys they moved.

    `keys` maps an action id of the page ("task.next", "class:<entry id>") to a key
    combination ("k", "ctrl+shift+enter"; "" for none); actions not in it keep their default.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="labeling_preference"
    )
    keys = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"labeling preferences of user {self.user_id}"


class TaskView(models.Model):
    """A saved view of the task browser: its filters, search, sort and columns, by name.

    Private to its owner, or shared with everyone of the project (`shared`, set by an admin).
    `query` holds the browser's query parameters as the API takes them (checked by
    `labeling.browser_selectors.task_query_clean` when saved); `columns` the visible columns.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="task_views")
    # NULL for a view an organisation token saved: it is shared, or nobody's.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="task_views"
    )
    name = models.CharField(max_length=100)
    shared = models.BooleanField(default=False)
    query = models.JSONField(default=dict, blank=True)
    columns = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["project", "owner"], name="taskview_project_owner")]

    def __str__(self) -> str:
        return f"{self.name} ({'shared' if self.shared else 'private'})"


class TaskBulkAction(models.TextChoices):
    ASSIGN = "assign", "Assign"
    UNASSIGN = "unassign", "Unassign"
    SET_STATE = "set_state", "Set state"
    SEND_TO_REVIEW = "send_to_review", "Send to review"
    DELETE_LABELS = "delete_labels", "Delete labels"
    DELETE_PREDICTIONS = "delete_predictions", "Delete predictions"


class TaskBulkStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class TaskBulkJob(models.Model):
    """A bulk action of the task browser over every task a filter matches, run by a worker.

    It walks the matching tasks in id order in batches, each batch one transaction that also
    moves the checkpoint (`last_task_id`, `done`), so a job whose worker died resumes where it
    stopped and a batch is never applied twice; round-robin assignment continues from `done`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="task_bulk_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=32, choices=TaskBulkAction.choices)
    # The action's cleaned parameters (user_ids, state) and the browser query it runs over.
    params = models.JSONField(default=dict, blank=True)
    query = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=TaskBulkStatus.choices, default=TaskBulkStatus.QUEUED)
    total = models.IntegerField(null=True, blank=True)
    done = models.IntegerField(default=0)
    changed = models.IntegerField(default=0)
    last_task_id = models.UUIDField(null=True, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=TaskBulkStatus.values), name="taskbulkjob_status_valid"),
            models.CheckConstraint(condition=Q(action__in=TaskBulkAction.values), name="taskbulkjob_action_valid"),
        ]
        indexes = [models.Index(fields=["project", "-created_at"], name="taskbulkjob_project_created")]

    def __str__(self) -> str:
        return f"Bulk {self.action} on {self.project_id} ({self.status})"
