"""Shapes of the native API's projects, label configurations, datasets and media.

Input serializers check only the shape of a request; the rules live in services (the
label configuration's rules in `projects.label_config`). Output serializers render models.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers

from projects.media_urls import media_image_url, site_url
from projects.models import Dataset, EntryType, Media, MediaSource, Project

# --- the error contract (documentation only: labelsite.api.exception_handler renders it) ----


class ErrorDetailSerializer(serializers.Serializer):
    path = serializers.CharField(help_text='Where the problem is, e.g. "entries[0].children[1].key"; "" for the body.')
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, e.g. not_found, permission_denied, version_conflict.")
    message = serializers.CharField(help_text="What went wrong and how to fix it, in English.")
    details = ErrorDetailSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


#: The error responses every endpoint may give, for extend_schema(responses=...).
ERRORS: dict[int, Any] = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
}
ERRORS_WITH_CONFLICT: dict[int, Any] = {**ERRORS, 409: ErrorSerializer}


def file_response(content_type: str) -> OpenApiResponse:
    """A file answer: a JSON file is any JSON value (its format has its own schema), the rest bytes."""
    return OpenApiResponse(response=OpenApiTypes.ANY if content_type.endswith("json") else OpenApiTypes.BINARY)


# --- the label configuration tree --------------------------------------------------------


class LabelOptionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like a Field attribute
    schema_id = serializers.CharField(required=False)


class LabelEntrySerializer(serializers.Serializer):
    """One entry of the tree; `label_config_replace` also accepts DataGym's entry list."""

    id = serializers.UUIDField(read_only=True)
    key = serializers.CharField(help_text="Lower-case letters, digits, '_', '-' and spaces.")
    title = serializers.CharField()
    type = serializers.ChoiceField(choices=EntryType.choices)
    schema_id = serializers.CharField(required=False, help_text="Kept as given; generated when left out.")
    color = serializers.CharField(required=False, allow_blank=True)
    shortcut = serializers.CharField(required=False, allow_blank=True, help_text="One digit, unique.")
    required = serializers.BooleanField(required=False)  # type: ignore[assignment]  # a field named like a Field attribute
    rotatable = serializers.BooleanField(
        required=False,
        help_text="Rectangle classes only: the labeling page lets annotators turn the boxes (default false).",
    )
    max_length = serializers.IntegerField(required=False, allow_null=True, help_text="Freetext questions only.")
    options = LabelOptionSerializer(many=True, required=False, help_text="Select and checklist questions only.")


# Recursive: children are entries themselves (drf-spectacular renders a $ref to itself).
LabelEntrySerializer._declared_fields["children"] = LabelEntrySerializer(many=True, required=False)


@extend_schema_field(LabelEntrySerializer(many=True))
class LabelConfigurationField(serializers.ListField):
    """A list of entries, passed to the service as it is: the service reports every problem with its place."""

    child = serializers.DictField()


class LabelConfigurationInputSerializer(serializers.Serializer):
    entries = LabelConfigurationField(allow_empty=True)


class LabelConfigurationReplaceInputSerializer(LabelConfigurationInputSerializer):
    confirm_loss = serializers.BooleanField(
        default=False,
        help_text="Save even though labels or answers would be deleted (else 409 with the impact).",
    )


class ConfigurationImpactClassSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    type = serializers.CharField()
    label_count = serializers.IntegerField()


class ConfigurationImpactQuestionSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    answer_count = serializers.IntegerField()


class ConfigurationImpactOptionSerializer(serializers.Serializer):
    question_key = serializers.CharField()
    question_title = serializers.CharField()
    option_key = serializers.CharField()
    option_label = serializers.CharField()
    answer_count = serializers.IntegerField()


class ConfigurationImpactSerializer(serializers.Serializer):
    """What a configuration change would delete (`projects.services.ConfigChangeImpact`)."""

    removed_classes = ConfigurationImpactClassSerializer(many=True)
    removed_questions = ConfigurationImpactQuestionSerializer(many=True)
    removed_options = ConfigurationImpactOptionSerializer(many=True)
    labels_lost = serializers.IntegerField()
    answers_lost = serializers.IntegerField()
    loses_work = serializers.BooleanField()


class ConfigurationLossErrorSerializer(ErrorSerializer):
    """409 `labels_would_be_lost`: nothing was saved; `impact` says what the change would delete."""

    impact = ConfigurationImpactSerializer()


class LabelConfigurationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    updated_at = serializers.DateTimeField()
    entries = LabelEntrySerializer(many=True)


# --- projects ----------------------------------------------------------------------------


class ProjectCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=128)
    short_description = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    label_configuration = LabelConfigurationField(required=False, allow_empty=True)
    organization_id = serializers.UUIDField(
        required=False, help_text="Needed only by a user who administers several organisations."
    )


class ProjectUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=128, required=False)
    short_description = serializers.CharField(max_length=128, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)


class ProjectOutputSerializer(serializers.ModelSerializer):
    organization_id = serializers.UUIDField()
    label_configuration_id = serializers.UUIDField(source="label_configuration.id")
    label_iteration_id = serializers.UUIDField(source="label_iteration.id")

    class Meta:
        model = Project
        fields = [
            "id",
            "organization_id",
            "name",
            "short_description",
            "description",
            "media_type",
            "label_configuration_id",
            "label_iteration_id",
            "created_at",
            "updated_at",
            "archived_at",
        ]


