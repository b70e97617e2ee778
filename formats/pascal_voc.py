"""Pascal VOC XML, one file per image, zipped (`Annotations/<media>.xml`, `ImageSets/Main/default.txt`).

Each `<object>` is a rectangle, polygon or segmentation class: its `<bndbox>` (integer
pixels, rounded outwards: `xmin`/`ymin` down, `xmax`/`ymax` up), and for a polygon or a
segmentation also its points in an extension element `<polygon><point><x/><y/></point>...`
(one `<polygon>` per ring). Its answers are `<attributes><attribute><name/><value/>`;
a nested rectangle, polygon or segmentation is a VOC `<part>` of its object. Points and
lines have no box and are left out. Images whose size is unknown still get a file, with
`width` and `height` 0.

Reading (`FORMAT`): a ZIP of VOC XML files as Pascal VOC, Label Studio's VOC export and CVAT
write it (`Annotations/*.xml`, with or without `JPEGImages/` or `images/`; every `.xml` entry
is read, the images are not imported), or one XML file. The archive is one job
(`archive_reader`): one item per XML file, in path order. Each `<object>` is its `<bndbox>` in
pixels, as a shape of the configuration's root class whose key is its `<name>`
(case-insensitive): a rectangle, or the box's four corners for a polygon or segmentation class.
The media is the one named by `<filename>` (else the XML file's name with the image's
extension unknown: the file name is required), matched as COCO's file names are
(`formats.coco.coco_media_names`). `<size>` must fit the media. Not kept: `difficult`,
`truncated`, `pose`, `occluded` (the model has no per-shape flags; a class question would be
a guess), `<part>`s and our writer's `<polygon>` extension.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Generator, Iterator
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError, fromstring

import orjson

from formats.coco import coco_media_names
from formats.reading import (
    Converted,
    FileError,
    ImportFormat,
    ItemSchema,
    RawItem,
    SizeCheck,
    file_or_archive_items,
    not_utf8_check,
    not_utf8_error,
)
from formats.writing import (
    ExportFormat,
    ExportParts,
    ExportSource,
    PartStart,
    TaskRows,
    UniqueNames,
    answers_tree_flat,
    label_tree,
    points_pairs,
    rings_of,
    stem,
    zip_entry_write,
    zip_parts_join,
)
from labeling.annotation import MediaAnnotation, MediaRef, Shape, rectangle_hull
from labeling.models import LabelSource
from labelsite.archives import archive_entry_ignored
from labelsite.errors import ErrorDetail
from projects.label_config import LabelConfigIndex
from projects.models import EntryType

BOX_TYPES = frozenset({EntryType.RECTANGLE, EntryType.POLYGON, EntryType.SEGMENTATION})


# The document is written as text, not built as an ElementTree: serialising a tree of a hundred
# elements per image was most of the export's time. The text is the bytes ElementTree wrote (its
# declaration, no whitespace, `<tag />` when empty, `&`, `<` and `>` escaped in text).
DECLARATION = "<?xml version='1.0' encoding='utf-8'?>\n"


def _text(tag: str, text: object) -> str:
    value = str(text)
    if not value:
        return f"<{tag} />"
    if "&" in value or "<" in value or ">" in value:
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<{tag}>{value}</{tag}>"


def _box(kind: str, points: Any, rotation: float) -> str | None:
    """The `<bndbox>` (and `<polygon>`s) of a label, None when it has no box."""
    # A rotated rectangle: VOC has no rotation, so its box is the turned box's axis-aligned hull.
    # The pairs are read once for the box and a polygon's ring (`box_of` and `rings_of` each read them).
    pairs = points_pairs(points)
    if rotation and isinstance(points, list) and len(pairs) == 2:
        x, y, w, h = rectangle_hull(points, rotation)
    elif not pairs:
        return None
    elif len(pairs) == 2:
        # Two corners (a rectangle): `min` and `max` of two written out, as they choose (the first
        # unless the second is strictly beyond it).
        (x1, y1), (x2, y2) = pairs
        x, y = (x2 if x2 < x1 else x1), (y2 if y2 < y1 else y1)
        w, h = (x2 if x2 > x1 else x1) - x, (y2 if y2 > y1 else y1) - y
    else:
        xs, ys = zip(*pairs, strict=True)
        x, y = min(xs), min(ys)
        w, h = max(xs) - x, max(ys) - y
    bndbox = (
        f"<bndbox><xmin>{math.floor(x)}</xmin><ymin>{math.floor(y)}</ymin>"
        f"<xmax>{math.ceil(x + w)}</xmax><ymax>{math.ceil(y + h)}</ymax></bndbox>"
    )
    if kind == _RECTANGLE:
        return bndbox
    # A polygon's ring is its pairs (`rings_of`: a list of at least three).
    rings = ([pairs] if len(pairs) >= 3 else []) if kind == _POLYGON else rings_of(kind, points)
    parts = [bndbox]
    for ring in rings:
        ring_points = "".join([f"<point><x>{px:g}</x><y>{py:g}</y></point>" for px, py in ring])
        parts.append(f"<polygon>{ring_points}</polygon>" if ring_points else "<polygon />")
    return "".join(parts)


_RECTANGLE = str(EntryType.RECTANGLE)
_POLYGON = str(EntryType.POLYGON)


def _attributes(answers: dict[str, Any] | None) -> str:
    """A label's stored answer tree as `<attributes>`, remembered by its JSON (most labels of a class
    share a few answer trees: a car's type)."""
    if not answers:
        return ""
    key = orjson.dumps(answers)
    found = _ATTRIBUTES_SEEN.get(key)
    if found is None:
        if len(_ATTRIBUTES_SEEN) >= _ATTRIBUTES_SEEN_MAX:  # free text: every tree new, keep memory bounded
            _ATTRIBUTES_SEEN.clear()
        found = _ATTRIBUTES_SEEN[key] = _attributes_text(answers)
    return found


