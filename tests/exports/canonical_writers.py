"""The export writers as they were on the canonical label model (`ExportSource.chunks()`), kept as
the reference that the writers on `rows()` must match byte for byte (`test_rows_writers.py`).

Copied from `formats/label_studio.py`, `csv_labels.py`, `yolo.py` and `pascal_voc.py` before they
moved to `rows()`; not used by the application.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import orjson

from formats.codecs.brush_rle import rle_encode_mask
from formats.codecs.mask_polygons import segmentation_crop
from formats.label_studio import CONTROLS, TO_NAME, _minimal, _question_types
from formats.pascal_voc import BOX_TYPES, DECLARATION, _text
from formats.writing import (
    ExportItem,
    ExportSource,
    UniqueNames,
    answers_flat,
    answers_text,
    box_of,
    points_flat,
    ring_shells,
    rings_of,
    shapes_walk,
    stem,
)
from labeling.annotation import Answer, Shape, rectangle_corners
from labeling.models import LabelSource, TaskState
from labelsite.text import cell_safe
from projects.models import EntryType

# --- Label Studio JSON and JSON_MIN ----------------------------------------------------------------


def _answers_named(answers: list[Answer], prefix: str = "") -> Iterator[tuple[str, Answer]]:
    """Every answer of a tree with its control name, the key path `parent/child` (Label Studio's
    controls are flat; the path tells the import where a child answer hangs)."""
    for answer in answers:
        name = f"{prefix}{answer.key}"
        yield name, answer
        yield from _answers_named(answer.answers, f"{name}/")


class _Results:
    """Builds the results of one annotation or prediction, numbering regions within the task."""

    def __init__(self, item: ExportItem, counter: list[int], types: dict[tuple[str | None, str], str]) -> None:
        self.types = types
        self.width = float(item.width or 0)
        self.height = float(item.height or 0)
        self.counter = counter
        self.results: list[dict[str, Any]] = []

    def _next_id(self) -> str:
        self.counter[0] += 1
        return f"r{self.counter[0]}"

    def _pct(self, x: float, y: float) -> list[float]:
        return [x * 100.0 / self.width if self.width else x, y * 100.0 / self.height if self.height else y]

    def _region(
        self, shape: Shape, result_type: str, control: str, value: dict[str, Any], parent_id: str | None
    ) -> str:
        region_id = self._next_id()
        value[result_type] = [shape.key]
        result: dict[str, Any] = {
            "id": region_id,
            "type": result_type,
            "from_name": control,
            "to_name": TO_NAME,
            "original_width": int(self.width) if self.width else None,
            "original_height": int(self.height) if self.height else None,
            "image_rotation": 0,
            "value": value,
        }
        if parent_id is not None:
            result["parentID"] = parent_id
        if shape.source == LabelSource.PREDICTION and shape.score is not None:
            result["score"] = shape.score
        self.results.append(result)
        return region_id

    def shape(self, shape: Shape, parent_id: str | None = None) -> None:
        control, result_type = CONTROLS.get(shape.type, ("polygon", "polygonlabels"))
        pairs = list(points_flat(shape.points)) if shape.type != EntryType.SEGMENTATION else []
        region_ids: list[str] = []
        if shape.type == EntryType.RECTANGLE and len(pairs) >= 2:
            (x1, y1), (x2, y2) = pairs[0], pairs[1]
            left, top = self._pct(min(x1, x2), min(y1, y2))
            right, bottom = self._pct(max(x1, x2), max(y1, y2))
            # Label Studio keeps rotation in [0, 360); ours is (-180, 180].
            rotation = shape.rotation % 360.0 if shape.rotation else 0
            value: dict[str, Any] = {
                "x": left,
                "y": top,
                "width": right - left,
                "height": bottom - top,
                "rotation": rotation,
            }
            region_ids.append(self._region(shape, result_type, control, value, parent_id))
        elif shape.type == EntryType.POINT and pairs:
            x, y = self._pct(*pairs[0])
            region_ids.append(self._region(shape, result_type, control, {"x": x, "y": y}, parent_id))
        elif shape.type in (EntryType.POLYGON, EntryType.LINE) and pairs:
            value = {"points": [self._pct(x, y) for x, y in pairs], "closed": shape.type == EntryType.POLYGON}
            region_ids.append(self._region(shape, result_type, control, value, parent_id))
        elif shape.type == EntryType.SEGMENTATION:
            rings = rings_of(EntryType.SEGMENTATION, shape.points)
            if rings and self.width and self.height:
                canvas = (int(self.width), int(self.height))
                crop, x0, y0 = segmentation_crop(rings, *canvas)
                value = {"format": "rle", "rle": rle_encode_mask(crop, at=(x0, y0), canvas=canvas)}
                region_ids.append(self._region(shape, "brushlabels", control, value, parent_id))
            else:  # no size to paint a mask on: one polygon per ring
                for ring in rings:
                    value = {"points": [self._pct(x, y) for x, y in ring], "closed": True}
                    region_ids.append(self._region(shape, "polygonlabels", control, value, parent_id))
        for region_id in region_ids[:1]:
            for name, answer in _answers_named(shape.answers):
                self.answer(name, answer, region_id, shape.entry_id)
            for child in shape.children:
                self.shape(child, region_id)

    def answer(self, name: str, answer: Answer, region_id: str | None = None, scope: str | None = None) -> None:
        value = answer.value
        if value is None or value == []:
            return
        if isinstance(value, list):
            result_type, content = "choices", {"choices": [v for v in value if isinstance(v, str)]}
        elif self.types.get((scope, name)) == EntryType.FREETEXT:
            result_type, content = "textarea", {"text": [value]}
        else:
            result_type, content = "choices", {"choices": [value]}
        result: dict[str, Any] = {
            "id": region_id or self._next_id(),
            "type": result_type,
            "from_name": name,
            "to_name": TO_NAME,
            "value": content,
        }
        if region_id is not None:
            result["original_width"] = int(self.width) if self.width else None
            result["original_height"] = int(self.height) if self.height else None
        self.results.append(result)


def _task(item: ExportItem, source: ExportSource, types: dict[tuple[str | None, str], str]) -> dict[str, Any]:
    counter = [0]
    annotation = _Results(item, counter, types)
    by_version: dict[str, _Results] = {}
    scores: dict[str, list[float]] = defaultdict(list)
    for shape in item.annotation.shapes:
        if shape.source == LabelSource.PREDICTION:
            if not source.include_predictions:
                continue
            results = by_version.setdefault(shape.model_version, _Results(item, counter, types))
            results.shape(shape)
            if shape.score is not None:
                scores[shape.model_version].append(shape.score)
        else:
            annotation.shape(shape)
    for name, answer in _answers_named(item.annotation.answers):
        annotation.answer(name, answer)
    updated = item.updated_at.isoformat() if item.updated_at else None
    return {
        "id": str(item.task_id),
        "data": {"image": item.media_url or item.media_name, "media_id": str(item.media_id), "name": item.media_name},
        "annotations": [
            {
                "id": str(item.task_id),
                # As Label Studio writes it: a user id, here our user's id (its `pk`); who completed
                # the task, else (completed by a script, or not completed) its assignee.
                "completed_by": item.who.completed_by_id if item.who.completed_by_id is not None else item.assignee_id,
                "result": annotation.results,
                "was_cancelled": item.state == TaskState.SKIPPED,
                "ground_truth": False,
                "created_at": updated,
                "updated_at": updated,
                # Seconds the labeling page was visible and in use on the task, as Label Studio counts it.
                "lead_time": float(item.who.active_seconds),
            }
        ],
        "predictions": [
            {
                "model_version": version,
                "score": sum(scores[version]) / len(scores[version]) if scores[version] else None,
                "result": results.results,
            }
            for version, results in by_version.items()
        ],
        "meta": _meta(item),
    }


def _meta(item: ExportItem) -> dict[str, Any]:
    """The task's `meta`: our state, and what an import stored with the media. Label Studio keeps
    `meta` with the task untouched, where data fields could clash with the config's variables."""
    meta: dict[str, Any] = {"state": item.state}
    if item.metadata:
        meta["metadata"] = item.metadata
    if item.attachments:
        meta["attachments"] = item.attachments
    return meta


