"""Label Studio tasks as JSON, read and written (reference/label-studio.md).

A task is `{"data": {...}, "annotations": [...], "predictions": [...]}`; an item without
`data` is all data (no labels). `completions` is the pre-1.0 name of `annotations`.

Reading:

- Media: the task's image is `data[<image_field>]` (option `image_field`; default the first
  URL-like value of `data`). It matches a media of the project by name (the URL's last part,
  without Label Studio's `8-hex-` upload prefix), and when none matches the pipeline creates
  a URL media from it (`creates_media`).
- Labels: of the annotations, the one marked `ground_truth` (else the first not cancelled)
  becomes our labels; every prediction becomes shapes with source `prediction`, its `score`
  (a region's own `score` wins) and `model_version`. Prediction answers fill only questions
  the annotation leaves unanswered.
- Results: `rectanglelabels` (a rotated box keeps its `rotation` in a rectangle class, and
  becomes its 4 corners in a polygon class), `polygonlabels`
  (onto a polygon, line or segmentation class), `keypointlabels` and `brushlabels` (the RLE
  mask traced to a segmentation: `brush_rle.py`, `mask_polygons.py`) map to classes.
  Percent coordinates become pixels with the result's `original_width` / `original_height`.
  A region whose `parentID` names another region is nested in it when the configuration
  nests its class there (else it stays a root region).
- `choices` and `textarea` answer questions: a region's own (the result shares the region's
  `id`, Label Studio's perRegion, or names it in `parentID`), else the global ones. A control
  name is a question's key, title or key path `parent/child`; child questions are found
  below their parents and their answers nested under the parent's answer.
- JSON_MIN (Label Studio's flat export, one row per annotation, told apart by `annotation_id`):
  the rows of one task are grouped by the reader and made again into a task (`_FlatTask`);
  errors are located in the flat file. `label_studio_csv` reads its CSV / TSV the same way.
- Mapping: option `label_mapping` `{"<from_name>:<value>" or "<value>" or "<from_name>": key
  or key path}` first; then the schema ids `ls:<from_name>:<value>` / `ls:<from_name>` that a
  configuration made from Label Studio XML carries; then a class whose title or key is the
  value. A label the configuration does not have is an error that names it (Label Studio
  stores it silently).

Writing (exports `label_studio` and `label_studio_min`). The labeling configuration the
results fit: `<Image name="image" value="$image"/>`, one labels control per geometry type
(`rectangle` RectangleLabels, `polygon` PolygonLabels, `line` PolygonLabels with
`closed: false`, `keypoint` KeyPointLabels, `segmentation` BrushLabels) whose label values
are our class keys, and one `Choices` / `TextArea` per question, named by its key path
(`weather`, `weather/daytime`; a class's questions from the class down). Coordinates are
percentages of `original_width` / `original_height` (the media's size in pixels); a
segmentation is painted as a brush RLE (one polygon region per ring when the media's size is
unknown). A region's answers are results with the region's `id`; a nested geometry names its
parent in `parentID`.

- JSON: one task per media, `{"id", "data": {"image", ...}, "annotations": [one, with our
  labels and the global answers], "predictions": [one per model version, with its shapes,
  per-region `score` and the mean as `score`]}` (predictions only when asked for).
- JSON_MIN: Label Studio's flat form, one object per task: `image`, `id`, then per control
  name its value (a list of regions; a choice alone as a string), `annotator`,
  `annotation_id`, `created_at`, `updated_at`. Predictions are not part of JSON_MIN.
"""

from __future__ import annotations

import io
import json
import math
import re
import weakref
from collections import defaultdict
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import replace
from pathlib import PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import ijson
import orjson

from formats.codecs.brush_rle import BrushRleError, rle_decode_mask, rle_encode_mask
from formats.codecs.mask_polygons import mask_segmentation, segmentation_crop
from formats.jsonsplit import PART_ITEMS, Span, SpanShort, item_after, json_array_split, span_items
from formats.media_rows import MediaRow, stored_context
from formats.reading import (
    BOOLEAN_OPTION,
    DATASET_ID_OPTION,
    IMAGE_FIELD_OPTION,
    LABEL_MAPPING_OPTION,
    YAJL_NOT_UTF8,
    Converted,
    FileError,
    ImportFormat,
    ItemSchema,
    MediaScale,
    RawItem,
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
    points_pairs,
    rings_of,
)
from labeling.annotation import Answer, MediaAnnotation, MediaRef, Shape, rectangle_points, rotation_normalise
from labeling.models import LabelSource, TaskState
from labelsite.errors import ErrorDetail
from labelsite.jsondepth import DepthGuard, JsonTooDeep
from projects.config_converters import key_from_text, ls_schema_id
from projects.label_config import IndexedEntry, LabelConfigIndex
from projects.models import GEOMETRY_TYPES, EntryType, LabelEntry

_RESULT = {
    "type": "object",
    "required": ["type", "value"],
    "properties": {
        "type": {"type": "string"},
        "from_name": {"type": "string"},
        "to_name": {"type": "string"},
        "value": {"type": "object"},
        "original_width": {"type": "number", "exclusiveMinimum": 0},
        "original_height": {"type": "number", "exclusiveMinimum": 0},
        "score": {"type": ["number", "null"]},
    },
}
_ANNOTATION = {
    "type": "object",
    "required": ["result"],
    "properties": {
        "result": {"type": "array", "items": _RESULT},
        "ground_truth": {"type": "boolean"},
        "was_cancelled": {"type": "boolean"},
        "score": {"type": ["number", "null"]},
        "model_version": {"type": ["string", "number", "null"]},
    },
}
#: Label Studio's export lists a task's predictions as their ids unless it is asked to expand
#: them: an id carries no labels and is passed over (`required` and `properties` bind objects only).
_PREDICTION = {**_ANNOTATION, "type": ["object", "integer"]}
ITEM_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Label Studio task",
    "type": "object",
    "properties": {
        "data": {"type": "object"},
        "annotations": {"type": "array", "items": _ANNOTATION},
        "completions": {"type": "array", "items": _ANNOTATION},
        "predictions": {"type": "array", "items": _PREDICTION},
    },
}


# The schema checked in plain Python: `jsonschema` walked every result of every task (9,000
# validator objects for 300 tasks, 60 % of a small import's validation). The same rules, for
# values a JSON parser makes; `tests/formats/test_label_studio.py` holds them to the schema.
def _number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _result_fast(result: Any) -> bool:
    if type(result) is not dict or type(result.get("type")) is not str or type(result.get("value")) is not dict:
        return False
    for key in ("from_name", "to_name"):
        if key in result and type(result[key]) is not str:
            return False
    for key in ("original_width", "original_height"):
        if key in result and not (_number(result[key]) and result[key] > 0):
            return False
    return "score" not in result or result["score"] is None or _number(result["score"])


def _annotation_fast(annotation: Any, *, prediction: bool = False) -> bool:
    if prediction and (type(annotation) is int or (type(annotation) is float and annotation.is_integer())):
        return True
    if type(annotation) is not dict or type(annotation.get("result")) is not list:
        return False
    if not all(_result_fast(result) for result in annotation["result"]):
        return False
    for key in ("ground_truth", "was_cancelled"):
        if key in annotation and type(annotation[key]) is not bool:
            return False
    if "score" in annotation and not (annotation["score"] is None or _number(annotation["score"])):
        return False
    version = annotation.get("model_version")
    return version is None or type(version) is str or _number(version)


def item_is_valid_fast(data: Any) -> bool:
    """Whether a task satisfies `ITEM_SCHEMA` (exactly, for parsed JSON), without jsonschema."""
    if type(data) is not dict or ("data" in data and type(data["data"]) is not dict):
        return False
    for key, prediction in (("annotations", False), ("completions", False), ("predictions", True)):
        if key in data:
            listed = data[key]
            if type(listed) is not list or not all(_annotation_fast(a, prediction=prediction) for a in listed):
                return False
    return True


ITEM = ItemSchema(ITEM_SCHEMA, fast=item_is_valid_fast)

GEOMETRY_RESULTS = {
    "rectanglelabels": EntryType.RECTANGLE.value,
    "polygonlabels": EntryType.POLYGON.value,
    "keypointlabels": EntryType.POINT.value,
    "brushlabels": EntryType.SEGMENTATION.value,
}
QUESTION_RESULTS = {"choices", "textarea"}
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


# --- reading ------------------------------------------------------------------------------


def _first_byte(file: IO[bytes]) -> tuple[bytes, bytes]:
    head = file.read(65536)
    if isinstance(head, str):
        raise TypeError("open the import file in binary mode")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    not_utf8_check(head)
    while not head.strip():
        more = file.read(65536)
        if not more:
            raise FileError(ErrorDetail("", "empty_file", "The file is empty; upload a JSON list of tasks."))
        head += more
    return head, head.lstrip()[:1]


class _Prefixed:
    def __init__(self, head: bytes, file: IO[bytes]) -> None:
        self._head, self._file = head, file
        self._guard = DepthGuard()

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        if self._head:
            data, self._head = self._head, b""
        else:
            data = self._file.read(size)
        self._guard.feed(data)
        return data


def json_syntax_error(exc: Exception) -> FileError:
    if isinstance(exc, UnicodeDecodeError):  # json.loads of a one-task file
        return not_utf8_error(f"at byte {exc.start}", f"byte {exc.start}")
    if YAJL_NOT_UTF8 in str(exc):
        return not_utf8_error("(it holds a Latin-1 or Windows-1252 character such as é)", "file")
    return FileError(
        ErrorDetail(
            path="file",
            code="json_syntax",
            message=f"The file is not valid JSON: {str(exc).splitlines()[0] if str(exc) else 'invalid JSON'}.",
        )
    )


