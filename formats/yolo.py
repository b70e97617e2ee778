"""YOLO (Ultralytics layout), zipped: `labels/<media>.txt` per image, `classes.txt` and `data.yaml`.

Reading (`yolo`): a whole dataset archive is one job (`archive_reader`). Class names come from
classes.txt (line n is class n) or data.yaml's `names` (a list or a map); every label file under a
`labels/` folder (labels/train/..., labels/val/...) is one item, matched to the media named like it
(option `match_by` "stem": `img_1.txt` labels `img_1.jpg`; Label Studio's upload prefix `8hex-` is
dropped when the archive has no image). A line of 4 numbers is a box (to a rectangle class, or its
corners to a polygon / segmentation class); of 6 or more an outline (segmentation, or an oriented
box's 4 corners: a polygon, or in a rectangle class a rotated rectangle when they form one, else an
error naming the line). Normalised coordinates become pixels by the size of the archive's image
(`images/` beside `labels/`, read from its header with Pillow), else by the matched media's stored
size. Pose: after the box, the keypoints that data.yaml's
`kpt_shape` (or Label Studio's notes.json) declares; each visible one becomes a point of the point
class named like it (names from notes.json), nested in the box when the configuration nests it.

Writing:

- `yolo` (detection): one line per rectangle, polygon or segmentation (its bounding box):
  `<class> <cx> <cy> <w> <h>`, normalised by the image's width and height to 0..1.
- `yolo_seg` (segmentation): one line per polygon, segmentation outline or rectangle (its four
  corners, turned by its rotation): `<class> <x1> <y1> <x2> <y2> ...`, normalised. A
  segmentation's holes are left out: a line is a filled outline, so a hole written as a line
  would come back as a region.
- `yolo_obb` (oriented boxes): one line per rectangle, its four turned corners clockwise from
  the box's own top-left: `<class> <x1> <y1> ... <x4> <y4>`, normalised.

A rotated rectangle in `yolo` (detection) is its axis-aligned hull (docs/formats.md).

Class indices count from 0 over the classes that can appear (in configuration order, nested
classes included); `classes.txt` lists their keys one per line and `data.yaml` maps index to
name. Every image gets its text file (empty when it has no label: a background image);
`images.txt` lists the media URLs in the same order. An image without a known size cannot
be normalised: its file stays empty and it is listed in `unsized.txt`.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import PurePosixPath
from typing import IO, Any

from PIL import Image

from formats.reading import (
    BOOLEAN_OPTION,
    LABEL_MAPPING_OPTION,
    Converted,
    FileError,
    ImportFormat,
    ItemSchema,
    MediaScale,
    RawItem,
    corners_to_rectangle,
    not_utf8_check,
    not_utf8_error,
)
from formats.writing import (
    ExportFormat,
    ExportParts,
    ExportSource,
    ExportWriter,
    PartStart,
    TaskRows,
    UniqueNames,
    box_of,
    label_tree,
    label_tree_walk,
    points_pairs,
    ring_shells,
    rings_of,
    stem,
    zip_entry_write,
    zip_parts_join,
)
from labeling.annotation import MediaAnnotation, MediaRef, Shape, rectangle_corners
from labelsite.archives import SafeZip, archive_entry_ignored
from labelsite.errors import ErrorDetail, ValidationFailed
from labelsite.images import image_seen_size
from projects.config_converters import key_from_text
from projects.label_config import IndexedEntry, LabelConfigIndex
from projects.models import EntryType

DETECT_TYPES = frozenset({EntryType.RECTANGLE, EntryType.POLYGON, EntryType.SEGMENTATION})
SEGMENT_TYPES = DETECT_TYPES
OBB_TYPES = frozenset({EntryType.RECTANGLE})


def _lines(task: TaskRows, classes: dict[str, tuple[int, str]], *, segments: bool, obb: bool = False) -> list[str]:
    """A task's label file's lines, from its labels as read (`classes`: entry id -> (index, type))."""
    width, height = float(task.width or 0), float(task.height or 0)
    lines: list[str] = []
    for label in label_tree_walk(label_tree(task.labels)):
        found = classes.get(label.entry_id)
        if found is None:
            continue
        index, kind = found
        points, rotation = label.points, label.rotation
        if obb:
            if kind != EntryType.RECTANGLE or len(points) < 2:
                continue
            lines.append(f"{index} {_normalised(rectangle_corners(points, rotation), width, height)}")
            continue
        if segments:
            if kind == _RECTANGLE and not rotation:
                # Its four corners take two x and two y values: each is normalised and written once
                # (as `rings_of` and `_normalised` make them), not once per corner.
                corners = points_pairs(points)
                if len(corners) < 2:
                    continue
                (x1, y1), (x2, y2) = corners[0], corners[1]
                left, right = _unit(min(x1, x2) / width), _unit(max(x1, x2) / width)
                top, bottom = _unit(min(y1, y2) / height), _unit(max(y1, y2) / height)
                lines.append(f"{index} {left} {top} {right} {top} {right} {bottom} {left} {bottom}")
                continue
            # A line is one filled outline: a segmentation's holes cannot be written (they would fill).
            for ring in ring_shells(rings_of(kind, points, rotation)):
                lines.append(f"{index} {_normalised(ring, width, height)}")
            continue
        box = box_of(points, rotation)  # a rotated rectangle: its axis-aligned hull
        if box is None:
            continue
        x, y, w, h = box
        lines.append(f"{index} {_normalised(((x + w / 2, y + h / 2), (w, h)), width, height)}")
    return lines


def _normalised(pairs: Iterable[Sequence[float]], width: float, height: float) -> str:
    """`x y x y ...` of the pairs divided by the image's size, clipped to 0..1, 6 decimals.

    The clip is `min(1.0, max(0.0, value))` written out (no calls per coordinate): NaN and -0.0
    become 0.0 as they did."""
    # One comprehension, not a loop of appends: this runs for every point of every label.
    return " ".join(
        [
            f"{u if 0.0 < (u := x / width) <= 1.0 else (1.0 if u > 1.0 else 0.0):.6f} "
            f"{v if 0.0 < (v := y / height) <= 1.0 else (1.0 if v > 1.0 else 0.0):.6f}"
            for x, y in pairs
        ]
    )


def _unit(u: float) -> str:
    """One coordinate of `_normalised`, already divided by the image's size."""
    return f"{u if 0.0 < u <= 1.0 else (1.0 if u > 1.0 else 0.0):.6f}"