def label_studio_tasks(source: ExportSource, *, minimal: bool = False) -> bytes:
    types = _question_types(source.config)
    tasks = [_task(item, source, types) for chunk in source.chunks() for item in chunk]
    return b"[" + b",".join(orjson.dumps(_minimal(task) if minimal else task) for task in tasks) + b"]"


# --- CSV (the rows, without the header) ------------------------------------------------------------


def csv_rows(source: ExportSource) -> bytes:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for chunk in source.chunks():
        for item in chunk:
            common = [str(item.task_id), str(item.media_id), item.media_name, item.state]
            who = [
                item.who.completed_by or "",
                item.who.reviewed_by or "",
                item.who.review_verdict,
                item.who.active_seconds,
            ]
            global_answers = answers_text(item.annotation.answers)
            stack: list[tuple[Shape, int | None]] = [(shape, None) for shape in reversed(item.annotation.shapes)]
            number = 0
            while stack:
                shape, parent = stack.pop()
                number += 1
                row = [
                    *common,
                    number,
                    parent if parent is not None else "",
                    shape.key,
                    shape.type,
                    orjson.dumps(shape.points).decode(),
                    shape.rotation if shape.rotation else 0,
                    answers_text(shape.answers),
                    global_answers,
                    shape.source,
                    "" if shape.score is None else shape.score,
                    shape.model_version,
                    shape.created_by or "",
                    *who,
                ]
                writer.writerow([cell_safe(value) for value in row])
                stack.extend((child, number) for child in reversed(shape.children))
            if not number:
                writer.writerow(
                    [
                        cell_safe(value)
                        for value in [*common, "", "", "", "", "", "", "", global_answers, "", "", "", "", *who]
                    ]
                )
    return buffer.getvalue().encode("utf-8")


