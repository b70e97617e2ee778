"""DataGym JSON: a JSON array of one object per media (reference/datagym.md, section 4).

The schema is DataGym's, verbatim (`schemas/datagym_import.json`), with its two bugs kept:
`patternProperties: {"": ...}` matches every key, and in nested geometry objects
`"additionalProperties": false` sits inside `properties`, so nested geometry objects accept
any extra key except one literally named `additionalProperties`.

What `convert` does, as DataGym does it:
- `internal_media_ID` names the media; an item without it is skipped (and counted);
- `keepData` false replaces what the media has in the project, true or missing adds to it;
- `global_classifications` keys are root classification keys; `labels` keys root geometry
  keys; a geometry's `classifications` keys its direct child questions; `nested_geometries`
  keys its child geometry classes (root geometries only);
- coordinates are read by the type of the class, not by the property that holds them
  (`polygon`, `line`, `point`, `rectangle` or the deprecated `geometry`; several of them in
  one object are concatenated); digit strings are numbers;
- answers are checked leniently: a value that breaks a rule of its question is imported
  with `valid=False` (an unknown select option is cleared), never rejected;
- unknown keys, a box on a non-rectangle class and a rectangle with an extra key are errors
  that name the key or the type.

The writer (`datagym_export_write`, and the slices of a parallel export) writes DataGym's JSON
export (reference/datagym.md, section 5) from an export source: tasks in chunks, each chunk's
labels in the canonical label model; the rows are streamed, so memory stays flat however
large the project is. The DataGym v1 export endpoint uses it too.
"""

from __future__ import annotations

import io
import json
import math
import re
import sys
import weakref
from collections import defaultdict
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path
from typing import IO, Annotated, Any
from urllib.parse import quote

import ijson
import orjson
from PIL import Image, ImageDraw
from pydantic import ConfigDict, Field, PlainValidator, StringConstraints, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from formats.datagym_typed import item_typed, typed_part_items
from formats.jsonsplit import PART_ITEMS, Span, SpanShort, json_array_split, span_items
from formats.reading import (
    YAJL_NOT_UTF8,
    Converted,
    FileError,
    ImportFormat,
    ItemSchema,
    RawItem,
    TypedItem,
    item_plain,
    json_first_item_keys,
    not_utf8_check,
    not_utf8_error,
    pointer,
)
from formats.writing import (
    ExportConfig,
    ExportFormat,
    ExportParts,
    ExportSource,
    LabelRow,
    PartStart,
    TaskRows,
    label_tree,
    parts_copy,
)
from labeling.annotation import (
    Answer,
    MediaAnnotation,
    MediaRef,
    Shape,
    rectangle_box,
    rectangle_hull,
    rectangle_points,
)
from labeling.models import TaskState
from labelsite.errors import ErrorDetail
from labelsite.jsondepth import DepthGuard, JsonTooDeep
from projects.label_config import IndexedEntry, LabelConfigIndex
from projects.models import GEOMETRY_TYPES, EntryType, LabelEntry

SCHEMA: dict[str, Any] = json.loads((Path(__file__).parent / "schemas" / "datagym_import.json").read_text())
#: The schema of one array item: the `items` subschema with the definitions it refers to.
ITEM_SCHEMA: dict[str, Any] = {**SCHEMA["items"], "definitions": SCHEMA["definitions"]}

MATCH_BY = ("id", "name", "external_id", "global_key")
GEOMETRY_PROPERTIES = frozenset({"geometry", "rectangle", "polygon", "point", "line"})
BOX_KEYS = frozenset({"x", "y", "w", "h"})
MIN_POINTS = {EntryType.POINT.value: 1, EntryType.LINE.value: 2, EntryType.POLYGON.value: 3}


# --- the fast schema check --------------------------------------------------------------------
# The same constraints as ITEM_SCHEMA, compiled by pydantic. Strict types (no coercion),
# Python's `re` so that `^[0-9]+$` means what it means to jsonschema (which lets a final
# newline through), `extra="forbid"` where the schema says `additionalProperties: false`.

_Digits = Annotated[str, StringConstraints(pattern=r"^[0-9]+$")]
# int first: a strict float refuses ints beyond the float range, which jsonschema accepts as numbers.
_Coordinate = Annotated[int, Field(ge=0)] | Annotated[float, Field(ge=0)] | _Digits


def _config(extra: str) -> ConfigDict:
    return ConfigDict(strict=True, regex_engine="python-re", extra=extra)  # type: ignore[typeddict-item]


# TypedDicts, not models: pydantic then builds plain dicts instead of a model instance per
# point, a fifth less of the check's time.
class _Point(TypedDict):
    __pydantic_config__ = _config("forbid")  # type: ignore[misc]
    x: _Coordinate
    y: _Coordinate


class _Box(TypedDict):
    __pydantic_config__ = _config("allow")  # type: ignore[misc]
    x: _Coordinate
    y: _Coordinate
    w: _Coordinate
    h: _Coordinate


def _is_classification(value: Any) -> bool:
    """The schema's recursive `classification`: [str|null, str|{key: classification}, str...]."""
    if not isinstance(value, list):
        return False
    # One loop, no generators: this runs for every answer of every item.
    for position, element in enumerate(value):
        if isinstance(element, str) or (position == 0 and element is None):
            continue
        if position == 1 and isinstance(element, dict):
            for child in element.values():
                if not _is_classification(child):
                    return False
            continue
        return False
    return True


def _classifications(value: Any) -> Any:
    if isinstance(value, dict):
        for answer in value.values():
            if not _is_classification(answer):
                break
        else:
            return value
    raise ValueError("not an object of classifications")


def _false_schema(value: Any) -> Any:
    raise ValueError("False schema does not allow this key")


_Classifications = Annotated[Any, PlainValidator(_classifications)]


class _GeometryFields(TypedDict, total=False):
    geometry: list[_Point | _Box]
    rectangle: Annotated[list[_Box], Field(min_length=1, max_length=1)]
    polygon: Annotated[list[_Point], Field(min_length=3)]
    point: Annotated[list[_Point], Field(min_length=1, max_length=1)]
    line: Annotated[list[_Point], Field(min_length=2)]
    classifications: _Classifications


class _NestedGeometry(_GeometryFields, total=False):
    __pydantic_config__ = _config("allow")  # type: ignore[misc]
    # The misplaced `"additionalProperties": false` is a property whose schema always fails.
    additionalProperties: Annotated[Any, PlainValidator(_false_schema)]


_NESTED_GEOMETRIES = TypeAdapter(list[_NestedGeometry])


