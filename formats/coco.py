"""COCO object detection JSON (https://cocodataset.org/#format-data), written as a stream.

- `categories`: the geometry classes of the configuration (nested ones included), ids from 1
  in tree order, `supercategory` the parent class's key; point classes carry `keypoints`.
- `images`: one per task, `id` from 1, `file_name` the media name, `width`, `height`,
  `coco_url` the media's URL, the task's global answers as `attributes`, and what an import
  stored with the media as `extra: {metadata, attachments}` (when there is any).
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

Reading (`FORMAT`): any COCO instances file (`{"images", "annotations", "categories"}`), e.g.
Label Studio's COCO export (`result.json`) or pycocotools' own. One item per image, in the
order of `images`; its annotations are those whose `image_id` is its `id`. What becomes what,
by the type of the configuration's root class whose key is the category's `name`
(case-insensitive):

- a rectangle class: the `bbox`;
- a polygon class: each polygon part of `segmentation` is a polygon; an RLE mask (`iscrowd`)
  is traced, one polygon per region (holes are lost); no segmentation: the box's corners;
- a segmentation class: the parts (or the traced RLE mask) as one segmentation;
- a point class: each visible keypoint (`v > 0`), and keypoints whose name (the category's
  `keypoints`) is a point class go to that class.

Our own export's extras are read back: a line class's keypoints as the line, `parent_id`
(nesting), and `attributes` (answers of the annotation's shape or of the image, by question key
path; names that are no question, like CVAT's `occluded`, are passed over).

Images are matched to media by name: the base name of `file_name` (`images/abc.jpg`,
`../data/abc.jpg` and `https://host/abc.jpg` are all `abc.jpg`), and when no media has that
name, the name without Label Studio's upload prefix (`/data/upload/3/1a2b3c4d-abc.jpg` and
`images/1a2b3c4d-abc.jpg` find `abc.jpg`). Two images of the file with one base name are an error.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import orjson

from formats.codecs.coco_rle import CocoRleError, rle_decode
from formats.codecs.mask_polygons import mask_segmentation
from formats.reading import (
    Converted,
    FileError,
    ImportFormat,
    ItemSchema,
    RawItem,
    not_utf8_check,
    not_utf8_error,
    pointer,
    pointer_escape,
)
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
from labeling.annotation import Answer, MediaAnnotation, MediaRef, Shape, rectangle_corners, rectangle_hull
from labeling.models import LabelSource
from labelsite.errors import ErrorDetail
from labelsite.jsondepth import DepthGuard, JsonTooDeep
from projects.label_config import IndexedEntry, LabelConfigIndex
from projects.models import GEOMETRY_TYPES, EntryType

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
            image: dict[str, Any] = {
                "id": image_id,
                "file_name": task.media_name,
                "width": task.width or 0,
                "height": task.height or 0,
                "coco_url": task.media_url,
                "media_id": str(task.media_id),
                "task_id": str(task.task_id),
                "attributes": _answers_flat(task.answers),
            }
            if task.metadata or task.attachments:
                # COCO has no place for them; `extra` is ignored by COCO tools (pycocotools, FiftyOne).
                image["extra"] = {"metadata": task.metadata, "attachments": task.attachments}
            images.append(image)
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
        if shape_type == _RECTANGLE and label.rotation and len(pairs) >= 2:
            # COCO has no rotation: the bbox is the turned box's axis-aligned hull, the
            # segmentation its 4 turned corners, the area its own (w x h).
            x, y, w, h = rectangle_hull(pairs[:2], label.rotation)
            annotation["bbox"] = [x, y, w, h]
            corners = rectangle_corners(pairs[:2], label.rotation)
            annotation["segmentation"] = [[c for point in corners for c in point]]
            (x1, y1), (x2, y2) = pairs[0], pairs[1]
            annotation["area"] = abs(x2 - x1) * abs(y2 - y1)
        elif shape_type == _RECTANGLE:
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
    needs_media_size=True,
)


# --- reading ------------------------------------------------------------------------------

#: Label Studio's prefixes of a file name: an upload's `1a2b3c4d-`, and the converter's
#: `1a2b3c4d__` on an image it downloads.
_TOOL_PREFIX = re.compile(r"^[0-9a-f]{8}(-|__)")
#: What every error about the categories ends with.
_CATEGORY_FIX = (
    "Add a geometry class with that name to the label configuration (rectangle for boxes, polygon or "
    "segmentation for segmentations, point for keypoints), or rename the category in the file."
)


def _file_error(path: str, code: str, message: str) -> FileError:
    return FileError(ErrorDetail(path=path, code=code, message=message))


def coco_media_names(file_name: str) -> tuple[str, str | None]:
    """The media name an image's `file_name` matches, and the name to try when none has it (the
    base name without Label Studio's upload prefix `1a2b3c4d-`), else None."""
    base = unquote(PurePosixPath(urlsplit(file_name).path.replace("\\", "/")).name) or file_name
    stripped = _TOOL_PREFIX.sub("", base)
    return base, (stripped if stripped != base and stripped else None)


