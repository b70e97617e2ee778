"""DataGym's JSON export (reference/datagym.md, section 5) and its segmentation bitmaps.

Rows are read in chunks of tasks, each chunk's labels with one query, against a dict of
the configuration built once; the caller streams the rows, so memory stays flat however
large the project is.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from PIL import Image, ImageDraw

from labeling.annotation import rectangle_box
from labeling.models import Label, Task, TaskState
from projects.models import CLASSIFICATION_TYPES, GEOMETRY_TYPES, EntryType, LabelEntry, Project

NAME = "datagym"
#: DataGym exports only tasks that a person has finished.
EXPORT_STATES: tuple[str, ...] = (TaskState.COMPLETED, TaskState.SKIPPED, TaskState.REVIEWED)
CHUNK_SIZE = 500
#: DataGym's UI shows an option question with at most this many options as radio buttons,
#: and its documented export calls such a question `radio`.
RADIO_MAX_OPTIONS = 3

_GEOMETRY_NAMES: dict[str, str] = {EntryType.SEGMENTATION.value: "image_segmentation"}


@dataclass
class _Config:
    """The project's entries as dicts, read once per export."""

    entries: list[LabelEntry]
    children: dict[Any, list[LabelEntry]] = field(default_factory=lambda: defaultdict(list))
    by_id: dict[Any, LabelEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.entries:
            self.by_id[entry.id] = entry
            self.children[entry.parent_id].append(entry)

    def tree_order(self) -> Iterator[LabelEntry]:
        stack = list(reversed(self.children[None]))
        while stack:
            entry = stack.pop()
            yield entry
            stack.extend(reversed(self.children[entry.id]))

    def questions_of(self, parent_id: Any) -> list[LabelEntry]:
        return [e for e in self.children[parent_id] if e.type in CLASSIFICATION_TYPES]

    def geometries_of(self, parent_id: Any) -> list[LabelEntry]:
        return [e for e in self.children[parent_id] if e.type in GEOMETRY_TYPES]


def _config(project: Project) -> _Config:
    entries = LabelEntry.objects.filter(configuration__project=project).order_by("position", "created_at", "id")
    return _Config(entries=list(entries))


def datagym_label_classes(*, project: Project) -> list[dict[str, str]]:
    """The `label_classes` header: every entry of the configuration, nested ones included."""
    return [_label_class(entry) for entry in _config(project).tree_order()]


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
    """The elements of the export array: the header, then one object per finished task.

    Nothing at all (not even the header) when no task qualifies, as DataGym does.
    `api_url` is the base of the bitmap links of segmentations (e.g. `https://host/api/v1`).
    """
    tasks = Task.objects.filter(project=project, state__in=list(states), media__deleted_at__isnull=True)
    if not tasks.exists():
        return
    config = _config(project)
    yield {"label_classes": [_label_class(entry) for entry in config.tree_order()]}
    last_pk = None
    while True:
        page = tasks.select_related("media").order_by("pk")
        if last_pk is not None:
            page = page.filter(pk__gt=last_pk)
        chunk = list(page[:chunk_size])
        if not chunk:
            return
        labels_by_task: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        rows = (
            Label.objects.filter(task_id__in=[task.pk for task in chunk])
            .order_by("id")
            .values("id", "task_id", "entry_id", "parent_id", "points", "answers")
        )
        for label in rows:
            labels_by_task[label["task_id"]].append(dict(label))
        for task in chunk:
            yield _task_row(task, labels_by_task[task.pk], config, api_url)
        last_pk = chunk[-1].pk


def _task_row(task: Task, labels: list[dict[str, Any]], config: _Config, api_url: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "internal_media_ID": str(task.media_id),
        "external_media_ID": task.media.name,
        "labeler": str(task.assignee_id) if task.assignee_id else None,
        "status": task.state,
    }
    segmentation_entries = (config.by_id.get(label["entry_id"]) for label in labels if label["points"])
    segmentation_keys = dict.fromkeys(
        entry.key for entry in segmentation_entries if entry is not None and entry.type == EntryType.SEGMENTATION
    )
    if segmentation_keys:
        row["segmentations"] = [f"{api_url}/export/bitmap/{task.pk}/{quote(key, safe='')}" for key in segmentation_keys]
    answers = task.answers or {}
    row["global_classifications"] = {
        question.key: _classification(question, answers.get(question.key), config)
        for question in config.questions_of(None)
    }
    children: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for label in labels:
        children[label["parent_id"]].append(label)
    by_entry: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for label in children[None]:
        by_entry[label["entry_id"]].append(label)
    row["labels"] = {
        entry.key: [_geometry(entry, label, config, children, nested=False) for label in by_entry[entry.id]]
        for entry in config.geometries_of(None)
        if by_entry[entry.id]
    }
    return row


def _classification(question: LabelEntry, node: Any, config: _Config) -> list[Any]:
    """`[value..., {child: [...]}, ...]`: the answer, then one object per child question."""
    node = node if isinstance(node, dict) else {}
    value = node.get("value")
    items: list[Any]
    if question.type == EntryType.CHECKLIST:
        checked = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        items = list(checked) or [None]
    else:
        items = [value if isinstance(value, str) else None]
    child_answers = node.get("answers") or {}
    for child in config.questions_of(question.id):
        items.append({child.key: _classification(child, child_answers.get(child.key), config)})
    return items


def _geometry(
    entry: LabelEntry,
    label: dict[str, Any],
    config: _Config,
    children: dict[Any, list[dict[str, Any]]],
    *,
    nested: bool,
) -> dict[str, Any]:
    answers = label["answers"] or {}
    shape: dict[str, Any] = {
        _GEOMETRY_NAMES.get(entry.type, entry.type): _coordinates(entry.type, label["points"]),
        "classifications": {
            question.key: _classification(question, answers.get(question.key), config)
            for question in config.questions_of(entry.id)
        },
    }
    if not nested:
        own = defaultdict(list)
        for child in children[label["id"]]:
            own[child["entry_id"]].append(child)
        shape["nested_geometries"] = {
            child_entry.key: [
                _geometry(child_entry, child, config, children, nested=True) for child in own[child_entry.id]
            ]
            for child_entry in config.geometries_of(entry.id)
            if own[child_entry.id]
        }
    return shape


def _whole(value: Any) -> int | None:
    """A stored coordinate as DataGym writes it: truncated to an integer, null if missing or negative."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)


def _point(raw: Any) -> dict[str, int | None]:
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
