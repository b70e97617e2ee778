"""The canonical label model: plain typed objects between every format and the database.

Every import reader produces these; every writer (the database, the export formats, the
labeling page) consumes them. They know nothing of Django. Conversions (percent to
pixels, masks to polygons, other systems' ids to our entries) happen once, in the reader
that needs them.

Stored and serialised forms (the labeling page's JSON is the same):

- points, in image pixels: a point is ``[[x, y]]``; a line or polygon ``[[x, y], ...]``;
  a rectangle its two corners ``[[x, y], [x + w, y + h]]``; a segmentation a list of
  polygons ``[[[x, y], ...], ...]``.
- an answer tree: ``{question_key: {"value": ..., "answers": {child_key: {...}}}}``, with
  the value of a select an option key or ``None``, of a checklist a list of option keys,
  of a freetext a string or ``None``; ``"valid": false`` marks a value that breaks a rule
  of its question (DataGym imports such values instead of failing).
"""

from __future__ import annotations

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


@dataclass(slots=True)
class MediaRef:
    """How an item names its media: by our id, or by something to resolve."""

    media_id: str | None = None
    name: str | None = None
    external_id: str | None = None
    global_key: str | None = None
    url: str | None = None


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
