"""What every export format declares, and what its writer reads.

A format module under `formats/` that exports defines one
`EXPORT_FORMAT = ExportFormat(...)`; the registry (`formats.export_format_list`)
finds it. A writer reads an `ExportSource`: the project's configuration (read once) and
the tasks in chunks, each task's labels in the canonical model (`labeling.annotation`),
read with one query per chunk. It writes to a binary file-like object and yields after
each chunk, so that a streaming response can pass on what was written so far and a job
can record progress; memory stays flat however large the project is.

The canonical model is the general path. A writer whose time matters on large projects
(DataGym JSON, COCO, Label Studio JSON and JSON_MIN, CSV, YOLO, Pascal VOC) reads
`source.rows()` instead: the same tasks as `TaskRows`, the stored answers and points decoded
but no objects built per label (`label_tree` nests them as the canonical model nests shapes,
`answers_tree_flat` reads a stored answer tree). A format may also
declare `ExportParts`: how to write the body of a slice of the tasks and join the slices,
so that an export job can split the tasks over processes (`exports.driver.export_write`).
A JSON list's parts are joined by their bytes (`parts_copy`), CSV rows likewise
(`parts_concat`), and a ZIP's parts entry by entry, their compressed bytes copied
(`zip_parts_join`); an archive that names its entries after the media counts on from the
names the slices before took (`ExportParts.name_key`, `PartStart.names`).
"""

from __future__ import annotations

import re
import time
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, NamedTuple, Protocol

from isal import isal_zlib

from labeling.annotation import Answer, MediaAnnotation, Shape, rectangle_corners, rectangle_hull
from projects.models import CLASSIFICATION_TYPES, GEOMETRY_TYPES, LabelEntry


