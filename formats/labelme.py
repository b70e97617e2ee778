"""LabelMe JSON (wkentaro/labelme): one `.json` per image, alone or many in a ZIP.

Reading (`FORMAT`): a `.json` file is one item; a ZIP is one job (`archive_reader`: LabelMe's
own layout, each `.json` beside its image; a ZIP of JSON files only is one job too when it is
uploaded as LabelMe, or detected from its first file), one item per `.json` in path order. The
media is the one `imagePath` names, by its base name (`..\\images\\a.jpg` is `a.jpg`), then
without Label Studio's upload prefix (`formats.coco.coco_media_names`); `imageWidth` and
`imageHeight` must fit it. `imageData` (the embedded image) is not imported: the media must be
in a dataset of the project, as for every format.

Each shape's `label` names a root class (by `label_mapping`, else by key, case-insensitive):
`rectangle` a rectangle (or its 4 corners in a polygon or segmentation class), `polygon` a
polygon or segmentation, `linestrip` and `line` a line, `point` a point, `points` one point
each, `circle` (centre and a point on it) a 64-gon in a polygon or segmentation class, `mask`
(a base64 PNG over the `points` box) traced to a segmentation. A shape's `description`
answers the class's child free text `description` when it has one. The file's `flags` that
are true check the options of the root checklist `flags` (or `tags`). Not kept: `group_id`,
shape `flags`, `imageData`.

Writing (`EXPORT_FORMAT`): a ZIP of one LabelMe JSON per task, what `labelme` opens: rectangles,
polygons, lines as linestrips, points, segmentations as `mask` shapes (holes kept), the
`flags`/`tags` checklist as `flags`, a `description` answer as the shape's description.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import IO, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from formats.coco import coco_media_names
from formats.codecs.mask_polygons import mask_segmentation, segmentation_crop
from formats.reading import (
    LABEL_MAPPING_OPTION,
    Converted,
    FileError,
    ImportFormat,
    ItemSchema,
    RawItem,
    SizeCheck,
    file_or_archive_items,
    not_utf8_check,
    not_utf8_error,
    pointer,
)
from formats.writing import ExportFormat, ExportSource, UniqueNames, rings_of, stem
from labeling.annotation import Answer, MediaAnnotation, MediaRef, Points, Shape, rectangle_hull
from labelsite.archives import archive_entry_ignored
from labelsite.errors import ErrorDetail, ValidationFailed
from labelsite.jsondepth import json_depth_check
from projects.config_converters import key_from_text
from projects.label_config import IndexedEntry, LabelConfigIndex
from projects.models import EntryType

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
#: The class types each LabelMe `shape_type` may land in.
TARGETS = {
    "rectangle": (EntryType.RECTANGLE, EntryType.POLYGON, EntryType.SEGMENTATION),
    "polygon": (EntryType.POLYGON, EntryType.SEGMENTATION),
    "linestrip": (EntryType.LINE,),
    "line": (EntryType.LINE,),
    "point": (EntryType.POINT,),
    "points": (EntryType.POINT,),
    "circle": (EntryType.POLYGON, EntryType.SEGMENTATION),
    "mask": (EntryType.SEGMENTATION,),
}
#: Vertices of the polygon a circle becomes.
CIRCLE_VERTICES = 64

_POINT = {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["shapes", "imagePath"],
    "properties": {
        "imagePath": {"type": "string", "minLength": 1},
        "imageWidth": {"type": ["integer", "null"], "minimum": 1},
        "imageHeight": {"type": ["integer", "null"], "minimum": 1},
        "flags": {"type": ["object", "null"], "additionalProperties": {"type": "boolean"}},
        "shapes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["label", "points", "shape_type"],
                "properties": {
                    "label": {"type": "string", "minLength": 1},
                    "points": {"type": "array", "items": _POINT},
                    "shape_type": {"enum": sorted(TARGETS)},
                    "description": {"type": ["string", "null"]},
                    "mask": {"type": ["string", "null"]},
                },
            },
        },
    },
}
_ITEM_SCHEMA = ItemSchema(SCHEMA)


# --- reading ------------------------------------------------------------------------------


def sniff(head: bytes) -> bool:
    """A JSON object with LabelMe's `shapes` and, in the first 4 KB, `imagePath`, `imageData`, a
    shape's `shape_type`, or the `version` and `flags` that LabelMe writes before its shapes (a file
    of many shapes has `imagePath` after them)."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()[:4096]
    if not text.startswith(b"{") or b'"shapes"' not in text:
        return False
    return any(key in text for key in (b'"imagePath"', b'"imageData"', b'"shape_type"')) or (
        b'"version"' in text and b'"flags"' in text
    )