def read_json_tasks(file: IO[bytes]) -> Iterator[RawItem]:
    """Stream the items of a JSON list, or yield the single object of a one-task file."""
    head, first = _first_byte(file)
    if first == b"{":
        body = head + file.read()
        try:
            DepthGuard().feed(body)
            data = json.loads(body)
        except JsonTooDeep as exc:
            raise json_too_deep_error(exc) from exc
        except ValueError as exc:
            raise json_syntax_error(exc) from exc
        yield RawItem(index=0, location=pointer(0), data=data)
        return
    if first != b"[":
        raise FileError(
            ErrorDetail(
                "line 1",
                "not_tasks",
                f"A Label Studio file holds a JSON list of tasks or one task, but it starts with {first!r}.",
            )
        )
    yield from json_array_items(head, file)


def json_array_items(head: bytes, file: IO[bytes]) -> Iterator[RawItem]:
    """Stream the items of a JSON array whose first bytes (`head`) were read already."""
    index = 0
    try:
        for data in ijson.items(_Prefixed(head, file), "item", use_float=True):
            yield RawItem(index=index, location=pointer(index), data=data)
            index += 1
    except ijson.JSONError as exc:
        raise json_syntax_error(exc) from exc
    except JsonTooDeep as exc:
        raise json_too_deep_error(exc) from exc


def json_too_deep_error(exc: JsonTooDeep) -> FileError:
    return FileError(
        ErrorDetail(
            path=f"byte {exc.offset}",
            code="json_too_deep",
            message=f"The file nests deeper than {exc.limit} levels (at byte {exc.offset}); no task is that deep.",
        )
    )


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    return flat_rows_group(read_json_tasks(file))


def split(file: IO[bytes], *, every: int, options: Mapping[str, Any] | None = None) -> list[Span] | None:
    """Spans of `every` tasks of a JSON list (a one-task file stays whole)."""
    return json_array_split(file, every=every, part_items=PART_ITEMS if every % PART_ITEMS == 0 else None)