def _check_nested(value: Any) -> Any:
    # No `type` in the schema: anything passes, but an object must map keys to lists of nested geometries.
    if isinstance(value, dict):
        for nested in value.values():
            if not isinstance(nested, list):
                raise ValueError("nested geometries must be lists")
            _NESTED_GEOMETRIES.validate_python(nested)
    return value


class _Geometry(_GeometryFields, total=False):
    __pydantic_config__ = _config("forbid")  # type: ignore[misc]
    image_segmentation: list[Any]
    nested_geometries: Annotated[Any, PlainValidator(_check_nested)]


class _Item(TypedDict, total=False):
    __pydantic_config__ = _config("allow")  # type: ignore[misc]
    internal_media_ID: str
    keepData: bool
    global_classifications: _Classifications
    labels: dict[str, list[_Geometry]]


_ITEM = TypeAdapter(_Item)


def item_is_valid_fast(data: Any) -> bool:
    """The compiled schema check: True exactly when the reference schema accepts `data`."""
    try:
        _ITEM.validate_python(data)
    except (ValidationError, ValueError):
        return False
    return True


ITEM = ItemSchema(ITEM_SCHEMA, fast=item_is_valid_fast)


# --- the streaming reader ---------------------------------------------------------------------


class _TrackingReader:
    """A file wrapper that remembers the chunk being parsed, to place syntax errors."""

    def __init__(self, file: IO[bytes], first: bytes) -> None:
        self._file = file
        self._pending = first
        self.chunk = b""
        self.chunk_start = 0
        self.lines_before_chunk = 0
        self._offset = 0
        self.guard = DepthGuard()

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson asks for nothing to learn whether the file gives bytes
            return b""
        if self._pending:
            data, self._pending = self._pending, b""
        else:
            data = self._file.read(size)
        self.lines_before_chunk += self.chunk.count(b"\n")
        self.chunk_start = self._offset
        self.chunk = data
        self._offset += len(data)
        self.guard.feed(data)
        return data

    def place(self, message: str) -> tuple[int, int] | None:
        """Line and column (1-based) of a yajl error in the current chunk, if found."""
        lines = message.splitlines()
        if len(lines) < 3 or "^" not in lines[2]:
            return None
        caret = lines[2].index("^")
        before, after = lines[1][10:caret].lstrip(" "), lines[1][caret:]
        normalised = self.chunk.translate(bytes.maketrans(b"\n\r\t", b"   ")).decode("utf-8", "replace")
        found = normalised.find(before + after) if before + after else -1
        if found < 0:
            return None
        # yajl's offset is just past the character it choked on.
        position = max(len(normalised[: found + len(before)].encode("utf-8", "replace")) - 1, 0)
        head = self.chunk[:position]
        line = self.lines_before_chunk + head.count(b"\n") + 1
        line_start = head.rfind(b"\n") + 1
        column = len(head[line_start:].decode("utf-8", "replace")) + 1
        return line, column


def _syntax_error(reader: _TrackingReader, exc: Exception) -> FileError:
    text = str(exc)
    problem = text.splitlines()[0] if text else "invalid JSON"
    if "premature EOF" in problem:
        last_line = reader.lines_before_chunk + reader.chunk.count(b"\n") + 1
        place = f"at the end of the file (line {last_line})"
        path = "end of file"
    else:
        found = reader.place(text)
        if found is not None:
            place, path = f"at line {found[0]}, column {found[1]}", f"line {found[0]}, column {found[1]}"
        else:
            start = reader.lines_before_chunk + 1
            place, path = f"near line {start}", f"line {start}"
    if YAJL_NOT_UTF8 in problem:
        return not_utf8_error(place, path)
    return FileError(
        ErrorDetail(
            path=path,
            code="json_syntax",
            message=f"The file is not valid JSON {place}: {problem}. Fix the JSON syntax there and upload it again.",
        )
    )


def read(file: IO[bytes]) -> Iterator[RawItem]:
    """Stream the items of a DataGym file one at a time; memory does not grow with the file.

    Raises `FileError` for an empty file, a top level that is not an array, or a syntax
    error (with its line and column); items before a syntax error are yielded first.
    """
    first = file.read(65536)
    if isinstance(first, str):  # a file opened in text mode
        raise TypeError("open the import file in binary mode")
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    not_utf8_check(first)
    stripped = first.lstrip()
    while not stripped:
        more = file.read(65536)
        if not more:
            raise FileError(
                ErrorDetail(path="", code="empty_file", message="The file is empty; upload a JSON array of items.")
            )
        first, stripped = more, more.lstrip()
    if stripped[:1] != b"[":
        line = first[: len(first) - len(stripped)].count(b"\n") + 1
        raise FileError(
            ErrorDetail(
                path=f"line {line}",
                code="not_an_array",
                message=(
                    f"The file must hold a JSON array of items, [{{...}}, ...], but it starts with "
                    f"{stripped[:1].decode('utf-8', 'replace')!r}; wrap the items in [ and ]."
                ),
            )
        )
    reader = _TrackingReader(file, first)
    index = 0
    try:
        for data in ijson.items(reader, "item", use_float=True):
            yield RawItem(index=index, location=pointer(index), data=data)
            index += 1
    except ijson.JSONError as exc:
        raise _syntax_error(reader, exc) from exc
    except JsonTooDeep as exc:
        raise _too_deep(exc) from exc


def _too_deep(exc: JsonTooDeep) -> FileError:
    return FileError(
        ErrorDetail(
            path=f"byte {exc.offset}",
            code="json_too_deep",
            message=(
                f"The file nests deeper than {exc.limit} levels (at byte {exc.offset}); no import item "
                "is that deep. Check that the file is a DataGym import and that its brackets are balanced."
            ),
        )
    )


def read_span(file: IO[bytes], span: Span, *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """The items of one span of the file (see `formats.jsonsplit`), numbered as in the whole file.

    Raises `FileError` when the span is not valid JSON; the job then reads the whole file
    with `read`, which places the error by line and column.
    """
    try:
        for index, data in span_items(file, span, decode_part=typed_part_items):
            yield RawItem(index=index, location=pointer(index), data=data)
    except ijson.JSONError as exc:
        raise FileError(ErrorDetail(path="", code="json_syntax", message=str(exc).splitlines()[0])) from exc
    except JsonTooDeep as exc:
        raise _too_deep(exc) from exc
    except SpanShort as exc:
        raise FileError(ErrorDetail(path="", code="json_syntax", message=str(exc))) from exc


def split(file: IO[bytes], *, every: int, options: Mapping[str, Any] | None = None) -> list[Span] | None:
    return json_array_split(file, every=every, part_items=PART_ITEMS if every % PART_ITEMS == 0 else None)


# --- conversion to the canonical model ---------------------------------------------------------


def _choices(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:12])
    if len(keys) > 12:
        shown += f" and {len(keys) - 12} more"
    return shown or "none are configured"