def is_labelme_archive(paths: list[str]) -> bool:
    """LabelMe's own layout: a `.json` beside an image of the same name (`a.json`, `a.jpg`)."""
    images = {
        str(PurePosixPath(p).with_suffix("")).lower()
        for p in paths
        if PurePosixPath(p).suffix.lower() in _IMAGE_SUFFIXES
    }
    return any(
        p.lower().endswith(".json")
        and not archive_entry_ignored(p)
        and str(PurePosixPath(p).with_suffix("")).lower() in images
        for p in paths
    )


def _parse(body: bytes, path: str) -> Any:
    body = body.removeprefix(b"\xef\xbb\xbf")
    not_utf8_check(body[:4])
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8_error(f"at byte {exc.start}", f"{path}, byte {exc.start}") from exc
    try:
        json_depth_check(text, path=path)
    except ValidationFailed as exc:
        raise FileError(*(exc.details or [ErrorDetail(path, exc.code, exc.message)])) from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FileError(ErrorDetail(path, "invalid_json", f"{path} is not valid JSON: {exc}.")) from exc
    if isinstance(data, dict):
        # The embedded image is not imported; keep the item small (items travel between processes).
        data["imageData"] = bool(data.get("imageData"))
    return {"path": path, "file": data}


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """One LabelMe JSON file, or every `.json` of a ZIP in path order, one item each."""
    return file_or_archive_items(
        file,
        suffix=".json",
        parse=_parse,
        none_found=ErrorDetail("file", "no_json", "The archive holds no .json file; LabelMe saves one per image."),
    )


def circle_polygon(cx: float, cy: float, px: float, py: float) -> list[list[float]]:
    """A LabelMe circle (centre, a point on it) as a polygon of `CIRCLE_VERTICES` points."""
    radius = math.hypot(px - cx, py - cy)
    return [
        [
            round(cx + radius * math.cos(2 * math.pi * k / CIRCLE_VERTICES), 2),
            round(cy + radius * math.sin(2 * math.pi * k / CIRCLE_VERTICES), 2),
        ]
        for k in range(CIRCLE_VERTICES)
    ]


def _mask_rings(encoded: str, box: list[list[float]]) -> list[list[list[float]]] | None:
    try:
        image = Image.open(io.BytesIO(base64.b64decode(encoded, validate=True)))
        mask = np.asarray(image.convert("L")) > 0
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
        return None
    left, top = int(box[0][0]), int(box[0][1])
    return [[[x + left, y + top] for x, y in ring] for ring in mask_segmentation(mask)]


class _File:
    def __init__(self, path: str, config: LabelConfigIndex, mapping: Mapping[str, str]) -> None:
        self.path = path
        self.config = config
        self.mapping = mapping
        self.errors: list[ErrorDetail] = []

    def error(self, at: str, code: str, message: str, *params: object) -> None:
        self.errors.append(ErrorDetail(f"{self.path}: {at}", code, message, params=params))

    def entry(self, label: str, shape_type: str, at: str) -> IndexedEntry | None:
        mapped = self.mapping.get(label)
        entry = self.config.root((mapped if isinstance(mapped, str) else key_from_text(label)).lower())
        targets = TARGETS[shape_type]
        if entry is not None and entry.type in targets:
            return entry
        what = f"is a {entry.type} class" if entry is not None else "is no class of the label configuration"
        self.error(
            f"{at}/label",
            "unknown_class",
            f"The {shape_type} label {label!r} {what}; a {shape_type} needs a {' or '.join(targets)} class. Add one "
            "with that name, or map the label to a class key with the option label_mapping.",
            label,
        )
        return None

    def points(self, shape: dict[str, Any], entry: IndexedEntry, at: str) -> list[Points] | None:
        kind = shape["shape_type"]
        pairs = [[float(x), float(y)] for x, y in shape["points"]]
        least = {"polygon": 3, "linestrip": 2, "line": 2, "point": 1, "points": 1}.get(kind, 2)
        if len(pairs) < least or (kind in ("rectangle", "circle", "mask", "point") and len(pairs) > max(least, 2)):
            self.error(
                f"{at}/points", "invalid_points", f"A {kind} has {least if kind != 'polygon' else 'at least 3'} points."
            )
            return None
        ring: list[list[float]]
        if kind == "rectangle":
            (x1, y1), (x2, y2) = pairs[0], pairs[1]
            x1, x2, y1, y2 = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
            if entry.type == EntryType.RECTANGLE:
                return [[[x1, y1], [x2, y2]]]
            ring = [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]
        elif kind == "circle":
            ring = circle_polygon(*pairs[0], *pairs[1])
        elif kind == "mask":
            rings = _mask_rings(shape.get("mask") or "", pairs)
            if rings is None:
                self.error(f"{at}/mask", "invalid_mask", "A mask shape's mask is a base64 PNG.")
                return None
            if not rings:
                self.error(f"{at}/mask", "empty_mask", "The mask paints no area; remove the shape.")
                return None
            return [rings]
        elif kind in ("point", "points"):
            return [[pair] for pair in pairs]
        elif kind in ("linestrip", "line"):
            return [pairs]
        else:
            ring = pairs
        return [[ring] if entry.type == EntryType.SEGMENTATION else ring]

    def flags(self, flags: Mapping[str, bool]) -> list[Answer]:
        checked = [name for name, value in flags.items() if value]
        if not checked:
            return []
        question = next(
            (q for q in (self.config.root("flags"), self.config.root("tags")) if q and q.type == EntryType.CHECKLIST),
            None,
        )
        if question is None:
            self.error(
                "/flags",
                "no_flags_question",
                f"The file's flags {', '.join(map(repr, checked))} are set; add a root checklist question 'flags' with "
                "an option per flag.",
            )
            return []
        keys = []
        for name in checked:
            option = next(
                (o for o in question.options if o.key == key_from_text(name) or o.label.lower() == name.lower()), None
            )
            if option is None:
                self.error(
                    pointer("flags", name),
                    "unknown_flag",
                    f"The flag {name!r} is no option of the question {question.key!r}; add it.",
                    name,
                )
                continue
            keys.append(option.key)
        return [Answer(key=question.key, value=keys)]