def read_span(file: IO[bytes], span: Span, *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """The tasks of one span, numbered as in the whole file.

    JSON_MIN rows of one task are one item; a span that ends inside such a run of rows cannot
    be read alone: `FileError`, and the job reads the whole file in one piece instead."""
    last: RawItem | None = None
    try:
        for item in flat_rows_group(RawItem(i, pointer(i), data) for i, data in span_items(file, span)):
            last = item
            yield item
    except ijson.JSONError as exc:
        raise json_syntax_error(exc) from exc
    except SpanShort as exc:
        raise FileError(ErrorDetail("", "json_syntax", str(exc))) from exc
    if last is not None and FLAT_ROWS in last.data:
        following = item_after(file, span)
        if flat_row(following) and following.get("id") == last.data[FLAT_ROWS][-1]["row"].get("id"):
            raise FileError(ErrorDetail("", "rows_across_chunks", "A task's rows run across two chunks."))


def sniff(head: bytes) -> bool:
    text = head[:4096]
    if b"internal_media_ID" in text or b"row_data" in text:
        return False
    if text.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") and b'"data"' not in text and b'"images"' in text:
        return False  # a COCO file (formats.coco), whose annotations are no tasks
    if b'"schemaId"' in text or b'"externalId"' in text or b'"assetId"' in text:
        return False  # Ango's elements (whose `data` is the asset's URL)
    keys = (b'"data"', b'"annotations"', b'"completions"', b'"predictions"', b'"annotation_id"')
    return any(key in text for key in keys) or _flat_region_first(text)


#: The keys a Label Studio region value starts with (JSON_MIN holds region values by control name).
_REGION_VALUE_KEYS = frozenset({"x", "points", "rle", "format"})


def _flat_region_first(head: bytes) -> bool:
    """Whether the first row of a JSON list holds, under some key, a list of Label Studio region
    values: a JSON_MIN row whose regions (a brush's RLE, a long polygon) push its `annotation_id`,
    written last, beyond the first 4 KB."""
    parser = ijson.parse(io.BytesIO(head.removeprefix(b"\xef\xbb\xbf")), use_float=True)
    try:
        for prefix, event, value in parser:
            if prefix == "" and event != "start_array":
                return False
            if (
                event == "map_key"
                and prefix.count(".") == 2
                and prefix.startswith("item.")
                and prefix.endswith(".item")
            ) and (value in _REGION_VALUE_KEYS or str(value).endswith("labels")):
                return True
            if prefix == "item" and event == "end_map":
                return False
    except (ijson.JSONError, ValueError):
        pass  # the head ends mid-value: what was seen decides
    return False


# --- media ------------------------------------------------------------------------------


def _url_like(value: Any) -> bool:
    if not isinstance(value, str) or not value or "\n" in value:
        return False
    lowered = value.lower().split("?", 1)[0]
    return "://" in value or value.startswith("/") or lowered.endswith(_IMAGE_EXTENSIONS)


#: A URL whose path's last part is its text after the last "/" as it stands (printable ASCII, no
#: query, fragment, escape or backslash): `urlsplit` and `unquote` would give the same, slower.
_PLAIN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[\x21-\x7e]*", re.ASCII)
_NOT_PLAIN = re.compile(r"[?#%\\\[\]]")


def media_name(url: str) -> str:
    """The media name a task's image URL matches: its last path part, without the upload prefix."""
    last = url.rsplit("/", 1)[-1]
    if (
        last not in ("", ".")
        and url.count("/") >= 3
        and _PLAIN_URL.fullmatch(url) is not None
        and _NOT_PLAIN.search(url) is None
    ):
        name = last
    else:
        path = urlsplit(url).path
        last = path.rsplit("/", 1)[-1]
        # PurePosixPath's name where the last part is one (a path ending in "/" or "/." is rare).
        name = unquote(last if last not in ("", ".") else PurePosixPath(path).name) or url
    if "/upload/" in url:
        name = _UPLOAD_PREFIX.sub("", name)
    return name


def task_data(item: Mapping[str, Any]) -> dict[str, Any]:
    data = item.get("data")
    return dict(data) if isinstance(data, Mapping) else dict(item)


def image_reference(data: Mapping[str, Any], image_field: str | None) -> tuple[str, Any]:
    """(the data key, its value) of the task's image."""
    if image_field:
        return image_field, data.get(image_field)
    for key, value in data.items():
        if _url_like(value):
            return key, value
    return "", None


# --- conversion -------------------------------------------------------------------------


def _choices(values: list[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:12])
    return shown + (f" and {len(values) - 12} more" if len(values) > 12 else "") if shown else "none are configured"


#: A question in a scope (the global questions, or one class's), with the questions above it.
_Placed = tuple[IndexedEntry, tuple[IndexedEntry, ...]]


class _AnswerTree:
    """The answers of one scope (the task, or one region), nested as the configuration nests
    their questions; a child answered before its parent gets an empty parent to hang from."""

    def __init__(self, top: list[Answer]) -> None:
        self.top = top
        self.nodes: dict[str, Answer] = {}

    def place(self, placed: _Placed, answer: Answer) -> None:
        entry, above = placed
        siblings = self.top
        for ancestor in above:
            node = self.nodes.get(ancestor.id)
            if node is None:
                node = self.nodes[ancestor.id] = Answer(key=ancestor.key, schema_id=ancestor.schema_id)
                siblings.append(node)
            siblings = node.answers
        existing = self.nodes.get(entry.id)
        if existing is not None:
            existing.value, existing.valid = answer.value, answer.valid
            return
        self.nodes[entry.id] = answer
        siblings.append(answer)


def _region_shape(
    entry: IndexedEntry, points: Any, result: Mapping[str, Any], *, source: str, score: Any, version: str
) -> Shape:
    """A region's shape in its class; the region's own `score` wins over its annotation's."""
    region_score = result.get("score")
    return Shape(
        key=entry.key,
        type=entry.type,
        points=points,
        source=source,
        score=float(region_score) if isinstance(region_score, int | float) else score,
        model_version=version,
        schema_id=entry.schema_id,
        entry_id=entry.id,
    )


class _Converter:
    def __init__(self, config: LabelConfigIndex, options: Mapping[str, Any]) -> None:
        self.config = config
        self.mapping: Mapping[str, str] = options.get("label_mapping") or {}
        self.errors: list[ErrorDetail] = []
        self._scopes: dict[str | None, dict[str, list[_Placed]]] = {}
        #: Shapes in percent (regions without original_width/height): the media's size scales them.
        self.percent_shapes: list[Shape] = []
        self.percent_path: str | None = None

    # resolving classes

    def _mapped(self, *keys: str) -> IndexedEntry | None:
        for key in keys:
            target = self.mapping.get(key)
            if isinstance(target, str):
                entry = self.config.root(target.lower())
                if entry is not None:
                    return entry
        return None

    def _nested_class(self, parent: IndexedEntry, from_name: str, value: str, wanted: str) -> IndexedEntry | None:
        """The class of a region drawn inside a region of `parent` (`parentID`), if `parent` nests it."""
        target = self.mapping.get(f"{from_name}:{value}") or self.mapping.get(value)
        if isinstance(target, str):
            child = self.config.child(parent.id, target.lower())
            if child is not None and child.is_geometry:
                return child
        by_id = self.config.by_schema_id.get(ls_schema_id(from_name, value))
        if by_id is not None and by_id.parent_id == parent.id:
            return by_id
        key = key_from_text(value)
        found = [e for e in self.config.children_of(parent.id) if e.is_geometry and (e.title == value or e.key == key)]
        typed = [e for e in found if e.type == wanted]
        return (typed or found)[0] if found else None

    def geometry_entry(
        self, from_name: str, value: str, wanted: str, path: str, parent: IndexedEntry | None = None
    ) -> IndexedEntry | None:
        """The class of a region: nested in `parent` when the configuration nests it there, else a root class."""
        if parent is not None:
            nested = self._nested_class(parent, from_name, value, wanted)
            if nested is not None:
                return nested
        entry = self._mapped(f"{from_name}:{value}", value) or self.config.by_schema_id.get(
            ls_schema_id(from_name, value)
        )
        if entry is not None and entry.parent_id is not None:
            entry = None
        if entry is None:
            key = key_from_text(value)
            found = [e for e in self.config.roots.values() if e.is_geometry and (e.title == value or e.key == key)]
            typed = [e for e in found if e.type == wanted]
            entry = (typed or found)[0] if (typed or found) else None
        if entry is None:
            known = [e.title for e in self.config.roots.values() if e.is_geometry]
            self.errors.append(
                ErrorDetail(
                    path,
                    "label_not_in_config",
                    f"The label {value!r} (from_name {from_name!r}) is not a class of the project's label "
                    f"configuration; add it, map it with the option label_mapping, or use one of: {_choices(known)}.",
                    params=(value,),
                )
            )
        return entry

    # resolving questions

    def _scope(self, owner: IndexedEntry | None) -> dict[str, list[_Placed]]:
        """Every question of a scope by key, with the questions above it: the global questions
        (`owner` None) or those of one class, child questions included."""
        scope_id = owner.id if owner is not None else None
        found = self._scopes.get(scope_id)
        if found is not None:
            return found
        tops = self.config.roots.values() if owner is None else self.config.children_of(owner.id)
        found = {}
        # Depth first in configuration order, so that ambiguous names list their questions in that order.
        stack: list[_Placed] = [(e, ()) for e in reversed(list(tops)) if e.is_classification]
        while stack:
            entry, above = stack.pop()
            found.setdefault(entry.key, []).append((entry, above))
            children = [c for c in self.config.children_of(entry.id) if c.is_classification]
            stack.extend((c, (*above, entry)) for c in reversed(children))
        self._scopes[scope_id] = found
        return found

    def _placed(self, name: str, owner: IndexedEntry | None) -> list[_Placed]:
        """The questions of a scope that a control name (a key, a title, or a key path
        `parent/child`) names; several when a bare name is ambiguous."""
        scope = self._scope(owner)
        if "/" in name:
            steps = [key_from_text(step) for step in name.split("/")]
            for entry, above in scope.get(steps[-1], []):
                if [e.key for e in above] + [entry.key] == steps:
                    return [(entry, above)]
            return []
        found = scope.get(key_from_text(name), [])
        if not found:
            found = [p for ps in scope.values() for p in ps if p[0].title == name]
        shallowest = min((len(above) for _, above in found), default=0)
        return [p for p in found if len(p[1]) == shallowest]

    def question(self, from_name: str, path: str, owner: IndexedEntry | None) -> _Placed | None:
        """The question a choices or textarea result answers, in the global scope or a class's;
        errors only for the global scope (a region's result falls back to it)."""
        by_id = self.config.by_schema_id.get(
            ls_schema_id(from_name) if owner is None else f"{ls_schema_id(from_name)}@{owner.key}"[:64]
        )
        target = self.mapping.get(from_name)
        candidates: list[_Placed] = []
        if isinstance(target, str):
            candidates = self._placed(target, owner)
        if not candidates and by_id is not None:
            candidates = [p for ps in self._scope(owner).values() for p in ps if p[0].id == by_id.id]
        if not candidates:
            candidates = self._placed(from_name, owner)
        if len(candidates) == 1:
            return candidates[0]
        if owner is not None:
            return None
        if candidates:
            paths = ["/".join([*(e.key for e in above), entry.key]) for entry, above in candidates]
            self.errors.append(
                ErrorDetail(
                    path,
                    "ambiguous_question",
                    f"The control {from_name!r} matches several questions ({_choices(paths)}); name one with the "
                    f"option label_mapping, e.g. {{{from_name!r}: {paths[0]!r}}}.",
                    params=(from_name,),
                )
            )
            return None
        known = [e.key for e in self.config.roots.values() if e.is_classification]
        self.errors.append(
            ErrorDetail(
                path,
                "question_not_in_config",
                f"The control {from_name!r} is not a question of the project's label configuration; add it, "
                f"map it with the option label_mapping, or use one of: {_choices(known)}.",
                params=(from_name,),
            )
        )
        return None

    # answers

    def answer(self, entry: IndexedEntry, result: Mapping[str, Any], path: str) -> Answer | None:
        value = result.get("value") or {}
        if entry.type == EntryType.FREETEXT:
            text = value.get("text")
            texts = [text] if isinstance(text, str) else [t for t in (text or []) if isinstance(t, str)]
            answer_text = "\n".join(texts)
            too_long = entry.max_length is not None and len(answer_text) > entry.max_length
            if too_long:
                self.errors.append(
                    ErrorDetail(
                        f"{path}/value/text",
                        "text_too_long",
                        f"The text for {entry.key!r} has {len(answer_text)} characters; at most {entry.max_length}.",
                    )
                )
            return Answer(key=entry.key, value=answer_text or None, schema_id=entry.schema_id)
        given = value.get("choices")
        if not isinstance(given, list) or not all(isinstance(c, str) for c in given):
            self.errors.append(
                ErrorDetail(f"{path}/value/choices", "invalid_choices", "choices is a list of option values.")
            )
            return None
        keys: list[str] = []
        for position, choice in enumerate(given):
            option = next(
                (o for o in entry.options if choice in (o.label, o.key) or o.key == key_from_text(choice)), None
            )
            if option is None:
                self.errors.append(
                    ErrorDetail(
                        f"{path}/value/choices/{position}",
                        "choice_not_in_config",
                        f"{choice!r} is not an option of {entry.key!r}; use one of: "
                        f"{_choices([o.label for o in entry.options])}.",
                        params=(choice,),
                    )
                )
                continue
            keys.append(option.key)
        if entry.type == EntryType.SELECT:
            if len(keys) > 1:
                self.errors.append(
                    ErrorDetail(
                        f"{path}/value/choices",
                        "single_choice",
                        f"{entry.key!r} takes one choice; the result has {len(keys)}.",
                    )
                )
            return Answer(key=entry.key, value=keys[0] if keys else None, schema_id=entry.schema_id)
        return Answer(key=entry.key, value=keys, schema_id=entry.schema_id)

    # geometry

    def shapes(
        self,
        result: Mapping[str, Any],
        path: str,
        source: str,
        score: Any,
        version: str,
        parent: IndexedEntry | None = None,
    ) -> list[Shape]:
        kind = str(result["type"]).lower()
        value = result["value"]
        from_name = str(result.get("from_name") or "")
        given_width, given_height = result.get("original_width"), result.get("original_height")
        # Without the size in the result, the percentages wait for the matched media's size.
        relative = not given_width or not given_height
        width, height = (100.0, 100.0) if relative else (float(given_width or 0), float(given_height or 0))
        if relative:
            if kind == "brushlabels":
                self.errors.append(
                    ErrorDetail(
                        path,
                        "missing_original_size",
                        "A brush region needs original_width and original_height (its RLE is a pixel canvas of "
                        "that size); export the tasks from Label Studio with them, or add them to the result.",
                    )
                )
                return []
            self.percent_path = self.percent_path or path
        labels = value.get(kind)
        if not isinstance(labels, list) or not labels:
            self.errors.append(
                ErrorDetail(f"{path}/value/{kind}", "missing_labels", f"A {kind} region names its label in {kind}.")
            )
            return []
        shapes = []
        for position, label in enumerate(labels):
            entry = self.geometry_entry(
                from_name, str(label), GEOMETRY_RESULTS[kind], f"{path}/value/{kind}/{position}", parent
            )
            if entry is None:
                continue
            points = self.points(kind, value, entry, width, height, path)
            if points is None:
                continue
            shape = _region_shape(entry, points, result, source=source, score=score, version=version)
            if kind == "rectanglelabels" and entry.type == EntryType.RECTANGLE:
                shape.rotation = rotation_normalise(value.get("rotation") or 0)
            if relative:
                self.percent_shapes.append(shape)
            shapes.append(shape)
        return shapes

    def _numbers(self, value: Mapping[str, Any], names: tuple[str, ...], path: str) -> list[float] | None:
        numbers = []
        for name in names:
            number = value.get(name)
            if isinstance(number, bool) or not isinstance(number, int | float):
                self.errors.append(ErrorDetail(f"{path}/value/{name}", "invalid_number", f"{name} must be a number."))
                return None
            numbers.append(float(number))
        return numbers

    def _brush(self, value: Mapping[str, Any], width: float, height: float, path: str) -> list[Any] | None:
        """A brush region's RLE as segmentation rings (exact pixel outlines: no simplification)."""
        if value.get("format", "rle") != "rle" or not isinstance(value.get("rle"), list):
            self.errors.append(
                ErrorDetail(
                    f"{path}/value/rle",
                    "invalid_brush",
                    "A brushlabels region carries its mask as value.rle (a list of bytes) with format 'rle'.",
                )
            )
            return None
        if width != int(width) or height != int(height):
            self.errors.append(
                ErrorDetail(path, "invalid_brush", "original_width and original_height of a brush are whole pixels.")
            )
            return None
        try:
            mask = rle_decode_mask(value["rle"], int(width), int(height))
        except BrushRleError as exc:
            self.errors.append(
                ErrorDetail(
                    f"{path}/value/rle",
                    "invalid_brush",
                    f"The brush mask does not decode: {exc}. Export it again from Label Studio.",
                )
            )
            return None
        rings = mask_segmentation(mask)
        if not rings:
            self.errors.append(
                ErrorDetail(
                    f"{path}/value/rle",
                    "empty_brush",
                    f"The brush paints {int(mask.sum())} pixels and no area (strokes one pixel thin have none); "
                    "remove the region or paint it wider.",
                )
            )
            return None
        return rings

    def points(
        self, kind: str, value: Mapping[str, Any], entry: IndexedEntry, width: float, height: float, path: str
    ) -> list[Any] | None:
        def px(x: float, y: float) -> list[float]:
            return [round(x * width / 100, 3), round(y * height / 100, 3)]

        def mismatch() -> ErrorDetail:  # made only when needed: this runs for every region
            return ErrorDetail(
                path,
                "geometry_type_mismatch",
                f"A {kind} region cannot be stored in {entry.key!r}, which is a {entry.type}.",
                params=(entry.type,),
            )

        if kind == "brushlabels":
            if entry.type != EntryType.SEGMENTATION:
                self.errors.append(mismatch())
                return None
            return self._brush(value, width, height, path)
        if kind == "rectanglelabels":
            numbers = self._numbers(value, ("x", "y", "width", "height"), path)
            if numbers is None:
                return None
            x, y, w, h = numbers
            rotation = value.get("rotation") or 0
            if isinstance(rotation, bool) or not isinstance(rotation, int | float) or not math.isfinite(rotation):
                self.errors.append(
                    ErrorDetail(
                        f"{path}/value/rotation", "invalid_number", "rotation must be a finite number of degrees."
                    )
                )
                return None
            if entry.type == EntryType.RECTANGLE:
                # The unrotated box; `shapes` keeps the rotation (about the same top-left corner).
                (x1, y1), (x2, y2) = px(x, y), px(x + w, y + h)
                return rectangle_points(x1, y1, x2 - x1, y2 - y1)
            if entry.type == EntryType.POLYGON:
                # Label Studio rotates about the top-left corner, in pixel space.
                x0, y0 = x * width / 100, y * height / 100
                wp, hp = w * width / 100, h * height / 100
                cos, sin = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
                corners = [(0.0, 0.0), (wp, 0.0), (wp, hp), (0.0, hp)]
                return [[round(x0 + cx * cos - cy * sin, 3), round(y0 + cx * sin + cy * cos, 3)] for cx, cy in corners]
            self.errors.append(mismatch())
            return None
        if kind == "polygonlabels":
            if entry.type not in (EntryType.POLYGON, EntryType.LINE, EntryType.SEGMENTATION):
                self.errors.append(mismatch())
                return None
            raw = value.get("points")
            if not isinstance(raw, list) or not all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(c, int | float) for c in p) for p in raw
            ):
                self.errors.append(ErrorDetail(f"{path}/value/points", "invalid_points", "points is [[x, y], ...]."))
                return None
            fewest = 2 if entry.type == EntryType.LINE else 3
            if len(raw) < fewest:
                self.errors.append(
                    ErrorDetail(
                        f"{path}/value/points",
                        "too_few_points",
                        f"A {entry.type} needs at least {fewest} points; this one has {len(raw)}.",
                    )
                )
                return None
            ring = [px(float(p[0]), float(p[1])) for p in raw]
            # A polygon drawn for a segmentation class is a segmentation of one ring.
            return [ring] if entry.type == EntryType.SEGMENTATION else ring
        if entry.type != EntryType.POINT:
            self.errors.append(mismatch())
            return None
        numbers = self._numbers(value, ("x", "y"), path)
        return None if numbers is None else [px(numbers[0], numbers[1])]

    # one annotation or prediction

    def _geometries(
        self, geometries: list[tuple[int, Mapping[str, Any]]], path: str, source: str, score: Any, version: str
    ) -> tuple[list[Shape], dict[str, Shape]]:
        """The shapes of the geometry results, a region with a `parentID` nested in that region's
        shape when the configuration nests its class (parents first, whatever the order)."""
        roots: list[Shape] = []
        regions: dict[str, Shape] = {}
        waiting = {str(r["id"]) for _, r in geometries if r.get("id") is not None}
        failed: set[str] = set()
        pending = geometries
        while pending:
            later: list[tuple[int, Mapping[str, Any]]] = []
            for position, result in pending:
                place = f"{path}/{position}"
                region_id = str(result["id"]) if result.get("id") is not None else None
                parent_ref = result.get("parentID")
                parent: Shape | None = None
                if parent_ref is not None:
                    parent = regions.get(str(parent_ref))
                    if parent is None and str(parent_ref) in waiting and str(parent_ref) != region_id:
                        later.append((position, result))
                        continue
                    if parent is None and str(parent_ref) not in failed:
                        self.errors.append(
                            ErrorDetail(
                                f"{place}/parentID",
                                "unknown_parent",
                                f"parentID {parent_ref!r} names no region of this result list; give the id of "
                                "a region in it, or remove parentID.",
                                params=(str(parent_ref),),
                            )
                        )
                    if parent is None:
                        failed.add(region_id or "")
                        waiting.discard(region_id or "")
                        continue
                parent_entry = self.config.entries.get(parent.entry_id or "") if parent is not None else None
                errors_before = len(self.errors)
                made = self.shapes(result, place, source, score, version, parent_entry)
                if region_id is not None:
                    waiting.discard(region_id)
                    if made:
                        regions[region_id] = made[0]
                    elif len(self.errors) > errors_before:
                        failed.add(region_id)
                for shape in made:
                    nested = parent is not None and parent_entry is not None
                    entry = self.config.entries.get(shape.entry_id or "")
                    if nested and entry is not None and entry.parent_id == parent_entry.id:  # type: ignore[union-attr]
                        parent.children.append(shape)  # type: ignore[union-attr]
                    else:
                        roots.append(shape)
            if len(later) == len(pending):  # parents that only name each other
                for position, result in later:
                    self.errors.append(
                        ErrorDetail(
                            f"{path}/{position}/parentID",
                            "parent_cycle",
                            f"parentID {result.get('parentID')!r} leads back to this region; a region cannot "
                            "be inside itself.",
                        )
                    )
                break
            pending = later
        return roots, regions

    def results(
        self, results: list[Any], path: str, *, source: str, score: Any, version: str
    ) -> tuple[list[Shape], list[Answer]]:
        geometries: list[tuple[int, Mapping[str, Any]]] = []
        questions: list[tuple[int, Mapping[str, Any]]] = []
        for position, result in enumerate(results):
            kind = str(result["type"]).lower()
            if kind in GEOMETRY_RESULTS:
                geometries.append((position, result))
            elif kind in QUESTION_RESULTS:
                questions.append((position, result))
            else:
                self.errors.append(
                    ErrorDetail(
                        f"{path}/{position}/type",
                        "unsupported_result",
                        f"Results of type {kind!r} cannot be imported; use rectanglelabels, polygonlabels, "
                        "keypointlabels, brushlabels, choices or textarea.",
                        params=(kind,),
                    )
                )
        shapes, regions = self._geometries(geometries, path, source, score, version)
        failed_regions = {str(r["id"]) for _, r in geometries if r.get("id") is not None} - set(regions)
        answers: list[Answer] = []
        trees: dict[int, _AnswerTree] = {}
        global_tree = _AnswerTree(answers)
        for position, result in questions:
            place = f"{path}/{position}"
            from_name = str(result.get("from_name") or "")
            # A region's own question shares its id (Label Studio's perRegion) or names it in parentID.
            region = None
            refs = [str(ref) for ref in (result.get("parentID"), result.get("id")) if ref is not None]
            for ref in refs:
                if ref in regions:
                    region = regions[ref]
                    break
            if region is None and any(ref in failed_regions for ref in refs):
                continue  # the answer of a region that has an error of its own
            if region is not None and region.entry_id:
                owner = self.config.entries[region.entry_id]
                placed = self.question(from_name, place, owner)
                if placed is not None:
                    answer = self.answer(placed[0], result, place)
                    if answer is not None:
                        trees.setdefault(id(region), _AnswerTree(region.answers)).place(placed, answer)
                    continue
            placed = self.question(from_name, f"{place}/from_name", None)
            if placed is not None:
                answer = self.answer(placed[0], result, place)
                if answer is not None:
                    global_tree.place(placed, answer)
        return shapes, answers