@dataclass
class ExportConfig:
    """The project's label entries as dicts, read once per export."""

    entries: list[LabelEntry]
    children: dict[Any, list[LabelEntry]] = field(default_factory=lambda: defaultdict(list))
    by_id: dict[Any, LabelEntry] = field(default_factory=dict)

    _questions: dict[Any, list[LabelEntry]] = field(default_factory=dict)
    _geometries: dict[Any, list[LabelEntry]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.entries:
            # By the id, its text and its hex form (how SQLite stores a UUID): readers may fetch ids as text.
            self.by_id[entry.id] = entry
            self.by_id[str(entry.id)] = entry
            self.by_id[entry.id.hex] = entry
            self.children[entry.parent_id].append(entry)

    def tree_order(self) -> Iterator[LabelEntry]:
        """Every entry, depth first, in configuration order."""
        stack = list(reversed(self.children[None]))
        while stack:
            entry = stack.pop()
            yield entry
            stack.extend(reversed(self.children[entry.id]))

    def questions_of(self, parent_id: Any) -> list[LabelEntry]:
        found = self._questions.get(parent_id)
        if found is None:
            found = self._questions[parent_id] = [
                e for e in self.children.get(parent_id, ()) if e.type in CLASSIFICATION_TYPES
            ]
        return found

    def geometries_of(self, parent_id: Any) -> list[LabelEntry]:
        found = self._geometries.get(parent_id)
        if found is None:
            found = self._geometries[parent_id] = [
                e for e in self.children.get(parent_id, ()) if e.type in GEOMETRY_TYPES
            ]
        return found

    def geometry_classes(self, types: frozenset[str] | set[str] | None = None) -> list[LabelEntry]:
        """The geometry classes (nested ones included) in tree order, optionally of some types only."""
        wanted = GEOMETRY_TYPES if types is None else types
        return [entry for entry in self.tree_order() if entry.type in wanted]


@dataclass(frozen=True, slots=True)
class TaskAttribution:
    """Who did what (`Task.completed_by` and so on), as the reader found them: user ids and
    usernames (None when nobody is recorded), times, the review verdict ("", accepted,
    rejected) and the active seconds the labeling page counted."""

    completed_by_id: int | None = None
    completed_by: str | None = None
    completed_at: datetime | None = None
    reviewed_by_id: int | None = None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    review_verdict: str = ""
    active_seconds: int = 0


@dataclass(slots=True)
class ExportItem:
    """One task to export: its media, its state and its annotation in the canonical model.

    `annotation.shapes` are the root geometries (children nested), each with `key`, `type`
    and `entry_id` set, in the order they were created.
    """

    task_id: Any
    media_id: Any
    media_name: str
    media_url: str
    width: int | None
    height: int | None
    external_id: str
    global_key: str | None
    state: str
    assignee_id: Any
    updated_at: datetime
    annotation: MediaAnnotation
    #: What an import stored with the media (Labelbox's metadata fields by name, its attachments).
    metadata: dict[str, Any] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    #: Who did what on the task (issue 18).
    who: TaskAttribution = field(default_factory=TaskAttribution)


class LabelRow(NamedTuple):
    """One stored label as read, JSON decoded: what `ExportSource.rows()` gives per label."""

    id: int
    #: The LabelEntry id as text (`ExportConfig.by_id` knows it); the entry is in the configuration.
    entry_id: str
    parent_id: int | None
    points: Any
    #: The stored answer tree (`labeling.annotation`), None when empty.
    answers: dict[str, Any] | None
    source: str
    score: float | None
    model_version: str
    valid: bool
    #: Who drew it (a user id), None for imported labels and predictions.
    author_id: int | None = None
    #: A rectangle's rotation in degrees (`labeling.annotation`), 0 otherwise.
    rotation: float = 0.0


@dataclass(slots=True)
class TaskRows:
    """One task to export as read, before the canonical model (see `ExportItem` for the fields)."""

    task_id: Any
    media_id: Any
    media_name: str
    media_url: str
    width: int | None
    height: int | None
    external_id: str
    global_key: str | None
    state: str
    assignee_id: Any
    updated_at: datetime
    #: The task's stored answer tree (global answers), None when empty.
    answers: dict[str, Any] | None
    #: Its labels in the order they were created; a label's parent (if exported) comes with it.
    labels: list[LabelRow]
    metadata: dict[str, Any] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    #: Who did what on the task (issue 18).
    who: TaskAttribution = field(default_factory=TaskAttribution)
    #: Usernames by user id, of every label author of the chunk (shared by its tasks).
    usernames: dict[int, str] = field(default_factory=dict)


def label_tree(labels: list[LabelRow]) -> list[tuple[LabelRow, list[Any]]]:
    """The root labels of a task as `(row, children)` nodes, children nested the same way, as the
    canonical model nests shapes: in creation order, a label whose parent is not there at the root."""
    roots: list[tuple[LabelRow, list[Any]]] = []
    nodes: dict[int, tuple[LabelRow, list[Any]]] = {}
    orphans: list[tuple[LabelRow, list[Any]]] = []
    for row in labels:
        node: tuple[LabelRow, list[Any]] = (row, [])
        nodes[row.id] = node
        parent_id = row.parent_id
        if parent_id is None:
            roots.append(node)
        elif parent_id in nodes:
            nodes[parent_id][1].append(node)
        else:
            orphans.append(node)
    for node in orphans:
        parent = nodes.get(node[0].parent_id)  # type: ignore[arg-type]
        (parent[1] if parent is not None else roots).append(node)
    return roots


def label_tree_walk(nodes: list[tuple[LabelRow, list[Any]]]) -> Iterator[LabelRow]:
    """Every label of a `label_tree`, parents first (as `shapes_walk` walks the canonical model)."""
    for row, children in nodes:
        yield row
        if children:
            yield from label_tree_walk(children)


class ExportSource(Protocol):
    """What a writer reads (`exports.reader.ExportReader` is the one that reads the database)."""

    config: ExportConfig
    #: Base URL of the API (`https://host/api/v1`) for links in the export, or "".
    api_url: str

    @property
    def include_predictions(self) -> bool:
        """Whether predictions are in the export; writers that keep them apart (Label Studio) read this."""
        ...

    def chunks(self) -> Iterator[list[ExportItem]]: ...

    def rows(self) -> Iterator[list[TaskRows]]:
        """The same tasks in the same chunks as `chunks()`, before the canonical model."""
        ...

    def has_items(self) -> bool: ...


#: `(source, out) -> None, ...`: writes the export to `out`, yielding after each chunk of tasks.
ExportWriter = Callable[[ExportSource, IO[bytes]], Iterator[None]]


@dataclass(frozen=True)
class PartStart:
    """Where a slice of the tasks starts in the whole export: tasks and geometry labels before it,
    and (for a format whose archive names its entries after the media, `ExportParts.name_key`)
    the names taken before it, for `UniqueNames` to go on from."""

    tasks: int = 0
    labels: int = 0
    names: NamesTaken | None = None


#: `(source, out, side, start) -> None, ... -> labels written`: the body of one slice of the tasks
#: (elements without the enclosing brackets); `side` takes a second stream if the format has one.
PartWriter = Callable[[ExportSource, IO[bytes], IO[bytes], PartStart], Generator[None, None, int]]
#: `(source, parts, out) -> None, ...`: the whole export from the slices' `(out, side)` files, in order.
PartJoiner = Callable[[ExportSource, list[tuple[IO[bytes], IO[bytes]]], IO[bytes]], Iterator[None]]


#: `(media name, width, height) -> the name an archive entry takes for it (`UniqueNames.take`), or None
#: when the media gets no entry`.
NameKey = Callable[[str, int | None, int | None], str | None]


@dataclass(frozen=True)
class ExportParts:
    """How a format's export splits over processes: a writer per slice of tasks and a joiner."""

    write: PartWriter
    join: PartJoiner
    #: Whether a slice must know the number of geometry labels before it (COCO's annotation ids).
    needs_label_offsets: bool = False
    #: For an archive with an entry per media named after it: the name each media takes, for a slice
    #: to know the names taken before it (`PartStart.names`) and keep them unique as one process does.
    name_key: NameKey | None = None


def parts_concat(parts: list[IO[bytes]], out: IO[bytes], block: int = 1 << 20) -> Iterator[None]:
    """The part files one after the other, as they are (rows of a CSV)."""
    for part in parts:
        if not part.tell():
            continue
        part.seek(0)
        while data := part.read(block):
            out.write(data)
            yield


def zip_parts_join(
    parts: list[IO[bytes]], archive: zipfile.ZipFile, lists: Sequence[tuple[str, bool]] = ()
) -> Iterator[None]:
    """Join the ZIP archives that slices of an export wrote into `archive`, entries in order.

    Each part's entries are copied as they are, compressed bytes and all (no entry is compressed
    twice), except its `lists`: text entries every part ends with, in that order (a listing of its
    media), which become one entry each, the parts' texts one after the other, after all other
    entries; `(name, always)` writes the entry even when it is empty. Only entries are copied,
    so the archive is the one a single process writes, but for the entries' times.
    """
    listed = [name for name, _ in lists]
    assert archive.fp is not None
    # Each part's directory is read once (for its entries, then its lists): reading a directory of
    # 50,000 entries costs about 0.35 s of CPU, and this runs in the one process after the writers.
    sources: list[zipfile.ZipFile] = []
    try:
        for part in parts:
            part.seek(0)
            source = zipfile.ZipFile(part)
            sources.append(source)
            infos = [info for info in source.infolist() if info.filename not in listed]
            if not infos:
                continue
            # The entries to copy come first in a part: its lists follow them.
            lists_at = [info.header_offset for info in source.infolist() if info.filename in listed]
            end = min(lists_at) if lists_at else source.start_dir
            base = archive.start_dir
            archive.fp.seek(base)
            part.seek(0)
            left = end
            while left > 0:
                data = part.read(min(left, 1 << 20))
                if not data:
                    raise ValueError("A part of the export ended early.")
                archive.fp.write(data)
                left -= len(data)
                yield
            for info in infos:
                info.header_offset += base
                archive.filelist.append(info)
                archive.NameToInfo[info.filename] = info
            archive.start_dir = archive.fp.tell()
            archive._didModify = True  # type: ignore[attr-defined]  # the central directory is written on close
        for name, always in lists:
            found = [source for source in sources if source.NameToInfo.get(name) and source.NameToInfo[name].file_size]
            if not found and not always:
                continue
            with archive.open(name, "w") as member:
                for source in found:
                    with source.open(name) as text:
                        while data := text.read(1 << 20):
                            member.write(data)
                            yield
    finally:
        for source in sources:
            source.close()


#: Entries up to this size are written by `zip_entry_write` in one piece (larger ones as `writestr` does).
ZIP_ENTRY_FAST_MAX = 1 << 24


def zip_entry_write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """`archive.writestr(name, data)` for the many small entries of an export (a file per image), in
    one write: the header is made once with the compressed size and CRC known, not written, sought
    back to and written again. The entry has the header fields `writestr` gives it; the archive must
    be seekable and no other entry open for writing. In a deflated archive the entry is compressed
    by ISA-L (`isal`, `ENTRY_DEFLATE_LEVEL`): about 3x zlib's speed on these small files, a deflate
    stream any unzip inflates, 2-7 % larger than zlib's level 6."""
    fp = archive.fp
    if len(data) > ZIP_ENTRY_FAST_MAX or fp is None or not archive._seekable:  # type: ignore[attr-defined]
        archive.writestr(name, data)
        return
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])
    info.compress_type = archive.compression
    info.external_attr = 0o600 << 16
    info.file_size = len(data)
    info.CRC = zlib.crc32(data)
    if archive.compression == zipfile.ZIP_DEFLATED:
        body = isal_zlib.compress(data, ENTRY_DEFLATE_LEVEL, -15)  # a raw deflate stream, as ZIP keeps it
    elif archive.compression == zipfile.ZIP_STORED:
        body = data
    else:
        archive.writestr(name, data)
        return
    info.compress_size = len(body)
    fp.seek(archive.start_dir)
    info.header_offset = archive.start_dir
    fp.write(info.FileHeader(False))
    fp.write(body)
    archive.filelist.append(info)
    archive.NameToInfo[name] = info
    archive.start_dir = fp.tell()
    archive._didModify = True  # type: ignore[attr-defined]