def convert(
    data: Any,
    config: LabelConfigIndex,
    *,
    index: int = 0,
    match_by: str = "name",
    options: Mapping[str, Any] | None = None,
) -> Converted:
    """One LabelMe file as the shapes and flags of the media its `imagePath` names."""
    options = options or {}
    path, file = data["path"], data["file"]
    schema_errors = _ITEM_SCHEMA.errors(file)
    if schema_errors:
        located = [ErrorDetail(f"{path}: {d.path}", d.code, d.message, params=d.params) for d in schema_errors]
        return Converted(annotation=None, errors=located)
    name, fallback = coco_media_names(file["imagePath"])
    reference = MediaRef(name=name)
    found = _File(path, config, options.get("label_mapping") or {})
    shapes: list[Shape] = []
    for number, shape in enumerate(file["shapes"]):
        at = pointer("shapes", number)
        entry = found.entry(shape["label"], shape["shape_type"], at)
        if entry is None:
            continue
        points_list = found.points(shape, entry, at)
        if points_list is None:
            continue
        answers = []
        description = config.child(entry.id, "description")
        if shape.get("description") and description is not None and description.type == EntryType.FREETEXT:
            answers.append(Answer(key=description.key, value=str(shape["description"])))
        shapes.extend(
            Shape(key=entry.key, type=entry.type, points=points, answers=list(answers), entry_id=entry.id)
            for points in points_list
        )
    answers = found.flags(file.get("flags") or {})
    common: dict[str, Any] = {
        "reference": reference,
        "reference_path": f"{path}: /imagePath",
        "fallback_reference": MediaRef(name=fallback) if fallback else None,
    }
    if found.errors:
        return Converted(annotation=None, errors=found.errors, **common)
    width, height = file.get("imageWidth"), file.get("imageHeight")
    size_check = (
        SizeCheck(width, height, f"{path}: /imageWidth", "The LabelMe file's image") if width and height else None
    )
    annotation = MediaAnnotation(media=reference, shapes=shapes, answers=answers, keep_data=True)
    return Converted(annotation=annotation, size_check=size_check, **common)


FORMAT = ImportFormat(
    name="labelme",
    label="LabelMe JSON",
    description="LabelMe's JSON files (one per image, alone or zipped, images beside them or not): rectangles, "
    "polygons, linestrips, points, circles and masks mapped by label to the configuration's classes, images "
    "matched to media by imagePath.",
    file_kinds=("json",),
    schema=None,  # one object per file, checked per item (`SCHEMA`), not an array of items
    item_schema=ItemSchema({"type": "object", "required": ["path", "file"]}),
    read=read,
    convert=convert,
    options={"match_by": "name", "label_mapping": {}},
    option_schemas={
        "match_by": {"const": "name", "description": "LabelMe files are matched to media by imagePath."},
        "label_mapping": LABEL_MAPPING_OPTION,
    },
    takes_options=True,
    sniff=sniff,
    archive_reader=is_labelme_archive,
    nothing_hint="A LabelMe file has imagePath naming a media of the project, and shapes.",
)