#: The rules of the option `annotation`, which picks the one annotation of a task that becomes labels.
ANNOTATION_RULES = ("ground_truth_first", "first", "last")
ANNOTATION_OPTION_HELP = (
    'annotation is "ground_truth_first" (the default: the annotation marked ground truth, else the first), '
    '"first", "last", or {"annotator": "<e-mail or user id>"} (that person\'s annotation); '
    "a cancelled (skipped) annotation is never taken."
)


#: The option `annotation` as JSON Schema (the type check every option gets at upload); the
#: object's keys are checked by `options_check`, which annotator exists by the reader, per file.
ANNOTATION_OPTION: dict[str, Any] = {
    "description": ANNOTATION_OPTION_HELP,
    "oneOf": [
        {"type": "string", "enum": list(ANNOTATION_RULES)},
        {"type": "object"},
    ],
}


def annotation_option_problem(value: Any) -> str | None:
    """Why a value of the option `annotation` is not one, or None."""
    if isinstance(value, str) and value in ANNOTATION_RULES:
        return None
    if isinstance(value, Mapping) and set(value) == {"annotator"}:
        who = value["annotator"]
        if isinstance(who, int) and not isinstance(who, bool):
            return None
        if isinstance(who, str) and who.strip():
            return None
    return f"{value!r} is not a choice. {ANNOTATION_OPTION_HELP}"


def options_check(options: Mapping[str, Any], *, organization_id: Any = None) -> list[ErrorDetail]:
    problem = annotation_option_problem(options.get("annotation", "ground_truth_first"))
    return [ErrorDetail("options.annotation", "invalid_choice", problem)] if problem else []


def _annotator(completed_by: Any) -> tuple[str | None, str | None]:
    """(user id, e-mail) of an annotation's `completed_by`: an id in an export (an object with both
    when the export expands annotators), an e-mail or an id in a file made for import."""
    if isinstance(completed_by, Mapping):
        user_id, email = completed_by.get("id"), completed_by.get("email")
        return (
            str(user_id) if isinstance(user_id, int | str) and not isinstance(user_id, bool) else None,
            email.lower() if isinstance(email, str) and email else None,
        )
    if isinstance(completed_by, bool):
        return None, None
    if isinstance(completed_by, int):
        return str(completed_by), None
    if isinstance(completed_by, str) and completed_by.strip():
        text = completed_by.strip()
        return (text, None) if text.isdigit() else (None, text.lower())
    return None, None