# --- YOLO: a label file's lines --------------------------------------------------------------------


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def _lines(item: ExportItem, class_index: dict[str, int], *, segments: bool, obb: bool = False) -> list[str]:
    width, height = float(item.width or 0), float(item.height or 0)
    lines: list[str] = []
    for shape, _ in shapes_walk(item.annotation.shapes):
        index = class_index.get(shape.entry_id or "")
        if index is None:
            continue
        if obb:
            if shape.type != EntryType.RECTANGLE or len(shape.points) < 2:
                continue
            corners = rectangle_corners(shape.points, shape.rotation)
            coordinates = " ".join(f"{_clip(x / width):.6f} {_clip(y / height):.6f}" for x, y in corners)
            lines.append(f"{index} {coordinates}")
            continue
        if segments:
            # A line is one filled outline: a segmentation's holes cannot be written (they would fill).
            for ring in ring_shells(rings_of(shape.type, shape.points, shape.rotation)):
                coordinates = " ".join(f"{_clip(x / width):.6f} {_clip(y / height):.6f}" for x, y in ring)
                lines.append(f"{index} {coordinates}")
            continue
        box = box_of(shape.points, shape.rotation)  # a rotated rectangle: its axis-aligned hull
        if box is None:
            continue
        x, y, w, h = box
        cx, cy = _clip((x + w / 2) / width), _clip((y + h / 2) / height)
        lines.append(f"{index} {cx:.6f} {cy:.6f} {_clip(w / width):.6f} {_clip(h / height):.6f}")
    return lines