# --- writing ------------------------------------------------------------------------------


def _mask_shape(label: str, rings: list[list[tuple[float, float]]], width: int, height: int) -> dict[str, Any] | None:
    crop, x0, y0 = segmentation_crop(rings, width, height)
    rows, columns = np.flatnonzero(crop.any(axis=1)), np.flatnonzero(crop.any(axis=0))
    if not rows.size:
        return None
    crop = crop[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    left, top = x0 + int(columns[0]), y0 + int(rows[0])
    png = io.BytesIO()
    Image.fromarray(crop.astype(np.uint8) * 255).save(png, format="PNG")
    return {
        "label": label,
        "points": [[left, top], [left + crop.shape[1] - 1, top + crop.shape[0] - 1]],
        "shape_type": "mask",
        "mask": base64.b64encode(png.getvalue()).decode("ascii"),
    }


def labelme_document(item: Any, source: ExportSource) -> dict[str, Any]:
    shapes: list[dict[str, Any]] = []
    walk = [shape for root in item.annotation.shapes for shape in (root, *root.children)]
    for shape in walk:
        entry = source.config.by_id.get(shape.entry_id) if shape.entry_id else None
        label = str(entry.title) if entry is not None and key_from_text(str(entry.title)) == shape.key else shape.key
        description = next((str(a.value) for a in shape.answers if a.key == "description" and a.value), "")
        common: dict[str, Any] = {"group_id": None, "description": description, "flags": {}}
        if shape.type == EntryType.RECTANGLE:
            # LabelMe's rectangle has no rotation: a turned box is its axis-aligned hull (docs/formats.md).
            x, y, w, h = rectangle_hull(shape.points, shape.rotation)
            ring = rings_of(shape.type, [[x, y], [x + w, y + h]]) if shape.points else []
            if ring:
                shapes.append(
                    {
                        "label": label,
                        "points": [list(ring[0][0]), list(ring[0][2])],
                        "shape_type": "rectangle",
                        **common,
                        "mask": None,
                    }
                )
        elif shape.type in (EntryType.POLYGON, EntryType.LINE, EntryType.POINT):
            kind = {"polygon": "polygon", "line": "linestrip", "point": "point"}[shape.type]
            points = [[float(p[0]), float(p[1])] for p in shape.points]
            shapes.append({"label": label, "points": points, "shape_type": kind, **common, "mask": None})
        elif shape.type == EntryType.SEGMENTATION:
            rings = rings_of(shape.type, shape.points)
            width = item.width or math.ceil(max(x for ring in rings for x, _ in ring)) + 2 if rings else 0
            height = item.height or math.ceil(max(y for ring in rings for _, y in ring)) + 2 if rings else 0
            mask = _mask_shape(label, rings, width, height) if rings else None
            if mask is not None:
                shapes.append({**mask, **common})
    flags: dict[str, bool] = {}
    for question in source.config.children[None]:
        if question.type == EntryType.CHECKLIST and question.key in ("flags", "tags"):
            answer = next((a for a in item.annotation.answers if a.key == question.key), None)
            checked = set(answer.value) if answer is not None and isinstance(answer.value, list) else set()
            flags = {str(o.get("label") or o["key"]): o["key"] in checked for o in question.options}
            break
    return {
        "version": "5.5.0",
        "flags": flags,
        "shapes": shapes,
        "imagePath": item.media_name,
        "imageData": None,
        "imageHeight": item.height,
        "imageWidth": item.width,
    }


def labelme_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    names = UniqueNames()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for chunk in source.chunks():
            for item in chunk:
                document = labelme_document(item, source)
                archive.writestr(
                    names.take(stem(item.media_name), "json"), json.dumps(document, ensure_ascii=False, indent=2)
                )
            yield
    yield


EXPORT_FORMAT = ExportFormat(
    name="labelme",
    label="LabelMe JSON",
    description="A ZIP of LabelMe JSON files, one per image (what labelme opens): rectangles, polygons, lines as "
    "linestrips, points, segmentations as masks; the 'flags' (or 'tags') checklist as the file's flags.",
    extension="zip",
    content_type="application/zip",
    write=labelme_write,
    needs_media_size=True,
)
