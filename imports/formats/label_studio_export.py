"""Label Studio JSON and JSON_MIN exports (the writers of the `label_studio` format).

To merge into `imports/formats/label_studio.py` (its reader) so that the format lives in
one module; kept apart while both were written at the same time.

The labeling configuration these results fit: `<Image name="image" value="$image"/>`, one
labels control per geometry type (`rectangle` RectangleLabels, `polygon` PolygonLabels,
`line` PolygonLabels with `closed: false`, `keypoint` KeyPointLabels, `segmentation`
PolygonLabels, one region per ring) whose label values are our class keys, and one
`Choices` / `TextArea` per question, named by its key. Coordinates are percentages of
`original_width` / `original_height` (the media's size in pixels). A region's answers are
results with the region's `id`; a nested geometry names its parent in `parentID`.

- JSON: one task per media, `{"id", "data": {"image", ...}, "annotations": [one, with our
  labels and the global answers], "predictions": [one per model version, with its shapes,
  per-region `score` and the mean as `score`]}` (predictions only when asked for).
- JSON_MIN: Label Studio's flat form, one object per task: `image`, `id`, then per control
  name its value (a list of regions; a choice alone as a string), `annotator`,
  `annotation_id`, `created_at`, `updated_at`. Predictions are not part of JSON_MIN.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import IO, Any

import orjson

from imports.formats.export_base import ExportFormat, ExportItem, ExportSource, points_flat
from labeling.annotation import Answer, Shape
from labeling.models import LabelSource, TaskState
from projects.models import EntryType

TO_NAME = "image"
#: Our geometry type -> (control name, result type).
CONTROLS: dict[str, tuple[str, str]] = {
    EntryType.RECTANGLE: ("rectangle", "rectanglelabels"),
    EntryType.POLYGON: ("polygon", "polygonlabels"),
    EntryType.LINE: ("line", "polygonlabels"),
    EntryType.POINT: ("keypoint", "keypointlabels"),
    EntryType.SEGMENTATION: ("segmentation", "polygonlabels"),
}


class _Results:
    """Builds the results of one annotation or prediction, numbering regions within the task."""

    def __init__(self, item: ExportItem, counter: list[int], types: dict[str, str]) -> None:
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
            value: dict[str, Any] = {"x": left, "y": top, "width": right - left, "height": bottom - top, "rotation": 0}
            region_ids.append(self._region(shape, result_type, control, value, parent_id))
        elif shape.type == EntryType.POINT and pairs:
            x, y = self._pct(*pairs[0])
            region_ids.append(self._region(shape, result_type, control, {"x": x, "y": y}, parent_id))
        elif shape.type in (EntryType.POLYGON, EntryType.LINE) and pairs:
            value = {"points": [self._pct(x, y) for x, y in pairs], "closed": shape.type == EntryType.POLYGON}
            region_ids.append(self._region(shape, result_type, control, value, parent_id))
        elif shape.type == EntryType.SEGMENTATION and isinstance(shape.points, list):
            for ring in shape.points:
                ring_pairs = list(points_flat(ring)) if isinstance(ring, list) else []
                if ring_pairs:
                    value = {"points": [self._pct(x, y) for x, y in ring_pairs], "closed": True}
                    region_ids.append(self._region(shape, result_type, control, value, parent_id))
        for region_id in region_ids[:1]:
            for answer in _answers_flat(shape.answers):
                self.answer(answer, region_id)
            for child in shape.children:
                self.shape(child, region_id)

    def answer(self, answer: Answer, region_id: str | None = None) -> None:
        value = answer.value
        if value is None or value == []:
            return
        if isinstance(value, list):
            result_type, content = "choices", {"choices": [v for v in value if isinstance(v, str)]}
        elif self.types.get(answer.key) == EntryType.FREETEXT:
            result_type, content = "textarea", {"text": [value]}
        else:
            result_type, content = "choices", {"choices": [value]}
        result: dict[str, Any] = {
            "id": region_id or self._next_id(),
            "type": result_type,
            "from_name": answer.key,
            "to_name": TO_NAME,
            "value": content,
        }
        if region_id is not None:
            result["original_width"] = int(self.width) if self.width else None
            result["original_height"] = int(self.height) if self.height else None
        self.results.append(result)


def _answers_flat(answers: list[Answer]) -> Iterator[Answer]:
    """Every answer of a tree (child answers too; Label Studio's controls are flat)."""
    for answer in answers:
        yield answer
        yield from _answers_flat(answer.answers)


def _task(item: ExportItem, source: ExportSource, types: dict[str, str]) -> dict[str, Any]:
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
    for answer in _answers_flat(item.annotation.answers):
        annotation.answer(answer)
    updated = item.updated_at.isoformat() if item.updated_at else None
    task: dict[str, Any] = {
        "id": str(item.task_id),
        "data": {"image": item.media_url or item.media_name, "media_id": str(item.media_id), "name": item.media_name},
        "annotations": [
            {
                "id": str(item.task_id),
                "completed_by": item.assignee_id,
                "result": annotation.results,
                "was_cancelled": item.state == TaskState.SKIPPED,
                "ground_truth": False,
                "created_at": updated,
                "updated_at": updated,
                "lead_time": None,
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
        "meta": {"state": item.state},
    }
    return task


def _question_types(source: ExportSource) -> dict[str, str]:
    return {entry.key: entry.type for entry in source.config.entries if not entry.is_geometry}


def label_studio_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    """Label Studio's JSON: a list of tasks with `annotations` (and `predictions` when asked for)."""
    types = _question_types(source)
    out.write(b"[")
    first = True
    for chunk in source.chunks():
        parts = []
        for item in chunk:
            parts.append((b"" if first else b",") + orjson.dumps(_task(item, source, types)))
            first = False
        out.write(b"".join(parts))
        yield
    out.write(b"]")


def _minimal(task: dict[str, Any]) -> dict[str, Any]:
    """One task in Label Studio's JSON_MIN shape (as its converter writes it)."""
    annotation = task["annotations"][0]
    row: dict[str, Any] = {"image": task["data"]["image"], "id": task["id"]}
    for result in annotation["result"]:
        name = result["from_name"]
        value = dict(result["value"])
        if result["type"] == "choices":
            choices = value["choices"]
            entry: Any = choices[0] if len(choices) == 1 else {"choices": choices}
        elif result["type"] == "textarea":
            texts = value["text"]
            entry = texts[0] if len(texts) == 1 else texts
        else:
            value["original_width"] = result.get("original_width")
            value["original_height"] = result.get("original_height")
            entry = value
        if name in row:
            if not isinstance(row[name], list) or result["type"] in ("choices", "textarea"):
                row[name] = [row[name]] if not isinstance(row[name], list) else row[name]
            row[name].append(entry)
        else:
            row[name] = [entry] if result["type"] not in ("choices", "textarea") else entry
    row["annotator"] = annotation["completed_by"]
    row["annotation_id"] = annotation["id"]
    row["created_at"] = annotation["created_at"]
    row["updated_at"] = annotation["updated_at"]
    row["lead_time"] = None
    return row


def label_studio_min_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    """Label Studio's JSON_MIN: one flat object per task (annotations only)."""
    types = _question_types(source)
    out.write(b"[")
    first = True
    for chunk in source.chunks():
        parts = []
        for item in chunk:
            parts.append((b"" if first else b",") + orjson.dumps(_minimal(_task(item, source, types))))
            first = False
        out.write(b"".join(parts))
        yield
    out.write(b"]")


EXPORT_FORMATS = (
    ExportFormat(
        name="label_studio",
        label="Label Studio JSON",
        description="Label Studio tasks with one annotation each (and predictions when asked for); "
        "percent coordinates with original_width/height.",
        extension="json",
        content_type="application/json",
        write=label_studio_write,
    ),
    ExportFormat(
        name="label_studio_min",
        label="Label Studio JSON_MIN",
        description="Label Studio's flat JSON_MIN: one object per task, its regions and answers by control name.",
        extension="json",
        content_type="application/json",
        write=label_studio_min_write,
    ),
)