_ATTRIBUTES_SEEN: dict[bytes, str] = {}
_ATTRIBUTES_SEEN_MAX = 10_000


def _attributes_text(answers: dict[str, Any]) -> str:
    flat = answers_tree_flat(answers)
    if not flat:
        return ""
    attributes = "".join(
        [
            "<attribute>"
            + _text("name", name)
            + _text("value", "|".join(value) if isinstance(value, list) else ("" if value is None else value))
            + "</attribute>"
            for name, value in flat.items()
        ]
    )
    return f"<attributes>{attributes}</attributes>"


def voc_document(task: TaskRows, file_name: str, classes: dict[str, tuple[str, str]]) -> bytes:
    """A task's document, from its labels as read (`classes`: entry id -> (type, its `<name>` element))."""
    parts = [DECLARATION, "<annotation><folder>JPEGImages</folder>", _text("filename", file_name)]
    if task.media_url:
        parts.append(_text("path", task.media_url))
    parts.append(
        "<source><database>Labelsite</database></source>"
        f"<size><width>{task.width or 0}</width><height>{task.height or 0}</height><depth>3</depth></size>"
        "<segmented>0</segmented>"
    )
    for label, children in label_tree(task.labels):
        kind, name = classes[label.entry_id]
        if kind not in BOX_TYPES:
            continue
        box = _box(kind, label.points, label.rotation)
        if box is None:
            continue
        parts.append("<object>" + name)
        parts.append("<pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>")
        if label.source == _PREDICTED and label.score is not None:
            parts.append(_text("score", label.score))
        parts.append(box)
        parts.append(_attributes(label.answers))
        for child, _ in children:
            child_kind, child_name = classes[child.entry_id]
            if child_kind not in BOX_TYPES:
                continue
            child_box = _box(child_kind, child.points, child.rotation)
            if child_box is not None:
                parts.append("<part>" + child_name + child_box + _attributes(child.answers) + "</part>")
        parts.append("</object>")
    parts.append("</annotation>")
    return "".join(parts).encode("utf-8")


_PREDICTED = str(LabelSource.PREDICTION)


#: The listing of the documents: every part ends with it, the join makes it one.
LISTING = "ImageSets/Main/default.txt"