# --- datasets and media ------------------------------------------------------------------


class DatasetCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=128)
    short_description = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    organization_id = serializers.UUIDField(
        required=False, help_text="Needed only by a user who administers several organisations."
    )


class DatasetOutputSerializer(serializers.ModelSerializer):
    organization_id = serializers.UUIDField()
    project_ids = serializers.SerializerMethodField()
    media_count = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "id",
            "organization_id",
            "name",
            "short_description",
            "media_type",
            "created_at",
            "project_ids",
            "media_count",
        ]

    def get_project_ids(self, dataset: Dataset) -> list[str]:
        return [str(project.pk) for project in dataset.projects.all()]  # prefetched in lists

    def get_media_count(self, dataset: Dataset) -> int:
        annotated = getattr(dataset, "media_count", None)
        if annotated is not None:
            return int(annotated)
        return dataset.media.filter(deleted_at__isnull=True).count()


class MediaFilterSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, help_text="Part of the name, any case.")
    source = serializers.ChoiceField(choices=MediaSource.choices, required=False)  # type: ignore[assignment]  # a field named like a Field attribute


class MediaAttachmentSerializer(serializers.Serializer):
    """One attachment of a media, as a Labelbox data row carries it (stored as imported)."""

    type = serializers.CharField(
        help_text="IMAGE, VIDEO, AUDIO, RAW_TEXT, TEXT_URL, HTML, IMAGE_OVERLAY or PDF_URL (Labelbox's types)."
    )
    value = serializers.CharField(help_text="The text of a RAW_TEXT attachment, the http(s) URL of the others.")
    name = serializers.CharField(required=False, help_text="Its name, when the data row gave one.")


class MediaOutputSerializer(serializers.ModelSerializer):
    dataset_id = serializers.UUIDField()
    image_url = serializers.SerializerMethodField(
        help_text="The image's one address (projects/media_urls.py): the access-checked `/media/{id}/file` "
        "(absolute; a session or an `Authorization: Token` header) for uploaded and S3 media, a URL media's own URL."
    )
    metadata = serializers.DictField(
        help_text="What the import stored with the media, by field name (Labelbox's metadata_fields: "
        "tag, split, captureDateTime and the fields of the option metadata_schema)."
    )
    attachments = MediaAttachmentSerializer(
        many=True, help_text="Context for the labeller (Labelbox's data row attachments), as imported."
    )

    class Meta:
        model = Media
        fields = [
            "id",
            "dataset_id",
            "name",
            "source",
            "url",
            "mime_type",
            "width",
            "height",
            "global_key",
            "external_id",
            "metadata",
            "attachments",
            "created_at",
            "image_url",
        ]

    @extend_schema_field(OpenApiTypes.STR)
    def get_image_url(self, media: Media) -> str:
        base = site_url(request=self.context.get("request"))
        return media_image_url(media_id=media.id, source=media.source, url=media.url, base=base)


class MediaKeysInputSerializer(serializers.Serializer):
    """What another tool names the media by; a field left out stays as it is."""

    external_id = serializers.CharField(required=False, allow_blank=True, max_length=255, trim_whitespace=False)
    global_key = serializers.CharField(
        required=False,
        allow_null=True,
        trim_whitespace=False,
        help_text="Unique among the organisation's media, case-insensitively; null removes it.",
    )


class MediaKeysImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV or JSON: name -> external_id, global_key.")


class MediaUploadInputSerializer(serializers.Serializer):
    """Documentation of the multipart body: repeat the `file` part once per image."""

    file = serializers.ListField(child=serializers.FileField())
    keys = serializers.CharField(
        required=False,
        help_text='JSON: file name -> {"external_id": ..., "global_key": ...}, for the images of this upload.',
    )


class MediaUploadFailureSerializer(serializers.Serializer):
    name = serializers.CharField()
    error = ErrorBodySerializer()


class MediaUploadResultSerializer(serializers.Serializer):
    created = MediaOutputSerializer(many=True)
    failed = MediaUploadFailureSerializer(many=True)


#: What became of each URL or S3 key (named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
MEDIA_ADD_STATUSES = ["SUCCESS", "DUPLICATE", "UNSUPPORTED_MIME_TYPE", "FAILED"]


class MediaUrlsInputSerializer(serializers.Serializer):
    urls = serializers.ListField(child=serializers.CharField(max_length=2048), allow_empty=False, max_length=10000)


class MediaUrlResultSerializer(serializers.Serializer):
    url = serializers.CharField()
    status = serializers.ChoiceField(choices=MEDIA_ADD_STATUSES)
    media = MediaOutputSerializer(allow_null=True)
    message = serializers.CharField(help_text="Why a FAILED URL was refused and what to give instead; else empty.")


class MediaS3InputSerializer(serializers.Serializer):
    bucket = serializers.CharField(max_length=63)
    keys = serializers.ListField(child=serializers.CharField(max_length=1024), allow_empty=False, max_length=10000)


class MediaS3ResultSerializer(serializers.Serializer):
    key = serializers.CharField()
    status = serializers.ChoiceField(choices=MEDIA_ADD_STATUSES)
    media = MediaOutputSerializer(allow_null=True)