#: ISA-L's level for the small entries `zip_entry_write` deflates (0-3; 1 measured best for an export:
#: a 2.3 KB VOC document in 8.5 us at 0.287 of its size, against zlib's 24-31 us at 0.264). With zlib,
#: deflating YOLO's label files and VOC's documents was a third of those writers' CPU; stored, their
#: archives were 2.1x (YOLO) to 3.3x (VOC) larger to download (docs/benchmarks.md).
ENTRY_DEFLATE_LEVEL = 1


def parts_copy(parts: list[IO[bytes]], out: IO[bytes], block: int = 1 << 20) -> Iterator[None]:
    """The non-empty part files one after the other, separated by commas (elements of one JSON array)."""
    first = True
    for part in parts:
        if not part.tell():
            continue
        part.seek(0)
        if not first:
            out.write(b",")
        first = False
        while data := part.read(block):
            out.write(data)
            yield


@dataclass(frozen=True)
class ExportFormat:
    """One export format: what the registry lists, the API accepts and the job runs."""

    name: str
    label: str
    description: str
    #: The file name extension of the export (`json`, `zip`, `csv`).
    extension: str
    content_type: str
    write: ExportWriter
    #: Set when the export can be written in slices by several processes.
    parts: ExportParts | None = None
    #: Whether the format's regions need the image's size (percentages, normalised values, a
    #: declared size): the export learns unknown sizes first and leaves out the regions of the
    #: tasks whose size it still does not know, never writing them against a null size.
    needs_media_size: bool = False


