"""COCO object detection JSON (https://cocodataset.org/#format-data), written as a stream.

- `categories`: the geometry classes of the configuration (nested ones included), ids from 1
  in tree order, `supercategory` the parent class's key; point classes carry `keypoints`.
- `images`: one per task, `id` from 1, `file_name` the media name, `width`, `height`,
  `coco_url` the media's URL, and the task's global answers as `attributes`.
- `annotations`: one per geometry. Rectangles, polygons and segmentations have a `bbox`
  `[x, y, w, h]`, `area` (the polygon area; a rectangle's w * h) and `segmentation`
  polygons `[[x1, y1, x2, y2, ...], ...]`; points and lines have their bounding box, area 0,
  an empty `segmentation` and the points as `keypoints` `[x, y, 2, ...]`. The answers to
  the class's questions are `attributes` (`{"car_type": "suv", "weather.daytime": "day"}`),
  a nested geometry names its parent annotation in `parent_id`, and a prediction carries
  `score`.

The images are written as the tasks are read; the annotations go to a temporary file on
the side and are appended at the end, so one pass over the database suffices and memory
stays flat.
"""

from __future__ import annotations

import tempfile
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from formats.writing import (
    ExportFormat,
    ExportParts,
    ExportSource,
    LabelRow,
    PartStart,
    TaskRows,
    label_tree,
    parts_copy,
    points_flat,
    polygon_area,
    rings_of,
)
from labeling.models import LabelSource
from projects.models import EntryType

AREA_TYPES = frozenset({EntryType.RECTANGLE, EntryType.POLYGON, EntryType.SEGMENTATION})
# Plain strings: looking a member up on an enum class costs more than the comparison, a million times.
_RECTANGLE = EntryType.RECTANGLE.value
_POLYGON = EntryType.POLYGON.value
_SEGMENTATION = EntryType.SEGMENTATION.value
_PREDICTION = LabelSource.PREDICTION.value
COPY_BLOCK = 1 << 20


def _category(index: int, entry: Any, parent_key: str) -> dict[str, Any]:
    category: dict[str, Any] = {"id": index, "name": entry.key, "supercategory": parent_key, "type": entry.type}
    if entry.type == EntryType.POINT:
        category["keypoints"] = [entry.key]
        category["skeleton"] = []
    return category


class _Annotations:
    """Writes COCO images and annotations from tasks as read (`TaskRows`), with the categories
    and, per class, its category id, type and questions looked up once."""

    def __init__(self, source: ExportSource) -> None:
        config = source.config
        classes = config.geometry_classes()
        self.category_ids = {str(entry.id): index for index, entry in enumerate(classes, start=1)}
        self.types = {str(entry.id): entry.type for entry in config.entries}
        self.question_keys = {
            str(entry.id): frozenset(q.key for q in config.questions_of(entry.id)) for entry in config.entries
        }

    def chunk(self, chunk: list[TaskRows], image_id: int, annotation_id: int) -> tuple[bytes, list[bytes], int]:
        """The chunk's images (JSON, separated by commas), its annotations (the same, one piece per
        task that has any) and the last annotation id used.

        One `orjson.dumps` per task rather than per annotation: each result takes at least 4 KiB,
        which made a chunk's annotations ten times their size."""
        dumps = orjson.dumps
        images: list[dict[str, Any]] = []
        written: list[bytes] = []
        category_ids = self.category_ids
        annotation = self.annotation
        for task in chunk:
            image_id += 1
            images.append(
                {
                    "id": image_id,
                    "file_name": task.media_name,
                    "width": task.width or 0,
                    "height": task.height or 0,
                    "coco_url": task.media_url,
                    "media_id": str(task.media_id),
                    "task_id": str(task.task_id),
                    "attributes": _answers_flat(task.answers),
                }
            )
            stack: list[tuple[tuple[LabelRow, list[Any]], int | None]] = [
                (node, None) for node in reversed(label_tree(task.labels))
            ]
            annotations: list[dict[str, Any]] = []
            while stack:
                (label, children), parent = stack.pop()
                category_id = category_ids.get(label.entry_id)
                if category_id is None:
                    continue
                annotation_id += 1
                annotations.append(annotation(label, annotation_id, image_id, category_id, parent))
                if children:
                    stack.extend((child, annotation_id) for child in reversed(children))
            if annotations:
                written.append(dumps(annotations)[1:-1])
        return dumps(images)[1:-1], written, annotation_id

    def annotation(
        self, label: LabelRow, annotation_id: int, image_id: int, category_id: int, parent_id: int | None
    ) -> dict[str, Any]:
        shape_type = self.types[label.entry_id]
        points = label.points
        pairs = _pairs(points) if shape_type != _SEGMENTATION else list(points_flat(points))
        if pairs:
            xs = [x for x, _ in pairs]
            ys = [y for _, y in pairs]
            x0, y0 = min(xs), min(ys)
            bbox: list[float] = [x0, y0, max(xs) - x0, max(ys) - y0]
        else:
            bbox = [0, 0, 0, 0]
        annotation: dict[str, Any] = {
            "id": annotation_id,
            "image_id": image_id,
            "category_id": category_id,
            "iscrowd": 0,
            "bbox": bbox,
        }
        if shape_type == _RECTANGLE:
            if len(pairs) >= 2:
                (x1, y1), (x2, y2) = pairs[0], pairs[1]
                x1, x2 = (x1, x2) if x1 <= x2 else (x2, x1)
                y1, y2 = (y1, y2) if y1 <= y2 else (y2, y1)
                annotation["segmentation"] = [[x1, y1, x2, y1, x2, y2, x1, y2]]
            else:
                annotation["segmentation"] = []
            annotation["area"] = bbox[2] * bbox[3]
        elif shape_type in AREA_TYPES:
            # A polygon's ring is its pairs (as `rings_of` would make them).
            polygon = shape_type == _POLYGON
            rings = ([pairs] if len(pairs) >= 3 else []) if polygon else rings_of(shape_type, points)
            annotation["segmentation"] = [[c for point in ring for c in point] for ring in rings]
            annotation["area"] = sum(map(polygon_area, rings))
        else:
            annotation["segmentation"] = []
            annotation["area"] = 0
            annotation["keypoints"] = [v for x, y in pairs for v in (x, y, 2)]
            annotation["num_keypoints"] = len(pairs)
        annotation["attributes"] = _answers_flat(label.answers)
        if parent_id is not None:
            annotation["parent_id"] = parent_id
        if label.source == _PREDICTION:
            annotation["score"] = label.score
            annotation["model_version"] = label.model_version
        return annotation


