"""Shapes of the assist API: a box, a point or anchor points in image pixels, and the answer."""

from __future__ import annotations

import math
from typing import Any

from rest_framework import serializers

from assist.services import GEOMETRIES, MAX_ANCHORS

#: The geometries a mask becomes (GrabCut, wand), and a scissors path (also a line).
ASSIST_GEOMETRIES = GEOMETRIES
SCISSORS_GEOMETRIES = (*GEOMETRIES, "line")


class PointField(serializers.ListField):
    """[x, y] in image pixels: two finite numbers."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "[x, y] in image pixels from the top left.")
        super().__init__(child=serializers.FloatField(), min_length=2, max_length=2, **kwargs)

    def to_internal_value(self, data: Any) -> list[float]:
        point: list[float] = super().to_internal_value(data)
        if not all(math.isfinite(value) for value in point):
            raise serializers.ValidationError("Give two finite numbers [x, y].")
        return point


class GrabcutInputSerializer(serializers.Serializer):
    box = serializers.ListField(
        child=PointField(),
        min_length=2,
        max_length=2,
        help_text="Two opposite corners [[x0, y0], [x1, y1]] of a box around the object.",
    )
    geometry = serializers.ChoiceField(
        choices=ASSIST_GEOMETRIES, default="segmentation", help_text="The geometry of the class the result is for."
    )


class MagicWandInputSerializer(serializers.Serializer):
    point = PointField(help_text="[x, y]: a pixel inside the region, in image pixels.")
    tolerance = serializers.IntegerField(
        min_value=0,
        max_value=255,
        default=32,
        help_text="How far (0-255, in every colour channel) a pixel may be from the seed's colour.",
    )
    geometry = serializers.ChoiceField(choices=ASSIST_GEOMETRIES, default="segmentation")


class ScissorsInputSerializer(serializers.Serializer):
    points = serializers.ListField(
        child=PointField(),
        min_length=2,
        max_length=MAX_ANCHORS,
        help_text=f"Anchor points (2 to {MAX_ANCHORS}) the path goes through, along the image's edges between them.",
    )
    closed = serializers.BooleanField(default=False, help_text="Close the path from the last anchor back to the first.")
    geometry = serializers.ChoiceField(choices=SCISSORS_GEOMETRIES, default="polygon")


class AssistOutputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=SCISSORS_GEOMETRIES)
    points = serializers.JSONField(
        help_text="The new label's points: a ring [[x, y], ...] for a polygon or line, a list of rings "
        "(shells, then their holes) for a segmentation; empty for an open scissors path."
    )
    area = serializers.IntegerField(required=False, help_text="Pixels of the mask (box and magic wand).")
    path = serializers.JSONField(required=False, help_text="Scissors: the path along the edges, [[x, y], ...].")
    milliseconds = serializers.FloatField(help_text="Time spent reading the image and running the tool.")
    cached = serializers.BooleanField(help_text="The decoded image was already in this server process.")
