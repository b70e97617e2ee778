"""DataGym's JSON export (reference/datagym.md, section 5) and its segmentation bitmaps.

The writer of the `datagym` format (declared in `imports.formats.datagym`, with its reader)
and of the DataGym v1 export endpoint. It reads an export source (`imports.exports.ExportReader`):
tasks in chunks, each chunk's labels with one query, in the canonical label model; the rows
are streamed, so memory stays flat however large the project is.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Collection, Iterator
from typing import IO, Any
from urllib.parse import quote

import orjson
from PIL import Image, ImageDraw

from imports.formats.export_base import ExportConfig, ExportItem, ExportSource, shapes_walk
from labeling.annotation import Answer, Shape, rectangle_box
from labeling.models import Label, Task, TaskState
from projects.models import GEOMETRY_TYPES, EntryType, LabelEntry, Project

NAME = "datagym"
#: DataGym exports only tasks that a person has finished.
EXPORT_STATES: tuple[str, ...] = (TaskState.COMPLETED, TaskState.SKIPPED, TaskState.REVIEWED)
CHUNK_SIZE = 500
#: DataGym's UI shows an option question with at most this many options as radio buttons,
#: and its documented export calls such a question `radio`.
RADIO_MAX_OPTIONS = 3

_GEOMETRY_NAMES: dict[str, str] = {EntryType.SEGMENTATION.value: "image_segmentation"}


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
    for chunk in source.chunks():
        for item in chunk:
            yield _task_row(item, config, source.api_url)


def datagym_export_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    """The export as one JSON array, written element by element; `[]` when no task qualifies."""
    if not source.has_items():
        out.write(b"[]")
        return
    config = source.config
    out.write(b"[" + orjson.dumps({"label_classes": [_label_class(entry) for entry in config.tree_order()]}))
    for chunk in source.chunks():
        out.write(b"".join(b"," + orjson.dumps(_task_row(item, config, source.api_url)) for item in chunk))
        yield
    out.write(b"]")


def _task_row(item: ExportItem, config: ExportConfig, api_url: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "internal_media_ID": str(item.media_id),
        "external_media_ID": item.media_name,
        "labeler": str(item.assignee_id) if item.assignee_id else None,
        "status": item.state,
    }
    shapes = item.annotation.shapes
    segmentation_keys = dict.fromkeys(
        shape.key for shape, _ in shapes_walk(shapes) if shape.points and shape.type == EntryType.SEGMENTATION
    )
    if segmentation_keys:
        row["segmentations"] = [
            f"{api_url}/export/bitmap/{item.task_id}/{quote(key, safe='')}" for key in segmentation_keys
        ]
    answers = {answer.key: answer for answer in item.annotation.answers}
    row["global_classifications"] = {
        question.key: _classification(question, answers.get(question.key), config)
        for question in config.questions_of(None)
    }
    by_entry: dict[str | None, list[Shape]] = defaultdict(list)
    for shape in shapes:
        by_entry[shape.entry_id].append(shape)
    row["labels"] = {
        entry.key: [_geometry(entry, shape, config, nested=False) for shape in by_entry[str(entry.id)]]
        for entry in config.geometries_of(None)
        if by_entry.get(str(entry.id))
    }
    return row


def _classification(question: LabelEntry, answer: Answer | None, config: ExportConfig) -> list[Any]:
    """`[value..., {child: [...]}, ...]`: the answer, then one object per child question."""
    value = answer.value if answer is not None else None
    items: list[Any]
    if question.type == EntryType.CHECKLIST:
        checked = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        items = list(checked) or [None]
    else:
        items = [value if isinstance(value, str) else None]
    children = {child.key: child for child in answer.answers} if answer is not None else {}
    for child in config.questions_of(question.id):
        items.append({child.key: _classification(child, children.get(child.key), config)})
    return items


def _geometry(entry: LabelEntry, shape: Shape, config: ExportConfig, *, nested: bool) -> dict[str, Any]:
    answers = {answer.key: answer for answer in shape.answers}
    geometry: dict[str, Any] = {
        _GEOMETRY_NAMES.get(entry.type, entry.type): _coordinates(entry.type, shape.points),
        "classifications": {
            question.key: _classification(question, answers.get(question.key), config)
            for question in config.questions_of(entry.id)
        },
    }
    if not nested:
        own: dict[str | None, list[Shape]] = defaultdict(list)
        for child in shape.children:
            own[child.entry_id].append(child)
        geometry["nested_geometries"] = {
            child_entry.key: [_geometry(child_entry, child, config, nested=True) for child in own[str(child_entry.id)]]
            for child_entry in config.geometries_of(entry.id)
            if own.get(str(child_entry.id))
        }
    return geometry


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
    if entry_type == EntryType.POINT:
        return [_point(points[0])]
    if entry_type == EntryType.RECTANGLE:
        try:
            box = [_whole(v) for v in rectangle_box(points)]
        except (TypeError, ValueError, IndexError):
            box = [None, None, None, None]
        if None in box:
            box = [None, None, None, None]
        return [dict(zip(("x", "y", "w", "h"), box, strict=True))]
    if entry_type == EntryType.SEGMENTATION:
        return [[_point(p) for p in ring] for ring in points if isinstance(ring, list)]
    return [_point(p) for p in points]


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
