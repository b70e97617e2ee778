"""DataGym's JSON export (reference/datagym.md, section 5) and its segmentation bitmaps.

The writer of the `datagym` format (declared in `imports.formats.datagym`, with its reader)
and of the DataGym v1 export endpoint. It reads an export source (`imports.exports.ExportReader`):
tasks in chunks, each chunk's labels with one query, in the canonical label model; the rows
are streamed, so memory stays flat however large the project is.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Collection, Generator, Iterator
from typing import IO, Any
from urllib.parse import quote

import orjson
from PIL import Image, ImageDraw

from imports.formats.export_base import (
    ExportConfig,
    ExportParts,
    ExportSource,
    LabelRow,
    PartStart,
    TaskRows,
    label_tree,
    parts_copy,
)
from labeling.annotation import rectangle_box
from labeling.models import Label, Task, TaskState
from projects.models import GEOMETRY_TYPES, EntryType, LabelEntry, Project

NAME = "datagym"
#: DataGym exports only tasks that a person has finished.
EXPORT_STATES: tuple[str, ...] = (TaskState.COMPLETED, TaskState.SKIPPED, TaskState.REVIEWED)
CHUNK_SIZE = 2000
#: DataGym's UI shows an option question with at most this many options as radio buttons,
#: and its documented export calls such a question `radio`.
RADIO_MAX_OPTIONS = 3

_GEOMETRY_NAMES: dict[str, str] = {EntryType.SEGMENTATION.value: "image_segmentation"}
# Plain strings: looking a member up on an enum class costs more than the comparison, a million times.
_POINT_TYPE = EntryType.POINT.value
_RECTANGLE_TYPE = EntryType.RECTANGLE.value
_SEGMENTATION_TYPE = EntryType.SEGMENTATION.value


def datagym_label_classes(*, project: Project) -> list[dict[str, str]]:
    """The `label_classes` header: every entry of the configuration, nested ones included."""
    entries = LabelEntry.objects.filter(configuration__project=project).order_by("position", "created_at", "id")
    return [_label_class(entry) for entry in ExportConfig(entries=list(entries)).tree_order()]


def _label_class(entry: LabelEntry) -> dict[str, str]:
    if entry.type in GEOMETRY_TYPES:
        return {"class_name": entry.key, "geometry_type": _GEOMETRY_NAMES.get(entry.type, entry.type)}
    kind = entry.type
    if kind == EntryType.SELECT and len(entry.options) <= RADIO_MAX_OPTIONS:
        kind = "radio"
    return {"class_name": entry.key, "classification_type": kind}


def datagym_export_rows(
    *, project: Project, states: Collection[str] = EXPORT_STATES, api_url: str = "", chunk_size: int = CHUNK_SIZE
) -> Iterator[dict[str, Any]]:
    """DataGym's export of the project as the v1 API gives it: every label, whatever its source."""
    from imports.exports import ExportFilters, ExportReader

    filters = ExportFilters(states=tuple(states), include_predictions=True)
    reader = ExportReader(project=project, filters=filters, api_url=api_url, chunk_size=chunk_size)
    return datagym_rows(reader)


def datagym_rows(source: ExportSource) -> Iterator[dict[str, Any]]:
    """The elements of the export array: the header, then one object per task.

    Nothing at all (not even the header) when no task qualifies, as DataGym does.
    `source.api_url` is the base of the bitmap links of segmentations (e.g. `https://host/api/v1`).
    """
    if not source.has_items():
        return
    config = source.config
    yield {"label_classes": [_label_class(entry) for entry in config.tree_order()]}
    rows = _RowWriter(config, source.api_url)
    for chunk in source.rows():
        for task in chunk:
            yield rows.task(task)


def datagym_export_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    """The export as one JSON array, written element by element; `[]` when no task qualifies."""
    if not source.has_items():
        out.write(b"[]")
        return
    out.write(b"[" + _header(source.config))
    rows = _RowWriter(source.config, source.api_url)
    dumps = orjson.dumps
    for chunk in source.rows():
        out.write(b"".join([b"," + dumps(rows.task(task)) for task in chunk]))
        yield
    out.write(b"]")


def datagym_export_write_part(
    source: ExportSource, out: IO[bytes], side: IO[bytes], start: PartStart
) -> Generator[None, None, int]:
    """The task objects of a slice of the tasks, separated by commas (see `datagym_export_join`)."""
    rows = _RowWriter(source.config, source.api_url)
    dumps = orjson.dumps
    first = True
    for chunk in source.rows():
        if chunk:
            data = b",".join([dumps(rows.task(task)) for task in chunk])
            out.write(data if first else b"," + data)
            first = False
        yield
    return 0