# --- helpers shared by writers ---------------------------------------------------------------


def shapes_walk(shapes: list[Shape], parent: Shape | None = None) -> Iterator[tuple[Shape, Shape | None]]:
    """Every shape with its parent (None for a root), parents first."""
    for shape in shapes:
        yield shape, parent
        if shape.children:
            yield from shapes_walk(shape.children, shape)


def answers_flat(answers: list[Answer], prefix: str = "") -> dict[str, str | list[str] | None]:
    """An answer tree as `{"car_type": "suv", "weather.daytime": "day", "tags": ["a", "b"]}`."""
    flat: dict[str, str | list[str] | None] = {}
    for answer in answers:
        name = f"{prefix}{answer.key}"
        flat[name] = answer.value
        if answer.answers:
            flat.update(answers_flat(answer.answers, prefix=f"{name}."))
    return flat


def answers_tree_flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`answers_flat` of a stored answer tree (`labeling.annotation.answers_to_json`), as it is."""
    flat: dict[str, Any] = {}
    for key, node in tree.items():
        name = f"{prefix}{key}"
        flat[name] = node.get("value")
        children = node.get("answers")
        if children:
            flat.update(answers_tree_flat(children, f"{name}."))
    return flat


def answers_text(answers: list[Answer]) -> str:
    """An answer tree as one line: `car_type=suv; tags=a|b; weather.daytime=day` (unset answers left out),
    by question key (the order a database keeps JSON keys in varies)."""
    return flat_text(answers_flat(answers))


def answers_tree_text(tree: dict[str, Any] | None) -> str:
    """`answers_text` of a stored answer tree."""
    return flat_text(answers_tree_flat(tree)) if tree else ""


def flat_text(flat: Mapping[str, Any]) -> str:
    """Flattened answers as one line (`answers_text`)."""
    parts = []
    for name, value in sorted(flat.items()):
        if value is None or value == []:
            continue
        parts.append(f"{name}={'|'.join(value) if isinstance(value, list) else value}")
    return "; ".join(parts)


def box_of(points: Any, rotation: float = 0.0) -> tuple[float, float, float, float] | None:
    """`(x, y, w, h)` around all the points of a shape (rings of a segmentation included); None if none.
    A rotated rectangle's box is the axis-aligned hull of its turned corners (`rectangle_hull`)."""
    pairs = points_pairs(points)
    if rotation and isinstance(points, list) and len(pairs) == 2:
        return rectangle_hull(points, rotation)
    if not pairs:
        return None
    xs = [x for x, _ in pairs]
    ys = [y for _, y in pairs]
    left, top = min(xs), min(ys)
    return left, top, max(xs) - left, max(ys) - top