def _unknown(path: str, key: str, what: str, known: list[str]) -> ErrorDetail:
    return ErrorDetail(
        path=path,
        code="unknown_entry",
        message=f"{key!r} is not {what} in the project's label configuration; use one of: {_choices(known)}.",
        params=(key,),
    )


class _ConfigLookups:
    """What conversion asks of the configuration again and again, computed once per configuration.

    Holds its configuration weakly: it lives as long as the configuration does (`_lookups`)."""

    def __init__(self, config: LabelConfigIndex) -> None:
        self._config = weakref.ref(config)
        self.questions: dict[str, list[IndexedEntry]] = {
            entry_id: [child for child in config.children_of(entry_id) if child.is_classification]
            for entry_id in config.entries
        }
        self.option_keys: dict[str, frozenset[str]] = {
            entry_id: frozenset(entry.option_keys) for entry_id, entry in config.entries.items()
        }
        self.root_questions = [entry for entry in config.roots.values() if entry.is_classification]
        #: The fast path's lookups, made the first time it meets this configuration (`_fast_lookups`).
        self.fast: _FastLookups | None = None
        #: The answer of an unanswered question, per entry id: built once and shared (never mutated).
        self.empty: dict[str, Answer] = {}

    @property
    def config(self) -> LabelConfigIndex:
        config = self._config()
        assert config is not None, "used after its configuration"  # callers hold the configuration
        return config


#: The lookups of the configurations in use (a job's phase or chunk converts 100,000s of items
#: with one), each dropped when its configuration is. A worker builds a new configuration index
#: per chunk: kept until a bound, the caches of its past chunks (about 10,000 objects each)
#: stayed scattered over the heap and made each later chunk's conversion slower, 0.50 s for a
#: worker's first chunk and 0.60-0.70 s for its last ones (docs/benchmarks.md).
_LOOKUPS: dict[int, _ConfigLookups] = {}


def _lookups(config: LabelConfigIndex) -> _ConfigLookups:
    found = _LOOKUPS.get(id(config))
    if found is None or found._config() is not config:
        found = _LOOKUPS[id(config)] = _ConfigLookups(config)
        # Runs as the configuration is freed, before its id can be another's.
        weakref.finalize(config, _LOOKUPS.pop, id(config), None)
    return found