def datagym_export_join(
    source: ExportSource, parts: list[tuple[IO[bytes], IO[bytes]]], out: IO[bytes]
) -> Iterator[None]:
    """The export from the slices written by `datagym_export_write_part`, in order."""
    if not any(part.tell() for part, _ in parts):
        out.write(b"[]")
        return
    out.write(b"[" + _header(source.config) + b",")
    yield from parts_copy([part for part, _ in parts], out)
    out.write(b"]")


DATAGYM_EXPORT_PARTS = ExportParts(write=datagym_export_write_part, join=datagym_export_join)


def _header(config: ExportConfig) -> bytes:
    return orjson.dumps({"label_classes": [_label_class(entry) for entry in config.tree_order()]})


class _RowWriter:
    """Turns tasks as read (`TaskRows`) into DataGym's task objects, with what it needs of the
    configuration looked up once: per class its key, geometry name, questions and nested classes."""

    def __init__(self, config: ExportConfig, api_url: str) -> None:
        self.config = config
        self.api_url = api_url
        self.global_questions = config.questions_of(None)
        self.roots = [(str(entry.id), entry.key) for entry in config.geometries_of(None)]
        #: Per entry id (text): (key, geometry name, type, questions, nested geometry classes as (id, key)).
        self.entries: dict[str, tuple[str, str, str, list[LabelEntry], list[tuple[str, str]]]] = {
            str(entry.id): (
                entry.key,
                _GEOMETRY_NAMES.get(entry.type, entry.type),
                entry.type,
                config.questions_of(entry.id),
                [(str(child.id), child.key) for child in config.geometries_of(entry.id)],
            )
            for entry in config.entries
        }
        #: The classifications of a class with nothing answered, made once (orjson only reads them).
        self.unanswered: dict[str, dict[str, list[Any]]] = {
            entry_id: {question.key: _classification(question, None, config) for question in questions}
            for entry_id, (_, _, _, questions, _) in self.entries.items()
        }

    def task(self, task: TaskRows) -> dict[str, Any]:
        row: dict[str, Any] = {
            "internal_media_ID": str(task.media_id),
            "external_media_ID": task.media_name,
            "labeler": str(task.assignee_id) if task.assignee_id else None,
            "status": task.state,
        }
        entries = self.entries
        segmentation = _SEGMENTATION_TYPE
        tree = label_tree(task.labels)
        if any(entries[label.entry_id][2] == segmentation and label.points for label in task.labels):
            keys = dict.fromkeys(
                entries[label.entry_id][0]
                for label in _walk(tree)
                if label.points and entries[label.entry_id][2] == segmentation
            )
            row["segmentations"] = [
                f"{self.api_url}/export/bitmap/{task.task_id}/{quote(key, safe='')}" for key in keys
            ]
        answers = task.answers or {}
        config = self.config
        row["global_classifications"] = {
            question.key: _classification(question, answers.get(question.key), config)
            for question in self.global_questions
        }
        by_entry: dict[str, list[tuple[LabelRow, list[Any]]]] = defaultdict(list)
        for node in tree:
            by_entry[node[0].entry_id].append(node)
        geometry = self.geometry
        row["labels"] = {
            key: [geometry(node, nested=False) for node in by_entry[entry_id]]
            for entry_id, key in self.roots
            if entry_id in by_entry
        }
        return row

    def geometry(self, node: tuple[LabelRow, list[Any]], *, nested: bool) -> dict[str, Any]:
        label, children = node
        _, name, entry_type, questions, nested_classes = self.entries[label.entry_id]
        answers = label.answers
        geometry: dict[str, Any] = {
            name: _coordinates(entry_type, label.points),
            "classifications": {
                question.key: _classification(question, answers.get(question.key), self.config)
                for question in questions
            }
            if answers
            else self.unanswered[label.entry_id],
        }
        if not nested:
            own: dict[str, list[tuple[LabelRow, list[Any]]]] = defaultdict(list)
            for child in children:
                own[child[0].entry_id].append(child)
            geometry["nested_geometries"] = {
                key: [self.geometry(child, nested=True) for child in own[entry_id]]
                for entry_id, key in nested_classes
                if entry_id in own
            }
        return geometry


def _walk(nodes: list[tuple[LabelRow, list[Any]]]) -> Iterator[LabelRow]:
    """Every label of a tree, parents first (as `shapes_walk`)."""
    for label, children in nodes:
        yield label
        if children:
            yield from _walk(children)


