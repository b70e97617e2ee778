"""CVAT for images 1.1 XML (`annotations.xml`), alone or in the ZIP that CVAT and datumaro write.

Reading (`FORMAT`): one item per `<image>`, streamed (`iterparse`), from the XML file or from
every XML entry of a ZIP whose root is `<annotations>` (path order; images in the ZIP are not
imported). The whole archive is one job (`archive_reader`). The media is the one named by the
image's `name`, matched by its base name (a CVAT name keeps the task's folders,
`images/cam1/0001.jpg` is `0001.jpg`), then without Label Studio's upload prefix, as COCO's file
names are (`formats.coco.coco_media_names`); `width`/`height` must fit the media.

A shape's class is found by its `label` and kind: `label_mapping` first, then the class the
configuration converter made for that label and kind (schema id `cvat:<label>:<type>`), then
the root class whose key is the label's (or `<label>_<type>`). Kinds and the class types they
may land in:

- `<box>` a rectangle (or its 4 corners as a polygon or segmentation); with `rotation` (CVAT
  turns about the box's centre) a rectangle with that rotation (about its own top-left corner,
  moved to where CVAT's turned one lies), or the turned box's 4 corners in a polygon or
  segmentation class (`box_points`); the export writes a turned rectangle back as a centred
  `<box rotation="...">`;
- `<polygon>` a polygon or segmentation; `<polyline>` a line; `<points>` one point shape per
  point (our point class holds one point);
- `<mask>` (CVAT's RLE over the `left/top/width/height` box, row by row, background run
  first) traced to a segmentation (`formats.codecs.mask_polygons.mask_segmentation`);
- `<tag>` an option of the image-level checklist `tags` (schema id `cvat:tags`).

`<attribute name>` values answer the class's child questions of that key (for a tag: the
`tags` question's child `<label>_<name>`); `occluded="1"` answers a child `occluded` if the
class has one. `z_order` orders the shapes (lowest first) and is not kept as a number;
`group_id`, `source` and `<ellipse>`/`<cuboid>`/`<skeleton>` have no place (the last are errors).

Writing (`EXPORT_FORMAT`): one `annotations.xml` with `<meta><task><labels>` from the
configuration and one `<image>` per task; see docs/formats.md for what maps to what.
"""

from __future__ import annotations

import codecs
import contextlib
import math
import zipfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any, cast
from xml.etree.ElementTree import Element, ParseError, XMLPullParser
from xml.sax.saxutils import escape, quoteattr

import numpy as np

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
    not_utf8_check,
    not_utf8_error,
)
from formats.writing import ExportFormat, ExportItem, ExportSource, rings_of
from labeling.annotation import (
    Answer,
    MediaAnnotation,
    MediaRef,
    Points,
    Shape,
    rectangle_box,
    rectangle_corners,
    rotation_normalise,
)
from labeling.models import LabelSource
from labelsite.archives import ZIP_MAGIC, SafeZip, archive_entry_ignored
from labelsite.errors import ErrorDetail, ValidationFailed
from projects.config_converters import CVAT_TAGS_SCHEMA_ID, cvat_label_of_schema_id, cvat_schema_id, key_from_text
from projects.label_config import IndexedEntry, LabelConfigIndex
from projects.models import EntryType

#: The shape elements of an `<image>` and the type of class each lands in by default.
SHAPE_KINDS = {
    "box": EntryType.RECTANGLE,
    "polygon": EntryType.POLYGON,
    "polyline": EntryType.LINE,
    "points": EntryType.POINT,
    "mask": EntryType.SEGMENTATION,
}
#: Which class types a kind of shape may become.
_TARGETS = {
    "box": {EntryType.RECTANGLE, EntryType.POLYGON, EntryType.SEGMENTATION},
    "polygon": {EntryType.POLYGON, EntryType.SEGMENTATION},
    "polyline": {EntryType.LINE},
    "points": {EntryType.POINT},
    "mask": {EntryType.SEGMENTATION},
}
_UNSUPPORTED = {"ellipse", "cuboid", "skeleton"}


# --- reading ------------------------------------------------------------------------------