class _Converter:
    def __init__(self, config: LabelConfigIndex, index: int) -> None:
        self.config = config
        self.lookups = _lookups(config)
        self.index = index
        self.errors: list[ErrorDetail] = []

    def path(self, *parts: object) -> str:
        return pointer(self.index, *parts)

    # answers

    def empty_answer(self, entry: IndexedEntry) -> Answer:
        found = self.lookups.empty.get(entry.id)
        if found is None:
            value: Any = [] if entry.type == EntryType.CHECKLIST else None
            found = self.lookups.empty[entry.id] = Answer(
                key=entry.key,
                value=value,
                answers=[self.empty_answer(child) for child in self.child_questions(entry)],
                valid=not entry.required,
            )
        return found

    def child_questions(self, entry: IndexedEntry) -> list[IndexedEntry]:
        return self.lookups.questions[entry.id]

    def answer(self, entry: IndexedEntry, values: list[Any], parts: tuple[object, ...]) -> Answer:
        strings = [v for v in values if isinstance(v, str)]
        value: Any
        valid = True
        if entry.type == EntryType.SELECT:
            value = strings[0] if len(strings) == 1 else None
            if value is not None and value not in self.lookups.option_keys[entry.id]:
                value, valid = None, False
            elif value is None and entry.required:
                valid = False
        elif entry.type == EntryType.CHECKLIST:
            value = strings
            if entry.required and (not value or not self.lookups.option_keys[entry.id].issuperset(value)):
                valid = False
        else:  # freetext
            value = strings[0] if len(strings) == 1 else None
            too_long = value is not None and entry.max_length is not None and len(value) > entry.max_length
            valid = not too_long and not (entry.required and not value)
        questions = self.lookups.questions[entry.id]
        if len(strings) == len(values):  # no child answers given (the common case)
            return Answer(key=entry.key, value=value, answers=[self.empty_answer(c) for c in questions], valid=valid)
        given: dict[str, Answer] = {}
        for position, element in enumerate(values):
            if not isinstance(element, dict) or not element:
                continue
            child_key = next(iter(element))  # DataGym reads only the first key
            child = self.config.child(entry.id, child_key)
            if child is None or not child.is_classification:
                self.errors.append(
                    _unknown(
                        self.path(*parts, position, child_key),
                        child_key,
                        f"a child question of {entry.key!r}",
                        [c.key for c in self.child_questions(entry)],
                    )
                )
                continue
            given[child.key] = self.answer(child, element[child_key], (*parts, position, child_key))
        children = [given.get(child.key) or self.empty_answer(child) for child in questions]
        return Answer(key=entry.key, value=value, answers=children, valid=valid)

    def global_answers(self, given: dict[str, Any]) -> list[Answer]:
        roots = self.lookups.root_questions
        answers: dict[str, Answer] = {}
        for key, values in given.items():
            entry = self.config.root(key)
            if entry is None or not entry.is_classification:
                self.errors.append(
                    _unknown(
                        self.path("global_classifications", key), key, "a global classification", [e.key for e in roots]
                    )
                )
                continue
            answers[key] = self.answer(entry, values, ("global_classifications", key))
        return [answers.get(entry.key) or self.empty_answer(entry) for entry in roots]

    def shape_answers(self, entry: IndexedEntry, given: Any, parts: tuple[object, ...]) -> list[Answer]:
        if not given:  # nothing answered: the shared empty answers (a new list, they may be appended to)
            return [self.empty_answer(child) for child in self.lookups.questions[entry.id]]
        answers: dict[str, Answer] = {}
        for key, values in given.items():
            child = self.config.child(entry.id, key)
            if child is None or not child.is_classification:
                known = [c.key for c in self.child_questions(entry)]
                self.errors.append(_unknown(self.path(*parts, key), key, f"a question of class {entry.key!r}", known))
                continue
            answers[key] = self.answer(child, values, (*parts, key))
        return [answers.get(child.key) or self.empty_answer(child) for child in self.child_questions(entry)]

    # geometries

    def points(self, entry: IndexedEntry, obj: dict[str, Any], parts: tuple[object, ...]) -> tuple[list[Any], bool]:
        """The coordinates of a geometry object, read by the class type; and whether they suffice."""
        rectangle = entry.type == EntryType.RECTANGLE
        boxes: list[dict[str, Any]] = []
        points: list[list[float]] = []
        for prop, elements in obj.items():
            if prop not in GEOMETRY_PROPERTIES:
                continue
            if not rectangle and all(len(element) == 2 for element in elements):
                # Only points {x, y} (the schema requires both; a box has four keys): the common case.
                points += [
                    [
                        x if (x := e["x"]).__class__ is not str else _number(x),
                        y if (y := e["y"]).__class__ is not str else _number(y),
                    ]
                    for e in elements
                ]
                continue
            for position, element in enumerate(elements):
                if rectangle:
                    extra = sorted(element.keys() - BOX_KEYS)
                    if extra:
                        self.errors.append(
                            ErrorDetail(
                                path=self.path(*parts, prop, position),
                                code="rectangle_extra_key",
                                message=f"A rectangle has only the keys x, y, w and h; remove {', '.join(extra)}.",
                                params=("RECTANGLE",),
                            )
                        )
                    boxes.append(element)
                elif len(element) > 2 or "w" in element or "h" in element:
                    kind = entry.type.upper()
                    self.errors.append(
                        ErrorDetail(
                            path=self.path(*parts, prop, position),
                            code="geometry_type_mismatch",
                            message=(
                                f"Class {entry.key!r} is a {entry.type}: give its coordinates as points "
                                f"{{x, y}}, not as a box {{x, y, w, h}}."
                            ),
                            params=(kind,),
                        )
                    )
                else:
                    x, y = element["x"], element["y"]
                    points.append([_number(x), _number(y)])
        if rectangle:
            complete = [b for b in boxes if b.keys() >= BOX_KEYS]
            if not complete:
                return [], False
            box = complete[0]
            return (
                rectangle_points(_number(box["x"]), _number(box["y"]), _number(box["w"]), _number(box["h"])),
                len(boxes) == 1,
            )
        fewest = MIN_POINTS.get(entry.type, 1)
        valid = len(points) >= fewest and (entry.type != EntryType.POINT or len(points) == 1)
        return points, valid

    def shape(self, entry: IndexedEntry, obj: dict[str, Any], parts: tuple[object, ...], *, root: bool) -> Shape:
        try:
            points, geometry_valid = self.points(entry, obj, parts)
        except _CoordinateOutOfRange:
            self.errors.append(
                ErrorDetail(
                    path=self.path(*parts),
                    code="coordinate_out_of_range",
                    message=(
                        f"A coordinate of class {entry.key!r} has more than 309 digits, beyond any image; "
                        "coordinates are pixels from the top left."
                    ),
                )
            )
            points, geometry_valid = [], False
        answers = self.shape_answers(entry, obj.get("classifications"), (*parts, "classifications"))
        shape = Shape(
            key=entry.key,
            type=entry.type,
            points=points,
            answers=answers,
            valid=geometry_valid and _answers_valid(answers),
            schema_id=entry.schema_id,
            entry_id=entry.id,
        )
        nested = obj.get("nested_geometries")
        if root and nested is not None:
            if not isinstance(nested, dict):
                self.errors.append(
                    ErrorDetail(
                        path=self.path(*parts, "nested_geometries"),
                        code="nested_geometries_not_object",
                        message='nested_geometries must be an object such as {"wheel": [{"point": [...]}]}.',
                    )
                )
                return shape
            for key, objects in nested.items():
                child = self.config.child(entry.id, key)
                if child is None or not child.is_geometry:
                    known = [c.key for c in self.config.children_of(entry.id) if c.is_geometry]
                    self.errors.append(
                        _unknown(
                            self.path(*parts, "nested_geometries", key),
                            key,
                            f"a nested geometry of class {entry.key!r}",
                            known,
                        )
                    )
                    continue
                if child.type == EntryType.SEGMENTATION:
                    continue
                for position, child_obj in enumerate(objects):
                    shape.children.append(
                        self.shape(child, child_obj, (*parts, "nested_geometries", key, position), root=False)
                    )
        return shape

    def shapes(self, labels: dict[str, Any]) -> list[Shape]:
        shapes: list[Shape] = []
        for key, objects in labels.items():
            entry = self.config.root(key)
            if entry is None or not entry.is_geometry:
                known = [e.key for e in self.config.roots.values() if e.is_geometry]
                self.errors.append(_unknown(self.path("labels", key), key, "a label class (root geometry)", known))
                continue
            if entry.type == EntryType.SEGMENTATION:  # DataGym cannot import segmentations yet either
                continue
            for position, obj in enumerate(objects):
                shapes.append(self.shape(entry, obj, ("labels", key, position), root=True))
        return shapes


#: The largest coordinate: beyond it a number is no float (and no pixel of any image).
_MAX_COORDINATE = sys.float_info.max


class _CoordinateOutOfRange(ValueError):
    """A coordinate the schema allows (digits, or a JSON integer) that no float can hold."""


def _number(value: Any) -> float:
    """A coordinate: DataGym allows numbers and strings of digits.

    `int` refuses strings over 4,300 digits (ValueError) and `float` ints beyond its range
    (OverflowError); such coordinates raise `_CoordinateOutOfRange` instead, for `shape` to report.
    """
    if value.__class__ is str:
        if len(value) > 309:
            value = value.lstrip("0") or "0"  # int() counts leading zeros against its digit limit too
            if len(value) > 309:
                raise _CoordinateOutOfRange(value)
        value = int(value)
    if value.__class__ is int and value > _MAX_COORDINATE:
        raise _CoordinateOutOfRange(value)
    return value


def _answers_valid(answers: list[Answer]) -> bool:
    for answer in answers:  # noqa: SIM110 - a plain loop: about twice as fast as all() over a generator
        if not answer.valid or (answer.answers and not _answers_valid(answer.answers)):
            return False
    return True


def media_reference(data: Any, match_by: str = "id") -> MediaRef | None:
    """How the item names its media under `match_by`; None when it does not (skipped)."""
    if not isinstance(data, dict):
        return None
    value = data.get("internal_media_ID")
    if match_by == "name":
        external = data.get("external_media_ID")  # DataGym's export puts the media name here
        if isinstance(external, str) and external:
            value = external
    if not isinstance(value, str):
        return None
    return MediaRef.matched_by(match_by, value)


# --- the fast path: the common items without the general converter's bookkeeping --------------
#
# Most items a tool or a script writes are plain: points {x, y} of numbers, one box {x, y, w, h}
# per rectangle, known classes and questions, string answers (with child answers). For them
# `_item_fast` builds the same shapes and answers as `_Converter` with the configuration's keys
# resolved once per configuration and the answers to the same strings made once (answers are
# never mutated once made, as the shared empty answers already are); anything else (digit
# strings, an unknown key, a box on a point class, a rectangle that is not exactly one box, too
# few points, a segmentation class) returns None and the item goes through `_Converter`, which
# places every error. `tests/formats/test_datagym_fast.py` holds the two to the same answers.