def _chosen_annotation(
    annotations: list[Any], rule: Any, path: Callable[..., str]
) -> tuple[int | None, list[ErrorDetail]]:
    """The position of the one annotation that becomes the task's labels (option `annotation`),
    or None; never a cancelled one. Errors when the option names an annotator by e-mail and the
    file gives annotators by id only."""
    kept = [p for p, a in enumerate(annotations) if isinstance(a, Mapping) and not a.get("was_cancelled")]
    if rule == "first":
        return (kept[0] if kept else None), []
    if rule == "last":
        return (kept[-1] if kept else None), []
    if isinstance(rule, Mapping):
        wanted = str(rule.get("annotator")).strip()
        by_email = not wanted.isdigit()
        wanted = wanted.lower()
        ids_only: list[tuple[int, str]] = []
        for position in kept:
            user_id, email = _annotator(annotations[position].get("completed_by"))
            if (email if by_email else user_id) == wanted:
                return position, []
            if by_email and email is None and user_id is not None:
                ids_only.append((position, user_id))
        if ids_only:
            position, user_id = ids_only[0]
            return None, [
                ErrorDetail(
                    path(position, "completed_by"),
                    "annotator_by_id_only",
                    f"The file names annotators by user id only (completed_by: {user_id}), so the option "
                    f"annotation {json.dumps({'annotator': wanted})} cannot find them by e-mail. Use the "
                    f"annotator's user id, e.g. {json.dumps({'annotator': int(user_id)})}, or export from Label "
                    "Studio with annotators expanded (a snapshot export with annotations__completed_by "
                    "only_id false).",
                    params=(wanted,),
                )
            ]
        return None, []
    for position in kept:
        if annotations[position].get("ground_truth"):
            return position, []
    return (kept[0] if kept else None), []


def media_row(item: Any, index: int, options: Mapping[str, Any]) -> tuple[MediaRow | None, list[ErrorDetail]]:
    """The media a task names (to match, or to create), or why it names none."""
    data = task_data(item) if isinstance(item, Mapping) else {}
    field_name, url = image_reference(data, options.get("image_field"))
    wrapped = isinstance(item, Mapping) and isinstance(item.get("data"), Mapping)
    path = pointer(index, "data", field_name) if wrapped else pointer(index, field_name)
    if not isinstance(url, str) or not url:
        wanted = f"the field {field_name!r}" if options.get("image_field") else "a URL-like value"
        return None, [
            ErrorDetail(
                path if field_name else pointer(index),
                "missing_image",
                f"The task's data has no image: it needs {wanted}; name the field with the option image_field.",
            )
        ]
    # Our own export keeps a media's metadata and attachments in the task's `meta`: a media the
    # import creates gets them back.
    meta = item.get("meta") if isinstance(item, Mapping) else None
    metadata, attachments, errors = stored_context(meta, pointer(index, "meta"))
    if errors:
        return None, errors
    return MediaRow(location=path, url=url, name=media_name(url), metadata=metadata, attachments=attachments), []


