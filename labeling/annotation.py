"""The canonical label model: plain typed objects between every format and the database.

Every import reader produces these; every writer (the database, the export formats, the
labeling page) consumes them. They know nothing of Django. Conversions (percent to
pixels, masks to polygons, other systems' ids to our entries) happen once, in the reader
that needs them.

Stored and serialised forms (the labeling page's JSON is the same):

- points, in image pixels: a point is ``[[x, y]]``; a line or polygon ``[[x, y], ...]``;
  a rectangle its two corners ``[[x, y], [x + w, y + h]]``; a segmentation a list of
  polygons ``[[[x, y], ...], ...]``.
- rotation, of a rectangle only: degrees clockwise in image coordinates (y down), about the
  unrotated box's top-left corner ``(min x, min y)``, as Label Studio rotates; normalised to
  (-180, 180]. The points stay the unrotated box's corners.
- an answer tree: ``{question_key: {"value": ..., "answers": {child_key: {...}}}}``, with
  the value of a select an option key or ``None``, of a checklist a list of option keys,
  of a freetext a string or ``None``; ``"valid": false`` marks a value that breaks a rule
  of its question (DataGym imports such values instead of failing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

AnswerValue = str | list[str] | None
Points = list[Any]


@dataclass(slots=True)
class Answer:
    """The answer to one question, with the answers to its child questions."""

    key: str
    value: AnswerValue = None
    answers: list[Answer] = field(default_factory=list)
    valid: bool = True
    # Set by readers that name questions by schema id instead of key; resolved once.
    schema_id: str | None = None


@dataclass(slots=True)
class Shape:
    """One geometry: its class, its points in pixels, answers and nested geometries."""

    key: str
    type: str
    points: Points
    answers: list[Answer] = field(default_factory=list)
    children: list[Shape] = field(default_factory=list)
    source: str = "import"
    score: float | None = None
    model_version: str = ""
    valid: bool = True
    schema_id: str | None = None
    # The resolved LabelEntry id (a string), set by a reader that resolved the class already.
    entry_id: str | None = None
    # Who drew it (a username), set by the export reader; None when nobody is recorded.
    created_by: str | None = None
    # Degrees clockwise about the top-left corner; rectangles only (see the module's docstring).
    rotation: float = 0.0


@dataclass(slots=True)
class MediaRef:
    """How an item names its media: by our id, or by something to resolve."""

    media_id: str | None = None
    name: str | None = None
    external_id: str | None = None
    global_key: str | None = None
    url: str | None = None

    @classmethod
    def matched_by(cls, match_by: str, value: str) -> MediaRef:
        """The reference `value` is under a job's `match_by` (id, name, external_id, global_key)."""
        if match_by == "name":
            return cls(name=value)
        if match_by == "external_id":
            return cls(external_id=value)
        if match_by == "global_key":
            return cls(global_key=value)
        return cls(media_id=value)


@dataclass(slots=True)
class MediaAnnotation:
    """Everything one import item (or one labeling-page save) says about one media."""

    media: MediaRef
    answers: list[Answer] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    # False: replace what the media has in the project; True: add to it.
    keep_data: bool = True


def answers_to_json(answers: list[Answer]) -> dict[str, Any]:
    """An answer list as the stored answer tree."""
    tree: dict[str, Any] = {}
    for answer in answers:
        node: dict[str, Any] = {"value": answer.value}
        if answer.answers:
            node["answers"] = answers_to_json(answer.answers)
        if not answer.valid:
            node["valid"] = False
        tree[answer.key] = node
    return tree


def answers_from_json(tree: dict[str, Any] | None) -> list[Answer]:
    """The stored answer tree as an answer list."""
    if not tree:
        return []
    return [
        Answer(
            key=key,
            value=node.get("value"),
            answers=answers_from_json(node.get("answers")),
            valid=node.get("valid", True),
        )
        for key, node in tree.items()
    ]


def rectangle_points(x: float, y: float, w: float, h: float) -> Points:
    return [[x, y], [x + w, y + h]]


def rectangle_box(points: Points) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` of a rectangle's two corners."""
    (x1, y1), (x2, y2) = points[0], points[1]
    return min(x1, x2), min(y1, y2), abs(x2 - x1), abs(y2 - y1)


def rotation_normalise(degrees: float) -> float:
    """`degrees` in (-180, 180]: the one stored form, so that equal rotations compare equal."""
    turned = math.fmod(float(degrees), 360.0)
    if turned > 180.0:
        turned -= 360.0
    elif turned <= -180.0:
        turned += 360.0
    # -0.0 and float noise next to a whole turn read as no rotation.
    return 0.0 if abs(turned) < 1e-9 else turned


def rectangle_corners(points: Points, rotation: float = 0.0) -> list[list[float]]:
    """The 4 corners of a (rotated) rectangle, clockwise on screen from its top-left corner."""
    x, y, w, h = rectangle_box(points)
    local = ((0.0, 0.0), (w, 0.0), (w, h), (0.0, h))
    if not rotation:
        return [[x + cx, y + cy] for cx, cy in local]
    cos, sin = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    return [[x + cx * cos - cy * sin, y + cx * sin + cy * cos] for cx, cy in local]


def rectangle_hull(points: Points, rotation: float = 0.0) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` of the axis-aligned box around a (rotated) rectangle: what formats
    without rotation (COCO bbox, Pascal VOC, YOLO detection, DataGym) are given, clipped at 0
    since their coordinates are pixels from the top left."""
    if not rotation:
        return rectangle_box(points)
    corners = rectangle_corners(points, rotation)
    xs = [max(0.0, c[0]) for c in corners]
    ys = [max(0.0, c[1]) for c in corners]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def rectangle_from_corners(corners: list[list[float]], *, tolerance: float) -> tuple[Points, float] | None:
    """A 4-corner polygon as a rectangle's points and rotation, or None when it is not a
    rectangle (sides off square by more than `tolerance` pixels). The corner that becomes the
    top-left is the one that keeps the rotation in (-45, 45] (width along the first side)."""
    if len(corners) != 4:
        return None
    (ax, ay), (bx, by), (cx, cy), (dx, dy) = corners
    # A rectangle's diagonals share their midpoint and have the same length.
    if math.hypot((ax + cx) - (bx + dx), (ay + cy) - (by + dy)) > 2 * tolerance:
        return None
    if abs(math.hypot(cx - ax, cy - ay) - math.hypot(dx - bx, dy - by)) > 2 * tolerance:
        return None
    centre_x, centre_y = (ax + bx + cx + dx) / 4, (ay + by + cy + dy) / 4
    # Order the corners clockwise on screen (y down: increasing atan2 angle).
    ordered = sorted(corners, key=lambda p: math.atan2(p[1] - centre_y, p[0] - centre_x))
    best: tuple[Points, float] | None = None
    for start in range(4):
        p0, p1, p3 = ordered[start], ordered[(start + 1) % 4], ordered[(start + 3) % 4]
        angle = math.degrees(math.atan2(p1[1] - p0[1], p1[0] - p0[0]))
        if -45.0 < angle <= 45.0:
            w = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
            h = math.hypot(p3[0] - p0[0], p3[1] - p0[1])
            rotation = rotation_normalise(angle)
            best = ([[p0[0], p0[1]], [p0[0] + w, p0[1] + h]], rotation)
            break
    return best