#: How many made answers a configuration keeps (free texts are mostly unique).
_FAST_ANSWERS_MAX = 20_000
_FAST_POINT_TYPES = frozenset({EntryType.POINT.value, EntryType.LINE.value, EntryType.POLYGON.value})
#: Below this an int is a float exactly and no coordinate is out of range (see `_number`).
_FAST_INT_MAX = 2**53


#: The schema's coordinate string, matched as jsonschema matches it (`re.search`, `$` before a final newline).
_DIGITS = re.compile(r"^[0-9]+$")


def _fast_number(value: Any) -> Any:
    """`_number` of a coordinate the schema accepts (a number >= 0 or digits), else None."""
    if value.__class__ is float or value.__class__ is int:
        if value < 0:
            return None
        if value.__class__ is float or value <= _FAST_INT_MAX:
            return value
    elif value.__class__ is not str or _DIGITS.search(value) is None:
        return None
    try:
        return _number(value)
    except (_CoordinateOutOfRange, ValueError):
        return None


def _frozen(element: Any) -> Any:
    """An answer's element as a hashable key: child answers one level deep (else TypeError)."""
    if element.__class__ is dict:
        return ("{}", tuple((key, _frozen_list(value)) for key, value in element.items()))
    return element


def _frozen_list(value: Any) -> tuple[Any, ...]:
    if value.__class__ is not list:  # tuple() of a dict or a string would pass for some list
        raise TypeError("not a list")
    return tuple(value)


#: The keys of a root geometry object (the schema forbids others).
_ROOT_OBJECT_KEYS = frozenset({*GEOMETRY_PROPERTIES, "image_segmentation", "classifications", "nested_geometries"})
#: How many points the schema allows under each geometry property.
_POINTS_OF_PROPERTY = {"geometry": (0, sys.maxsize), "polygon": (3, sys.maxsize), "line": (2, sys.maxsize),
                       "point": (1, 1), "rectangle": (1, 0)}  # fmt: skip


class _FastLookups:
    """The keys of one configuration as plain dicts, and the answers made so far."""

    def __init__(self, lookups: _ConfigLookups) -> None:
        config = lookups.config
        # Weakly: `lookups` holds this object, and a cycle would outlive its configuration until
        # the next collection (which import phases hold off, `imports.pipeline.gc_relaxed`).
        self.lookups: _ConfigLookups = weakref.proxy(lookups)
        self.root_geometries = {key: entry for key, entry in config.roots.items() if entry.is_geometry}
        self.root_questions = {key: entry for key, entry in config.roots.items() if entry.is_classification}
        self.child_questions: dict[str, dict[str, IndexedEntry]] = defaultdict(dict)
        self.child_geometries: dict[str, dict[str, IndexedEntry]] = defaultdict(dict)
        for (parent_id, key), entry in config.children.items():
            if entry.is_classification:
                self.child_questions[parent_id][key] = entry
            elif entry.is_geometry:
                self.child_geometries[parent_id][key] = entry
        #: (entry id, the given values) -> (the answer, whether it and its child answers are valid).
        self.answers: dict[tuple[str, tuple[Any, ...]], tuple[Answer, bool]] = {}
        #: (class or "" for the item, the JSON text of the given classifications) -> (the answers
        #: in their questions' order, whether all are valid): the typed path's (`datagym_typed`).
        self.answer_lists: dict[tuple[str, bytes], tuple[list[Answer], bool]] = {}


def _fast_lookups(config: LabelConfigIndex) -> _FastLookups:
    """The fast path's lookups, kept with the configuration's own (`_lookups`)."""
    lookups = _lookups(config)
    if lookups.fast is None:
        lookups.fast = _FastLookups(lookups)
    return lookups.fast