def sniff(head: bytes) -> bool:
    """An XML document whose root is `<annotations>` (a VOC file's is `<annotation>`)."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return text.startswith(b"<") and (b"<annotations>" in text[:4096] or b"<annotations " in text[:4096])


def is_cvat_archive(paths: list[str]) -> bool:
    """CVAT's export (`annotations.xml`, `images/`) or datumaro's (`<subset>.xml`, `images/`): an XML
    file outside an `Annotations/` folder (where Pascal VOC keeps its files). An archive that both
    formats may read is told apart by its XML's root (`sniff`), never guessed."""
    for path in paths:
        parts = path.lower().split("/")
        if not archive_entry_ignored(path) and parts[-1].endswith(".xml") and "annotations" not in parts[:-1]:
            return True
    return False


def _doctype_check(head: bytes, path: str) -> None:
    # A DOCTYPE comes before the root element; refusing it keeps entity expansion out of the parser.
    prolog = head.split(b"<annotations", 1)[0]
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise FileError(
            ErrorDetail(path, "xml_doctype", f"{path} declares a DOCTYPE or entities; CVAT writes none. Remove it.")
        )


def _shape_data(element: Element, at: str) -> dict[str, Any]:
    return {
        "tag": element.tag,
        "at": at,
        "attrib": dict(element.attrib),
        "attributes": [(a.get("name") or "", (a.text or "").strip()) for a in element.findall("attribute")],
    }


def cvat_items(chunks: Iterator[bytes], path: str, start: int) -> Iterator[RawItem]:
    """The `<image>` elements of one CVAT XML document as items, numbered from `start`."""
    parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
    depth = 0
    number = 0
    checked = False
    head = b""
    # UTF-8 only, as every reader here: checked as the bytes stream by, so that a Latin-1 `é`
    # is named as such (with its byte) rather than as an XML syntax error.
    utf8 = codecs.getincrementaldecoder("utf-8")()
    fed = 0
    try:
        for chunk in chunks:
            if not checked:
                if not head:
                    not_utf8_check(chunk[:4])
                head += chunk
                if b"<annotations" not in head and len(head) < 1 << 20:
                    continue
                _doctype_check(head, path)
                checked, chunk = True, head
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError as exc:
                raise not_utf8_error(f"at byte {fed + exc.start}", f"{path}, byte {fed + exc.start}") from exc
            fed += len(chunk)
            parser.feed(chunk)
            for pair in parser.read_events():
                event, element = cast(tuple[str, Element], pair)
                if event == "start":
                    depth += 1
                    if depth == 1 and element.tag != "annotations":
                        raise FileError(
                            ErrorDetail(
                                path,
                                "not_cvat",
                                f"{path} is no CVAT for images file: its root is <{element.tag}>, not <annotations>.",
                            )
                        )
                    continue
                depth -= 1
                if depth == 1 and element.tag == "track":
                    raise FileError(
                        ErrorDetail(
                            f"{path}: /annotations/track",
                            "cvat_video",
                            f"{path} is CVAT for video (<track> elements); export the task as "
                            "“CVAT for images 1.1” and upload that.",
                        )
                    )
                if depth == 1 and element.tag == "image":
                    number += 1
                    at = f"/annotations/image[{number}]"
                    counts: dict[str, int] = {}
                    shapes = []
                    for child in element:
                        counts[child.tag] = counts.get(child.tag, 0) + 1
                        shapes.append(_shape_data(child, f"{at}/{child.tag}[{counts[child.tag]}]"))
                    yield RawItem(
                        index=start + number - 1,
                        location=f"{path}: {at}",
                        data={
                            "path": path,
                            "at": at,
                            "name": element.get("name"),
                            "width": element.get("width"),
                            "height": element.get("height"),
                            "shapes": shapes,
                        },
                    )
                    element.clear()
        if not checked:
            _doctype_check(head, path)
            parser.feed(head)
        parser.close()
    except ParseError as exc:
        line, column = exc.position
        raise FileError(
            ErrorDetail(
                f"{path}, line {line}", "xml_syntax", f"{path} is not valid XML at line {line}, column {column + 1}."
            )
        ) from exc


def _entry_head(archive: SafeZip, path: str) -> bytes:
    with contextlib.closing(archive.open_entry(path)) as chunks:
        return next(chunks, b"")[:4096]


