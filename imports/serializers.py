"""Shapes of the imports API's input and output; no rules (the services and selectors hold them)."""

from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from imports.models import ImportStatus
from labelsite.jsondepth import MAX_JSON_DEPTH, json_depth_exceeded


def options_parse(value: str) -> dict[str, Any]:
    """The options text of an upload (API field or page form) as a dict; ValueError says what is wrong."""
    if not value.strip():
        return {}
    deep_at = json_depth_exceeded(value.encode())
    if deep_at is not None:
        raise ValueError(
            f"options is nested deeper than {MAX_JSON_DEPTH} levels (at byte {deep_at}); options are flat."
        )
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"options is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from exc
    if not isinstance(parsed, dict):
        raise ValueError('options is a JSON object, e.g. {"match_by": "name"}.')
    return parsed


class ImportCreateInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The import file (streamed to storage; see LABELSITE_MAX_IMPORT_BYTES).")
    format = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="A format name from GET /api/import-formats; detected from the file when left out.",
    )
    options = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text='The options as a JSON object, e.g. {"match_by": "name", "skip_invalid": true}.',
    )

    def validate_options(self, value: str) -> dict[str, Any]:
        try:
            return options_parse(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class ImportCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ImportStatus.choices)


class PhaseProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField(allow_null=True, help_text="None until known (validation counts as it reads).")
    fraction = serializers.FloatField(allow_null=True)
    rate = serializers.FloatField(allow_null=True, help_text="Per second, while the phase runs.")
    eta_seconds = serializers.FloatField(allow_null=True)


class ImportProgressSerializer(serializers.Serializer):
    validation = PhaseProgressSerializer(help_text="Items validated of the file's items.")
    writing = PhaseProgressSerializer(help_text="Labels written of the labels to write.")


class ClassCountSerializer(serializers.Serializer):
    key = serializers.CharField()
    count = serializers.IntegerField()


class PreviewShapeSerializer(serializers.Serializer):
    key = serializers.CharField()
    type = serializers.CharField()
    color = serializers.CharField()
    points = serializers.JSONField(help_text="In image pixels, as the label model stores them.")
    rotation = serializers.FloatField(
        required=False, help_text="A turned rectangle's degrees clockwise about its top-left corner; absent when 0."
    )


class PreviewItemSerializer(serializers.Serializer):
    item = serializers.IntegerField(help_text="The item's 0-based index in the file.")
    task_id = serializers.UUIDField()
    media_id = serializers.CharField()
    media_name = serializers.CharField()
    image_url = serializers.CharField(
        help_text="The media's address (/media/{id}/file; a URL media's own URL), or for a media the import will "
        "create its source URL when that is safe; empty when the image cannot be shown yet."
    )
    image_note = serializers.CharField(help_text="Why there is no image_url (e.g. not known yet), else empty.")
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    shape_count = serializers.IntegerField()
    truncated = serializers.BooleanField()
    shapes = PreviewShapeSerializer(many=True)


class ImportCountsSerializer(serializers.Serializer):
    items_total = serializers.IntegerField(allow_null=True)
    items_validated = serializers.IntegerField()
    items_invalid = serializers.IntegerField()
    items_skipped = serializers.IntegerField()
    items_written = serializers.IntegerField()
    labels_total = serializers.IntegerField(allow_null=True)
    labels_written = serializers.IntegerField()
    error_count = serializers.IntegerField()


class ImportSummarySerializer(serializers.Serializer):
    classes = ClassCountSerializer(many=True, help_text="Labels per class, most frequent first.")
    items_without_media = serializers.IntegerField()
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="What the admin should know before confirming, e.g. a file that holds no labels.",
    )
    preview = PreviewItemSerializer(many=True)


class ImportJobOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ImportStatus.choices)
    format = serializers.CharField()
    file_name = serializers.CharField()
    file_size = serializers.IntegerField()
    options = serializers.DictField()
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    cancel_requested = serializers.BooleanField()
    message = serializers.CharField()
    counts = ImportCountsSerializer()
    progress = ImportProgressSerializer()
    summary = ImportSummarySerializer()
    links = serializers.DictField(child=serializers.CharField())


class ImportErrorOutputSerializer(serializers.Serializer):
    item = serializers.IntegerField(source="item_index", allow_null=True, help_text="0-based item index.")
    location = serializers.CharField(help_text="A JSON pointer, or line and column.")
    code = serializers.CharField()
    message = serializers.CharField()


class ImportErrorPageSerializer(serializers.Serializer):
    """A page of an import's errors (limit/offset), with the job's total error count."""

    count = serializers.IntegerField(help_text="Errors kept (at most 10,000).")
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ImportErrorOutputSerializer(many=True)
    error_count = serializers.IntegerField(help_text="All errors of the job, kept or not.")


class ImportFormatOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    description = serializers.CharField()
    file_kinds = serializers.ListField(child=serializers.CharField())
    example_url = serializers.CharField(allow_null=True)
    example_options = serializers.DictField(
        allow_null=True, help_text="The job options the example file needs beside the defaults (`options`)."
    )
