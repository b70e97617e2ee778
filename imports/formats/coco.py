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
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from imports.formats.export_base import (
    ExportFormat,
    ExportSource,
    answers_flat,
    box_of,
    points_flat,
    polygon_area,
    rings_of,
)
from labeling.annotation import Shape
from labeling.models import LabelSource
from projects.models import EntryType

AREA_TYPES = frozenset({EntryType.RECTANGLE, EntryType.POLYGON, EntryType.SEGMENTATION})
COPY_BLOCK = 1 << 20


def _category(index: int, entry: Any, parent_key: str) -> dict[str, Any]:
    category: dict[str, Any] = {"id": index, "name": entry.key, "supercategory": parent_key, "type": entry.type}
    if entry.type == EntryType.POINT:
        category["keypoints"] = [entry.key]
        category["skeleton"] = []
    return category


def _annotation(
    shape: Shape, *, annotation_id: int, image_id: int, category_id: int, parent_id: int | None
) -> dict[str, Any]:
    box = box_of(shape.points)
    bbox = [box[0], box[1], box[2], box[3]] if box is not None else [0, 0, 0, 0]
    annotation: dict[str, Any] = {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": category_id,
        "iscrowd": 0,
        "bbox": bbox,
    }
    if shape.type in AREA_TYPES:
        rings = rings_of(shape.type, shape.points)
        annotation["segmentation"] = [[c for point in ring for c in point] for ring in rings]
        annotation["area"] = bbox[2] * bbox[3] if shape.type == EntryType.RECTANGLE else sum(map(polygon_area, rings))
    else:
        pairs = list(points_flat(shape.points))
        annotation["segmentation"] = []
        annotation["area"] = 0
        annotation["keypoints"] = [v for x, y in pairs for v in (x, y, 2)]
        annotation["num_keypoints"] = len(pairs)
    annotation["attributes"] = answers_flat(shape.answers)
    if parent_id is not None:
        annotation["parent_id"] = parent_id
    if shape.source == LabelSource.PREDICTION:
        annotation["score"] = shape.score
        annotation["model_version"] = shape.model_version
    return annotation


def coco_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    config = source.config
    classes = config.geometry_classes()
    category_ids = {str(entry.id): index for index, entry in enumerate(classes, start=1)}
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
    out.write(orjson.dumps(header)[:-1] + b',"images":[')
    image_id = 0
    annotation_id = 0
    with tempfile.TemporaryFile() as annotations:
        for chunk in source.chunks():
            images: list[bytes] = []
            written: list[bytes] = []
            for item in chunk:
                image_id += 1
                image = {
                    "id": image_id,
                    "file_name": item.media_name,
                    "width": item.width or 0,
                    "height": item.height or 0,
                    "coco_url": item.media_url,
                    "media_id": str(item.media_id),
                    "task_id": str(item.task_id),
                    "attributes": answers_flat(item.annotation.answers),
                }
                images.append(orjson.dumps(image))
                stack: list[tuple[Shape, int | None]] = [(shape, None) for shape in reversed(item.annotation.shapes)]
                while stack:
                    shape, parent = stack.pop()
                    category_id = category_ids.get(shape.entry_id or "")
                    if category_id is None:
                        continue
                    annotation_id += 1
                    written.append(
                        orjson.dumps(
                            _annotation(
                                shape,
                                annotation_id=annotation_id,
                                image_id=image_id,
                                category_id=category_id,
                                parent_id=parent,
                            )
                        )
                    )
                    stack.extend((child, annotation_id) for child in reversed(shape.children))
            if images:
                out.write((b"," if image_id > len(images) else b"") + b",".join(images))
            if written:
                annotations.write((b"," if annotations.tell() else b"") + b",".join(written))
            yield
        out.write(b'],"annotations":[')
        annotations.seek(0)
        while block := annotations.read(COPY_BLOCK):
            out.write(block)
            yield
    out.write(b"]}")


EXPORT_FORMAT = ExportFormat(
    name="coco",
    label="COCO JSON",
    description="COCO detection JSON: images, categories from the geometry classes, annotations with bbox, "
    "area and segmentation polygons; answers as attributes.",
    extension="json",
    content_type="application/json",
    write=coco_write,
)