def _file_chunks(file: IO[bytes]) -> Iterator[bytes]:
    while chunk := file.read(1 << 20):
        yield chunk


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """The images of a CVAT XML file, or of every CVAT XML document of a ZIP, in path order."""
    head = file.read(4)
    file.seek(0)
    if head != ZIP_MAGIC:
        yield from cvat_items(_file_chunks(file), "file", 0)
        return
    try:
        archive = SafeZip(file)
    except ValidationFailed as exc:
        raise FileError(*(exc.details or [ErrorDetail("file", exc.code, exc.message)])) from exc
    with archive:
        paths = sorted(
            e.path for e in archive.entries if e.path.lower().endswith(".xml") and not archive_entry_ignored(e.path)
        )
        documents = [path for path in paths if sniff(_entry_head(archive, path))]
        if not documents:
            raise FileError(
                ErrorDetail(
                    "file",
                    "no_cvat_xml",
                    "The archive holds no CVAT XML file (an .xml whose root is <annotations>); CVAT's export "
                    "“CVAT for images 1.1” has annotations.xml.",
                )
            )
        start = 0
        for path in documents:
            try:
                for item in cvat_items(archive.open_entry(path), path, start):
                    start = item.index + 1
                    yield item
            except ValidationFailed as exc:
                raise FileError(*(exc.details or [ErrorDetail(path, exc.code, exc.message)])) from exc


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def _pairs(text: str | None) -> list[list[float]] | None:
    """CVAT's `points="x1,y1;x2,y2"` as `[[x1, y1], ...]`, or None when malformed."""
    pairs = []
    for part in (text or "").split(";"):
        xy = part.split(",")
        if len(xy) != 2:
            return None
        x, y = _number(xy[0]), _number(xy[1])
        if x is None or y is None:
            return None
        pairs.append([x, y])
    return pairs or None


