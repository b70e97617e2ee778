"""Shapes of the brush API: a stroke's mask and the segmentation it changes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field({"type": "array", "items": {"type": "integer", "minimum": 0}})
class RunCountsField(serializers.JSONField):
    """Run lengths, alternating unpainted and painted pixels, row-major, starting unpainted."""

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise serializers.ValidationError("Give the runs as a list of whole numbers, e.g. [12, 3, 40, 3, 12].")
        return value


@extend_schema_field(
    {"type": "array", "items": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}}
)
class RingsField(serializers.JSONField):
    """A segmentation's rings (shells and holes), as the label's points."""


class StrokeSerializer(serializers.Serializer):
    x = serializers.IntegerField(min_value=0, help_text="Left column of the stroke's box, in image pixels.")
    y = serializers.IntegerField(min_value=0, help_text="Top row of the stroke's box.")
    width = serializers.IntegerField(min_value=1)
    height = serializers.IntegerField(min_value=1)
    counts = RunCountsField(
        help_text="Runs of the box's pixels in row-major order, alternating unpainted and painted, "
        "starting with an unpainted run (0 when the first pixel is painted)."
    )


class BrushStrokeInputSerializer(serializers.Serializer):
    rings = RingsField(
        required=False,
        help_text="The segmentation the stroke changes, as the label's points (empty or left out for a new label).",
    )
    stroke = StrokeSerializer()
    erase = serializers.BooleanField(default=False, help_text="True: the eraser cuts the stroke's pixels out.")

    def validate_rings(self, value: Any) -> Any:
        if not isinstance(value, list):
            raise serializers.ValidationError("Give the segmentation's rings: a list of polygons of [x, y] pairs.")
        return value


class BrushStrokeOutputSerializer(serializers.Serializer):
    rings = RingsField(help_text="The segmentation's new rings; empty when the eraser left nothing.")
