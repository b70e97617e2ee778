"""Labelbox NDJSON annotation import (MAL pre-labels and ground truth): one annotation per line.

Every line is one item (read as `line N`; errors point into the item, `/0/bbox`) and gets
its own status (the pipeline's per-item errors are Labelbox's `statuses`): a line that is
not JSON, or repeats an earlier `uuid`, fails alone. A line names:

- its data row by `dataRow.id` (our media id) or `dataRow.globalKey`, exactly one; each line
  by the one it carries, so a file may mix them (the option `match_by` only says which to prefer);
- its feature by `schemaId` (our entry's schema id; `schema_id` too, as the labelbox SDK writes it
  on a classification nested under an answer) or `name` (an entry's key or title); an answer
  by its option's schema id, or `name` (the option's value or label);
- a tool geometry (`bbox {top, left, height, width}`, `polygon [{x, y}]` closed or open,
  `line [{x, y}]`, `point {x, y}`) with nested `classifications`, or a classification
  `answer`: an object for a radio, a list (or legacy `answers`) for a checklist, a string for
  text; answers carry `classifications` of their own, to any depth.

Coordinates are pixels. A line with `confidence` is stored as a prediction with that score.
A `mask` is `{png: base64}` (a binary PNG: pixels 0 or 1) or `{instanceURI, colorRGB}` (a
colour PNG fetched through the SSRF guard, `labelsite/netguard.py`; the pixels of that colour
are this annotation's); either becomes a segmentation traced with `mask_polygons.py`, and
the mask must have the data row's size.

Writing (`EXPORT_FORMAT`, `labelbox_ndjson`): the same lines from a project, features and answers
by name (title, option label), a segmentation as a binary `mask.png` of the image's size, data
rows by global key when the media has one, else by id. Nested geometries are left out: Labelbox
tools do not nest.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import time
import uuid as uuid_module
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import orjson
from django.conf import settings
from PIL import Image

from formats.codecs.mask_polygons import mask_segmentation, segmentation_mask
from formats.mask_sources import MaskUnavailable, mask_lookup, mask_png_problem
from formats.reading import (
    UTF8_FIX,
    Converted,
    FileError,
    ImportFormat,
    ItemSchema,
    RawItem,
    SizeCheck,
    lines_bounded,
    pointer,
)
from formats.writing import ExportFormat, ExportItem, ExportSource, points_flat, rings_of
from labeling.annotation import Answer, MediaAnnotation, MediaRef, Shape, rectangle_hull, rectangle_points
from labelsite.errors import ErrorDetail
from projects.config_converters import key_from_text
from projects.label_config import IndexedEntry, LabelConfigIndex
from projects.models import EntryType, LabelEntry

_POINT = {"type": "object", "required": ["x", "y"], "properties": {"x": {"type": "number"}, "y": {"type": "number"}}}
ITEM_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Labelbox NDJSON annotation",
    "type": "object",
    "required": ["dataRow"],
    "anyOf": [{"required": ["name"]}, {"required": ["schemaId"]}],
    "properties": {
        "uuid": {"type": "string"},
        "name": {"type": "string"},
        "schemaId": {"type": "string"},
        "dataRow": {
            "type": "object",
            "oneOf": [{"required": ["id"]}, {"required": ["globalKey"]}],
            "properties": {"id": {"type": "string"}, "globalKey": {"type": "string"}},
        },
        "bbox": {
            "type": "object",
            "required": ["top", "left", "height", "width"],
            "properties": {k: {"type": "number"} for k in ("top", "left", "height", "width")},
        },
        "polygon": {"type": "array", "items": _POINT},
        "line": {"type": "array", "items": _POINT},
        "point": _POINT,
        "classifications": {"type": "array", "items": {"type": "object"}},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
}
GEOMETRY_KEYS = ("bbox", "polygon", "line", "point", "mask")
_TOOL_TYPES = {"bbox": "rectangle", "polygon": "polygon", "line": "line", "point": "point", "mask": "segmentation"}


@dataclass(frozen=True)
class BadLine:
    """A line that cannot be an annotation at all (not JSON, or a repeated uuid)."""

    code: str
    message: str


class _LineSchema(ItemSchema):
    def errors(self, data: Any, *, prefix: tuple[object, ...] = ()) -> list[ErrorDetail]:
        if isinstance(data, BadLine):
            return [ErrorDetail(path="/".join(["", *map(str, prefix)]), code=data.code, message=data.message)]
        return super().errors(data, prefix=prefix)


ITEM = _LineSchema(ITEM_SCHEMA)


def json_line(number: int, raw: bytes, *, per_line: str, syntax_hint: str = "", utf8_hint: str = "") -> Any:
    """Line `number` of an NDJSON file as its object, or a `BadLine` that says what is wrong."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        return BadLine("json_syntax", f"Line {number} is not valid JSON: {exc.msg} (column {exc.colno}).{syntax_hint}")
    except UnicodeDecodeError:
        return BadLine("not_utf8", f"Line {number} is not UTF-8 text.{utf8_hint}")
    if not isinstance(data, dict):
        return BadLine("not_an_object", f"Line {number} must be one JSON object, {per_line} per line.")
    return data


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """One item per non-empty line; a line that is not a JSON object comes as a `BadLine`."""
    seen: dict[str, int] = {}
    index = 0
    lines = lines_bounded(file, fix="Put one JSON annotation on each line.")
    for number, raw in enumerate(lines, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        data = json_line(number, raw, per_line="one annotation", utf8_hint=f" {UTF8_FIX}")
        if isinstance(data, dict) and isinstance(data.get("uuid"), str):
            earlier = seen.setdefault(data["uuid"].lower(), number)
            if earlier != number:
                data = BadLine("duplicate_uuid", f"The uuid {data['uuid']!r} is used on line {earlier} already.")
        yield RawItem(index=index, location=f"line {number}", data=data)
        index += 1
    if index == 0:
        raise FileError(ErrorDetail("", "empty_file", "The file is empty; put one JSON annotation on each line."))


def _schema_id(obj: Mapping[str, Any]) -> Any:
    """`schemaId`, or `schema_id`: labelbox 7.17's `NDJsonConverter` writes the snake-case key on a
    classification nested under an answer (`answer.classifications[].schema_id`)."""
    return obj.get("schemaId", obj.get("schema_id"))


def _names(entries: list[IndexedEntry]) -> str:
    return ", ".join(repr(e.title) for e in entries[:12]) or "none are configured"


class _Converter:
    def __init__(self, config: LabelConfigIndex, location: str) -> None:
        self.config = config
        self.location = location
        self.errors: list[ErrorDetail] = []
        self.size_check: SizeCheck | None = None

    def error(self, path: str, code: str, message: str) -> None:
        self.errors.append(ErrorDetail(f"{self.location}{path}", code, message))

    def feature(
        self, obj: Mapping[str, Any], candidates: list[IndexedEntry], path: str, what: str
    ) -> IndexedEntry | None:
        schema_id, name = _schema_id(obj), obj.get("name")
        found = None
        if isinstance(schema_id, str):
            found = next((e for e in candidates if e.schema_id == schema_id), None)
        elif isinstance(name, str):
            found = next((e for e in candidates if e.key == name.lower() or e.title == name), None)
        if found is None:
            given = schema_id if isinstance(schema_id, str) else name
            self.error(
                path,
                "unknown_feature",
                f"{given!r} is not {what} of the project's label configuration; use one of: {_names(candidates)}.",
            )
        return found

    def option_key(self, entry: IndexedEntry, obj: Any, path: str) -> str | None:
        if not isinstance(obj, Mapping):
            self.error(path, "invalid_answer", f"An answer of {entry.title!r} is an object {{name | schemaId}}.")
            return None
        schema_id, name = _schema_id(obj), obj.get("name")
        for option in entry.options:
            if (isinstance(schema_id, str) and option.schema_id == schema_id) or (
                # An answer names its option by value; the option's key was made from that value.
                isinstance(name, str) and (name in (option.key, option.label) or key_from_text(name) == option.key)
            ):
                return option.key
        given = schema_id if isinstance(schema_id, str) else name
        labels = ", ".join(repr(o.label) for o in entry.options)
        self.error(
            path, "unknown_answer", f"{given!r} is not an option of {entry.title!r}; use one of: {labels or 'none'}."
        )
        return None

    def answer(self, entry: IndexedEntry, obj: Mapping[str, Any], path: str) -> Answer:
        children: list[Answer] = []
        given = obj.get("answer", obj.get("answers"))
        value: Any = None
        if entry.type == EntryType.FREETEXT:
            if not isinstance(given, str):
                self.error(f"{path}/answer", "wrong_answer_type", f'{entry.title!r} is a text question: answer "...".')
            else:
                value = given
        elif entry.type == EntryType.SELECT:
            if not isinstance(given, Mapping):
                self.error(f"{path}/answer", "wrong_answer_type", f"{entry.title!r} is a radio question: answer {{}}.")
            else:
                value = self.option_key(entry, given, f"{path}/answer")
                children += self.answers(entry, given.get("classifications"), f"{path}/answer/classifications")
        else:
            key = "answer" if "answer" in obj else "answers"
            if not isinstance(given, list):
                self.error(f"{path}/{key}", "wrong_answer_type", f"{entry.title!r} is a checklist: answer [{{}}, ...].")
            else:
                value = []
                for position, item in enumerate(given):
                    option = self.option_key(entry, item, f"{path}/{key}/{position}")
                    if option is not None:
                        value.append(option)
                        children += self.answers(
                            entry, item.get("classifications"), f"{path}/{key}/{position}/classifications"
                        )
        return Answer(key=entry.key, value=value, answers=children, schema_id=entry.schema_id)

    def answers(self, parent: IndexedEntry, given: Any, path: str) -> list[Answer]:
        if not given:
            return []
        if not isinstance(given, list):
            self.error(path, "invalid_classifications", "classifications is a list of objects.")
            return []
        questions = [c for c in self.config.children_of(parent.id) if c.is_classification]
        answers = []
        for position, obj in enumerate(given):
            if not isinstance(obj, Mapping):
                self.error(f"{path}/{position}", "invalid_classifications", "A classification is an object.")
                continue
            entry = self.feature(obj, questions, f"{path}/{position}", f"a question under {parent.title!r}")
            if entry is not None:
                answers.append(self.answer(entry, obj, f"{path}/{position}"))
        return answers

    def mask(self, mask: Any) -> list[Any] | None:
        """A mask's pixels as segmentation rings; its size is kept to check against the image's."""
        pixels = _mask_pixels(mask)
        if isinstance(pixels, ErrorDetail):
            self.error(pixels.path, pixels.code, pixels.message)
            return None
        height, width = pixels.shape
        self.size_check = SizeCheck(width=width, height=height, path=f"{self.location}/mask", subject="The mask")
        rings = mask_segmentation(pixels)
        if not rings:
            self.error("/mask", "empty_mask", "The mask has no region of at least one pixel's area.")
            return None
        return rings

    def points(self, entry: IndexedEntry, kind: str, geometry: Any) -> list[Any] | None:
        if _TOOL_TYPES[kind] != entry.type:
            self.error(
                f"/{kind}",
                "wrong_geometry",
                f"{entry.title!r} is a {entry.type} tool; a {kind} cannot be stored in it.",
            )
            return None
        if kind == "mask":
            return self.mask(geometry)
        if kind == "bbox":
            return rectangle_points(geometry["left"], geometry["top"], abs(geometry["width"]), abs(geometry["height"]))
        if kind == "point":
            return [[geometry["x"], geometry["y"]]]
        points = [[p["x"], p["y"]] for p in geometry]
        if kind == "polygon" and len(points) > 1 and points[0] == points[-1]:
            points = points[:-1]
        fewest = 3 if kind == "polygon" else 2
        if len(points) < fewest:
            self.error(
                f"/{kind}",
                "invalid_geometry",
                f"A {kind} needs at least {fewest} distinct points; this one has {len(points)}.",
            )
            return None
        return points


def media_reference(data: Mapping[str, Any]) -> MediaRef:
    row = data.get("dataRow") or {}
    if "globalKey" in row:
        return MediaRef(global_key=str(row["globalKey"]))
    return MediaRef(media_id=str(row.get("id")))


def convert(
    data: Any,
    config: LabelConfigIndex,
    *,
    index: int = 0,
    match_by: str = "global_key",
    options: Mapping[str, Any] | None = None,
) -> Converted:
    """One annotation line as a `MediaAnnotation` that adds to its data row's labels."""
    location = f"/{index}"
    # Each line's data row by the key it carries (`id` or `globalKey`), as Labelbox reads them: one
    # file may mix them (our export names media without a global key by id).
    reference = media_reference(data)
    converter = _Converter(config, location)
    kinds = [k for k in GEOMETRY_KEYS if k in data]
    shapes: list[Shape] = []
    answers: list[Answer] = []
    if len(kinds) > 1:
        converter.error("", "several_geometries", f"A line holds one geometry; this one has {', '.join(kinds)}.")
    elif kinds:
        roots = [e for e in config.roots.values() if e.is_geometry]
        entry = converter.feature(data, roots, "", "a tool")
        if entry is not None:
            points = converter.points(entry, kinds[0], data[kinds[0]])
            confidence = data.get("confidence")
            if points is not None:
                shapes.append(
                    Shape(
                        key=entry.key,
                        type=entry.type,
                        points=points,
                        answers=converter.answers(entry, data.get("classifications"), "/classifications"),
                        source="prediction" if confidence is not None else "import",
                        score=float(confidence) if confidence is not None else None,
                        schema_id=entry.schema_id,
                        entry_id=entry.id,
                    )
                )
    else:
        roots = [e for e in config.roots.values() if e.is_classification]
        entry = converter.feature(data, roots, "", "a global classification")
        if entry is not None:
            answers.append(converter.answer(entry, data, ""))
    where = pointer(index, "dataRow", "globalKey" if reference.global_key is not None else "id")
    if converter.errors:
        return Converted(annotation=None, errors=converter.errors, reference=reference, reference_path=where)
    return Converted(
        annotation=MediaAnnotation(media=reference, answers=answers, shapes=shapes),
        reference=reference,
        reference_path=where,
        size_check=converter.size_check,
    )


def _mask_image(content: bytes, *, path: str, subject: str) -> Image.Image | ErrorDetail:
    """A PNG's image, refused by its signature when it is no PNG (`path` and `subject` place the
    error) and by its header when it has more pixels than images may have."""
    not_png = mask_png_problem(content)
    if not_png:
        return ErrorDetail(path, "mask_not_png", f"{subject} is {not_png}.")
    try:
        image = Image.open(io.BytesIO(content), formats=["PNG"])
        width, height = image.size
        if width * height > int(settings.LABELSITE_MAX_IMAGE_PIXELS):
            return ErrorDetail("/mask", "mask_too_large", f"The mask is {width}x{height} pixels, more than allowed.")
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return ErrorDetail("/mask", "invalid_mask", f"The mask is not a readable PNG: {exc}.")
    return image


def _mask_pixels(mask: Any) -> np.ndarray | ErrorDetail:
    """The True pixels of a mask line: `{png}` (0/1 values) or `{instanceURI, colorRGB}`."""
    if not isinstance(mask, Mapping):
        return ErrorDetail("/mask", "invalid_mask", "A mask is {png: base64} or {instanceURI, colorRGB}.")
    if "png" in mask:
        try:
            content = base64.b64decode(str(mask["png"]), validate=True)
        except (binascii.Error, ValueError):
            return ErrorDetail("/mask/png", "invalid_mask", "mask.png is not base64 text.")
        image = _mask_image(content, path="/mask/png", subject="mask.png")
        if isinstance(image, ErrorDetail):
            return image
        values = np.asarray(image.convert("L") if image.mode not in ("1", "L", "P") else image)
        top = int(values.max()) if values.size else 0
        if top > 1 and image.mode != "1":
            return ErrorDetail(
                "/mask/png", "mask_not_binary", f"Expected binary mask (0 and 1). Found max value of {top}."
            )
        return values.astype(bool)
    colour, uri = mask.get("colorRGB"), mask.get("instanceURI")
    if not isinstance(uri, str) or not uri:
        return ErrorDetail("/mask", "invalid_mask", "A mask gives png, or instanceURI with colorRGB.")
    if not (isinstance(colour, list) and len(colour) == 3 and all(_byte(c) for c in colour)):
        return ErrorDetail("/mask/colorRGB", "invalid_colour", "colorRGB is three numbers from 0 to 255, [r, g, b].")
    try:
        content = _instance_png(uri)
    except MaskUnavailable as exc:
        return ErrorDetail("/mask/instanceURI", "mask_unavailable", str(exc))
    image = _mask_image(content, path="/mask/instanceURI", subject=f"The mask {uri!r}")
    if isinstance(image, ErrorDetail):
        return image
    rgb = np.asarray(image.convert("RGB"))
    pixels = np.all(rgb == np.asarray(colour, dtype=rgb.dtype), axis=2)
    if not pixels.any():
        return ErrorDetail(
            "/mask/colorRGB", "mask_colour_absent", f"The colour {colour} does not occur in the mask {uri!r}."
        )
    return pixels


def _byte(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255


#: Recently fetched mask PNGs: the lines of one image share its instanceURI and follow each
#: other, so each PNG is fetched once per phase, and never reused after a minute.
_RECENT_MASKS: dict[str, tuple[float, bytes]] = {}
_RECENT_SECONDS = 60.0


def _instance_png(uri: str) -> bytes:
    now = time.monotonic()
    found = _RECENT_MASKS.get(uri)
    if found is not None and now - found[0] < _RECENT_SECONDS:
        return found[1]
    content = mask_lookup().read(uri)
    if len(_RECENT_MASKS) >= 4:
        _RECENT_MASKS.clear()
    _RECENT_MASKS[uri] = (now, content)
    return content


def annotation_uuid(data: Mapping[str, Any]) -> str:
    """The line's uuid (its key in the per-line status), or a new one when it has none."""
    value = data.get("uuid")
    return value if isinstance(value, str) and value else str(uuid_module.uuid4())


FORMAT = ImportFormat(
    name="labelbox_ndjson",
    label="Labelbox NDJSON annotations",
    description="Labelbox annotation import: one NDJSON line per annotation (bbox, polygon, line, point, mask, radio, "
    "checklist, text, nested classifications) for a data row by id or global key.",
    file_kinds=("ndjson", "jsonl"),
    schema=None,
    item_schema=ITEM,
    read=read,
    convert=convert,
    options={"match_by": "global_key"},
    match_by_item=True,
    # No sniff: the general format of .ndjson files; labelbox_data_rows claims those with `row_data`.
    takes_options=True,
)


# --- the writer ----------------------------------------------------------------------------------

#: Our geometry type -> the Labelbox NDJSON key of its tool.
_TOOL_KEYS = {value: key for key, value in _TOOL_TYPES.items()}


def _data_row(item: ExportItem) -> dict[str, str]:
    """The data row by its global key (what Labelbox users name rows by), else by our media id."""
    return {"globalKey": item.global_key} if item.global_key else {"id": str(item.media_id)}


def _option_label(entry: LabelEntry, key: str) -> str:
    return next((str(o.get("label") or key) for o in entry.options if o.get("key") == key), key)


class _Lines:
    """A task's annotations as Labelbox NDJSON lines, features and answers by name."""

    def __init__(self, source: ExportSource) -> None:
        self.config = source.config
        self.include_predictions = source.include_predictions

    def classifications(self, answers: list[Answer], parent_id: Any) -> list[dict[str, Any]]:
        written = []
        questions = {entry.key: entry for entry in self.config.questions_of(parent_id)}
        for answer in answers:
            entry = questions.get(answer.key)
            if entry is None or answer.value is None or answer.value == []:
                continue
            children = self.classifications(answer.answers, entry.id)
            if entry.type == EntryType.FREETEXT:
                value: Any = str(answer.value)
            elif entry.type == EntryType.SELECT:
                value = {"name": _option_label(entry, str(answer.value))}
                if children:
                    value["classifications"] = children
            else:
                value = [{"name": _option_label(entry, str(key))} for key in answer.value]
                if children and value:
                    # NDJSON nests a checklist's child answers under an option: the first checked one.
                    value[0]["classifications"] = children
            written.append({"name": entry.title, "answer": value})
        return written

    def geometry(self, shape: Shape, item: ExportItem) -> dict[str, Any] | list[dict[str, float]] | None:
        pairs = list(points_flat(shape.points)) if shape.type != EntryType.SEGMENTATION else []
        if shape.type == EntryType.RECTANGLE and len(pairs) >= 2:
            # Labelbox's bbox has no rotation: a turned box is its axis-aligned hull (docs/formats.md).
            x, y, w, h = rectangle_hull([list(pairs[0]), list(pairs[1])], shape.rotation)
            return {"top": y, "left": x, "height": h, "width": w}
        if shape.type == EntryType.POINT and pairs:
            return {"x": pairs[0][0], "y": pairs[0][1]}
        if shape.type in (EntryType.POLYGON, EntryType.LINE) and pairs:
            return [{"x": x, "y": y} for x, y in pairs]
        if shape.type == EntryType.SEGMENTATION:
            rings = rings_of(EntryType.SEGMENTATION, shape.points)
            if not rings:
                return None
            width = item.width or math.ceil(max(x for ring in rings for x, _ in ring)) + 1
            height = item.height or math.ceil(max(y for ring in rings for _, y in ring)) + 1
            mask = segmentation_mask(rings, int(width), int(height)).astype(np.uint8)
            png = io.BytesIO()
            Image.fromarray(mask, mode="L").save(png, format="PNG")
            return {"png": base64.b64encode(png.getvalue()).decode()}
        return None

    def task(self, item: ExportItem) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        row = _data_row(item)

        def uuid_of() -> str:
            # Stable per task and position: exporting again writes the same uuids.
            return str(uuid_module.uuid5(uuid_module.NAMESPACE_URL, f"labelsite:{item.task_id}:{len(lines)}"))

        # Labelbox tools do not nest: nested geometries are left out (docs/formats.md).
        for shape in item.annotation.shapes:
            if shape.source == "prediction" and not self.include_predictions:
                continue
            geometry = self.geometry(shape, item)
            entry = self.config.by_id.get(shape.entry_id or "")
            if geometry is None or entry is None:
                continue
            line: dict[str, Any] = {"uuid": uuid_of(), "dataRow": row, "name": entry.title}
            line[_TOOL_KEYS[shape.type]] = geometry
            classifications = self.classifications(shape.answers, entry.id)
            if classifications:
                line["classifications"] = classifications
            if shape.source == "prediction" and shape.score is not None:
                line["confidence"] = min(1.0, max(0.0, float(shape.score)))
            lines.append(line)
        for classification in self.classifications(item.annotation.answers, None):
            lines.append({"uuid": uuid_of(), "dataRow": row, **classification})
        return lines


def labelbox_ndjson_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    """One NDJSON line per annotation, as Labelbox's annotation import reads them."""
    lines = _Lines(source)
    for chunk in source.chunks():
        out.write(b"".join(orjson.dumps(line) + b"\n" for item in chunk for line in lines.task(item)))
        yield


EXPORT_FORMAT = ExportFormat(
    name="labelbox_ndjson",
    label="Labelbox NDJSON annotations",
    description="One line per annotation as Labelbox's annotation import reads it: bbox, polygon, line, point, "
    "mask (segmentations), radio, checklist and text answers by name, data rows by global key or media id.",
    extension="ndjson",
    content_type="application/x-ndjson",
    write=labelbox_ndjson_write,
)