_RECTANGLE = str(EntryType.RECTANGLE)


def _yaml_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _writer(*, segments: bool, obb: bool = False) -> tuple[ExportWriter, ExportParts]:
    """The writer of a YOLO variant, and how it splits over processes (a ZIP per slice of the tasks,
    joined entry by entry: `zip_parts_join`)."""
    types = OBB_TYPES if obb else SEGMENT_TYPES if segments else DETECT_TYPES

    def classes_of(source: ExportSource) -> list[Any]:
        return source.config.geometry_classes(set(types))

    def head(archive: zipfile.ZipFile, classes: list[Any]) -> None:
        archive.writestr("classes.txt", "".join(f"{entry.key}\n" for entry in classes))
        archive.writestr(
            "data.yaml",
            "# Put the images in images/ beside labels/ (see images.txt for where they are).\n"
            "path: .\ntrain: images\nval: images\n"
            f"nc: {len(classes)}\nnames:\n"
            + "".join(f"  {index}: {_yaml_string(entry.key)}\n" for index, entry in enumerate(classes)),
        )

    def body(source: ExportSource, archive: zipfile.ZipFile, names: UniqueNames) -> Iterator[None]:
        """The label files of the source's tasks, then `images.txt` and `unsized.txt` (if any) listing them."""
        classes = {str(entry.id): (index, entry.type) for index, entry in enumerate(classes_of(source))}
        unsized: list[str] = []
        with tempfile.TemporaryFile() as listing:
            for chunk in source.rows():
                lines_out = []
                for item in chunk:
                    file_stem = names.take(stem(item.media_name), "txt")[: -len(".txt")]
                    lines_out.append(f"{file_stem}\t{item.media_url or item.media_name}\n")
                    if not item.width or not item.height:
                        unsized.append(item.media_name)
                        lines: list[str] = []
                    else:
                        lines = _lines(item, classes, segments=segments, obb=obb)
                    zip_entry_write(archive, f"labels/{file_stem}.txt", "".join(f"{line}\n" for line in lines).encode())
                listing.write("".join(lines_out).encode())
                yield
            listing.seek(0)
            with archive.open("images.txt", "w") as member:
                shutil.copyfileobj(listing, member)
        if unsized:
            archive.writestr("unsized.txt", "".join(f"{name}\n" for name in unsized))

    def write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            head(archive, classes_of(source))
            yield from body(source, archive, UniqueNames())
        yield

    def write_part(
        source: ExportSource, out: IO[bytes], side: IO[bytes], start: PartStart
    ) -> Generator[None, None, int]:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            yield from body(source, archive, UniqueNames(start.names))
        return 0

    def join(source: ExportSource, parts: list[tuple[IO[bytes], IO[bytes]]], out: IO[bytes]) -> Iterator[None]:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            head(archive, classes_of(source))
            yield from zip_parts_join([part for part, _ in parts], archive, LISTS)
        yield

    return write, ExportParts(write=write_part, join=join, name_key=_name_key)


