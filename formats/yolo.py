"""YOLO (Ultralytics layout), zipped: `labels/<media>.txt` per image, `classes.txt` and `data.yaml`.

- `yolo` (detection): one line per rectangle, polygon or segmentation (its bounding box):
  `<class> <cx> <cy> <w> <h>`, normalised by the image's width and height to 0..1.
- `yolo_seg` (segmentation): one line per polygon, segmentation ring or rectangle (its four
  corners): `<class> <x1> <y1> <x2> <y2> ...`, normalised.

Class indices count from 0 over the classes that can appear (in configuration order, nested
classes included); `classes.txt` lists their keys one per line and `data.yaml` maps index to
name. Every image gets its text file (empty when it has no label: a background image);
`images.txt` lists the media URLs in the same order. An image without a known size cannot
be normalised: its file stays empty and it is listed in `unsized.txt`.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from typing import IO

from formats.writing import (
    ExportFormat,
    ExportItem,
    ExportSource,
    ExportWriter,
    UniqueNames,
    box_of,
    rings_of,
    shapes_walk,
    stem,
)
from projects.models import EntryType

DETECT_TYPES = frozenset({EntryType.RECTANGLE, EntryType.POLYGON, EntryType.SEGMENTATION})
SEGMENT_TYPES = DETECT_TYPES


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def _lines(item: ExportItem, class_index: dict[str, int], *, segments: bool) -> list[str]:
    width, height = float(item.width or 0), float(item.height or 0)
    lines: list[str] = []
    for shape, _ in shapes_walk(item.annotation.shapes):
        index = class_index.get(shape.entry_id or "")
        if index is None:
            continue
        if segments:
            for ring in rings_of(shape.type, shape.points):
                coordinates = " ".join(f"{_clip(x / width):.6f} {_clip(y / height):.6f}" for x, y in ring)
                lines.append(f"{index} {coordinates}")
            continue
        box = box_of(shape.points)
        if box is None:
            continue
        x, y, w, h = box
        cx, cy = _clip((x + w / 2) / width), _clip((y + h / 2) / height)
        lines.append(f"{index} {cx:.6f} {cy:.6f} {_clip(w / width):.6f} {_clip(h / height):.6f}")
    return lines


def _yaml_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _writer(*, segments: bool) -> ExportWriter:
    types = SEGMENT_TYPES if segments else DETECT_TYPES

    def write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
        classes = source.config.geometry_classes(set(types))
        class_index = {str(entry.id): index for index, entry in enumerate(classes)}
        names = UniqueNames()
        unsized: list[str] = []
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("classes.txt", "".join(f"{entry.key}\n" for entry in classes))
            archive.writestr(
                "data.yaml",
                "# Put the images in images/ beside labels/ (see images.txt for where they are).\n"
                "path: .\ntrain: images\nval: images\n"
                f"nc: {len(classes)}\nnames:\n"
                + "".join(f"  {index}: {_yaml_string(entry.key)}\n" for index, entry in enumerate(classes)),
            )
            with tempfile.TemporaryFile() as listing:
                for chunk in source.chunks():
                    for item in chunk:
                        file_stem = names.take(stem(item.media_name), "txt")[: -len(".txt")]
                        listing.write(f"{file_stem}\t{item.media_url or item.media_name}\n".encode())
                        if not item.width or not item.height:
                            unsized.append(item.media_name)
                            lines: list[str] = []
                        else:
                            lines = _lines(item, class_index, segments=segments)
                        archive.writestr(f"labels/{file_stem}.txt", "".join(f"{line}\n" for line in lines))
                    yield
                listing.seek(0)
                with archive.open("images.txt", "w") as member:
                    shutil.copyfileobj(listing, member)
            if unsized:
                archive.writestr("unsized.txt", "".join(f"{name}\n" for name in unsized))
        yield

    return write


EXPORT_FORMATS = (
    ExportFormat(
        name="yolo",
        label="YOLO (boxes)",
        description="A zip in the Ultralytics layout: labels/<image>.txt with normalised boxes "
        "(class cx cy w h) of rectangles, polygons and segmentations, classes.txt and data.yaml.",
        extension="zip",
        content_type="application/zip",
        write=_writer(segments=False),
    ),
    ExportFormat(
        name="yolo_seg",
        label="YOLO segmentation",
        description="A zip in the Ultralytics segmentation layout: labels/<image>.txt with normalised polygons "
        "(class x1 y1 x2 y2 ...) of polygons, segmentations and rectangles, classes.txt and data.yaml.",
        extension="zip",
        content_type="application/zip",
        write=_writer(segments=True),
    ),
)