def points_flat(points: Any) -> Iterator[tuple[float, float]]:
    """The `(x, y)` pairs of a point list or a list of rings, skipping anything malformed."""
    if not isinstance(points, list):
        return
    pairs = _pairs_plain(points)
    if pairs is not None:
        yield from pairs
        return
    for item in points:
        if isinstance(item, list | tuple) and len(item) >= 2 and all(_is_number(v) for v in item[:2]):
            yield float(item[0]), float(item[1])
        elif isinstance(item, list):
            yield from points_flat(item)


def points_pairs(points: Any) -> list[tuple[float, float]]:
    """`list(points_flat(points))`, at once for a well-formed point list (as stored)."""
    if type(points) is list:
        pairs = _pairs_plain(points)
        if pairs is not None:
            return pairs
    return list(points_flat(points))


_PLAIN_NUMBERS = (int, float)


def _pairs_plain(points: list[Any]) -> list[tuple[float, float]] | None:
    """The pairs of a well-formed point list (`[[x, y], ...]` of ints and floats, as stored) at once;
    None for anything else (rings, longer items, other types), which `points_flat` walks."""
    try:
        pairs = [(float(x), float(y)) for x, y in points if type(x) in _PLAIN_NUMBERS and type(y) in _PLAIN_NUMBERS]
    except (TypeError, ValueError):
        return None
    return pairs if len(pairs) == len(points) else None