def read(file: IO[bytes]) -> Iterator[RawItem]:
    """The file's images, each with its annotations and the categories (one item per image)."""
    body = file.read()
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    not_utf8_check(body[:4])
    try:
        DepthGuard().feed(body)
        data = json.loads(body)
    except JsonTooDeep as exc:
        message = f"The file nests deeper than {exc.limit} levels."
        raise _file_error(f"byte {exc.offset}", "json_too_deep", message) from exc
    except UnicodeDecodeError as exc:
        raise not_utf8_error(f"at byte {exc.start}", f"byte {exc.start}") from exc
    except ValueError as exc:
        raise _file_error("file", "json_syntax", f"The file is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise _file_error("", "not_coco", "A COCO file is one JSON object with images, annotations and categories.")
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(data.get(key), list)]
    if missing:
        raise _file_error(
            pointer(missing[0]),
            "not_coco",
            f"A COCO instances file has the lists images, annotations and categories; this one lacks "
            f"{', '.join(missing)}. Export the instances (detection) file of the dataset.",
        )
    categories: dict[Any, tuple[int, dict[str, Any]]] = {}
    for position, category in enumerate(data["categories"]):
        if not isinstance(category, dict) or not isinstance(category.get("name"), str) or "id" not in category:
            raise _file_error(pointer("categories", position), "invalid_category", "A category has an id and a name.")
        categories[category["id"]] = (position, category)
    by_image: dict[Any, list[tuple[int, Any]]] = {}
    for position, annotation in enumerate(data["annotations"]):
        image_id = annotation.get("image_id") if isinstance(annotation, dict) else None
        by_image.setdefault(image_id, []).append((position, annotation))
    known = {image.get("id") for image in data["images"] if isinstance(image, dict)}
    for image_id, found in by_image.items():
        if image_id not in known:
            raise _file_error(
                pointer("annotations", found[0][0], "image_id"),
                "unknown_image",
                f"The annotation names the image id {image_id!r}, which no entry of images has; add the image "
                "or remove its annotations.",
            )
    images: dict[Any, int] = {}
    #: Per file name, the positions of its images: Label Studio's converter lists an image once
    #: per annotation (each annotator's labels under an image id of their own).
    by_file: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for position, image in enumerate(data["images"]):
        if not isinstance(image, dict) or not isinstance(image.get("file_name"), str) or "id" not in image:
            raise _file_error(pointer("images", position), "invalid_image", "An image has an id and a file_name.")
        first = images.get(image["id"])
        if first is not None and data["images"][first]["file_name"] != image["file_name"]:
            raise _file_error(
                pointer("images", position, "id"),
                "duplicate_image_id",
                f"The image id {image['id']!r} is used by /images/{first} too; give each image its own id.",
            )
        images.setdefault(image["id"], position)
        base, _ = coco_media_names(image["file_name"])
        other = names.setdefault(base.lower(), image["file_name"])
        if other != image["file_name"]:
            raise _file_error(
                pointer("images", position, "file_name"),
                "ambiguous_file_name",
                f"The images {other!r} and {image['file_name']!r} have the same name {base!r}, and media are "
                "matched by name; rename one of them (and its media) so that every image has its own name.",
            )
        by_file.setdefault(image["file_name"], []).append(position)
    for index, positions in enumerate(by_file.values()):
        ids = dict.fromkeys(data["images"][position]["id"] for position in positions)
        found = sorted((pair for image_id in ids for pair in by_image.pop(image_id, [])), key=lambda p: p[0])
        sized = [data["images"][p] for p in positions if data["images"][p].get("width")]
        yield RawItem(
            index=index,
            location=pointer("images", positions[0]),
            data={
                "image": sized[0] if sized else data["images"][positions[0]],
                "image_at": positions[0],
                "annotations": found,
                "categories": categories,
            },
        )