class _FastConverter:
    """`_Converter` for the items the fast path takes: each method answers None to give up."""

    def __init__(self, fast: _FastLookups, index: int) -> None:
        self.fast = fast
        # Answers with child answers go through the general `answer`; it appends no error for
        # the children it finds (the fast path looked them up first).
        self.general = _Converter(fast.lookups.config, index)

    def answer(self, entry: IndexedEntry, values: Any) -> tuple[Answer, bool] | None:
        if values.__class__ is not list:
            return None
        try:
            key: tuple[str, tuple[Any, ...]] | None = (entry.id, tuple(values))
            found = self.fast.answers.get(key)  # type: ignore[arg-type]
        except TypeError:  # a dict of child answers: not hashable as it is
            try:
                key = (entry.id, tuple(_frozen(element) for element in values))
                found = self.fast.answers.get(key)
            except TypeError:  # deeper child answers: made each time
                found, key = None, None
        if found is not None:
            return found
        if not _is_classification(values):  # the schema's check, made once per distinct answer
            return None
        for element in values:
            if element.__class__ is dict and element:
                child_key = next(iter(element))
                child = self.fast.child_questions[entry.id].get(child_key)
                if child is None or self.answer(child, element[child_key]) is None:
                    return None
        answer = self.general.answer(entry, values, ())
        if self.general.errors:
            return None
        made = (answer, _answers_valid([answer]))
        if key is not None:
            if len(self.fast.answers) > _FAST_ANSWERS_MAX:
                self.fast.answers.clear()
            self.fast.answers[key] = made
        return made

    def answers(
        self, questions: dict[str, IndexedEntry], ordered: list[IndexedEntry], given: Any
    ) -> tuple[list[Answer], bool] | None:
        """The answers to `ordered` (in their order) from `given`, and whether all are valid."""
        empty = self.general.empty_answer
        if not given:
            answers = [empty(question) for question in ordered]
            return answers, _answers_valid(answers)
        if given.__class__ is not dict:
            return None
        made: dict[str, tuple[Answer, bool]] = {}
        for key, values in given.items():
            entry = questions.get(key)
            if entry is None:
                return None
            found = self.answer(entry, values)
            if found is None:
                return None
            made[key] = found
        answers = []
        valid = True
        for question in ordered:
            found = made.get(question.key)
            if found is None:
                answer = empty(question)
                answers.append(answer)
                if valid and not _answers_valid([answer]):
                    valid = False
            else:
                answers.append(found[0])
                valid = valid and found[1]
        return answers, valid

    def shape(self, entry: IndexedEntry, obj: Any, *, root: bool) -> Shape | None:
        if obj.__class__ is not dict:
            return None
        if root:
            if not _ROOT_OBJECT_KEYS.issuperset(obj):  # the schema's additionalProperties: false
                return None
            if "image_segmentation" in obj and obj["image_segmentation"].__class__ is not list:
                return None
        elif "additionalProperties" in obj:  # the misplaced false schema (see the module)
            return None
        if "classifications" in obj and obj["classifications"].__class__ is not dict:
            return None
        entry_type = entry.type
        points: list[Any] = []
        if entry_type == EntryType.RECTANGLE:
            boxes = 0
            for prop, elements in obj.items():
                if prop not in GEOMETRY_PROPERTIES:
                    continue
                # Boxes belong under `rectangle` (exactly one) or `geometry`; elsewhere the schema wants points.
                if elements.__class__ is not list or not (
                    prop == "geometry" or (prop == "rectangle" and len(elements) == 1)
                ):
                    return None
                for box in elements:
                    boxes += 1
                    if box.__class__ is not dict or len(box) != 4 or box.keys() != BOX_KEYS:
                        return None
                    x, y, w, h = (
                        _fast_number(box["x"]),
                        _fast_number(box["y"]),
                        _fast_number(box["w"]),
                        _fast_number(box["h"]),
                    )
                    if x is None or y is None or w is None or h is None:
                        return None
                    points = rectangle_points(x, y, w, h)
            if boxes != 1:
                return None
        elif entry_type in _FAST_POINT_TYPES:
            for prop, elements in obj.items():
                if prop not in GEOMETRY_PROPERTIES:
                    continue
                if elements.__class__ is not list:
                    return None
                fewest, most = _POINTS_OF_PROPERTY[prop]
                if not fewest <= len(elements) <= most:  # `rectangle` takes no points at all
                    return None
                for e in elements:
                    if e.__class__ is not dict or len(e) != 2:
                        return None
                    x, y = e.get("x"), e.get("y")
                    if (x.__class__ is not float and x.__class__ is not int) or x < 0 or x > _FAST_INT_MAX:
                        x = _fast_number(x)
                    if (y.__class__ is not float and y.__class__ is not int) or y < 0 or y > _FAST_INT_MAX:
                        y = _fast_number(y)
                    if x is None or y is None:
                        return None
                    points.append([x, y])
            count = len(points)
            if count < MIN_POINTS[entry_type] or (entry_type == EntryType.POINT and count != 1):
                return None
        else:
            return None
        fast = self.fast
        given = obj.get("classifications")
        made = self.answers(fast.child_questions[entry.id], fast.lookups.questions[entry.id], given)
        if made is None:
            return None
        answers, valid = made
        shape = Shape(
            key=entry.key,
            type=entry_type,
            points=points,
            answers=answers,
            valid=valid,
            schema_id=entry.schema_id,
            entry_id=entry.id,
        )
        nested = obj.get("nested_geometries")
        if root and nested is not None:
            if nested.__class__ is not dict:
                return None
            classes = self.fast.child_geometries[entry.id]
            children = shape.children
            for key, objects in nested.items():
                child = classes.get(key)
                if child is None:
                    return None
                if child.type == EntryType.SEGMENTATION or objects.__class__ is not list:
                    return None  # a segmentation's objects are skipped, yet the schema checks them
                for child_obj in objects:
                    made_child = self.shape(child, child_obj, root=False)
                    if made_child is None:
                        return None
                    children.append(made_child)
        return shape


def _item_fast(data: Any, config: LabelConfigIndex, *, index: int, match_by: str) -> Converted | None:
    """`convert` of an item the fast path takes, else None. It takes only items that the
    reference schema accepts (it checks what it reads as the schema does), so an item it
    converts needs no schema check of its own (`ImportFormat.convert_checked`)."""
    if data.__class__ is TypedItem:  # decoded into structs (`formats.datagym_typed`)
        fast = _fast_lookups(config)
        converted = item_typed(data.typed, match_by=match_by, fast=fast, converter=_FastConverter(fast, index))
        if converted is not None:
            return converted
        data = data.plain()
    if data.__class__ is not dict:
        return None
    if ("internal_media_ID" in data and data["internal_media_ID"].__class__ is not str) or (
        "keepData" in data and data["keepData"].__class__ is not bool
    ):
        return None
    reference = media_reference(data, match_by)
    if reference is None:
        return None
    given = data.get("global_classifications")
    labels = data.get("labels")
    if ("global_classifications" in data and given.__class__ is not dict) or (
        "labels" in data and labels.__class__ is not dict
    ):
        return None
    fast = _fast_lookups(config)
    converter = _FastConverter(fast, index)
    made = converter.answers(fast.root_questions, fast.lookups.root_questions, given)
    if made is None:
        return None
    shapes: list[Shape] = []
    if labels:
        roots = fast.root_geometries
        for key, objects in labels.items():
            entry = roots.get(key)
            # A segmentation's objects are skipped, yet the schema checks them: the general path.
            if entry is None or entry.type == EntryType.SEGMENTATION or objects.__class__ is not list:
                return None
            for obj in objects:
                shape = converter.shape(entry, obj, root=True)
                if shape is None:
                    return None
                shapes.append(shape)
    return Converted(
        annotation=MediaAnnotation(
            media=reference, answers=made[0], shapes=shapes, keep_data=data.get("keepData") is not False
        ),
        reference=reference,
    )


def convert(data: Any, config: LabelConfigIndex, *, index: int = 0, match_by: str = "id") -> Converted:
    """One schema-valid item as a `MediaAnnotation`, or its located errors.

    Returns no annotation and no errors for an item that names no media (skipped).
    """
    fast = _item_fast(data, config, index=index, match_by=match_by)
    if fast is not None:
        return fast
    return _item_convert(item_plain(data), config, index=index, match_by=match_by)


def _item_convert(data: Any, config: LabelConfigIndex, *, index: int = 0, match_by: str = "id") -> Converted:
    """`convert` by the general converter, which places every error."""
    reference = media_reference(data, match_by)
    if reference is None:
        return Converted(annotation=None)
    converter = _Converter(config, index)
    answers = converter.global_answers(data.get("global_classifications") or {})
    shapes = converter.shapes(data.get("labels") or {})
    if converter.errors:
        return Converted(annotation=None, errors=converter.errors, reference=reference)
    return Converted(
        annotation=MediaAnnotation(
            media=reference, answers=answers, shapes=shapes, keep_data=data.get("keepData") is not False
        ),
        reference=reference,
    )


#: The keys of a DataGym item (the schema's); a file is DataGym when its first item has one.
ITEM_KEYS = frozenset(ITEM_SCHEMA["properties"])