#: The listings every part ends with, joined: `(entry, written even when empty)`.
LISTS = (("images.txt", True), ("unsized.txt", False))


def _name_key(name: str, width: int | None, height: int | None) -> str:
    return stem(name)


_DETECT, _DETECT_PARTS = _writer(segments=False)
_SEGMENT, _SEGMENT_PARTS = _writer(segments=True)
_OBB, _OBB_PARTS = _writer(segments=False, obb=True)


EXPORT_FORMATS = (
    ExportFormat(
        name="yolo",
        label="YOLO (boxes)",
        description="A zip in the Ultralytics layout: labels/<image>.txt with normalised boxes "
        "(class cx cy w h) of rectangles, polygons and segmentations, classes.txt and data.yaml.",
        extension="zip",
        content_type="application/zip",
        write=_DETECT,
        parts=_DETECT_PARTS,
        needs_media_size=True,
    ),
    ExportFormat(
        name="yolo_seg",
        label="YOLO segmentation",
        description="A zip in the Ultralytics segmentation layout: labels/<image>.txt with normalised polygons "
        "(class x1 y1 x2 y2 ...) of polygons, segmentations and rectangles, classes.txt and data.yaml.",
        extension="zip",
        content_type="application/zip",
        write=_SEGMENT,
        parts=_SEGMENT_PARTS,
        needs_media_size=True,
    ),
    ExportFormat(
        name="yolo_obb",
        label="YOLO oriented boxes (OBB)",
        description="A zip in the Ultralytics OBB layout: labels/<image>.txt with each rectangle's 4 corners, turned "
        "by its rotation (class x1 y1 x2 y2 x3 y3 x4 y4, normalised, clockwise from the box's top-left corner), "
        "classes.txt and data.yaml.",
        extension="zip",
        content_type="application/zip",
        write=_OBB,
        parts=_OBB_PARTS,
    ),
)


# --- reading: a YOLO dataset archive, one job ------------------------------------------------

#: Image files the reader takes sizes from (`images/` beside `labels/`).
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp"})
#: Label Studio's upload prefix (`/data/upload/1/069f62bc-img_004.png`), kept in its YOLO file names.
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
#: Coordinates a little outside 0..1 (rounding of exporters) are clipped, further out they are errors.
_TOLERANCE = 0.01
NOTHING_HINT = (
    "A YOLO archive has labels/<image>.txt files (or labels/train/... and so on) with lines "
    "`<class> <cx> <cy> <w> <h>` or `<class> <x1> <y1> <x2> <y2> ...`, and classes.txt or data.yaml."
)