def sniff(head: bytes) -> bool:
    """A JSON object with COCO's lists (Label Studio tasks are a list, or an object with data)."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return text.startswith(b"{") and b'"data"' not in text[:4096] and bool(_COCO_KEYS.search(text[:4096]))


_COCO_KEYS = re.compile(rb'"(images|categories)"\s*:\s*\[')


class _Shapes:
    """One image's annotations as shapes of the configuration's classes, with located errors."""

    def __init__(self, config: LabelConfigIndex, width: int, height: int) -> None:
        self.config = config
        self.width, self.height = width, height
        self.errors: list[ErrorDetail] = []

    def class_of(self, name: Any, parent: IndexedEntry | None = None) -> IndexedEntry | None:
        """The geometry class named `name`: a root class, or one nested in `parent`'s class."""
        key = str(name).lower()
        entry = self.config.child(parent.id, key) if parent is not None else self.config.root(key)
        return entry if entry is not None and entry.type in GEOMETRY_TYPES else None

    def numbers(self, value: Any, count: int | None, path: str, what: str) -> list[float] | None:
        ok = isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        if not ok or (count is not None and len(value) != count):
            size = f"{count} numbers" if count is not None else "numbers"
            self.errors.append(ErrorDetail(path, "invalid_" + what, f"The {what} is a list of {size}."))
            return None
        return [float(v) for v in value]

    def rings(self, segmentation: Any, path: str) -> list[list[list[float]]] | None:
        """The segmentation's rings in pixels: its polygon parts, or its RLE mask traced."""
        if isinstance(segmentation, list):
            rings: list[list[list[float]]] = []
            for part, flat in enumerate(segmentation):
                numbers = self.numbers(flat, None, f"{path}/{part}", "segmentation")
                if numbers is None:
                    return None
                if len(numbers) < 6 or len(numbers) % 2:
                    self.errors.append(
                        ErrorDetail(
                            f"{path}/{part}",
                            "invalid_segmentation",
                            f"A polygon part is x, y pairs of at least 3 points; this one has {len(numbers)} numbers.",
                        )
                    )
                    return None
                rings.append([[numbers[i], numbers[i + 1]] for i in range(0, len(numbers), 2)])
            return rings
        if isinstance(segmentation, dict):
            size, counts = segmentation.get("size"), segmentation.get("counts")
            if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
                self.errors.append(ErrorDetail(f"{path}/size", "invalid_rle", "An RLE's size is [height, width]."))
                return None
            height, width = size
            if not isinstance(counts, str | list):
                self.errors.append(
                    ErrorDetail(f"{path}/counts", "invalid_rle", "An RLE's counts is a string or a list.")
                )
                return None
            try:
                mask = rle_decode(counts, width=width, height=height)
            except (CocoRleError, TypeError, ValueError) as exc:
                self.errors.append(
                    ErrorDetail(f"{path}/counts", "invalid_rle", f"The RLE does not decode: {exc}. Export it again.")
                )
                return None
            return mask_segmentation(mask)
        self.errors.append(
            ErrorDetail(path, "invalid_segmentation", "A segmentation is a list of polygons or an RLE {size, counts}.")
        )
        return None

    def box(self, annotation: dict[str, Any], path: str) -> list[float] | None:
        return self.numbers(annotation.get("bbox"), 4, f"{path}/bbox", "bbox")

    def shapes(
        self,
        annotation: Any,
        category: dict[str, Any],
        path: str,
        category_at: int,
        parent: IndexedEntry | None = None,
    ) -> list[Shape]:
        if not isinstance(annotation, dict):
            self.errors.append(ErrorDetail(path, "invalid_annotation", "An annotation is a JSON object."))
            return []
        entry = self.class_of(category["name"], parent)
        keypoint_names: list[Any] = category["keypoints"] if isinstance(category.get("keypoints"), list) else []
        made: list[Shape] = []
        keypoints = annotation.get("keypoints")
        if isinstance(keypoints, list) and any(keypoints[2::3]) and entry is not None and entry.type == EntryType.LINE:
            # A line class: its points in order (what our export writes for a line, COCO having none).
            return self.line(keypoints, entry, f"{path}/keypoints")
        if isinstance(keypoints, list) and any(keypoints[2::3]):
            made += self.points(keypoints, keypoint_names, entry, f"{path}/keypoints", category, category_at, parent)
            if entry is None or entry.type == EntryType.POINT:
                return made
        if entry is None:
            supercategory = category.get("supercategory")
            within = f" (supercategory {supercategory!r})" if supercategory else ""
            self.errors.append(
                ErrorDetail(
                    f"{path}/category_id",
                    "unknown_category",
                    f"The category {category['name']!r}{within} at /categories/{category_at} is no geometry class "
                    f"of the label configuration. {_CATEGORY_FIX}",
                    params=(category["name"],),
                )
            )
            return made
        segmentation = annotation.get("segmentation")
        has_segmentation = bool(segmentation)
        if entry.type == EntryType.RECTANGLE or (not has_segmentation and entry.type != EntryType.POINT):
            box = self.box(annotation, path)
            if box is None:
                return made
            x, y, w, h = box
            corners = [[x, y], [x + w, y + h]]
            if entry.type == EntryType.RECTANGLE:
                points: Any = corners
            else:
                ring = [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
                points = [ring] if entry.type == EntryType.SEGMENTATION else ring
            made.append(Shape(key=entry.key, type=entry.type, points=points, entry_id=entry.id))
            return made
        if entry.type == EntryType.POINT:
            self.errors.append(
                ErrorDetail(
                    f"{path}/keypoints",
                    "no_keypoints",
                    f"The category {category['name']!r} is a point class here, but the annotation has no visible "
                    "keypoint; map the category to a rectangle or polygon class.",
                )
            )
            return made
        rings = self.rings(segmentation, f"{path}/segmentation")
        if rings is None:
            return made
        if entry.type == EntryType.SEGMENTATION:
            made.append(Shape(key=entry.key, type=entry.type, points=rings, entry_id=entry.id))
        elif entry.type == EntryType.POLYGON:
            shells = rings if isinstance(segmentation, list) else _shells(rings)
            made += [Shape(key=entry.key, type=entry.type, points=ring, entry_id=entry.id) for ring in shells]
        else:
            self.errors.append(
                ErrorDetail(
                    f"{path}/category_id",
                    "wrong_class_type",
                    f"The category {category['name']!r} is a {entry.type} class here; COCO has boxes, segmentations "
                    "and keypoints for it. Map it to a rectangle, polygon, segmentation or point class.",
                )
            )
        return made

    def points(
        self,
        keypoints: list[Any],
        names: list[Any],
        entry: IndexedEntry | None,
        path: str,
        category: dict[str, Any],
        category_at: int,
        parent: IndexedEntry | None = None,
    ) -> list[Shape]:
        numbers = self.numbers(keypoints, None, path, "keypoints")
        if numbers is None:
            return []
        if len(numbers) % 3:
            self.errors.append(ErrorDetail(path, "invalid_keypoints", "Keypoints are x, y, v triples."))
            return []
        made: list[Shape] = []
        for number in range(len(numbers) // 3):
            x, y, visible = numbers[3 * number : 3 * number + 3]
            if visible <= 0:
                continue
            name = names[number] if number < len(names) else None
            target = self.class_of(name, parent) if name is not None else None
            if target is None or target.type != EntryType.POINT:
                target = entry if entry is not None and entry.type == EntryType.POINT else None
            if target is None:
                shown = f"{name!r}" if name is not None else f"number {number}"
                self.errors.append(
                    ErrorDetail(
                        f"{path}/{3 * number}",
                        "unknown_keypoint",
                        f"The keypoint {shown} of the category {category['name']!r} (/categories/{category_at}) "
                        "is no point class of the label configuration. Add a point class with that name.",
                    )
                )
                continue
            made.append(Shape(key=target.key, type=EntryType.POINT, points=[[x, y]], entry_id=target.id))
        return made

    def line(self, keypoints: list[Any], entry: IndexedEntry, path: str) -> list[Shape]:
        numbers = self.numbers(keypoints, None, path, "keypoints")
        if numbers is None:
            return []
        if len(numbers) % 3:
            self.errors.append(ErrorDetail(path, "invalid_keypoints", "Keypoints are x, y, v triples."))
            return []
        points = [[numbers[i], numbers[i + 1]] for i in range(0, len(numbers), 3) if numbers[i + 2] > 0]
        if len(points) < 2:
            self.errors.append(
                ErrorDetail(
                    path,
                    "line_too_short",
                    f"The category {entry.key!r} is a line class: give it at least two visible keypoints.",
                )
            )
            return []
        return [Shape(key=entry.key, type=entry.type, points=points, entry_id=entry.id)]


def _attribute_answers(
    attributes: Any, config: LabelConfigIndex, parent_id: str | None, path: str, errors: list[ErrorDetail]
) -> list[Answer]:
    """The answers in an `attributes` object (what our export writes: `{"car_type": "suv",
    "weather.daytime": "day", "tags": ["a", "b"]}`, by question key path) to the questions of the
    class `parent_id` (None: the image's). A name that is no question is another tool's attribute
    (CVAT's `occluded`, `rotation`) and is passed over; a value that does not fit its question is
    an error at `path/<name>`."""
    if not isinstance(attributes, dict):
        return []
    roots: list[Answer] = []
    made: dict[str, Answer] = {}
    # Parents first: "weather" before "weather.daytime".
    for name in sorted((n for n in attributes if isinstance(n, str)), key=lambda n: n.count(".")):
        value = attributes[name]
        if value is None or value == []:
            continue
        *parents, last = name.split(".")
        holder_id, siblings = parent_id, roots
        for part in parents:
            answer = made.get(f"{holder_id}/{part}")
            if answer is None:
                break
            holder_id, siblings = _question_id(config, holder_id, part), answer.answers
        else:
            entry = _question(config, holder_id, last)
            if entry is None:
                continue
            answer_value = _attribute_value(entry, value)
            if answer_value is None:
                errors.append(
                    ErrorDetail(
                        f"{path}/{pointer_escape(name)}",
                        "invalid_attribute",
                        f"{value!r} is no answer of the question {entry.title!r}; "
                        f"use {', '.join(repr(o.key) for o in entry.options) or 'text'}.",
                    )
                )
                continue
            answer = Answer(key=entry.key, value=answer_value, schema_id=entry.schema_id)
            made[f"{holder_id}/{last}"] = answer
            siblings.append(answer)
    return roots


def _question(config: LabelConfigIndex, parent_id: str | None, key: str) -> IndexedEntry | None:
    entry = config.root(key.lower()) if parent_id is None else config.child(parent_id, key.lower())
    return entry if entry is not None and entry.is_classification else None


def _question_id(config: LabelConfigIndex, parent_id: str | None, key: str) -> str | None:
    entry = _question(config, parent_id, key)
    return entry.id if entry is not None else None


def _attribute_value(entry: IndexedEntry, value: Any) -> Any:
    """An attribute's value as the question's answer (option keys, by key or label), or None."""

    def option(given: Any) -> str | None:
        return next((o.key for o in entry.options if given in (o.key, o.label)), None)

    if entry.type == EntryType.FREETEXT:
        return value if isinstance(value, str) else None
    if entry.type == EntryType.CHECKLIST:
        keys = [option(v) for v in value] if isinstance(value, list) else [option(value)]
        return keys if keys and None not in keys else None
    return option(value)


def _shells(rings: list[list[list[float]]]) -> list[list[list[float]]]:
    """The outer rings of traced rings (each region's shell comes first, then its holes, which
    lie inside it): a polygon class keeps the regions' outlines."""
    shells: list[list[list[float]]] = []
    for ring in rings:
        if not any(_inside(ring[0], shell) for shell in shells):
            shells.append(ring)
    return shells


def _inside(point: list[float], ring: list[list[float]]) -> bool:
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def convert(data: Any, config: LabelConfigIndex, *, index: int = 0, match_by: str = "name") -> Converted:
    """One image with its annotations, in pixels, as a `MediaAnnotation` for the media of its name."""
    image = data["image"]
    name, fallback = coco_media_names(image["file_name"])
    image_path = pointer("images", data["image_at"], "file_name")
    reference = MediaRef(name=name)
    width, height = image.get("width"), image.get("height")
    converter = _Shapes(config, int(width or 0), int(height or 0))
    shapes: list[Shape] = []
    #: Annotation id -> the first shape it made: our export names a nested geometry's parent
    #: annotation in `parent_id`, and the shape goes into that shape's class.
    made_by_id: dict[Any, Shape] = {}
    categories = data["categories"]
    for position, annotation in data["annotations"]:
        path = pointer("annotations", position)
        category_id = annotation.get("category_id")
        if category_id not in categories:
            converter.errors.append(
                ErrorDetail(
                    f"{path}/category_id",
                    "unknown_category_id",
                    f"The category id {category_id!r} is not in categories; add it or fix the annotation.",
                )
            )
            continue
        category_at, category = categories[category_id]
        parent_shape = made_by_id.get(annotation.get("parent_id")) if isinstance(annotation, dict) else None
        parent = config.entries.get(str(parent_shape.entry_id)) if parent_shape is not None else None
        if parent is not None and converter.class_of(category["name"], parent) is None:
            parent = None  # the parent's class nests no class of that name: the shape stands alone
        made = converter.shapes(annotation, category, path, category_at, parent)
        if made and isinstance(annotation, dict) and annotation.get("attributes"):
            entry_id = str(made[0].entry_id)
            answers = _attribute_answers(
                annotation["attributes"], config, entry_id, f"{path}/attributes", converter.errors
            )
            for shape in made:
                shape.answers = answers
        score = annotation.get("score")
        if isinstance(score, int | float) and not isinstance(score, bool):
            for shape in made:
                shape.source, shape.score = "prediction", float(score)
        if made and isinstance(annotation, dict) and isinstance(annotation.get("id"), int | str):
            made_by_id.setdefault(annotation["id"], made[0])
        if parent_shape is not None and parent is not None:
            parent_shape.children += made
        else:
            shapes += made
    fallback_reference = MediaRef(name=fallback) if fallback else None
    if converter.errors:
        return Converted(
            annotation=None,
            errors=converter.errors,
            reference=reference,
            reference_path=image_path,
            fallback_reference=fallback_reference,
        )
    answers = _attribute_answers(
        image.get("attributes"), config, None, pointer("images", data["image_at"], "attributes"), converter.errors
    )
    if converter.errors:
        return Converted(
            annotation=None,
            errors=converter.errors,
            reference=reference,
            reference_path=image_path,
            fallback_reference=fallback_reference,
        )
    return Converted(
        annotation=MediaAnnotation(media=reference, answers=answers, shapes=shapes, keep_data=True),
        reference=reference,
        reference_path=image_path,
        fallback_reference=fallback_reference,
    )


FORMAT = ImportFormat(
    name="coco",
    label="COCO JSON",
    description="A COCO instances file (e.g. Label Studio's COCO export, result.json): boxes, polygon and RLE "
    "segmentations and keypoints, categories mapped by name to the configuration's classes, images matched "
    "to media by file name.",
    file_kinds=("json",),
    schema=None,
    item_schema=ItemSchema({"type": "object"}),
    read=read,
    convert=convert,
    options={"match_by": "name"},
    option_schemas={"match_by": {"const": "name", "description": "COCO images are matched to media by file name."}},
    sniff=sniff,
    nothing_hint="A COCO file needs images (matched to media by file name) and annotations of their ids.",
)