def _original_size(item: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The image size a task's results were drawn on: a media created from the task gets it."""
    for key in ("annotations", "completions", "predictions"):
        for annotation in item.get(key) or []:
            if not isinstance(annotation, Mapping):  # a prediction's id
                continue
            for result in annotation.get("result") or []:
                width, height = result.get("original_width"), result.get("original_height")
                if isinstance(width, int | float) and isinstance(height, int | float) and width > 0 and height > 0:
                    return int(width), int(height)
    return None, None


def convert(
    data: Any,
    config: LabelConfigIndex,
    *,
    index: int = 0,
    match_by: str = "name",
    options: Mapping[str, Any] | None = None,
) -> Converted:
    """One task as a `MediaAnnotation` for its image, with its located errors; the flat rows of a
    task (JSON_MIN, CSV, TSV) as that task, their errors located in the flat file."""
    options = options or {}
    if not (isinstance(data, Mapping) and FLAT_ROWS in data):
        return _task_fast(data, config, index=index, options=options) or _task_convert(
            data, config, index=index, options=options
        )
    flat = _FlatTask(data[FLAT_ROWS], index, _Converter(config, options), options.get("image_field"))
    converted = _task_convert(flat.task, config, index=index, options=options)
    converted.errors = [replace(e, path=flat.place(e.path)) for e in [*flat.errors, *converted.errors]]
    if converted.errors:
        converted.annotation = None
    if isinstance(converted.new_media, MediaRow):
        converted.new_media.location = flat.place(converted.new_media.location)
    if converted.media_scale is not None:
        converted.media_scale.path = flat.place(converted.media_scale.path)
    return converted


# --- the fast path: the common tasks without the general converter's bookkeeping ---------------
#
# Most tasks a tool or a script writes are plain: boxes, polygons and keypoints with their image's
# size, one label each, and global choices or texts. For them `_task_fast` builds the same shapes
# and answers as `_task_convert` with what is resolved once per job kept (classes by control and
# label, questions by control, choices by their values) and no error paths made ready; anything
# else (no size, brushes, nesting by parentID, a region's own answers, several labels, child
# questions, a value that is wrong in any way) returns None and the task goes through
# `_task_convert`, which places every error. `tests/formats/test_label_studio_fast.py` holds the
# two to the same answers on varied files.

_FAST_GEOMETRY = {
    "rectanglelabels": EntryType.RECTANGLE.value,
    "polygonlabels": EntryType.POLYGON.value,
    "keypointlabels": EntryType.POINT.value,
}
_POLYGON_TYPES = frozenset({EntryType.POLYGON.value, EntryType.LINE.value, EntryType.SEGMENTATION.value})
#: Not found, or an error: the general converter says which.
_NONE: Any = object()


class _FastResolver:
    """What one configuration and label mapping resolve to, remembered across tasks."""

    def __init__(self, config: LabelConfigIndex, options: Mapping[str, Any]) -> None:
        self.converter = _Converter(config, options)
        self.classes: dict[tuple[str, str, str], Any] = {}
        self.questions: dict[str, Any] = {}
        self.choices: dict[tuple[str, tuple[str, ...]], Any] = {}

    def entry(self, from_name: str, label: str, kind: str) -> IndexedEntry | None:
        key = (from_name, label, kind)
        found = self.classes.get(key)
        if found is None:
            errors = len(self.converter.errors)
            found = self.converter.geometry_entry(from_name, label, GEOMETRY_RESULTS[kind], "")
            del self.converter.errors[errors:]
            self.classes[key] = found = _NONE if found is None else found
        return None if found is _NONE else found

    def question(self, from_name: str) -> IndexedEntry | None:
        """A global question with no question above it (a child's answer nests: the general path)."""
        found = self.questions.get(from_name)
        if found is None:
            errors = len(self.converter.errors)
            placed = self.converter.question(from_name, "", None)
            del self.converter.errors[errors:]
            found = _NONE if placed is None or placed[1] else placed[0]
            self.questions[from_name] = found
        return None if found is _NONE else found

    def choice_value(self, entry: IndexedEntry, given: tuple[str, ...]) -> Any:
        """The answer's value for these choices, or `_NONE` when they have an error."""
        key = (entry.id, given)
        found = self.choices.get(key)
        if found is None:
            errors = len(self.converter.errors)
            answer = self.converter.answer(entry, {"value": {"choices": list(given)}}, "")
            failed = len(self.converter.errors) > errors or answer is None
            del self.converter.errors[errors:]
            self.choices[key] = found = _NONE if failed else (answer.value,)  # type: ignore[union-attr]
        return found if found is _NONE else found[0]


_FAST_RESOLVERS: dict[int, tuple[Any, bytes, _FastResolver]] = {}


def _fast_resolver(config: LabelConfigIndex, options: Mapping[str, Any]) -> _FastResolver:
    """The resolver of this configuration (one per job phase) and label mapping."""
    mapping = options.get("label_mapping") or {}
    mapping_key = orjson.dumps(mapping, option=orjson.OPT_SORT_KEYS) if mapping else b""
    cached = _FAST_RESOLVERS.get(id(config))
    if cached is not None and cached[0]() is config and cached[1] == mapping_key:
        return cached[2]
    if len(_FAST_RESOLVERS) > 16:
        _FAST_RESOLVERS.clear()
    resolver = _FastResolver(config, options)
    _FAST_RESOLVERS[id(config)] = (weakref.ref(config), mapping_key, resolver)
    return resolver


def _is_number(value: Any) -> bool:
    return type(value) is float or (type(value) is int)


def _fast_points(kind: str, value: Mapping[str, Any], entry: IndexedEntry, width: float, height: float) -> Any:
    """The points `_Converter.points` makes for a region that has no error, else None (the same
    arithmetic, so the same floats)."""
    if kind == "rectanglelabels":
        if entry.type != EntryType.RECTANGLE:
            return None
        x, y, w, h = value.get("x"), value.get("y"), value.get("width"), value.get("height")
        if not (_is_number(x) and _is_number(y) and _is_number(w) and _is_number(h)):
            return None
        x, y, w, h = float(x), float(y), float(w), float(h)  # type: ignore[arg-type]
        x1, y1 = round(x * width / 100, 3), round(y * height / 100, 3)
        x2, y2 = round((x + w) * width / 100, 3), round((y + h) * height / 100, 3)
        return rectangle_points(x1, y1, x2 - x1, y2 - y1)
    if kind == "polygonlabels":
        if entry.type not in _POLYGON_TYPES:
            return None
        raw = value.get("points")
        if type(raw) is not list or len(raw) < (2 if entry.type == EntryType.LINE else 3):
            return None
        ring = []
        for point in raw:
            if type(point) is not list or len(point) != 2 or not (_is_number(point[0]) and _is_number(point[1])):
                return None
            ring.append([round(float(point[0]) * width / 100, 3), round(float(point[1]) * height / 100, 3)])
        return [ring] if entry.type == EntryType.SEGMENTATION else ring
    if entry.type != EntryType.POINT:
        return None
    x, y = value.get("x"), value.get("y")
    if not (_is_number(x) and _is_number(y)):
        return None
    return [[round(float(x) * width / 100, 3), round(float(y) * height / 100, 3)]]  # type: ignore[arg-type]


def _results_fast(
    resolver: _FastResolver, results: list[Any], *, source: str, score: Any, version: str
) -> tuple[list[Shape], list[Answer]] | None:
    """`_Converter.results` for results the fast path takes (see above), else None."""
    shapes: list[Shape] = []
    answers: list[Answer] = []
    regions: set[str] = set()
    questions: list[Mapping[str, Any]] = []
    for result in results:
        kind = result["type"]
        if result.get("parentID") is not None:
            return None
        geometry = _FAST_GEOMETRY.get(kind)
        if geometry is None:
            if kind == "choices" or kind == "textarea":
                questions.append(result)
                continue
            return None
        width, height = result.get("original_width"), result.get("original_height")
        value = result["value"]
        labels = value.get(kind)
        if not width or not height or type(labels) is not list or len(labels) != 1:
            return None
        entry = resolver.entry(str(result.get("from_name") or ""), str(labels[0]), kind)
        if entry is None:
            return None
        points = _fast_points(kind, value, entry, float(width), float(height))
        if points is None:
            return None
        shape = _region_shape(entry, points, result, source=source, score=score, version=version)
        if kind == "rectanglelabels":
            rotation = value.get("rotation") or 0
            if not _is_number(rotation) or not math.isfinite(rotation):
                return None
            shape.rotation = rotation_normalise(rotation)
        if result.get("id") is not None:
            regions.add(str(result["id"]))
        shapes.append(shape)
    answered: set[str] = set()
    for result in questions:
        if result.get("id") is not None and str(result["id"]) in regions:
            return None  # a region's own answer
        entry = resolver.question(str(result.get("from_name") or ""))
        if entry is None or entry.id in answered:
            return None
        answered.add(entry.id)
        value = result["value"]
        if entry.type == EntryType.FREETEXT:
            text = value.get("text")
            if type(text) is str:
                answer_text = text
            elif type(text) is list and all(type(t) is str for t in text):
                answer_text = "\n".join(text)
            else:
                return None
            if entry.max_length is not None and len(answer_text) > entry.max_length:
                return None
            answers.append(Answer(key=entry.key, value=answer_text or None, schema_id=entry.schema_id))
            continue
        given = value.get("choices")
        if type(given) is not list or not all(type(c) is str for c in given):
            return None
        chosen = resolver.choice_value(entry, tuple(given))
        if chosen is _NONE:
            return None
        answers.append(
            Answer(key=entry.key, value=list(chosen) if type(chosen) is list else chosen, schema_id=entry.schema_id)
        )
    return shapes, answers


def _task_fast(data: Any, config: LabelConfigIndex, *, index: int, options: Mapping[str, Any]) -> Converted | None:
    """`_task_convert` of a task the fast path takes, else None."""
    if type(data) is not dict or type(data.get("data")) is not dict:
        return None
    key = "annotations" if "annotations" in data else "completions"
    annotations = data.get(key) or []
    chosen, problems = _chosen_annotation(
        annotations, options.get("annotation", "ground_truth_first"), lambda *parts: pointer(index, key, *parts)
    )
    if problems:
        return None
    resolver = _fast_resolver(config, options)
    shapes: list[Shape] = []
    answers: list[Answer] = []
    if chosen is not None:
        made = _results_fast(resolver, annotations[chosen]["result"], source="import", score=None, version="")
        if made is None:
            return None
        shapes, answers = made
    for prediction in data.get("predictions") or []:
        if type(prediction) is not dict:  # an id: the export did not expand predictions
            continue
        score = prediction.get("score")
        made = _results_fast(
            resolver,
            prediction["result"],
            source="prediction",
            score=float(score) if isinstance(score, int | float) else None,
            version=str(prediction.get("model_version") or ""),
        )
        if made is None:
            return None
        shapes.extend(made[0])
        given = {answer.key for answer in answers}
        answers.extend(answer for answer in made[1] if answer.key not in given)
    row, _ = media_row(data, index, options)
    if row is None:
        return None
    reference = MediaRef(name=row.name, url=row.url)
    row.width, row.height = _original_size(data)
    annotation = MediaAnnotation(
        media=reference, answers=answers, shapes=shapes, keep_data=not options.get("replace", False)
    )
    return Converted(annotation=annotation, reference=reference, new_media=row)


def _task_convert(data: Any, config: LabelConfigIndex, *, index: int, options: Mapping[str, Any]) -> Converted:
    row, errors = media_row(data, index, options)
    if row is None:
        return Converted(annotation=None, errors=errors)
    reference = MediaRef(name=row.name, url=row.url)
    converter = _Converter(config, options)
    shapes: list[Shape] = []
    answers: list[Answer] = []
    if isinstance(data.get("data"), Mapping):
        key = "annotations" if "annotations" in data else "completions"
        annotations = data.get(key) or []
        chosen, choice_errors = _chosen_annotation(
            annotations, options.get("annotation", "ground_truth_first"), lambda *parts: pointer(index, key, *parts)
        )
        converter.errors.extend(choice_errors)
        if chosen is not None:
            made, answers = converter.results(
                annotations[chosen]["result"],
                pointer(index, key, chosen, "result"),
                source="import",
                score=None,
                version="",
            )
            shapes.extend(made)
        for position, prediction in enumerate(data.get("predictions") or []):
            if not isinstance(prediction, Mapping):  # an id: the export did not expand predictions
                continue
            score = prediction.get("score")
            made, predicted = converter.results(
                prediction["result"],
                pointer(index, "predictions", position, "result"),
                source="prediction",
                score=float(score) if isinstance(score, int | float) else None,
                version=str(prediction.get("model_version") or ""),
            )
            shapes.extend(made)
            answered = {answer.key for answer in answers}
            answers.extend(answer for answer in predicted if answer.key not in answered)
    row.width, row.height = _original_size(data)
    if converter.errors:
        return Converted(annotation=None, errors=converter.errors, reference=reference, new_media=row)
    annotation = MediaAnnotation(
        media=reference,
        answers=answers,
        shapes=shapes,
        keep_data=not options.get("replace", False),
    )
    scale = (
        MediaScale(shapes=converter.percent_shapes, path=converter.percent_path or row.location)
        if converter.percent_shapes
        else None
    )
    return Converted(annotation=annotation, reference=reference, new_media=row, media_scale=scale)


# --- JSON_MIN, CSV and TSV: flat rows, one per annotation ---------------------------------
#
# Label Studio's converter writes one row per annotation that is not cancelled (a task without
# one gets one row): the task's data fields, `id` (the task's), one key per control name holding
# its regions (a list of region values with `original_width` / `original_height`) or its answer
# (a string; `{"choices": [...]}` for several), and `annotator`, `annotation_id`, `created_at`,
# `updated_at`, `lead_time`. The rows of one task follow each other; the reader groups them into
# one item, which is turned back into a task with one annotation per row (ordered by
# `annotation_id`) so that the option `annotation` picks one as for JSON.

#: The key of an item that holds a task's flat rows (`[{"location", "csv", "row"}, ...]`).
FLAT_ROWS = "label_studio_flat_rows"
#: The keys of a flat row that are neither data nor controls.
FLAT_META = frozenset({"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time"})
_GEOMETRY_KEYS = frozenset(GEOMETRY_RESULTS)


def flat_row(data: Any) -> bool:
    """Whether an item is a row of JSON_MIN, CSV or TSV (it has `annotation_id`, no `data`)."""
    return isinstance(data, Mapping) and "annotation_id" in data and "data" not in data


def flat_rows_group(items: Iterator[RawItem], *, csv: bool = False) -> Iterator[RawItem]:
    """Adjacent flat rows with the same task `id` as one item; other items as they are."""
    group: list[RawItem] = []

    def flush() -> Iterator[RawItem]:
        if group:
            rows = [{"location": item.location, "csv": csv, "row": item.data} for item in group]
            yield RawItem(index=group[0].index, location=group[0].location, data={FLAT_ROWS: rows})
            group.clear()

    for item in items:
        if not flat_row(item.data):
            yield from flush()
            yield item
            continue
        if group and group[0].data.get("id") != item.data.get("id"):
            yield from flush()
        group.append(item)
    yield from flush()


def _flat_place(row: Mapping[str, Any], key: str, rest: str = "") -> str:
    """Where `key` (and within its value `rest`, a JSON pointer) is in a flat row's file."""
    if row["csv"]:
        return f"{row['location']}, column {key}" + (f": {rest}" if rest else "")
    return f"{row['location']}{pointer(key)}{rest}"


def _flat_value(value: Any, csv: bool) -> Any:
    """A control's value; a CSV cell holds JSON for regions and several choices."""
    if csv and isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _regions(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, Mapping) and _GEOMETRY_KEYS & set(v) for v in value)
    )


