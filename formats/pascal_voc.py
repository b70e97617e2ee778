"""Pascal VOC XML, one file per image, zipped (`Annotations/<media>.xml`, `ImageSets/Main/default.txt`).

Each `<object>` is a rectangle, polygon or segmentation class: its `<bndbox>` (integer
pixels, rounded outwards: `xmin`/`ymin` down, `xmax`/`ymax` up), and for a polygon or a
segmentation also its points in an extension element `<polygon><point><x/><y/></point>...`
(one `<polygon>` per ring). Its answers are `<attributes><attribute><name/><value/>`;
a nested rectangle, polygon or segmentation is a VOC `<part>` of its object. Points and
lines have no box and are left out. Images whose size is unknown still get a file, with
`width` and `height` 0.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from typing import IO
from xml.etree.ElementTree import Element, SubElement, tostring

from formats.writing import (
    ExportFormat,
    ExportItem,
    ExportSource,
    UniqueNames,
    answers_flat,
    box_of,
    rings_of,
    stem,
)
from labeling.annotation import Shape
from labeling.models import LabelSource
from projects.models import EntryType

BOX_TYPES = frozenset({EntryType.RECTANGLE, EntryType.POLYGON, EntryType.SEGMENTATION})


def _text(parent: Element, tag: str, text: object) -> Element:
    element = SubElement(parent, tag)
    element.text = str(text)
    return element


def _box(parent: Element, shape: Shape) -> bool:
    box = box_of(shape.points)
    if box is None:
        return False
    x, y, w, h = box
    bndbox = SubElement(parent, "bndbox")
    _text(bndbox, "xmin", math.floor(x))
    _text(bndbox, "ymin", math.floor(y))
    _text(bndbox, "xmax", math.ceil(x + w))
    _text(bndbox, "ymax", math.ceil(y + h))
    if shape.type != EntryType.RECTANGLE:
        for ring in rings_of(shape.type, shape.points):
            polygon = SubElement(parent, "polygon")
            for px, py in ring:
                point = SubElement(polygon, "point")
                _text(point, "x", f"{px:g}")
                _text(point, "y", f"{py:g}")
    return True


def _attributes(parent: Element, shape: Shape) -> None:
    flat = answers_flat(shape.answers)
    if not flat:
        return
    attributes = SubElement(parent, "attributes")
    for name, value in flat.items():
        attribute = SubElement(attributes, "attribute")
        _text(attribute, "name", name)
        _text(attribute, "value", "|".join(value) if isinstance(value, list) else ("" if value is None else value))


def voc_document(item: ExportItem, file_name: str) -> bytes:
    root = Element("annotation")
    _text(root, "folder", "JPEGImages")
    _text(root, "filename", file_name)
    if item.media_url:
        _text(root, "path", item.media_url)
    source = SubElement(root, "source")
    _text(source, "database", "Labelsite")
    size = SubElement(root, "size")
    _text(size, "width", item.width or 0)
    _text(size, "height", item.height or 0)
    _text(size, "depth", 3)
    _text(root, "segmented", 0)
    for shape in item.annotation.shapes:
        if shape.type not in BOX_TYPES:
            continue
        obj = Element("object")
        _text(obj, "name", shape.key)
        _text(obj, "pose", "Unspecified")
        _text(obj, "truncated", 0)
        _text(obj, "difficult", 0)
        if shape.source == LabelSource.PREDICTION and shape.score is not None:
            _text(obj, "score", shape.score)
        if not _box(obj, shape):
            continue
        _attributes(obj, shape)
        for child in shape.children:
            if child.type not in BOX_TYPES:
                continue
            part = Element("part")
            _text(part, "name", child.key)
            if _box(part, child):
                _attributes(part, child)
                obj.append(part)
        root.append(obj)
    return tostring(root, encoding="utf-8", xml_declaration=True)


def voc_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    names = UniqueNames()
    stems: list[str] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for chunk in source.chunks():
            for item in chunk:
                file_stem = names.take(stem(item.media_name), "xml")[: -len(".xml")]
                stems.append(file_stem)
                archive.writestr(f"Annotations/{file_stem}.xml", voc_document(item, item.media_name))
            yield
        archive.writestr("ImageSets/Main/default.txt", "".join(f"{s}\n" for s in stems))
    yield


EXPORT_FORMAT = ExportFormat(
    name="pascal_voc",
    label="Pascal VOC XML",
    description="A zip of Pascal VOC XML files, one per image: boxes of rectangles, polygons (as their "
    "bounding boxes plus their points) and segmentations; nested geometries as parts.",
    extension="zip",
    content_type="application/zip",
    write=voc_write,
)