def voc_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        yield from _documents(source, archive, UniqueNames())
    yield


def _documents(source: ExportSource, archive: zipfile.ZipFile, names: UniqueNames) -> Iterator[None]:
    """A document per task, then the listing of their names."""
    stems: list[str] = []
    classes = {str(entry.id): (entry.type, _text("name", entry.key)) for entry in source.config.entries}
    for chunk in source.rows():
        for task in chunk:
            file_stem = names.take(stem(task.media_name), "xml")[: -len(".xml")]
            stems.append(file_stem)
            zip_entry_write(archive, f"Annotations/{file_stem}.xml", voc_document(task, task.media_name, classes))
        yield
    archive.writestr(LISTING, "".join(f"{s}\n" for s in stems))


def voc_write_part(
    source: ExportSource, out: IO[bytes], side: IO[bytes], start: PartStart
) -> Generator[None, None, int]:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        yield from _documents(source, archive, UniqueNames(start.names))
    return 0


def voc_join(source: ExportSource, parts: list[tuple[IO[bytes], IO[bytes]]], out: IO[bytes]) -> Iterator[None]:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        yield from zip_parts_join([part for part, _ in parts], archive, ((LISTING, True),))
    yield


def _name_key(name: str, width: int | None, height: int | None) -> str:
    return stem(name)


EXPORT_FORMAT = ExportFormat(
    name="pascal_voc",
    label="Pascal VOC XML",
    description="A zip of Pascal VOC XML files, one per image: boxes of rectangles, polygons (as their "
    "bounding boxes plus their points) and segmentations; nested geometries as parts.",
    extension="zip",
    content_type="application/zip",
    write=voc_write,
    parts=ExportParts(write=voc_write_part, join=voc_join, name_key=_name_key),
    needs_media_size=True,
)


# --- reading ------------------------------------------------------------------------------


def _child_text(element: Element, tag: str) -> str | None:
    child = element.find(tag)
    return child.text.strip() if child is not None and child.text else None


def voc_parse(body: bytes, path: str) -> dict[str, Any]:
    """One VOC XML document as plain data, or a located FileError."""
    body = body.removeprefix(b"\xef\xbb\xbf")
    not_utf8_check(body[:4])
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise not_utf8_error(f"at line {line} (byte {exc.start})", f"{path}, line {line}") from exc
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise FileError(
            ErrorDetail(path, "xml_doctype", f"{path} declares a DOCTYPE or entities; a VOC file has none. Remove it.")
        )
    try:
        # No DOCTYPE or entity reaches the parser (refused above), so no entity expansion: safe.
        root = fromstring(body)  # noqa: S314
    except ParseError as exc:
        line, column = exc.position
        raise FileError(
            ErrorDetail(
                f"{path}, line {line}", "xml_syntax", f"{path} is not valid XML at line {line}, column {column}."
            )
        ) from exc
    if root.tag != "annotation":
        raise FileError(
            ErrorDetail(path, "not_voc", f"{path} is no Pascal VOC file: its root is <{root.tag}>, not <annotation>.")
        )
    size = root.find("size")
    objects = []
    for number, obj in enumerate(root.findall("object"), start=1):
        box = obj.find("bndbox")
        objects.append(
            {
                "at": f"/annotation/object[{number}]",
                "name": _child_text(obj, "name"),
                "bndbox": {tag: _child_text(box, tag) for tag in ("xmin", "ymin", "xmax", "ymax")}
                if box is not None
                else None,
            }
        )
    return {
        "path": path,
        "filename": _child_text(root, "filename"),
        "width": _child_text(size, "width") if size is not None else None,
        "height": _child_text(size, "height") if size is not None else None,
        "objects": objects,
    }


def is_voc_archive(paths: list[str]) -> bool:
    """A dataset export of Pascal VOC: XML annotation files (`Annotations/*.xml`), read as one job."""
    return any(path.lower().endswith(".xml") and not archive_entry_ignored(path) for path in paths)