def sniff(head: bytes) -> bool:
    """Whether the file's first item looks like a DataGym item (never a guess for any JSON list)."""
    keys = json_first_item_keys(head)
    return keys is not None and bool(keys & ITEM_KEYS)


FORMAT = ImportFormat(
    name="datagym",
    label="DataGym JSON",
    description=(
        "DataGym's import format: a JSON array with one object per image (internal_media_ID, keepData, "
        "global_classifications, labels with classifications and nested geometries)."
    ),
    file_kinds=("json",),
    schema=SCHEMA,
    item_schema=ITEM,
    read=read,
    convert=convert,
    convert_checked=_item_fast,
    options={"match_by": "id"},
    split=split,
    read_span=read_span,
    sniff=sniff,
    nothing_hint="DataGym items name their media in internal_media_ID and hold their labels under labels and "
    "global_classifications.",
)


# --- the writer ----------------------------------------------------------------------------------

#: DataGym exports only tasks that a person has finished.
EXPORT_STATES: tuple[str, ...] = (TaskState.COMPLETED, TaskState.SKIPPED, TaskState.REVIEWED)
#: DataGym's UI shows an option question with at most this many options as radio buttons,
#: and its documented export calls such a question `radio`.
RADIO_MAX_OPTIONS = 3

_GEOMETRY_NAMES: dict[str, str] = {EntryType.SEGMENTATION.value: "image_segmentation"}
# Plain strings: looking a member up on an enum class costs more than the comparison, a million times.
_POINT_TYPE = EntryType.POINT.value
_RECTANGLE_TYPE = EntryType.RECTANGLE.value
_SEGMENTATION_TYPE = EntryType.SEGMENTATION.value


def _label_class(entry: LabelEntry) -> dict[str, str]:
    if entry.type in GEOMETRY_TYPES:
        return {"class_name": entry.key, "geometry_type": _GEOMETRY_NAMES.get(entry.type, entry.type)}
    kind = entry.type
    if kind == EntryType.SELECT and len(entry.options) <= RADIO_MAX_OPTIONS:
        kind = "radio"
    return {"class_name": entry.key, "classification_type": kind}


def datagym_rows(source: ExportSource) -> Iterator[dict[str, Any]]:
    """The elements of the export array: the header, then one object per task.

    Nothing at all (not even the header) when no task qualifies, as DataGym does.
    `source.api_url` is the base of the bitmap links of segmentations (e.g. `https://host/api/v1`).
    """
    if not source.has_items():
        return
    config = source.config
    yield {"label_classes": [_label_class(entry) for entry in config.tree_order()]}
    rows = _RowWriter(config, source.api_url)
    for chunk in source.rows():
        for task in chunk:
            yield rows.task(task)


def datagym_export_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    """The export as one JSON array, written element by element; `[]` when no task qualifies."""
    if not source.has_items():
        out.write(b"[]")
        return
    out.write(b"[" + _header(source.config))
    rows = _RowWriter(source.config, source.api_url)
    dumps = orjson.dumps
    for chunk in source.rows():
        out.write(b"".join([b"," + dumps(rows.task(task)) for task in chunk]))
        yield
    out.write(b"]")


def datagym_export_write_part(
    source: ExportSource, out: IO[bytes], side: IO[bytes], start: PartStart
) -> Generator[None, None, int]:
    """The task objects of a slice of the tasks, separated by commas (see `datagym_export_join`)."""
    rows = _RowWriter(source.config, source.api_url)
    dumps = orjson.dumps
    first = True
    for chunk in source.rows():
        if chunk:
            data = b",".join([dumps(rows.task(task)) for task in chunk])
            out.write(data if first else b"," + data)
            first = False
        yield
    return 0


def datagym_export_join(
    source: ExportSource, parts: list[tuple[IO[bytes], IO[bytes]]], out: IO[bytes]
) -> Iterator[None]:
    """The export from the slices written by `datagym_export_write_part`, in order."""
    if not any(part.tell() for part, _ in parts):
        out.write(b"[]")
        return
    out.write(b"[" + _header(source.config) + b",")
    yield from parts_copy([part for part, _ in parts], out)
    out.write(b"]")


DATAGYM_EXPORT_PARTS = ExportParts(write=datagym_export_write_part, join=datagym_export_join)


def _header(config: ExportConfig) -> bytes:
    return orjson.dumps({"label_classes": [_label_class(entry) for entry in config.tree_order()]})


class _RowWriter:
    """Turns tasks as read (`TaskRows`) into DataGym's task objects, with what it needs of the
    configuration looked up once: per class its key, geometry name, questions and nested classes."""

    def __init__(self, config: ExportConfig, api_url: str) -> None:
        self.config = config
        self.api_url = api_url
        self.global_questions = config.questions_of(None)
        self.roots = [(str(entry.id), entry.key) for entry in config.geometries_of(None)]
        #: Per entry id (text): (key, geometry name, type, questions, nested geometry classes as (id, key)).
        self.entries: dict[str, tuple[str, str, str, list[LabelEntry], list[tuple[str, str]]]] = {
            str(entry.id): (
                entry.key,
                _GEOMETRY_NAMES.get(entry.type, entry.type),
                entry.type,
                config.questions_of(entry.id),
                [(str(child.id), child.key) for child in config.geometries_of(entry.id)],
            )
            for entry in config.entries
        }
        #: The classifications of a class with nothing answered, made once (orjson only reads them).
        self.unanswered: dict[str, dict[str, list[Any]]] = {
            entry_id: {question.key: _classification(question, None, config) for question in questions}
            for entry_id, (_, _, _, questions, _) in self.entries.items()
        }

    def task(self, task: TaskRows) -> dict[str, Any]:
        row: dict[str, Any] = {
            "internal_media_ID": str(task.media_id),
            "external_media_ID": task.media_name,
            "labeler": str(task.assignee_id) if task.assignee_id else None,
            "status": task.state,
        }
        entries = self.entries
        segmentation = _SEGMENTATION_TYPE
        tree = label_tree(task.labels)
        if any(entries[label.entry_id][2] == segmentation and label.points for label in task.labels):
            keys = dict.fromkeys(
                entries[label.entry_id][0]
                for label in _walk(tree)
                if label.points and entries[label.entry_id][2] == segmentation
            )
            row["segmentations"] = [
                f"{self.api_url}/export/bitmap/{task.task_id}/{quote(key, safe='')}" for key in keys
            ]
        answers = task.answers or {}
        config = self.config
        row["global_classifications"] = {
            question.key: _classification(question, answers.get(question.key), config)
            for question in self.global_questions
        }
        by_entry: dict[str, list[tuple[LabelRow, list[Any]]]] = defaultdict(list)
        for node in tree:
            by_entry[node[0].entry_id].append(node)
        geometry = self.geometry
        row["labels"] = {
            key: [geometry(node, nested=False) for node in by_entry[entry_id]]
            for entry_id, key in self.roots
            if entry_id in by_entry
        }
        return row

    def geometry(self, node: tuple[LabelRow, list[Any]], *, nested: bool) -> dict[str, Any]:
        label, children = node
        _, name, entry_type, questions, nested_classes = self.entries[label.entry_id]
        answers = label.answers
        geometry: dict[str, Any] = {
            name: _coordinates(entry_type, label.points, label.rotation),
            "classifications": {
                question.key: _classification(question, answers.get(question.key), self.config)
                for question in questions
            }
            if answers
            else self.unanswered[label.entry_id],
        }
        if not nested:
            own: dict[str, list[tuple[LabelRow, list[Any]]]] = defaultdict(list)
            for child in children:
                own[child[0].entry_id].append(child)
            geometry["nested_geometries"] = {
                key: [self.geometry(child, nested=True) for child in own[entry_id]]
                for entry_id, key in nested_classes
                if entry_id in own
            }
        return geometry