def rotated_box_corners(xtl: float, ytl: float, xbr: float, ybr: float, rotation: float) -> list[list[float]]:
    """The 4 corners of a box turned by `rotation` degrees clockwise (as CVAT draws it: image y down)
    about its centre, from the top left corner of the unturned box."""
    cx, cy = (xtl + xbr) / 2, (ytl + ybr) / 2
    angle = math.radians(rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    corners = [(xtl, ytl), (xbr, ytl), (xbr, ybr), (xtl, ybr)]
    return [
        [round(cx + (x - cx) * cos - (y - cy) * sin, 4), round(cy + (x - cx) * sin + (y - cy) * cos, 4)]
        for x, y in corners
    ]


def box_points(xtl: float, ytl: float, xbr: float, ybr: float, rotation: float, target: str) -> Points | None:
    """A CVAT `<box>`'s points in a class of type `target`. The one place that knows box rotation:
    CVAT turns a box about its centre, we turn a rectangle about its unturned top-left corner, so
    a turned box in a rectangle class is the same-sized box whose top-left is where CVAT's turned
    top-left corner lies (its rotation, the same angle, is `box_rotation`)."""
    turned = rotation % 360 != 0
    if target == EntryType.RECTANGLE:
        if not turned:
            return [[xtl, ytl], [xbr, ybr]]
        left, top = rotated_box_corners(xtl, ytl, xbr, ybr, rotation)[0]
        return [[left, top], [round(left + abs(xbr - xtl), 4), round(top + abs(ybr - ytl), 4)]]
    ring = rotated_box_corners(xtl, ytl, xbr, ybr, rotation) if turned else rotated_box_corners(xtl, ytl, xbr, ybr, 0)
    return [ring] if target == EntryType.SEGMENTATION else ring


def rle_mask(counts: list[int], width: int, height: int) -> np.ndarray:
    """CVAT's mask RLE (runs of 0 and 1 alternating, 0 first, row by row) as a (height, width) array."""
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    return flat.reshape(height, width)


def mask_rle(mask: np.ndarray) -> list[int]:
    """The inverse of `rle_mask`."""
    flat = mask.reshape(-1).astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return [int(c) for c in counts]


class _Item:
    """One image's shapes and tags in the canonical model, with located errors."""

    def __init__(self, data: dict[str, Any], config: LabelConfigIndex, mapping: Mapping[str, str]) -> None:
        self.path = data["path"]
        self.config = config
        self.mapping = mapping
        self.errors: list[ErrorDetail] = []

    def error(self, at: str, code: str, message: str, *params: object) -> None:
        self.errors.append(ErrorDetail(f"{self.path}: {at}", code, message, params=params))

    def entry(self, label: str, kind: str, at: str) -> IndexedEntry | None:
        targets = _TARGETS[kind]
        natural = SHAPE_KINDS[kind]
        mapped = self.mapping.get(label)
        if isinstance(mapped, str):
            candidates = [self.config.root(mapped.lower())]
        else:
            key = key_from_text(label)
            candidates = [
                self.config.by_schema_id.get(cvat_schema_id(label, natural)),
                *(self.config.by_schema_id.get(cvat_schema_id(label, t)) for t in sorted(targets)),
                self.config.root(key),
                self.config.root(key_from_text(f"{label}_{natural}")),
            ]
        for entry in candidates:
            if entry is not None and entry.parent_id is None and entry.type in targets:
                return entry
        kinds = " or ".join(sorted(targets))
        self.error(
            f"{at}/@label",
            "unknown_class",
            f"The <{kind}> label {label!r} is no {kinds} class of the label configuration; add one (the editor's "
            "“CVAT for images 1.1” conversion makes them from this file), or map the label to a class key with the "
            "option label_mapping.",
            label,
        )
        return None

    def answer(self, question: IndexedEntry, value: str, at: str) -> Answer | None:
        if question.type == EntryType.FREETEXT:
            if question.max_length is not None and len(value) > question.max_length:
                self.error(
                    at,
                    "text_too_long",
                    f"The value has {len(value)} characters; the question {question.key!r} takes "
                    f"{question.max_length}.",
                )
                return None
            return Answer(key=question.key, value=value)
        wanted = value.split("|") if question.type == EntryType.CHECKLIST else [value]
        keys = []
        for one in wanted:
            if one == "" and question.type == EntryType.SELECT:
                return Answer(key=question.key, value=None)
            option = next(
                (o for o in question.options if o.key == key_from_text(one) or o.label.lower() == one.lower()), None
            )
            if option is None:
                self.error(
                    at,
                    "unknown_option",
                    f"{one!r} is no option of the question {question.key!r} (options: "
                    f"{', '.join(o.label for o in question.options) or 'none'}); add it, or change the value.",
                    one,
                )
                return None
            keys.append(option.key)
        return Answer(key=question.key, value=keys if question.type == EntryType.CHECKLIST else keys[0])

    def answers(self, parent: IndexedEntry, shape: dict[str, Any], prefix: str = "") -> list[Answer]:
        found: list[Answer] = []
        for number, (name, value) in enumerate(shape["attributes"], start=1):
            at = f"{shape['at']}/attribute[{number}]"
            question = self.config.child(parent.id, key_from_text(f"{prefix} {name}" if prefix else name))
            if question is None or not question.is_classification:
                self.error(
                    f"{at}/@name",
                    "unknown_attribute",
                    f"The attribute {name!r} is no question of the class {parent.key!r}; add a child question "
                    f"with the key {key_from_text(f'{prefix} {name}' if prefix else name)!r}, or remove the "
                    "attribute.",
                    name,
                )
                continue
            answer = self.answer(question, value, at)
            if answer is not None:
                found.append(answer)
        occluded = self.config.child(parent.id, "occluded")
        if not prefix and occluded is not None and occluded.type == EntryType.SELECT:
            flag = "true" if shape["attrib"].get("occluded") == "1" else "false"
            if flag in occluded.option_keys:
                found.append(Answer(key=occluded.key, value=flag))
        return found

    def points(self, kind: str, entry: IndexedEntry, shape: dict[str, Any]) -> list[Points] | None:
        attrib, at = shape["attrib"], shape["at"]
        if kind == "box":
            numbers = [_number(attrib.get(name)) for name in ("xtl", "ytl", "xbr", "ybr")]
            rotation = _number(attrib.get("rotation", "0"))
            if any(n is None for n in numbers) or rotation is None:
                self.error(at, "invalid_box", "A <box> has xtl, ytl, xbr, ybr (and rotation) as numbers.")
                return None
            xtl, ytl, xbr, ybr = (float(n) for n in numbers)  # type: ignore[arg-type]
            points = box_points(xtl, ytl, xbr, ybr, rotation, entry.type)
            if points is None:  # not reached: every class type a box may go to has its points
                self.error(
                    f"{at}/@rotation",
                    "rotated_box",
                    f"The box is turned by {rotation:g} degrees; rotated rectangles will be supported, until then map "
                    "its label to a polygon class with label_mapping (its 4 corners are kept exactly).",
                )
                return None
            return [points]
        if kind == "mask":
            return self.mask(shape)
        pairs = _pairs(attrib.get("points"))
        least = {"polygon": 3, "polyline": 2, "points": 1}[kind]
        if pairs is None or len(pairs) < least:
            self.error(
                f"{at}/@points",
                "invalid_points",
                f'A <{kind}> has points="x1,y1;x2,y2;..." with at least {least} points.',
            )
            return None
        if kind == "points":
            return [[pair] for pair in pairs]
        return [[pairs] if entry.type == EntryType.SEGMENTATION else pairs]

    def mask(self, shape: dict[str, Any]) -> list[Points] | None:
        attrib, at = shape["attrib"], shape["at"]
        try:
            counts = [int(part) for part in (attrib.get("rle") or "").split(",")]
            left, top, width, height = (int(float(attrib[name])) for name in ("left", "top", "width", "height"))
        except (KeyError, ValueError):
            self.error(at, "invalid_mask", "A <mask> has rle (counts, comma-separated) and left, top, width, height.")
            return None
        if width <= 0 or height <= 0 or any(c < 0 for c in counts) or sum(counts) != width * height:
            self.error(
                f"{at}/@rle",
                "invalid_rle",
                f"The mask's runs add up to {sum(counts)} pixels; its box is {width} x {height} = {width * height}.",
            )
            return None
        rings = mask_segmentation(rle_mask(counts, width, height))
        if not rings:
            self.error(at, "empty_mask", "The mask paints no area (strokes one pixel thin have none); remove it.")
            return None
        return [[[[x + left, y + top] for x, y in ring] for ring in rings]]

    def tags(self, found: list[dict[str, Any]]) -> list[Answer]:
        if not found:
            return []
        question = self.config.by_schema_id.get(CVAT_TAGS_SCHEMA_ID) or self.config.root("tags")
        if question is None or question.parent_id is not None or question.type != EntryType.CHECKLIST:
            self.error(
                f"{found[0]['at']}",
                "no_tags_question",
                "The image has <tag>s; add a root checklist question with the key 'tags' and an option per tag "
                "label (the editor's “CVAT for images 1.1” conversion makes it).",
            )
            return []
        keys: list[str] = []
        children: list[Answer] = []
        for tag in found:
            label = tag["attrib"].get("label") or ""
            option = next(
                (o for o in question.options if o.key == key_from_text(label) or o.label.lower() == label.lower()), None
            )
            if option is None:
                self.error(
                    f"{tag['at']}/@label",
                    "unknown_tag",
                    f"The tag {label!r} is no option of the question {question.key!r}; add it, or map the tag with "
                    "label_mapping to an option.",
                    label,
                )
                continue
            if option.key not in keys:
                keys.append(option.key)
            children.extend(self.answers(question, tag, prefix=label))
        return [Answer(key=question.key, value=keys, answers=children)]


def convert(
    data: Any,
    config: LabelConfigIndex,
    *,
    index: int = 0,
    match_by: str = "name",
    options: Mapping[str, Any] | None = None,
) -> Converted:
    """One `<image>` as the shapes and tags of the media its `name` names."""
    options = options or {}
    path, at = data["path"], data["at"]
    if not data["name"]:
        return Converted(
            annotation=None,
            errors=[ErrorDetail(f"{path}: {at}/@name", "missing_name", "An <image> names its file in name=.")],
        )
    name, fallback = coco_media_names(data["name"])
    reference = MediaRef(name=name)
    item = _Item(data, config, options.get("label_mapping") or {})
    shapes: list[tuple[float, Shape]] = []
    tags: list[dict[str, Any]] = []
    for shape in data["shapes"]:
        kind = shape["tag"]
        if kind == "tag":
            label = shape["attrib"].get("label") or ""
            mapped = (options.get("label_mapping") or {}).get(label)
            tags.append({**shape, "attrib": {**shape["attrib"], "label": mapped or label}})
            continue
        if kind not in SHAPE_KINDS:
            if kind in _UNSUPPORTED:
                item.error(
                    shape["at"],
                    "unsupported_shape",
                    f"A CVAT <{kind}> has no counterpart here; convert it in CVAT (e.g. to a polygon) or delete it.",
                )
            continue
        entry = item.entry(shape["attrib"].get("label") or "", kind, shape["at"])
        if entry is None:
            continue
        points_list = item.points(kind, entry, shape)
        answers = item.answers(entry, shape)
        if points_list is None:
            continue
        z_order = _number(shape["attrib"].get("z_order")) or 0.0
        # A turned box in a rectangle class keeps its rotation (`box_points` moved its corner).
        turn = _number(shape["attrib"].get("rotation", "0")) if kind == "box" else 0.0
        rotation = rotation_normalise(turn or 0.0) if entry.type == EntryType.RECTANGLE else 0.0
        for points in points_list:
            shapes.append(
                (
                    z_order,
                    Shape(
                        key=entry.key,
                        type=entry.type,
                        points=points,
                        answers=list(answers),
                        entry_id=entry.id,
                        rotation=rotation,
                    ),
                )
            )
    answers = item.tags(tags)
    width, height = _number(data["width"]), _number(data["height"])
    common: dict[str, Any] = {
        "reference": reference,
        "reference_path": f"{path}: {at}/@name",
        "fallback_reference": MediaRef(name=fallback) if fallback else None,
    }
    if item.errors:
        return Converted(annotation=None, errors=item.errors, **common)
    ordered = [shape for _, shape in sorted(shapes, key=lambda pair: pair[0])]  # stable: file order within a z
    size_check = (
        SizeCheck(int(width), int(height), f"{path}: {at}/@width", "The CVAT image")
        if width and height and width > 0 and height > 0
        else None
    )
    annotation = MediaAnnotation(media=reference, shapes=ordered, answers=answers, keep_data=True)
    return Converted(annotation=annotation, size_check=size_check, **common)


FORMAT = ImportFormat(
    name="cvat",
    label="CVAT for images 1.1 (XML)",
    description="CVAT's “CVAT for images 1.1” export: annotations.xml, or the ZIP with images/ (datumaro's too), "
    "as one import; boxes (turned ones keep their rotation), polygons, polylines, points, masks and tags, with "
    "their attributes, matched to media by image name.",
    file_kinds=("xml",),
    schema=None,
    item_schema=ItemSchema({"type": "object", "required": ["name", "shapes"]}),
    read=read,
    convert=convert,
    options={"match_by": "name", "label_mapping": {}},
    option_schemas={
        "match_by": {"const": "name", "description": "CVAT images are matched to media by their name."},
        "label_mapping": LABEL_MAPPING_OPTION,
    },
    takes_options=True,
    sniff=sniff,
    archive_reader=is_cvat_archive,
    nothing_hint="A CVAT for images 1.1 file has <image name=...> elements whose names are media of the project.",
)


# --- writing ------------------------------------------------------------------------------


def _name_for(entry: Any) -> str:
    """The name a class or question has in CVAT: its CVAT label when made from one, else its title
    when that reads back as its key, else its key."""
    label = cvat_label_of_schema_id(entry.schema_id or "")
    if label is not None:
        return label
    return str(entry.title) if key_from_text(str(entry.title)) == entry.key else str(entry.key)


def _attribute_name(question: Any, prefix: str = "") -> str:
    title = str(question.title)
    if prefix and title.startswith(f"{prefix}: "):
        title = title[len(prefix) + 2 :]
    expected = key_from_text(f"{prefix} {title}" if prefix else title)
    return title if expected == question.key else str(question.key)


def _is_checkbox(question: Any) -> bool:
    return question.type == EntryType.SELECT and sorted(o["key"] for o in question.options) == ["false", "true"]


def _tags_question(source: ExportSource) -> Any:
    for entry in source.config.children[None]:
        if entry.type == EntryType.CHECKLIST and (entry.schema_id == CVAT_TAGS_SCHEMA_ID or entry.key == "tags"):
            return entry
    return None


def _attribute_meta(question: Any, name: str) -> str:
    if _is_checkbox(question):
        kind, values = "checkbox", ["false", "true"]
    elif question.type == EntryType.SELECT:
        kind, values = "select", [str(o.get("label") or o["key"]) for o in question.options]
    else:
        kind, values = "text", []
    return (
        f"<attribute><name>{escape(name)}</name><mutable>False</mutable><input_type>{kind}</input_type>"
        f"<default_value>{escape(values[0] if values else '')}</default_value>"
        f"<values>{escape(chr(10).join(values))}</values></attribute>"
    )


class _Meta:
    """The CVAT labels of the configuration: name -> (type, attributes), and the tags question."""

    def __init__(self, source: ExportSource) -> None:
        self.labels: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}
        for entry in source.config.geometry_classes():  # nested ones too: they are written flat
            name = _name_for(entry)
            self.names[str(entry.id)] = name
            label = self.labels.setdefault(name, {"type": entry.type, "color": entry.color, "attributes": {}})
            if label["type"] != entry.type:
                label["type"] = "any"
            for question in source.config.questions_of(entry.id):
                if question.key != "occluded":
                    label["attributes"].setdefault(_attribute_name(question), question)
        self.tags = _tags_question(source)
        if self.tags is not None:
            for option in self.tags.options:
                tag_name = str(option.get("label") or option["key"])
                attributes = {}
                for question in source.config.questions_of(self.tags.id):
                    if question.key.startswith(f"{key_from_text(tag_name)} "):
                        attributes[_attribute_name(question, tag_name)] = question
                self.labels.setdefault(tag_name, {"type": "tag", "color": "", "attributes": attributes})

    def xml(self, size: int, name: str) -> str:
        labels = []
        for label_name, label in self.labels.items():
            type_ = {"line": "polyline", "point": "points", "segmentation": "mask"}.get(label["type"], label["type"])
            attributes = "".join(_attribute_meta(q, n) for n, q in label["attributes"].items())
            labels.append(
                f"<label><name>{escape(label_name)}</name><color>{escape(label['color'] or '')}</color>"
                f"<type>{type_}</type><attributes>{attributes}</attributes></label>"
            )
        dumped = datetime.now(UTC).isoformat()
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n<version>1.1</version>\n<meta><task>'
            f"<id>1</id><name>{escape(name)}</name><size>{size}</size><mode>annotation</mode><overlap>0</overlap>"
            f"<labels>{''.join(labels)}</labels></task><dumped>{dumped}</dumped></meta>\n"
        )


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def _points_text(points: list[tuple[float, float]]) -> str:
    return ";".join(f"{_fmt(x)},{_fmt(y)}" for x, y in points)