def read(file: IO[bytes]) -> Iterator[RawItem]:
    """The XML files of a VOC archive (or one XML file), one item each, in path order."""
    return file_or_archive_items(
        file,
        suffix=".xml",
        parse=voc_parse,
        none_found=ErrorDetail("file", "no_xml", "The archive holds no .xml file; a VOC export has Annotations/*.xml."),
    )


def _pixels(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) and number >= 0 else None


def convert(data: Any, config: LabelConfigIndex, *, index: int = 0, match_by: str = "name") -> Converted:
    """One VOC file as the boxes of the media its `<filename>` names."""
    path = data["path"]
    if not data["filename"]:
        return Converted(
            annotation=None,
            errors=[
                ErrorDetail(
                    f"{path}: /annotation/filename",
                    "missing_filename",
                    f"{path} names no image in <filename>; add the image's file name.",
                )
            ],
        )
    name, fallback = coco_media_names(data["filename"])
    reference = MediaRef(name=name)
    errors: list[ErrorDetail] = []
    shapes: list[Shape] = []
    for obj in data["objects"]:
        place = f"{path}: {obj['at']}"
        entry = config.root((obj["name"] or "").lower())
        if entry is None or entry.type not in BOX_TYPES:
            what = "no rectangle, polygon or segmentation class" if entry is not None else "no class"
            errors.append(
                ErrorDetail(
                    f"{place}/name",
                    "unknown_class",
                    f"The object name {obj['name']!r} is {what} of the label configuration; add a rectangle class "
                    "with that name, or rename the object.",
                    params=(obj["name"],),
                )
            )
            continue
        box = obj["bndbox"] or {}
        numbers = {tag: _pixels(box.get(tag)) for tag in ("xmin", "ymin", "xmax", "ymax")}
        bad = [tag for tag, number in numbers.items() if number is None]
        if bad or numbers["xmax"] < numbers["xmin"] or numbers["ymax"] < numbers["ymin"]:  # type: ignore[operator]
            errors.append(
                ErrorDetail(
                    f"{place}/bndbox" + (f"/{bad[0]}" if bad else ""),
                    "invalid_bndbox",
                    "A <bndbox> has xmin, ymin, xmax and ymax in pixels (numbers >= 0), with xmax >= xmin and "
                    "ymax >= ymin.",
                )
            )
            continue
        x1, y1, x2, y2 = (float(numbers[tag] or 0) for tag in ("xmin", "ymin", "xmax", "ymax"))
        if entry.type == EntryType.RECTANGLE:
            points: Any = [[x1, y1], [x2, y2]]
        else:
            ring = [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]
            points = [ring] if entry.type == EntryType.SEGMENTATION else ring
        shapes.append(Shape(key=entry.key, type=entry.type, points=points, entry_id=entry.id))
    fallback_reference = MediaRef(name=fallback) if fallback else None
    width, height = _pixels(data["width"]), _pixels(data["height"])
    size_check = (
        SizeCheck(int(width), int(height), f"{path}: /annotation/size", "The VOC file's image")
        if width and height
        else None
    )
    common: dict[str, Any] = {
        "reference": reference,
        "reference_path": f"{path}: /annotation/filename",
        "fallback_reference": fallback_reference,
    }
    if errors:
        return Converted(annotation=None, errors=errors, **common)
    annotation = MediaAnnotation(media=reference, shapes=shapes, keep_data=True)
    return Converted(annotation=annotation, size_check=size_check, **common)


FORMAT = ImportFormat(
    name="pascal_voc",
    label="Pascal VOC XML",
    description="A ZIP of Pascal VOC XML files (Annotations/*.xml, with or without images), e.g. Label Studio's "
    "VOC export, as one import; boxes of objects mapped by name to the configuration's classes, images matched "
    "to media by <filename>.",
    file_kinds=("xml",),
    schema=None,
    item_schema=ItemSchema({"type": "object"}),
    read=read,
    convert=convert,
    options={"match_by": "name"},
    option_schemas={"match_by": {"const": "name", "description": "VOC files are matched to media by <filename>."}},
    archive_reader=is_voc_archive,
    nothing_hint="A VOC archive needs Annotations/*.xml files whose <filename> names media of the project.",
)