def _pairs(points: Any) -> list[tuple[float, float]]:
    """The `(x, y)` pairs of a point list as `points_flat` gives them, quickly when it is well formed."""
    if type(points) is list:
        try:
            pairs = [(float(x), float(y)) for x, y in points if type(x) in _NUMBER and type(y) in _NUMBER]
        except (TypeError, ValueError):
            pass
        else:
            if len(pairs) == len(points):
                return pairs
    return list(points_flat(points))


_NUMBER = (int, float)


def _answers_flat(tree: dict[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """A stored answer tree as `answers_flat` flattens its answers."""
    flat: dict[str, Any] = {}
    if not tree:
        return flat
    for key, node in tree.items():
        name = f"{prefix}{key}"
        flat[name] = node.get("value")
        children = node.get("answers")
        if children:
            flat.update(_answers_flat(children, prefix=f"{name}."))
    return flat


def _header(source: ExportSource) -> bytes:
    config = source.config
    classes = config.geometry_classes()
    keys_by_id: dict[Any, str] = {entry.id: entry.key for entry in config.entries}
    categories = [
        _category(index, entry, keys_by_id.get(entry.parent_id, "")) for index, entry in enumerate(classes, start=1)
    ]
    header = {
        "info": {
            "description": "Labelsite export",
            "date_created": datetime.now(tz=UTC).isoformat(),
            "version": "1.0",
        },
        "licenses": [],
        "categories": categories,
    }
    return orjson.dumps(header)[:-1]


def coco_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    out.write(_header(source) + b',"images":[')
    with tempfile.TemporaryFile() as annotations:
        count = yield from coco_write_part(source, out, annotations, PartStart())
        out.write(b'],"annotations":[')
        if count:
            yield from parts_copy([annotations], out, COPY_BLOCK)
    out.write(b"]}")


def coco_write_part(
    source: ExportSource, out: IO[bytes], side: IO[bytes], start: PartStart
) -> Generator[None, None, int]:
    """The images of a slice of the tasks to `out` and their annotations to `side` (elements separated
    by commas), ids counted on from `start`; returns the number of annotations."""
    writer = _Annotations(source)
    image_id = start.tasks
    annotation_id = start.labels
    for chunk in source.rows():
        images, written, last = writer.chunk(chunk, image_id, annotation_id)
        if chunk:
            out.write((b"," if image_id > start.tasks else b"") + images)
        if written:
            side.write((b"," if annotation_id > start.labels else b"") + b",".join(written))
        image_id += len(chunk)
        annotation_id = last
        yield
    return annotation_id - start.labels


def coco_join(source: ExportSource, parts: list[tuple[IO[bytes], IO[bytes]]], out: IO[bytes]) -> Iterator[None]:
    out.write(_header(source) + b',"images":[')
    yield from parts_copy([images for images, _ in parts], out, COPY_BLOCK)
    out.write(b'],"annotations":[')
    yield from parts_copy([annotations for _, annotations in parts], out, COPY_BLOCK)
    out.write(b"]}")


EXPORT_FORMAT = ExportFormat(
    name="coco",
    label="COCO JSON",
    description="COCO detection JSON: images, categories from the geometry classes, annotations with bbox, "
    "area and segmentation polygons; answers as attributes.",
    extension="json",
    content_type="application/json",
    write=coco_write,
    parts=ExportParts(write=coco_write_part, join=coco_join, needs_label_offsets=True),
)