def _answer_attributes(shape: Shape, questions: dict[str, Any], occluded_key: str | None) -> tuple[str, str]:
    """`(<attribute>s, occluded flag)` of a shape's answers to its class's direct questions."""
    parts = []
    occluded = "0"
    for answer in shape.answers:
        if answer.key == occluded_key:
            occluded = "1" if answer.value == "true" else "0"
            continue
        question = questions.get(answer.key)
        if question is None or answer.value is None:
            continue
        if isinstance(answer.value, list):
            labels = {o["key"]: str(o.get("label") or o["key"]) for o in question.options}
            text = "|".join(labels.get(v, v) for v in answer.value)
        elif question.type == EntryType.SELECT and not _is_checkbox(question):
            text = next((str(o.get("label") or o["key"]) for o in question.options if o["key"] == answer.value), "")
        else:
            text = str(answer.value)
        parts.append(f"<attribute name={quoteattr(_attribute_name(question))}>{escape(text)}</attribute>")
    return "".join(parts), occluded


def _shape_xml(shape: Shape, source: ExportSource, meta: _Meta, item: ExportItem, group: int) -> str:
    entry = source.config.by_id.get(shape.entry_id) if shape.entry_id else None
    if entry is None:
        return ""
    questions = {q.key: q for q in source.config.questions_of(entry.id)}
    occluded_key = "occluded" if "occluded" in questions else None
    attributes, occluded = _answer_attributes(shape, questions, occluded_key)
    label = meta.names.get(str(entry.id), entry.key)
    common = (
        f"label={quoteattr(label)} source={quoteattr('auto' if shape.source == LabelSource.PREDICTION else 'manual')} "
        f'occluded="{occluded}" z_order="0"' + (f' group_id="{group}"' if group else "")
    )
    if shape.type == EntryType.RECTANGLE:
        rings = rings_of(shape.type, shape.points)
        if not rings:
            return ""
        (x1, y1), _, (x2, y2), _ = rings[0]
        turn = ""
        if shape.rotation:
            # CVAT turns a box about its centre (in [0, 360)): the same box, centred where ours is.
            _, _, w, h = rectangle_box(shape.points)
            cx, cy = (sum(c) / 4 for c in zip(*rectangle_corners(shape.points, shape.rotation), strict=True))
            x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
            turn = f' rotation="{_fmt(shape.rotation % 360)}"'
        body = f'<box {common} xtl="{_fmt(x1)}" ytl="{_fmt(y1)}" xbr="{_fmt(x2)}" ybr="{_fmt(y2)}"{turn}>'
        return f"{body}{attributes}</box>"
    if shape.type in (EntryType.POLYGON, EntryType.LINE, EntryType.POINT):
        pairs = [(float(p[0]), float(p[1])) for p in shape.points if isinstance(p, list) and len(p) >= 2]
        tag = {"polygon": "polygon", "line": "polyline", "point": "points"}[shape.type]
        if not pairs:
            return ""
        return f'<{tag} {common} points="{_points_text(pairs)}">{attributes}</{tag}>'
    if shape.type == EntryType.SEGMENTATION:
        rings = rings_of(shape.type, shape.points)
        if not rings:
            return ""
        width = item.width or math.ceil(max(x for ring in rings for x, _ in ring)) + 2
        height = item.height or math.ceil(max(y for ring in rings for _, y in ring)) + 2
        crop, x0, y0 = segmentation_crop(rings, width, height)
        rows, columns = np.flatnonzero(crop.any(axis=1)), np.flatnonzero(crop.any(axis=0))
        if not rows.size:
            return ""
        crop = crop[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
        left, top = x0 + int(columns[0]), y0 + int(rows[0])
        rle = ", ".join(str(c) for c in mask_rle(crop))
        return (
            f'<mask {common} rle="{rle}" left="{left}" top="{top}" width="{crop.shape[1]}" '
            f'height="{crop.shape[0]}">{attributes}</mask>'
        )
    return ""


def _image_xml(item: ExportItem, number: int, source: ExportSource, meta: _Meta) -> str:
    parts = [
        f'<image id="{number}" name={quoteattr(item.media_name)} width="{item.width or 0}" height="{item.height or 0}">'
    ]
    group = 0
    for shape in item.annotation.shapes:
        shape_group = 0
        if shape.children:
            group += 1
            shape_group = group
        parts.append(_shape_xml(shape, source, meta, item, shape_group))
        for child in shape.children:
            parts.append(_shape_xml(child, source, meta, item, shape_group))
    if meta.tags is not None:
        tags = next((a for a in item.annotation.answers if a.key == meta.tags.key), None)
        if tags is not None and isinstance(tags.value, list):
            labels = {o["key"]: str(o.get("label") or o["key"]) for o in meta.tags.options}
            for key in tags.value:
                name = labels.get(key, key)
                attributes = ""
                for answer in tags.answers:
                    question = next((q for q in source.config.questions_of(meta.tags.id) if q.key == answer.key), None)
                    if question is None or answer.value is None or not answer.key.startswith(f"{key_from_text(name)} "):
                        continue
                    fake = Shape(key="", type="", points=[], answers=[answer])
                    text, _ = _answer_attributes(fake, {question.key: question}, None)
                    attributes += text.replace(
                        f"name={quoteattr(_attribute_name(question))}",
                        f"name={quoteattr(_attribute_name(question, name))}",
                    )
                parts.append(f'<tag label={quoteattr(name)} source="manual">{attributes}</tag>')
    parts.append("</image>\n")
    return "".join(parts)


def cvat_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    """`annotations.xml` in a ZIP, as CVAT's “CVAT for images 1.1” export (without images)."""
    meta = _Meta(source)
    with (
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("annotations.xml", "w", force_zip64=True) as xml,
    ):
        xml.write(meta.xml(0, "Labelsite export").encode())
        number = 0
        for chunk in source.chunks():
            for item in chunk:
                xml.write(_image_xml(item, number, source, meta).encode())
                number += 1
            yield
        xml.write(b"</annotations>\n")
    yield


EXPORT_FORMAT = ExportFormat(
    name="cvat",
    label="CVAT for images 1.1 (XML)",
    description="A ZIP with annotations.xml as CVAT for images 1.1 (what CVAT and datumaro import): rectangles as "
    "boxes, polygons, lines as polylines, points, segmentations as masks, answers as attributes, the 'tags' "
    "checklist as tags.",
    extension="zip",
    content_type="application/zip",
    write=cvat_write,
    needs_media_size=True,
)


__all__ = ["EXPORT_FORMAT", "FORMAT", "box_points", "mask_rle", "rle_mask", "rotated_box_corners"]