def _classification(question: LabelEntry, answer: Any, config: ExportConfig) -> list[Any]:
    """`[value..., {child: [...]}, ...]`: the answer (a stored answer node), then one object per child question."""
    value = answer.get("value") if isinstance(answer, dict) else None
    items: list[Any]
    if question.type == EntryType.CHECKLIST:
        checked = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        items = list(checked) or [None]
    else:
        items = [value if isinstance(value, str) else None]
    children = config.questions_of(question.id)
    if children:
        child_answers = answer.get("answers") if isinstance(answer, dict) else None
        if not isinstance(child_answers, dict):
            child_answers = {}
        for child in children:
            items.append({child.key: _classification(child, child_answers.get(child.key), config)})
    return items


def _whole(value: Any) -> int | None:
    """A stored coordinate as DataGym writes it: truncated to an integer, null if missing or negative."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)


def _point(raw: Any) -> dict[str, int | None]:
    try:
        x, y = raw[0], raw[1]
        if type(x) in _NUMBER and type(y) in _NUMBER and x >= 0 and y >= 0:
            return {"x": int(x), "y": int(y)}
    except (TypeError, IndexError, KeyError):
        pass
    return _point_checked(raw)


_NUMBER = (int, float)


def _point_checked(raw: Any) -> dict[str, int | None]:
    x, y = (raw[0], raw[1]) if isinstance(raw, list | tuple) and len(raw) >= 2 else (None, None)
    x, y = _whole(x), _whole(y)
    if x is None or y is None:
        return {"x": None, "y": None}
    return {"x": x, "y": y}


def _coordinates(entry_type: str, points: Any) -> list[Any]:
    if not isinstance(points, list) or not points:
        return []
    if entry_type == _POINT_TYPE:
        return [_point(points[0])]
    if entry_type == _RECTANGLE_TYPE:
        return [_box(points)]
    if entry_type == _SEGMENTATION_TYPE:
        return [_points(ring) for ring in points if isinstance(ring, list)]
    return _points(points)


def _points(points: list[Any]) -> list[dict[str, int | None]]:
    # Inlined for the common case (pairs of non-negative numbers): this runs for millions of points.
    return [
        {"x": int(p[0]), "y": int(p[1])}
        if type(p) is list and len(p) >= 2 and type(p[0]) in _NUMBER and type(p[1]) in _NUMBER and p[0] >= 0 <= p[1]
        else _point(p)
        for p in points
    ]


_NO_BOX: dict[str, None] = {"x": None, "y": None, "w": None, "h": None}


def _box(points: list[Any]) -> dict[str, int | None]:
    """A rectangle's two corners as `{x, y, w, h}`, all null if anything is missing or negative."""
    try:
        (x1, y1), (x2, y2) = points[0], points[1]
    except (TypeError, ValueError, IndexError):
        return dict(_NO_BOX)
    if type(x1) in _NUMBER and type(y1) in _NUMBER and type(x2) in _NUMBER and type(y2) in _NUMBER:
        x, y = min(x1, x2), min(y1, y2)
        if x >= 0 and y >= 0:
            return {"x": int(x), "y": int(y), "w": int(abs(x2 - x1)), "h": int(abs(y2 - y1))}
        return dict(_NO_BOX)
    try:
        box = [_whole(v) for v in rectangle_box(points)]
    except (TypeError, ValueError, IndexError):
        return dict(_NO_BOX)
    if None in box:
        return dict(_NO_BOX)
    return dict(zip(("x", "y", "w", "h"), box, strict=True))


def datagym_segmentation_bitmap(*, task: Task, entry: LabelEntry) -> bytes:
    """A black BMP of the task's media size with the class's segmentation polygons in white."""
    rings = [
        [(float(p[0]), float(p[1])) for p in ring if isinstance(p, list | tuple) and len(p) >= 2]
        for points in Label.objects.filter(task=task, entry=entry).values_list("points", flat=True)
        if isinstance(points, list)
        for ring in points
        if isinstance(ring, list)
    ]
    width, height = task.media.width, task.media.height
    if not width or not height:
        width = int(max((x for ring in rings for x, _ in ring), default=0)) + 1
        height = int(max((y for ring in rings for _, y in ring), default=0)) + 1
    image = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(image)
    for ring in rings:
        if len(ring) >= 3:
            draw.polygon(ring, fill=1)
    buffer = io.BytesIO()
    image.save(buffer, format="BMP")
    return buffer.getvalue()
