"""Segmentation masks: one PNG per image (palette mode, pixel = class index), zipped.

`SegmentationClass/<media>.png` has the image's size; 0 is the background and class `i`
(the i-th area class in configuration order: rectangles, polygons, segmentations, nested
ones included) is painted with index `i`, later labels over earlier ones. The palette
gives each class its configured colour (or the Pascal VOC colour map's). `labelmap.txt`
lists `index:name:r,g,b`. An image without a known size cannot be drawn and is listed in
`unsized.txt`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Generator, Iterator
from typing import IO

import numpy as np
from PIL import Image, ImageColor, ImageDraw

from formats.codecs.mask_polygons import segmentation_crop
from formats.writing import (
    ExportFormat,
    ExportItem,
    ExportParts,
    ExportSource,
    PartStart,
    UniqueNames,
    rings_of,
    shapes_walk,
    stem,
    zip_entry_write,
    zip_parts_join,
)
from projects.models import EntryType, LabelEntry

AREA_TYPES = frozenset({EntryType.RECTANGLE, EntryType.POLYGON, EntryType.SEGMENTATION})
MAX_CLASSES = 255


def voc_color(index: int) -> tuple[int, int, int]:
    """The Pascal VOC colour map: index -> RGB by spreading the index's bits."""
    r = g = b = 0
    value = index
    for shift in range(7, -1, -1):
        r |= ((value >> 0) & 1) << shift
        g |= ((value >> 1) & 1) << shift
        b |= ((value >> 2) & 1) << shift
        value >>= 3
    return r, g, b


def _color(configured: str, index: int) -> tuple[int, int, int]:
    if configured:
        try:
            rgb = ImageColor.getrgb(configured)
            return rgb[0], rgb[1], rgb[2]
        except ValueError:
            pass
    return voc_color(index)


def mask_png(item: ExportItem, class_index: dict[str, int], palette: list[int]) -> bytes:
    width, height = int(item.width or 0), int(item.height or 0)
    image = Image.new("P", (width, height), 0)
    image.putpalette(palette)
    draw = ImageDraw.Draw(image)
    for shape, _ in shapes_walk(item.annotation.shapes):
        index = class_index.get(shape.entry_id or "")
        if index is None:
            continue
        rings = rings_of(shape.type, shape.points, shape.rotation)
        if shape.type == EntryType.SEGMENTATION:
            # Even-odd: a ring inside another is a hole and stays unpainted.
            crop, x0, y0 = segmentation_crop(rings, width, height)
            if crop.size:
                stencil = Image.fromarray(crop.astype(np.uint8) * 255, mode="L")
                image.paste(index, (x0, y0, x0 + crop.shape[1], y0 + crop.shape[0]), stencil)
            continue
        for ring in rings:
            draw.polygon(ring, fill=index)
    buffer = io.BytesIO()
    # Level 3 (zlib's fast deflate) instead of 6: half the CPU per 1920 x 1080 mask for files about twice as
    # large (bench/mask_png_bench.py); the pixels are the same.
    image.save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()


def _classes(source: ExportSource) -> tuple[list[LabelEntry], list[tuple[int, int, int]]]:
    """The area classes (index 1 on) and the colours of the indices (0 the background)."""
    classes = source.config.geometry_classes(set(AREA_TYPES))
    if len(classes) > MAX_CLASSES:
        raise ValueError(f"A PNG mask holds at most {MAX_CLASSES} classes; the configuration has {len(classes)}.")
    colors = [(0, 0, 0)] + [_color(entry.color, index) for index, entry in enumerate(classes, start=1)]
    return classes, colors


def _labelmap(archive: zipfile.ZipFile, classes: list[LabelEntry], colors: list[tuple[int, int, int]]) -> None:
    archive.writestr(
        "labelmap.txt",
        "# index:name:r,g,b\n"
        + "".join(
            f"{index}:{name}:{r},{g},{b}\n"
            for index, (name, (r, g, b)) in enumerate(
                zip(["background", *(entry.key for entry in classes)], colors, strict=True)
            )
        ),
    )


def masks_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    classes, colors = _classes(source)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        _labelmap(archive, classes, colors)
        yield from _masks(source, archive, UniqueNames())
    yield


def _masks(source: ExportSource, archive: zipfile.ZipFile, names: UniqueNames) -> Iterator[None]:
    """A mask per task with a known size, then `unsized.txt` naming the others (if any)."""
    classes, colors = _classes(source)
    class_index = {str(entry.id): index for index, entry in enumerate(classes, start=1)}
    palette = [channel for color in colors for channel in color]
    unsized: list[str] = []
    for chunk in source.chunks():
        for item in chunk:
            if not item.width or not item.height:
                unsized.append(item.media_name)
                continue
            file_name = names.take(stem(item.media_name), "png")
            zip_entry_write(archive, f"SegmentationClass/{file_name}", mask_png(item, class_index, palette))
        yield
    if unsized:
        archive.writestr("unsized.txt", "".join(f"{name}\n" for name in unsized))


def masks_write_part(
    source: ExportSource, out: IO[bytes], side: IO[bytes], start: PartStart
) -> Generator[None, None, int]:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        yield from _masks(source, archive, UniqueNames(start.names))
    return 0


def masks_join(source: ExportSource, parts: list[tuple[IO[bytes], IO[bytes]]], out: IO[bytes]) -> Iterator[None]:
    classes, colors = _classes(source)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        _labelmap(archive, classes, colors)
        yield from zip_parts_join([part for part, _ in parts], archive, (("unsized.txt", False),))
    yield


def _name_key(name: str, width: int | None, height: int | None) -> str | None:
    """A mask's name; none for media of unknown size (they get no mask)."""
    return stem(name) if width and height else None


EXPORT_FORMAT = ExportFormat(
    name="masks",
    label="Segmentation masks (PNG)",
    description="A zip of one PNG per image in palette mode, each pixel its class index (0 = background), "
    "drawn from rectangles, polygons and segmentations; labelmap.txt names the indices.",
    extension="zip",
    content_type="application/zip",
    write=masks_write,
    parts=ExportParts(write=masks_write_part, join=masks_join, name_key=_name_key),
    needs_media_size=True,
)