# --- Pascal VOC: one document ----------------------------------------------------------------------


def _box(shape: Shape) -> str | None:
    """The `<bndbox>` (and `<polygon>`s) of a shape, None when it has no box."""
    # A rotated rectangle: VOC has no rotation, so its box is the turned box's axis-aligned hull.
    box = box_of(shape.points, shape.rotation)
    if box is None:
        return None
    x, y, w, h = box
    parts = [
        f"<bndbox><xmin>{math.floor(x)}</xmin><ymin>{math.floor(y)}</ymin>"
        f"<xmax>{math.ceil(x + w)}</xmax><ymax>{math.ceil(y + h)}</ymax></bndbox>"
    ]
    if shape.type != EntryType.RECTANGLE:
        for ring in rings_of(shape.type, shape.points):
            points = "".join(f"<point><x>{px:g}</x><y>{py:g}</y></point>" for px, py in ring)
            parts.append(f"<polygon>{points}</polygon>" if points else "<polygon />")
    return "".join(parts)


def _attributes(shape: Shape) -> str:
    flat = answers_flat(shape.answers)
    if not flat:
        return ""
    attributes = "".join(
        "<attribute>"
        + _text("name", name)
        + _text("value", "|".join(value) if isinstance(value, list) else ("" if value is None else value))
        + "</attribute>"
        for name, value in flat.items()
    )
    return f"<attributes>{attributes}</attributes>"


def voc_document(item: ExportItem, file_name: str) -> bytes:
    parts = [DECLARATION, "<annotation><folder>JPEGImages</folder>", _text("filename", file_name)]
    if item.media_url:
        parts.append(_text("path", item.media_url))
    parts.append(
        "<source><database>Labelsite</database></source>"
        f"<size><width>{item.width or 0}</width><height>{item.height or 0}</height><depth>3</depth></size>"
        "<segmented>0</segmented>"
    )
    for shape in item.annotation.shapes:
        if shape.type not in BOX_TYPES:
            continue
        box = _box(shape)
        if box is None:
            continue
        parts.append("<object>" + _text("name", shape.key))
        parts.append("<pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>")
        if shape.source == LabelSource.PREDICTION and shape.score is not None:
            parts.append(_text("score", shape.score))
        parts.append(box)
        parts.append(_attributes(shape))
        for child in shape.children:
            if child.type not in BOX_TYPES:
                continue
            child_box = _box(child)
            if child_box is not None:
                parts.append("<part>" + _text("name", child.key) + child_box + _attributes(child) + "</part>")
        parts.append("</object>")
    parts.append("</annotation>")
    return "".join(parts).encode("utf-8")


def archive_entries(source: ExportSource, folder: str, extension: str, document: Any) -> list[tuple[str, bytes]]:
    """The per-media entries of an archive (YOLO, VOC) as they were: `(name, bytes)` in order."""
    names = UniqueNames()
    entries = []
    for chunk in source.chunks():
        for item in chunk:
            file_stem = names.take(stem(item.media_name), extension)[: -len(extension) - 1]
            entries.append((f"{folder}/{file_stem}.{extension}", document(item, file_stem)))
    return entries


def yolo_file(source: ExportSource, *, segments: bool, obb: bool, types: frozenset[str]) -> Any:
    class_index = {str(entry.id): index for index, entry in enumerate(source.config.geometry_classes(set(types)))}

    def document(item: ExportItem, file_stem: str) -> bytes:
        if not item.width or not item.height:
            return b""
        lines = _lines(item, class_index, segments=segments, obb=obb)
        return "".join(f"{line}\n" for line in lines).encode()

    return document


def voc_file(item: ExportItem, file_stem: str) -> bytes:
    return voc_document(item, item.media_name)


YOLO_DETECT = frozenset({EntryType.RECTANGLE, EntryType.POLYGON, EntryType.SEGMENTATION})
YOLO_OBB = frozenset({EntryType.RECTANGLE})