def _is_label_file(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return path.lower().endswith(".txt") and "labels" in parts[:-1]


def _class_files(paths: list[str]) -> list[str]:
    """classes.txt and data.yaml (or a dataset .yaml), the shallowest first."""
    found = [
        p
        for p in paths
        if PurePosixPath(p).name.lower() == "classes.txt" or PurePosixPath(p).suffix.lower() in (".yaml", ".yml")
    ]
    return sorted(found, key=lambda p: (p.count("/"), PurePosixPath(p).suffix.lower() != ".txt", p))


def is_yolo_archive(paths: list[str]) -> bool:
    """A YOLO dataset: label files under `labels/` (its class list may be missing: reading says to add it)."""
    return any(_is_label_file(p) for p in paths if not archive_entry_ignored(p))


def _yaml_scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        quote = text[0]
        inner = text[1:-1]
        return inner.replace("''", "'") if quote == "'" else inner.replace('\\"', '"')
    return text.split(" #", 1)[0].strip()


def _yaml_names(text: str, path: str) -> list[str]:
    """The `names` of an Ultralytics data.yaml: `[a, b]`, a block list `- a`, or a map `0: a`."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if not re.match(r"^names\s*:", line):
            continue
        rest = line.split(":", 1)[1].split(" #", 1)[0].strip()
        if rest.startswith("["):
            inner = rest.strip("[]")
            return [_yaml_scalar(part) for part in inner.split(",") if part.strip()]
        if rest.startswith("{"):
            pairs = [part.split(":", 1) for part in rest.strip("{}").split(",") if ":" in part]
            named = {int(_yaml_scalar(k)): _yaml_scalar(v) for k, v in pairs}
            return [named[i] for i in sorted(named)]
        listed: list[str] = []
        mapped: dict[int, str] = {}
        for inner_line in lines[number + 1 :]:
            if inner_line.strip() == "" or inner_line.lstrip().startswith("#"):
                continue
            if not inner_line[:1].isspace() and not inner_line.startswith("-"):
                break
            item = inner_line.strip()
            if item.startswith("-"):
                listed.append(_yaml_scalar(item[1:]))
            elif ":" in item:
                key, value = item.split(":", 1)
                try:
                    mapped[int(_yaml_scalar(key))] = _yaml_scalar(value)
                except ValueError as exc:
                    raise FileError(
                        ErrorDetail(
                            f"{path}, line {number + 1}",
                            "bad_names",
                            f"names maps class numbers to names (0: car); {key.strip()!r} is no number.",
                        )
                    ) from exc
        if mapped:
            return [mapped.get(i, str(i)) for i in range(max(mapped) + 1)]
        return listed
    return []


def _text(archive: SafeZip, path: str) -> str:
    """A text entry of the archive, which must be UTF-8 (a BOM is dropped)."""
    content = archive.read(path)
    try:
        not_utf8_check(content)
        return content.decode("utf-8-sig")
    except FileError as exc:
        raise FileError(ErrorDetail(path, exc.detail.code, f"{path}: {exc.detail.message}")) from exc
    except UnicodeDecodeError as exc:
        raise not_utf8_error(f"in {path} at byte {exc.start}", path) from exc


def _classes(archive: SafeZip, paths: list[str]) -> list[str]:
    for path in _class_files(paths):
        text = _text(archive, path)
        if PurePosixPath(path).suffix.lower() == ".txt":
            names = [line.strip() for line in text.splitlines() if line.strip()]
        else:
            names = _yaml_names(text, path)
        if names:
            return names
    raise FileError(
        ErrorDetail(
            "archive",
            "no_class_names",
            "The archive names no classes: add classes.txt (one class name per line, line 1 is class 0) or a "
            "data.yaml with names.",
        )
    )


def _keypoints(archive: SafeZip, paths: list[str]) -> dict[str, Any] | None:
    """What a pose line carries after its box: `kpt_shape: [count, 2 or 3]` of data.yaml, or the
    keypoint names of Label Studio's `notes.json` (x, y, visibility each); their names from
    notes.json. None when the archive declares no keypoints."""
    count = dims = None
    names: list[str] = []
    for path in _class_files(paths):
        if PurePosixPath(path).suffix.lower() in (".yaml", ".yml"):
            found = re.search(r"^kpt_shape\s*:\s*\[\s*(\d+)\s*,\s*(\d+)\s*\]", _text(archive, path), re.M)
            if found:
                count, dims = int(found.group(1)), int(found.group(2))
                break
    notes = next((p for p in paths if PurePosixPath(p).name == "notes.json"), None)
    if notes is not None:
        try:
            categories = json.loads(archive.read(notes)).get("categories") or []
        except (ValueError, AttributeError):
            categories = []
        listed = [c.get("keypoints") for c in categories if isinstance(c, dict) and c.get("keypoints")]
        first = listed[0] if listed else None
        if isinstance(first, list) and all(isinstance(n, str) for n in first):
            names = [str(n) for n in first]
            if count is None:
                count, dims = len(names), 3
    if not count or dims not in (2, 3):
        return None
    return {"count": count, "dims": dims, "names": names}


def _image_key(path: str) -> str:
    """An image's or a label file's place without `images/` / `labels/` and without extension."""
    parts = list(PurePosixPath(path).parts)
    for marker in ("images", "labels"):
        if marker in parts[:-1]:
            index = len(parts) - 2 - parts[:-1][::-1].index(marker)
            parts = parts[:index] + parts[index + 1 :]
            break
    return str(PurePosixPath(*parts).with_suffix(""))


def _image_size(archive: SafeZip, path: str) -> tuple[int, int] | None:
    """An image's size from its header (Pillow reads the header only; nothing is decoded)."""
    with contextlib.closing(archive.open_entry(path)) as chunks:
        head = next(chunks, b"")
    try:
        with Image.open(io.BytesIO(head)) as image:
            width, height = image_seen_size(image)  # as Ultralytics reads it (exif_size)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return (int(width), int(height)) if width and height else None


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """One item per label file of the archive (by path), with the class names and the size of
    its image when the archive holds it."""
    try:
        archive = SafeZip(file)
    except ValidationFailed as exc:
        raise FileError(*exc.details) from exc
    with archive:
        paths = [entry.path for entry in archive.entries if not archive_entry_ignored(entry.path)]
        classes = _classes(archive, paths)
        keypoints = _keypoints(archive, paths)
        images = {
            _image_key(p): p
            for p in paths
            if PurePosixPath(p).suffix.lower().lstrip(".") in IMAGE_EXTENSIONS
            and "labels" not in PurePosixPath(p).parts
        }
        labels = sorted(p for p in paths if _is_label_file(p))
        for index, path in enumerate(labels):
            text = _text(archive, path)
            image = images.get(_image_key(path))
            size = _image_size(archive, image) if image else None
            stem = PurePosixPath(image or path).stem
            if image is None:
                stem = _UPLOAD_PREFIX.sub("", stem)
            yield RawItem(
                index=index,
                location=path,
                data={
                    "file": path,
                    "media": stem,
                    "image": image,
                    "width": size[0] if size else None,
                    "height": size[1] if size else None,
                    "classes": classes,
                    "lines": text.splitlines(),
                    "keypoints": keypoints,
                },
            )


class _Classes:
    def __init__(self, config: LabelConfigIndex, names: list[str], mapping: Mapping[str, str]) -> None:
        self.config = config
        self.names = names
        self.mapping = mapping
        self._found: dict[int, IndexedEntry | None] = {}

    def entry(self, number: int, wanted: str) -> IndexedEntry | str:
        """The class of a line's class number, or why there is none."""
        if number < 0 or number >= len(self.names):
            return (
                f"The class number {number} is not in the archive's class list, which has {len(self.names)} "
                f"(0 to {len(self.names) - 1}); add its name to classes.txt or data.yaml."
            )
        name = self.names[number]
        target = self.mapping.get(name)
        if isinstance(target, str) and self.config.root(target.lower()) is not None:
            return self.config.root(target.lower())  # type: ignore[return-value]
        key = key_from_text(name)
        found = [e for e in self.config.roots.values() if e.is_geometry and (e.title == name or e.key == key)]
        typed = [e for e in found if e.type == wanted]
        if typed or found:
            return (typed or found)[0]
        known = ", ".join(repr(e.title) for e in self.config.roots.values() if e.is_geometry) or "none"
        return (
            f"The class {name!r} (number {number}) is not a class of the project's label configuration; add it, "
            f"map it with the option label_mapping, or use one of: {known}."
        )


def _line_shape(
    numbers: list[float], entry: IndexedEntry, width: float, height: float, digits: int
) -> tuple[Any, bool, str | None]:
    """A line's numbers (normalised) as the points of `entry`'s type scaled by `width` x `height`
    and rounded to `digits` (float noise such as 360.00000000000006 is no pixel), or why not; and
    whether the points are a rotated oriented box's 4 corners for a rectangle class, which
    `corners_to_rectangle` makes a box and rotation once they are pixels."""
    if any(n < -_TOLERANCE or n > 1 + _TOLERANCE for n in numbers):
        return None, False, "Coordinates are normalised to 0..1 by the image's width and height; this line has others."
    numbers = [min(1.0, max(0.0, n)) for n in numbers]
    if len(numbers) == 4:
        cx, cy, w, h = numbers
        x1, y1 = round((cx - w / 2) * width, digits), round((cy - h / 2) * height, digits)
        x2, y2 = round((cx + w / 2) * width, digits), round((cy + h / 2) * height, digits)
        if entry.type == EntryType.RECTANGLE:
            return [[x1, y1], [x2, y2]], False, None
        corners = [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]
        if entry.type == EntryType.POLYGON:
            return corners, False, None
        if entry.type == EntryType.SEGMENTATION:
            return [corners], False, None
        return None, False, f"A box cannot be stored in {entry.key!r}, which is a {entry.type}."
    ring = [
        [round(numbers[i] * width, digits), round(numbers[i + 1] * height, digits)] for i in range(0, len(numbers), 2)
    ]
    xs, ys = sorted({x for x, _ in ring}), sorted({y for _, y in ring})
    if entry.type == EntryType.RECTANGLE and len(ring) == 4 and len(xs) == 2 and len(ys) == 2:
        return [[xs[0], ys[0]], [xs[1], ys[1]]], False, None  # an oriented box that is not rotated
    if entry.type == EntryType.RECTANGLE and len(ring) == 4:
        # A rotated oriented box: the caller makes its corners a box and rotation (in pixels).
        return ring, True, None
    if entry.type == EntryType.POLYGON:
        return ring, False, None
    if entry.type == EntryType.SEGMENTATION:
        return [ring], False, None
    return (
        None,
        False,
        (
            f"A polygon (segmentation, or an oriented box of other than 4 corners) cannot be stored in {entry.key!r}, "
            f"which is a {entry.type}; map the class to a polygon or segmentation class with the option label_mapping."
        ),
    )


def _keypoint(
    config: LabelConfigIndex, box: IndexedEntry, names: list[str], position: int, place: str
) -> IndexedEntry | ErrorDetail:
    """The point class of a pose line's keypoint: a point class nested in the box's class, else a root one."""
    if position >= len(names):
        return ErrorDetail(
            place,
            "unnamed_keypoint",
            f"Keypoint {position} has no name, so no point class can hold it: the archive names no keypoints "
            "(Label Studio writes their names in notes.json, categories[].keypoints).",
        )
    name = names[position]
    key = key_from_text(name)
    nested = [e for e in config.children_of(box.id) if e.type == EntryType.POINT and name in (e.title, e.key)]
    nested = nested or [e for e in config.children_of(box.id) if e.type == EntryType.POINT and e.key == key]
    roots = [e for e in config.roots.values() if e.type == EntryType.POINT and (e.title == name or e.key == key)]
    if nested or roots:
        return (nested or roots)[0]
    return ErrorDetail(
        place,
        "label_not_in_config",
        f"The keypoint {name!r} is not a point class of the project's label configuration; add it (inside "
        f"{box.key!r} or at the top).",
        params=(name,),
    )


def convert(
    data: Any,
    config: LabelConfigIndex,
    *,
    index: int = 0,
    match_by: str = "stem",
    options: Mapping[str, Any] | None = None,
) -> Converted:
    """One label file as the shapes of its image, in pixels (by the archive's image, else the media's size)."""
    options = options or {}
    classes = _Classes(config, list(data["classes"]), options.get("label_mapping") or {})
    width, height = data.get("width"), data.get("height")
    # Without the image in the archive, the shapes are percentages until the media's size scales them.
    sized = bool(width and height)
    scale_x, scale_y = (float(width), float(height)) if sized else (100.0, 100.0)
    errors: list[ErrorDetail] = []
    shapes: list[Shape] = []
    #: Every shape, nested ones too, for the media's size to scale when the archive has no image.
    scaled: list[Shape] = []
    corner_boxes: list[tuple[Shape, str]] = []
    for number, line in enumerate(data["lines"], start=1):
        place = f"{data['file']}, line {number}"
        parts = line.split()
        if not parts:
            continue
        try:
            class_number = int(parts[0])
            numbers = [float(part) for part in parts[1:]]
        except ValueError:
            errors.append(ErrorDetail(place, "not_numbers", "A line is a class number and coordinates, all numbers."))
            continue
        keypoints = data.get("keypoints")
        pose: list[tuple[int, float, float]] = []
        if keypoints and len(numbers) == 4 + keypoints["count"] * keypoints["dims"]:
            dims = keypoints["dims"]
            for position in range(keypoints["count"]):
                x, y, *visibility = numbers[4 + position * dims : 4 + (position + 1) * dims]
                if (visibility and visibility[0] > 0) or (not visibility and (x, y) != (0.0, 0.0)):
                    pose.append((position, x, y))
            numbers = numbers[:4]
        if len(numbers) != 4 and (len(numbers) < 6 or len(numbers) % 2):
            errors.append(
                ErrorDetail(
                    place,
                    "bad_line",
                    f"The line has {len(numbers)} coordinates; a box has 4 (cx cy w h), a polygon or oriented box "
                    "an even number from 6 (x1 y1 x2 y2 ...), a pose box 4 and then its keypoints as data.yaml's "
                    "kpt_shape says (add kpt_shape: [<keypoints>, 3] to data.yaml).",
                )
            )
            continue
        wanted = EntryType.RECTANGLE if len(numbers) == 4 else EntryType.POLYGON
        entry = classes.entry(class_number, wanted)
        if isinstance(entry, str):
            errors.append(ErrorDetail(place, "label_not_in_config", entry, params=(class_number,)))
            continue
        points, corners, problem = _line_shape(numbers, entry, scale_x, scale_y, 3 if sized else 6)
        if problem is not None:
            errors.append(ErrorDetail(place, "geometry_type_mismatch", problem))
            continue
        box = Shape(key=entry.key, type=entry.type, points=points, schema_id=entry.schema_id, entry_id=entry.id)
        if corners and not sized:
            corner_boxes.append((box, place))  # a rotation is an angle in pixels: made once the media's size is known
        elif corners:
            problem = corners_to_rectangle(box)
            if problem is not None:
                errors.append(ErrorDetail(place, "not_a_rectangle", problem))
                continue
        shapes.append(box)
        scaled.append(box)
        digits = 3 if sized else 6
        for position, x, y in pose:
            point = _keypoint(config, entry, keypoints["names"], position, place)
            if isinstance(point, ErrorDetail):
                errors.append(point)
                continue
            shape = Shape(
                key=point.key,
                type=point.type,
                points=[[round(x * scale_x, digits), round(y * scale_y, digits)]],
                schema_id=point.schema_id,
                entry_id=point.id,
            )
            (box.children if point.parent_id == entry.id else shapes).append(shape)
            scaled.append(shape)
    reference = MediaRef(name=str(data["media"]))
    if errors:
        return Converted(annotation=None, errors=errors, reference=reference, reference_path=data["file"])
    scale = MediaScale(shapes=scaled, path=data["file"], corner_boxes=corner_boxes) if scaled and not sized else None
    return Converted(
        annotation=MediaAnnotation(media=reference, shapes=shapes, keep_data=not options.get("replace", False)),
        reference=reference,
        reference_path=data["file"],
        media_scale=scale,
    )


FORMAT = ImportFormat(
    name="yolo",
    label="YOLO archive",
    description="A YOLO dataset as one ZIP (Ultralytics layout, or Label Studio's YOLO export): labels/<image>.txt "
    "with normalised boxes or polygons, classes.txt or data.yaml, and optionally images/ for the sizes.",
    file_kinds=("zip",),
    schema=None,
    item_schema=ItemSchema({"type": "object", "required": ["file", "lines", "classes"]}),
    read=read,
    convert=convert,
    options={"match_by": "stem", "label_mapping": {}, "replace": False},
    option_schemas={
        "match_by": {
            "enum": ["stem", "name"],
            "description": "stem: the image named like the label file (img_1.txt labels img_1.jpg); "
            "name: exactly that name.",
        },
        "label_mapping": LABEL_MAPPING_OPTION,
        "replace": {
            **BOOLEAN_OPTION,
            "description": "With true each media's labels are replaced, with false added to.",
        },
    },
    takes_options=True,
    archive_reader=is_yolo_archive,
    nothing_hint=NOTHING_HINT,
)