class _FlatTask:
    """A task's flat rows as a Label Studio task, and where each of its results came from."""

    def __init__(self, rows: list[Mapping[str, Any]], index: int, converter: _Converter, image_field: str | None):
        self.index = index
        self.errors: list[ErrorDetail] = []
        first = rows[0]["row"]
        field_name, _ = image_reference({k: v for k, v in first.items() if k not in FLAT_META}, image_field)
        self.image_field = field_name
        self.first = rows[0]
        data: dict[str, Any] = {}
        annotations: list[tuple[float, dict[str, Any], list[tuple[Mapping[str, Any], str, str]]]] = []
        for row in rows:
            results, places = self._results(row, converter, field_name, data)
            annotation_id = row["row"].get("annotation_id")
            if annotation_id in (None, ""):
                continue
            try:
                order = float(annotation_id)
            except (TypeError, ValueError):
                order = float(len(annotations))
            annotation = {"id": annotation_id, "completed_by": row["row"].get("annotator"), "result": results}
            annotations.append((order, annotation, places))
        annotations.sort(key=lambda found: found[0])
        self.task = {"data": data, "annotations": [annotation for _, annotation, _ in annotations]}
        #: Per annotation of the task, where each of its results is in the file: (row, key, pointer within).
        self.places = [places for _, _, places in annotations]

    def _is_global_question(self, converter: _Converter, key: str) -> IndexedEntry | None:
        by_id = converter.config.by_schema_id.get(ls_schema_id(key))
        if by_id is not None and by_id.is_classification:
            return by_id
        target = converter.mapping.get(key)
        found = converter._placed(target if isinstance(target, str) else key, None)
        return found[0][0] if len(found) == 1 else None

    def _is_class_question(self, converter: _Converter, key: str) -> bool:
        return any(converter._placed(key, entry) for entry in converter.config.roots.values() if entry.is_geometry)

    def _results(
        self, row: Mapping[str, Any], converter: _Converter, image_field: str, data: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[tuple[Mapping[str, Any], str, str]]]:
        values = row["row"]
        results: list[dict[str, Any]] = []
        places: list[tuple[Mapping[str, Any], str, str]] = []
        region_ids: list[str] = []
        answers: list[tuple[str, Any]] = []
        for key, raw in values.items():
            if key in FLAT_META or raw is None or raw == "":
                continue
            if key == image_field:
                data[key] = raw
                continue
            value = _flat_value(raw, row["csv"])
            if _regions(value):
                for position, region in enumerate(value):
                    kind = next(k for k in region if k in _GEOMETRY_KEYS)
                    region_id = f"{key}-{position}"
                    result = {
                        "id": region_id,
                        "type": kind,
                        "from_name": key,
                        "to_name": image_field,
                        "original_width": region.get("original_width"),
                        "original_height": region.get("original_height"),
                        "value": {k: v for k, v in region.items() if k not in ("original_width", "original_height")},
                    }
                    places.append((row, key, f"/{position}"))
                    results.append(result)
                    region_ids.append(region_id)
            elif (
                isinstance(value, Mapping | list)
                or self._is_global_question(converter, key) is not None
                or self._is_class_question(converter, key)
            ):
                answers.append((key, value))
            else:
                data.setdefault(key, raw)
        for key, value in answers:
            entry = self._is_global_question(converter, key)
            owner_region: str | None = None
            if entry is None and len(region_ids) == 1:
                owner_region = region_ids[0]  # JSON_MIN drops a per-region answer's region: the only one
            elif entry is None and len(region_ids) > 1 and self._is_class_question(converter, key):
                self.errors.append(
                    ErrorDetail(
                        _flat_place(row, key),
                        "flat_region_answer",
                        f"{key!r} answers a question of a region, and this row has {len(region_ids)} regions: "
                        "Label Studio's JSON_MIN, CSV and TSV do not say which. Export JSON from Label Studio "
                        "instead, which keeps it.",
                        params=(key,),
                    )
                )
                continue
            if isinstance(value, Mapping):
                content = dict(value)
                kind = "textarea" if "text" in content else "choices"
            else:
                texts = value if isinstance(value, list) else [value]
                freetext = entry is not None and entry.type == EntryType.FREETEXT
                kind, content = ("textarea", {"text": texts}) if freetext else ("choices", {"choices": texts})
            places.append((row, key, ""))
            result = {"type": kind, "from_name": key, "to_name": image_field, "value": content}
            if owner_region is not None:
                result["id"] = owner_region
            results.append(result)
        return results, places

    def place(self, path: str) -> str:
        """An error's path in the task made of the rows, as the path in the flat file."""
        annotations = pointer(self.index, "annotations")
        if path.startswith(annotations + "/"):
            parts = path[len(annotations) + 1 :].split("/", 3)
            if len(parts) >= 3 and parts[1] == "result" and parts[0].isdigit() and parts[2].isdigit():
                annotation, position = int(parts[0]), int(parts[2])
                if annotation < len(self.places) and position < len(self.places[annotation]):
                    row, key, inside = self.places[annotation][position]
                    rest = "/" + parts[3] if len(parts) > 3 else ""
                    rest = rest.removeprefix("/value").removeprefix("/from_name")
                    return _flat_place(row, key, inside + rest)
            return self.first["location"]
        data = pointer(self.index, "data")
        if path.startswith(data + "/"):
            return _flat_place(self.first, path[len(data) + 1 :])
        return self.first["location"] if path == pointer(self.index) else path


# --- writing: Label Studio JSON and JSON_MIN ---------------------------------------------

TO_NAME = "image"
#: Our geometry type -> (control name, result type).
CONTROLS: dict[str, tuple[str, str]] = {
    EntryType.RECTANGLE: ("rectangle", "rectanglelabels"),
    EntryType.POLYGON: ("polygon", "polygonlabels"),
    EntryType.LINE: ("line", "polygonlabels"),
    EntryType.POINT: ("keypoint", "keypointlabels"),
    EntryType.SEGMENTATION: ("segmentation", "brushlabels"),
}


def _question_types(config: ExportConfig) -> dict[tuple[str | None, str], str]:
    """(scope, control name) -> question type: the scope is None for the global questions and
    a class's entry id for its own; the control name is the key path within the scope."""
    types: dict[tuple[str | None, str], str] = {}

    def walk(entry: LabelEntry, scope: str | None, prefix: str) -> None:
        name = f"{prefix}{entry.key}"
        types[(scope, name)] = entry.type
        for child in config.questions_of(entry.id):
            walk(child, scope, f"{name}/")

    for entry in config.tree_order():
        if entry.type in GEOMETRY_TYPES:
            for question in config.questions_of(entry.id):
                walk(question, str(entry.id), "")
    for question in config.questions_of(None):
        walk(question, None, "")
    return types


class _Tasks:
    """Turns the tasks of an export, as read (`TaskRows`), into Label Studio tasks.

    Built once per export: each class's control, result type and label list, and the question
    types by scope, so that per label only its region is built (no canonical objects: the
    answer trees are read as stored). Regions are numbered within the task (`r1`, `r2`, ...),
    parents before their children, the annotation's and the predictions' in one sequence.
    """

    def __init__(self, source: ExportSource) -> None:
        self.include_predictions = source.include_predictions
        #: Entry id (text) -> (kind, control, result type, `[key]`).
        self.classes: dict[str, tuple[str, str, str, list[str]]] = {}
        for entry in source.config.entries:
            control, result_type = CONTROLS.get(entry.type, ("polygon", "polygonlabels"))
            self.classes[str(entry.id)] = (entry.type, control, result_type, [entry.key])
        #: Scope (None for the global questions, else a class's entry id) -> control name -> question type.
        self.question_types: dict[str | None, dict[str, str]] = defaultdict(dict)
        for (scope, name), question_type in _question_types(source.config).items():
            self.question_types[scope][name] = question_type
        self.counter = 0
        self.width = 0.0
        self.height = 0.0
        self.original: tuple[int | None, int | None] = (None, None)

    def task(self, task: TaskRows) -> dict[str, Any]:
        self.counter = 0
        width = self.width = float(task.width or 0)
        height = self.height = float(task.height or 0)
        self.original = (int(width) if width else None, int(height) if height else None)
        annotation: list[dict[str, Any]] = []
        by_version: dict[str, list[dict[str, Any]]] = {}
        scores: dict[str, list[float]] = defaultdict(list)
        for row, children in label_tree(task.labels):
            if row.source == _PREDICTED:
                if not self.include_predictions:
                    continue
                self.shape(row, children, None, by_version.setdefault(row.model_version, []))
                if row.score is not None:
                    scores[row.model_version].append(row.score)
            else:
                self.shape(row, children, None, annotation)
        if task.answers:
            self.answers(task.answers, "", None, self.question_types[None], annotation)
        updated = task.updated_at.isoformat() if task.updated_at else None
        who = task.who
        return {
            "id": str(task.task_id),
            "data": {
                "image": task.media_url or task.media_name,
                "media_id": str(task.media_id),
                "name": task.media_name,
            },
            "annotations": [
                {
                    "id": str(task.task_id),
                    # As Label Studio writes it: a user id, here our user's id (its `pk`); who completed
                    # the task, else (completed by a script, or not completed) its assignee.
                    "completed_by": who.completed_by_id if who.completed_by_id is not None else task.assignee_id,
                    "result": annotation,
                    "was_cancelled": task.state == TaskState.SKIPPED,
                    "ground_truth": False,
                    "created_at": updated,
                    "updated_at": updated,
                    # Seconds the labeling page was visible and in use on the task, as Label Studio counts it.
                    "lead_time": float(who.active_seconds),
                }
            ],
            "predictions": [
                {
                    "model_version": version,
                    "score": sum(scores[version]) / len(scores[version]) if scores[version] else None,
                    "result": results,
                }
                for version, results in by_version.items()
            ],
            "meta": _meta(task),
        }

    def _pct(self, x: float, y: float) -> list[float]:
        width, height = self.width, self.height
        return [x * 100.0 / width if width else x, y * 100.0 / height if height else y]

    def shape(self, row: LabelRow, children: list[Any], parent_id: str | None, results: list[dict[str, Any]]) -> None:
        """The region(s) of a label, then its answers and its children tied to its (first) region."""
        kind, control, result_type, labels = self.classes[row.entry_id]
        points = row.points
        region_ids: list[str] = []
        if kind == EntryType.SEGMENTATION:
            rings = rings_of(EntryType.SEGMENTATION, points)
            if rings and self.width and self.height:
                canvas = (int(self.width), int(self.height))
                crop, x0, y0 = segmentation_crop(rings, *canvas)
                value: dict[str, Any] = {"format": "rle", "rle": rle_encode_mask(crop, at=(x0, y0), canvas=canvas)}
                region_ids.append(self.region(row, "brushlabels", control, value, labels, parent_id, results))
            else:  # no size to paint a mask on: one polygon per ring
                for ring in rings:
                    value = {"points": [self._pct(x, y) for x, y in ring], "closed": True}
                    region_ids.append(self.region(row, "polygonlabels", control, value, labels, parent_id, results))
        else:
            pairs = points_pairs(points)
            if not pairs:
                return
            width, height = self.width, self.height
            if kind == EntryType.RECTANGLE:
                if len(pairs) < 2:
                    return
                (x1, y1), (x2, y2) = pairs[0], pairs[1]
                left, right = min(x1, x2), max(x1, x2)
                top, bottom = min(y1, y2), max(y1, y2)
                if width:
                    left, right = left * 100.0 / width, right * 100.0 / width
                if height:
                    top, bottom = top * 100.0 / height, bottom * 100.0 / height
                value = {
                    "x": left,
                    "y": top,
                    "width": right - left,
                    "height": bottom - top,
                    # Label Studio keeps rotation in [0, 360); ours is (-180, 180].
                    "rotation": row.rotation % 360.0 if row.rotation else 0,
                }
            elif kind == EntryType.POINT:
                x, y = self._pct(*pairs[0])
                value = {"x": x, "y": y}
            elif kind in _OUTLINES:
                if width and height:
                    scaled = [[x * 100.0 / width, y * 100.0 / height] for x, y in pairs]
                else:
                    scaled = [self._pct(x, y) for x, y in pairs]
                value = {"points": scaled, "closed": kind == EntryType.POLYGON}
            else:
                return
            region_ids.append(self.region(row, result_type, control, value, labels, parent_id, results))
        if not region_ids:
            return
        region_id = region_ids[0]
        if row.answers:
            self.answers(row.answers, "", region_id, self.question_types.get(row.entry_id, {}), results)
        for child, grandchildren in children:
            self.shape(child, grandchildren, region_id, results)

    def region(
        self,
        row: LabelRow,
        result_type: str,
        control: str,
        value: dict[str, Any],
        labels: list[str],
        parent_id: str | None,
        results: list[dict[str, Any]],
    ) -> str:
        self.counter += 1
        region_id = f"r{self.counter}"
        value[result_type] = labels
        result: dict[str, Any] = {
            "id": region_id,
            "type": result_type,
            "from_name": control,
            "to_name": TO_NAME,
            "original_width": self.original[0],
            "original_height": self.original[1],
            "image_rotation": 0,
            "value": value,
        }
        if parent_id is not None:
            result["parentID"] = parent_id
        if row.source == _PREDICTED and row.score is not None:
            result["score"] = row.score
        results.append(result)
        return region_id

    def answers(
        self,
        tree: dict[str, Any],
        prefix: str,
        region_id: str | None,
        types: dict[str, str],
        results: list[dict[str, Any]],
    ) -> None:
        """A stored answer tree's results, each with its control name, the key path `parent/child`
        (Label Studio's controls are flat; the path tells the import where a child answer hangs)."""
        for key, node in tree.items():
            name = f"{prefix}{key}"
            value = node.get("value")
            if value is not None and value != []:
                if isinstance(value, list):
                    result_type, content = "choices", {"choices": [v for v in value if isinstance(v, str)]}
                elif types.get(name) == EntryType.FREETEXT:
                    result_type, content = "textarea", {"text": [value]}
                else:
                    result_type, content = "choices", {"choices": [value]}
                if region_id is None:
                    self.counter += 1
                result: dict[str, Any] = {
                    "id": region_id or f"r{self.counter}",
                    "type": result_type,
                    "from_name": name,
                    "to_name": TO_NAME,
                    "value": content,
                }
                if region_id is not None:
                    result["original_width"] = self.original[0]
                    result["original_height"] = self.original[1]
                results.append(result)
            child_answers = node.get("answers")
            if child_answers:
                self.answers(child_answers, f"{name}/", region_id, types, results)