def rings_of(shape_type: str, points: Any, rotation: float = 0.0) -> list[list[tuple[float, float]]]:
    """The polygons of a shape as lists of `(x, y)`: a polygon's one ring, a segmentation's rings,
    a rectangle's four corners (turned by its `rotation`); nothing for points and lines."""
    if not isinstance(points, list) or not points:
        return []
    if shape_type == "segmentation":
        rings = [points_pairs(ring) for ring in points if isinstance(ring, list)]
        return [ring for ring in rings if len(ring) >= 3]
    if shape_type == "polygon":
        ring = points_pairs(points)
        return [ring] if len(ring) >= 3 else []
    if shape_type == "rectangle":
        corners = points_pairs(points)
        if len(corners) < 2:
            return []
        (x1, y1), (x2, y2) = corners[0], corners[1]
        if rotation:
            return [[(x, y) for x, y in rectangle_corners([[x1, y1], [x2, y2]], rotation)]]
        x1, x2 = min(x1, x2), max(x1, x2)
        y1, y2 = min(y1, y2), max(y1, y2)
        return [[(x1, y1), (x2, y1), (x2, y2), (x1, y2)]]
    return []


def ring_shells(rings: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
    """The rings that are outlines, not holes (even-odd: a ring inside an odd number of others is a
    hole), for formats that write a polygon per line and would fill a hole."""
    if len(rings) < 2:  # a polygon's one ring: nothing to be inside of
        return rings
    return [ring for ring in rings if sum(ring_holds(other, ring[0]) for other in rings if other is not ring) % 2 == 0]


def ring_holds(ring: Sequence[Sequence[float]], point: Sequence[float]) -> bool:
    """Whether `point` is inside `ring` (even-odd)."""
    x, y = point[0], point[1]
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, [*ring[1:], *ring[:1]], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def polygon_area(ring: list[tuple[float, float]]) -> float:
    """The area of a simple polygon (shoelace formula)."""
    total = 0.0
    for i, (x1, y1) in enumerate(ring):
        x2, y2 = ring[(i + 1) % len(ring)]
        total += x1 * y2 - x2 * y1
    return abs(total) / 2.0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def safe_name(name: str) -> str:
    """A media name as a file name inside an archive: no folders, no leading dots."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lstrip(".") or "media"
    if base.isprintable() and not _UNSAFE_IN_NAMES.search(base):
        return base  # most names: no character to replace
    return "".join(c if c.isprintable() and c not in ':*?"<>|' else "_" for c in base)


_UNSAFE_IN_NAMES = re.compile(r'[:*?"<>|]')


def stem(name: str) -> str:
    base = safe_name(name)
    return base.rsplit(".", 1)[0] if "." in base else base


@dataclass(frozen=True)
class NamesTaken:
    """What `UniqueNames` has given out so far: every name taken (lower case) and, per name that
    repeated, the last number its copies took; a slice of an export starts from the state of the
    slices before it (`PartStart.names`)."""

    taken: frozenset[str] = frozenset()
    numbered: Mapping[str, int] = field(default_factory=dict)


class UniqueNames:
    """File names in an archive, unique without regard to case when media share a name: the first
    keeps it (`a.txt`), the next take `a_2.txt`, `a_3.txt`, skipping a number whose name is taken
    already (a media called `a_2` of its own), so that no entry ever overwrites another."""

    def __init__(self, start: NamesTaken | None = None) -> None:
        self.taken: set[str] = set(start.taken) if start else set()
        self.numbered: dict[str, int] = dict(start.numbered) if start else {}

    def take(self, name: str, extension: str) -> str:
        key = name.lower()
        if key not in self.taken:
            self.taken.add(key)
            return f"{name}.{extension}"
        number = self.numbered.get(key, 1) + 1
        while f"{key}_{number}" in self.taken:
            number += 1
        self.numbered[key] = number
        self.taken.add(f"{key}_{number}")
        return f"{name}_{number}.{extension}"

    def state(self) -> NamesTaken:
        return NamesTaken(frozenset(self.taken), dict(self.numbered))