def _walk(nodes: list[tuple[LabelRow, list[Any]]]) -> Iterator[LabelRow]:
    """Every label of a tree, parents first (as `shapes_walk`)."""
    for label, children in nodes:
        yield label
        if children:
            yield from _walk(children)


def _classification(question: LabelEntry, answer: Any, config: ExportConfig) -> list[Any]:
    """`[value..., {child: [...]}, ...]`: the answer (a stored answer node), then one object per child question."""
    value = answer.get("value") if isinstance(answer, dict) else None
    items: list[Any]
    if question.type == EntryType.CHECKLIST:
        checked = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        items = list(checked) or [None]
    else:
        items = [value if isinstance(value, str) else None]
    children = config.questions_of(question.id)
    if children:
        child_answers = answer.get("answers") if isinstance(answer, dict) else None
        if not isinstance(child_answers, dict):
            child_answers = {}
        for child in children:
            items.append({child.key: _classification(child, child_answers.get(child.key), config)})
    return items


def _whole(value: Any) -> int | None:
    """A stored coordinate as DataGym writes it: truncated to an integer, null if missing or negative."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)


def _point(raw: Any) -> dict[str, int | None]:
    try:
        x, y = raw[0], raw[1]
        if type(x) in _NUMBER and type(y) in _NUMBER and x >= 0 and y >= 0:
            return {"x": int(x), "y": int(y)}
    except (TypeError, IndexError, KeyError):
        pass
    return _point_checked(raw)


_NUMBER = (int, float)


def _point_checked(raw: Any) -> dict[str, int | None]:
    x, y = (raw[0], raw[1]) if isinstance(raw, list | tuple) and len(raw) >= 2 else (None, None)
    x, y = _whole(x), _whole(y)
    if x is None or y is None:
        return {"x": None, "y": None}
    return {"x": x, "y": y}


def _coordinates(entry_type: str, points: Any, rotation: float = 0.0) -> list[Any]:
    if not isinstance(points, list) or not points:
        return []
    if entry_type == _POINT_TYPE:
        return [_point(points[0])]
    if entry_type == _RECTANGLE_TYPE:
        return [_hull_box(points, rotation) if rotation else _box(points)]
    if entry_type == _SEGMENTATION_TYPE:
        return [_points(ring) for ring in points if isinstance(ring, list)]
    return _points(points)


def _points(points: list[Any]) -> list[dict[str, int | None]]:
    # Inlined for the common case (pairs of non-negative numbers): this runs for millions of points.
    return [
        {"x": int(p[0]), "y": int(p[1])}
        if type(p) is list and len(p) >= 2 and type(p[0]) in _NUMBER and type(p[1]) in _NUMBER and p[0] >= 0 <= p[1]
        else _point(p)
        for p in points
    ]


_NO_BOX: dict[str, None] = {"x": None, "y": None, "w": None, "h": None}


def _hull_box(points: list[Any], rotation: float) -> dict[str, int | None]:
    """DataGym has no rotation: a rotated rectangle is given as the whole pixels that enclose
    its turned corners (the axis-aligned hull), the chosen loss (docs/formats.md)."""
    try:
        x, y, w, h = rectangle_hull(points, rotation)
    except (TypeError, ValueError, IndexError):
        return dict(_NO_BOX)
    left, top = math.floor(x), math.floor(y)
    return {"x": left, "y": top, "w": math.ceil(x + w) - left, "h": math.ceil(y + h) - top}


def _box(points: list[Any]) -> dict[str, int | None]:
    """A rectangle's two corners as `{x, y, w, h}`, all null if anything is missing or negative."""
    try:
        (x1, y1), (x2, y2) = points[0], points[1]
    except (TypeError, ValueError, IndexError):
        return dict(_NO_BOX)
    if type(x1) in _NUMBER and type(y1) in _NUMBER and type(x2) in _NUMBER and type(y2) in _NUMBER:
        x, y = min(x1, x2), min(y1, y2)
        if x >= 0 and y >= 0:
            return {"x": int(x), "y": int(y), "w": int(abs(x2 - x1)), "h": int(abs(y2 - y1))}
        return dict(_NO_BOX)
    try:
        box = [_whole(v) for v in rectangle_box(points)]
    except (TypeError, ValueError, IndexError):
        return dict(_NO_BOX)
    if None in box:
        return dict(_NO_BOX)
    return dict(zip(("x", "y", "w", "h"), box, strict=True))


def datagym_segmentation_bitmap(
    *, rings: list[list[tuple[float, float]]], width: int | None, height: int | None
) -> bytes:
    """A black BMP of the media's size with the segmentation polygons `rings` in white.

    Without a known size, the image is just large enough for the polygons.
    """
    if not width or not height:
        width = int(max((x for ring in rings for x, _ in ring), default=0)) + 1
        height = int(max((y for ring in rings for _, y in ring), default=0)) + 1
    image = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(image)
    for ring in rings:
        if len(ring) >= 3:
            draw.polygon(ring, fill=1)
    buffer = io.BytesIO()
    image.save(buffer, format="BMP")
    return buffer.getvalue()


EXPORT_FORMAT = ExportFormat(
    name="datagym",
    label="DataGym JSON",
    description="DataGym's export: a header of label classes, then one object per task with its "
    "global classifications and its geometries (nested ones inside their parent).",
    extension="json",
    content_type="application/json",
    write=datagym_export_write,
    parts=DATAGYM_EXPORT_PARTS,
)