_PREDICTED = str(LabelSource.PREDICTION)
_OUTLINES = frozenset({EntryType.POLYGON, EntryType.LINE})


def _meta(task: TaskRows) -> dict[str, Any]:
    """The task's `meta`: our state, and what an import stored with the media. Label Studio keeps
    `meta` with the task untouched, where data fields could clash with the config's variables."""
    meta: dict[str, Any] = {"state": task.state}
    if task.metadata:
        meta["metadata"] = task.metadata
    if task.attachments:
        meta["attachments"] = task.attachments
    return meta


def _tasks_write(
    source: ExportSource, out: IO[bytes], shape: Callable[[dict[str, Any]], dict[str, Any]]
) -> Iterator[None]:
    """A JSON list with one `shape(task)` per exported task, written chunk by chunk."""
    out.write(b"[")
    yield from _tasks_part(source, out, shape)
    out.write(b"]")


def _tasks_part(
    source: ExportSource, out: IO[bytes], shape: Callable[[dict[str, Any]], dict[str, Any]]
) -> Generator[None, None, int]:
    """The tasks of the source as elements of a JSON list, separated by commas (the list's body)."""
    tasks = _Tasks(source)
    first = True
    dumps = orjson.dumps
    for chunk in source.rows():
        parts = []
        for task in chunk:
            parts.append((b"" if first else b",") + dumps(shape(tasks.task(task))))
            first = False
        out.write(b"".join(parts))
        yield
    return 0


def _tasks_parts(shape: Callable[[dict[str, Any]], dict[str, Any]]) -> ExportParts:
    """Label Studio's list split over processes: each slice writes its tasks, the join brackets them."""

    def write(source: ExportSource, out: IO[bytes], side: IO[bytes], start: PartStart) -> Generator[None, None, int]:
        return (yield from _tasks_part(source, out, shape))

    def join(source: ExportSource, parts: list[tuple[IO[bytes], IO[bytes]]], out: IO[bytes]) -> Iterator[None]:
        out.write(b"[")
        yield from parts_copy([part for part, _ in parts], out)
        out.write(b"]")

    return ExportParts(write=write, join=join)


def _whole(task: dict[str, Any]) -> dict[str, Any]:
    return task


def label_studio_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    """Label Studio's JSON: a list of tasks with `annotations` (and `predictions` when asked for)."""
    yield from _tasks_write(source, out, _whole)


def _minimal(task: dict[str, Any]) -> dict[str, Any]:
    """One task in Label Studio's JSON_MIN shape (as its converter writes it)."""
    annotation = task["annotations"][0]
    row: dict[str, Any] = {"image": task["data"]["image"], "id": task["id"]}
    # JSON_MIN has no parentID and ties a region's answer to no region: nested geometries are left
    # out, and a region's answers too unless it is the row's only region (where an import puts them
    # back), so that the file imports again instead of failing at an ambiguous key.
    nested = {result["id"] for result in annotation["result"] if result.get("parentID")}
    regions = {
        result["id"]
        for result in annotation["result"]
        if result["type"] not in ("choices", "textarea") and result["id"] not in nested
    }
    for result in annotation["result"]:
        region_answer = result["type"] in ("choices", "textarea") and result["id"] in regions
        if result["id"] in nested or (region_answer and len(regions) > 1):
            continue
        name = result["from_name"]
        value = dict(result["value"])
        if result["type"] == "choices":
            choices = value["choices"]
            entry: Any = choices[0] if len(choices) == 1 else {"choices": choices}
        elif result["type"] == "textarea":
            texts = value["text"]
            entry = texts[0] if len(texts) == 1 else texts
        else:
            value["original_width"] = result.get("original_width")
            value["original_height"] = result.get("original_height")
            entry = value
        if name in row:
            if not isinstance(row[name], list) or result["type"] in ("choices", "textarea"):
                row[name] = [row[name]] if not isinstance(row[name], list) else row[name]
            row[name].append(entry)
        else:
            row[name] = [entry] if result["type"] not in ("choices", "textarea") else entry
    row["annotator"] = annotation["completed_by"]
    row["annotation_id"] = annotation["id"]
    row["created_at"] = annotation["created_at"]
    row["updated_at"] = annotation["updated_at"]
    row["lead_time"] = annotation["lead_time"]
    return row


def label_studio_min_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    """Label Studio's JSON_MIN: one flat object per task (annotations only)."""
    yield from _tasks_write(source, out, _minimal)


FORMAT = ImportFormat(
    name="label_studio",
    label="Label Studio JSON",
    description=(
        "Label Studio tasks (a JSON list or one task): data with the image URL, annotations or completions and "
        "predictions with rectangles, polygons, keypoints, choices and text."
    ),
    file_kinds=("json",),
    schema=None,
    item_schema=ITEM,
    read=read,
    convert=convert,
    options={
        "match_by": "name",
        "image_field": None,
        "label_mapping": {},
        "replace": False,
        "dataset_id": None,
        "create_media": True,
        "annotation": "ground_truth_first",
    },
    option_schemas={
        "image_field": IMAGE_FIELD_OPTION,
        "label_mapping": LABEL_MAPPING_OPTION,
        "replace": {
            **BOOLEAN_OPTION,
            "description": "With true each media's labels are replaced, with false added to.",
        },
        "dataset_id": DATASET_ID_OPTION,
        "create_media": BOOLEAN_OPTION,
        "annotation": ANNOTATION_OPTION,
    },
    options_check=options_check,
    sniff=sniff,
    nothing_hint="A task's labels come from one annotation (the option annotation says which) and from predictions "
    "given as objects; cancelled annotations, drafts and predictions given as ids are not imported.",
    creates_media=True,
    takes_options=True,
    split=split,
    read_span=read_span,
)

EXPORT_FORMATS = (
    ExportFormat(
        name="label_studio",
        label="Label Studio JSON",
        description="Label Studio tasks with one annotation each (and predictions when asked for); "
        "percent coordinates with original_width/height.",
        extension="json",
        content_type="application/json",
        write=label_studio_write,
        parts=_tasks_parts(_whole),
        needs_media_size=True,
    ),
    ExportFormat(
        name="label_studio_min",
        label="Label Studio JSON_MIN",
        description="Label Studio's flat JSON_MIN: one object per task, its regions and answers by control name.",
        extension="json",
        content_type="application/json",
        write=label_studio_min_write,
        parts=_tasks_parts(_minimal),
        needs_media_size=True,
    ),
)
