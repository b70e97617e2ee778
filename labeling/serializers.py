"""Shapes of the native API's tasks, annotations and labels.

The annotation document and labels are checked by `labeling.documents` (every problem
with its path); these serializers describe them for the schema and check simple inputs.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labeling.browser_selectors import SORTS, TaskRowExtras, task_thumbnail_url
from labeling.models import LabelSource, Task
from labeling.selectors import task_holder
from projects.serializers import MediaOutputSerializer


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class TaskHolderSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    kind = serializers.ChoiceField(
        choices=["assigned", "reserved"], help_text="Assigned to them, or reserved while they label it."
    )
    until = serializers.DateTimeField(allow_null=True, help_text="When a reservation ends unless renewed.")


class TaskOutputSerializer(serializers.ModelSerializer):
    project_id = serializers.UUIDField()
    assignee_id = serializers.IntegerField(allow_null=True)
    media = MediaOutputSerializer()
    holder = serializers.SerializerMethodField(
        help_text="Who holds the task now (its assignee, else a live reservation); null when it is free."
    )
    reserved_by = UserRefSerializer(allow_null=True, help_text="The reservation, even when it has expired.")
    completed_by = UserRefSerializer(allow_null=True)
    reviewed_by = UserRefSerializer(allow_null=True)
    active_seconds = serializers.IntegerField(help_text="Seconds the labeling page was visible and in use.")

    @extend_schema_field(TaskHolderSerializer(allow_null=True))
    def get_holder(self, task: Task) -> dict[str, Any] | None:
        holder = task_holder(task=task)
        return holder.as_json() if holder else None

    class Meta:
        model = Task
        fields = [
            "id",
            "project_id",
            "media",
            "state",
            "assignee_id",
            "version",
            "has_import",
            "review_comment",
            "holder",
            "reserved_by",
            "reserved_until",
            "completed_by",
            "completed_at",
            "reviewed_by",
            "reviewed_at",
            "review_verdict",
            "active_seconds",
            "created_at",
            "updated_at",
        ]


class TaskAssignInputSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(allow_null=True, help_text="null gives the task back to nobody.")


class TaskHeartbeatInputSerializer(serializers.Serializer):
    active_seconds = serializers.IntegerField(
        required=False,
        default=0,
        min_value=0,
        help_text="Seconds the page was visible and in use since its last heartbeat (at most a lease's worth counts).",
    )


class TaskReviewInputSerializer(serializers.Serializer):
    accept = serializers.BooleanField()
    comment = serializers.CharField(required=False, allow_blank=True, default="")


# --- the annotation document (see labeling/documents.py) ------------------------------------


class AnswerSerializer(serializers.Serializer):
    value = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="An option key (select), a list of option keys (checklist) or text (freetext).",
    )
    answers = serializers.DictField(
        child=serializers.DictField(), required=False, help_text="Answers to child questions, by key."
    )


class LabelSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    key = serializers.CharField(help_text="The geometry class's key.")
    type = serializers.CharField(required=False, help_text="Checked against the class's type when given.")
    points = serializers.JSONField(
        help_text="Image pixels: [[x, y], ...]; a rectangle is its two corners; a segmentation a list of rings."
    )
    rotation = serializers.FloatField(
        required=False,
        help_text="A rectangle's rotation: degrees clockwise about its top-left corner (stored in (-180, 180]); "
        "0 for every other type.",
    )
    answers = serializers.DictField(child=AnswerSerializer(), required=False)
    source = serializers.ChoiceField(choices=LabelSource.choices, required=False)  # type: ignore[assignment]  # a field named like a Field attribute
    score = serializers.FloatField(required=False, allow_null=True)
    model_version = serializers.CharField(required=False, allow_blank=True)
    valid = serializers.BooleanField(read_only=True)


# Nested geometries are labels themselves (one level deep).
LabelSerializer._declared_fields["children"] = LabelSerializer(many=True, required=False)


class AnnotationNoteSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="unknown_class: labels whose class left the configuration.")
    message = serializers.CharField()


class AnnotationDocumentSerializer(serializers.Serializer):
    task = serializers.UUIDField(read_only=True)
    version = serializers.IntegerField(
        required=False,
        help_text="On PUT: the version you edited (or If-Match; one is required, else 428); a newer stored "
        "version answers 409.",
    )
    active_seconds = serializers.IntegerField(
        required=False, write_only=True, help_text="On PUT: seconds the page was in use since its last report."
    )
    state = serializers.CharField(read_only=True)
    answers = serializers.DictField(child=AnswerSerializer(), required=False)
    labels = LabelSerializer(many=True, required=False)
    notes = AnnotationNoteSerializer(
        many=True, read_only=True, help_text="What of the stored annotation the document leaves out, and why."
    )


class LabelCreateInputSerializer(LabelSerializer):
    parent_id = serializers.IntegerField(required=False, allow_null=True, help_text="To nest it in a top-level label.")
    version = serializers.IntegerField(required=False, help_text="The task version you edited (or If-Match).")


class LabelUpdateInputSerializer(serializers.Serializer):
    points = serializers.JSONField(required=False)
    rotation = serializers.FloatField(
        required=False,
        help_text="A rectangle's rotation: degrees clockwise about its top-left corner (stored in (-180, 180]); "
        "0 for every other type.",
    )
    answers = serializers.DictField(child=AnswerSerializer(), required=False)
    source = serializers.ChoiceField(choices=LabelSource.choices, required=False)  # type: ignore[assignment]  # a field named like a Field attribute
    score = serializers.FloatField(required=False, allow_null=True)
    model_version = serializers.CharField(required=False, allow_blank=True)
    version = serializers.IntegerField(required=False, help_text="The task version you edited (or If-Match).")


class LabelWriteControlSerializer(serializers.Serializer):
    """The parts of a label request that are not the label itself."""

    parent_id = serializers.IntegerField(required=False, allow_null=True)
    version = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    active_seconds = serializers.IntegerField(required=False, min_value=0)


class LabelOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task_id = serializers.UUIDField()
    parent_id = serializers.IntegerField(allow_null=True)
    key = serializers.CharField(source="entry.key")
    type = serializers.CharField(source="entry.type")
    points = serializers.JSONField()
    rotation = serializers.FloatField()
    answers = serializers.JSONField()
    source = serializers.CharField()  # type: ignore[assignment]  # a field named like a Field attribute
    score = serializers.FloatField(allow_null=True)
    model_version = serializers.CharField()
    valid = serializers.BooleanField()
    task_version = serializers.IntegerField(source="task.version", help_text="The task's version after this change.")


class TaskVersionSerializer(serializers.Serializer):
    task_version = serializers.IntegerField()


class LabelingKeysSerializer(serializers.Serializer):
    keys = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text='The keys this person moved on the labeling page: action id -> key, e.g. {"task.next": "k", '
        '"class:<entry id>": "t"}; "" removes an action\'s key. Actions left out keep their default.',
    )


# --- a save of what changed (PATCH /api/tasks/{id}/annotation) --------------------------------


class AddedLabelSerializer(LabelSerializer):
    uid = serializers.CharField(help_text="The client's id of the new label; the answer maps it to the label's id.")
    parent = serializers.JSONField(  # type: ignore[assignment]  # a field named like a Field attribute
        required=False,
        allow_null=True,
        help_text="To nest it: a top-level label's id, or the uid of a top-level label added in the same save.",
    )


class ChangedLabelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    points = serializers.JSONField(required=False)
    rotation = serializers.FloatField(required=False)
    answers = serializers.DictField(child=AnswerSerializer(), required=False)
    source = serializers.ChoiceField(choices=LabelSource.choices, required=False)  # type: ignore[assignment]  # a field named like a Field attribute
    score = serializers.FloatField(required=False, allow_null=True)
    model_version = serializers.CharField(required=False, allow_blank=True)
    key = serializers.CharField(required=False, help_text="A new class for the label (the same type).")


class AnnotationPatchSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, help_text="The task version you edited (or If-Match).")
    active_seconds = serializers.IntegerField(
        required=False, help_text="Seconds the page was in use since its last report."
    )
    added = AddedLabelSerializer(many=True, required=False)
    changed = ChangedLabelSerializer(many=True, required=False)
    deleted = serializers.ListField(child=serializers.IntegerField(), required=False)
    answers = serializers.DictField(
        child=AnswerSerializer(), required=False, help_text="The task's answers, all of them, when they changed."
    )


class AnnotationPatchedSerializer(serializers.Serializer):
    task = serializers.UUIDField()
    version = serializers.IntegerField(help_text="The task's version after this save.")
    ids = serializers.DictField(child=serializers.IntegerField(), help_text="The id each added label got, by uid.")


# --- team figures ------------------------------------------------------------------------------


class TeamFiguresFilterSerializer(serializers.Serializer):
    date_from = serializers.DateField(
        required=False, help_text="First day (UTC), YYYY-MM-DD; default: 29 days before date_to."
    )
    date_to = serializers.DateField(required=False, help_text="Last day (UTC, included), YYYY-MM-DD; default: today.")
    member = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Only this member's figures (a user id); annotators see only their own.",
    )


class FiguresSerializer(serializers.Serializer):
    tasks_completed = serializers.IntegerField(help_text="Tasks whose latest completion was the member's.")
    labels_made = serializers.IntegerField(help_text="Labels the member drew (imported labels have no author).")
    median_active_seconds = serializers.FloatField(
        allow_null=True, help_text="Median active time on the page of those tasks, in seconds; null without any."
    )
    reviews_accepted = serializers.IntegerField(help_text="The member's completed tasks accepted (latest verdict).")
    reviews_rejected = serializers.IntegerField(help_text="The member's completed tasks sent back (latest verdict).")
    acceptance_rate = serializers.FloatField(
        allow_null=True, help_text="accepted / (accepted + rejected), 0 to 1; null without any verdict."
    )
    reviews_done = serializers.IntegerField(help_text="Verdicts the member gave as a reviewer.")


class FiguresOfDaySerializer(FiguresSerializer):
    date = serializers.DateField(source="day")


class MemberFiguresSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    totals = FiguresSerializer(help_text="Over the whole range (the median over all its tasks).")
    days = FiguresOfDaySerializer(many=True, help_text="The days with any figure, in order; the others are zeros.")


class TeamFiguresSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    timezone = serializers.CharField(help_text="Days are days of this time zone (UTC).")
    members = MemberFiguresSerializer(many=True)


# --- the task browser --------------------------------------------------------------------------

_USERS_HELP = 'User ids, "me" or "none", separated by commas.'


class TaskBrowserQuerySerializer(serializers.Serializer):
    """The query parameters of the task browser (documentation; `task_query_clean` checks them)."""

    state = serializers.CharField(required=False, help_text="Task states, separated by commas.")
    assignee = serializers.CharField(required=False, help_text=_USERS_HELP)
    holder = serializers.CharField(required=False, help_text="Who holds a live reservation: " + _USERS_HELP)
    completed_by = serializers.CharField(required=False, help_text=_USERS_HELP)
    reviewed_by = serializers.CharField(required=False, help_text=_USERS_HELP)
    dataset = serializers.CharField(required=False, help_text="Dataset ids, separated by commas.")
    import_job = serializers.UUIDField(required=False, help_text="Tasks with labels written by this import job.")
    has_predictions = serializers.BooleanField(required=False, allow_null=True, default=None)
    score_min = serializers.FloatField(required=False, help_text="Tasks with a prediction scored at least this.")
    score_max = serializers.FloatField(required=False, help_text="Tasks with a prediction scored at most this.")
    model_version = serializers.CharField(
        required=False,
        max_length=128,
        help_text="Tasks with predictions of this model version (the score range and the score sort then "
        "read only its predictions).",
    )
    label_class = serializers.CharField(
        required=False, help_text="A class key: tasks with labels of it (class_min/class_max: how many)."
    )
    class_min = serializers.IntegerField(required=False, min_value=0)
    class_max = serializers.IntegerField(required=False, min_value=0)
    labels_min = serializers.IntegerField(
        required=False, min_value=0, help_text="Labels of any class, predictions apart."
    )
    labels_max = serializers.IntegerField(required=False, min_value=0)
    name = serializers.CharField(required=False, help_text="The media name contains this (any case).")
    global_key = serializers.CharField(required=False, help_text="The global key contains this (any case).")
    external_id = serializers.CharField(required=False, help_text="The external id contains this (any case).")
    updated_from = serializers.CharField(required=False, help_text="ISO date or date-time.")
    updated_to = serializers.CharField(required=False, help_text="ISO date (that whole day) or date-time.")
    search = serializers.CharField(
        required=False,
        help_text="Names, global keys, external ids and answers (free text included) containing this. "
        "Metadata: `meta.<field>=<text>` keeps media whose metadata field contains the text.",
    )
    sort = serializers.ChoiceField(
        required=False,
        choices=[*SORTS, *(f"-{name}" for name in SORTS)],
        help_text="A column; a leading - sorts descending. Default: created.",
    )


class TaskPredictionsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    score_min = serializers.FloatField(allow_null=True)
    score_max = serializers.FloatField(allow_null=True)


class DatasetRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class TaskBrowserRowSerializer(TaskOutputSerializer):
    dataset = serializers.SerializerMethodField()
    assignee = UserRefSerializer(allow_null=True)
    thumbnail_url = serializers.SerializerMethodField(help_text="A small JPEG of the image (placeholder until made).")
    label_counts = serializers.SerializerMethodField(help_text="Labels per class key, predictions apart.")
    predictions = serializers.SerializerMethodField()
    import_job_ids = serializers.SerializerMethodField(help_text="The import jobs the task's labels came from.")

    class Meta(TaskOutputSerializer.Meta):
        fields = [
            *TaskOutputSerializer.Meta.fields,
            "assignee",
            "dataset",
            "thumbnail_url",
            "label_counts",
            "predictions",
            "import_job_ids",
        ]

    def _extras(self, task: Task) -> TaskRowExtras:
        return self.context.get("extras", {}).get(task.pk) or TaskRowExtras()

    @extend_schema_field(DatasetRefSerializer)
    def get_dataset(self, task: Task) -> dict[str, Any]:
        return {"id": str(task.media.dataset_id), "name": task.media.dataset.name}

    def get_thumbnail_url(self, task: Task) -> str:
        return task_thumbnail_url(media_id=task.media_id)

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_label_counts(self, task: Task) -> dict[str, int]:
        return self._extras(task).label_counts

    @extend_schema_field(TaskPredictionsSerializer)
    def get_predictions(self, task: Task) -> dict[str, Any]:
        extras = self._extras(task)
        return {"count": extras.predictions, "score_min": extras.score_min, "score_max": extras.score_max}

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_import_job_ids(self, task: Task) -> list[str]:
        return self._extras(task).import_job_ids
