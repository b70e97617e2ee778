"""What every import format declares, and the schema checking they share.

A format module under `formats/` defines one `FORMAT = ImportFormat(...)`; the
registry (`formats`) finds it. The pipeline, the API, the upload page and the
DataGym v1 facade only ever talk to an `ImportFormat`.

Schema checking has two layers with one meaning. `jsonschema` (Draft 7) on the format's
published schema is the reference and words the messages; a compiled validator (pydantic)
with the same constraints runs first, because `jsonschema` manages ~200 items per second
on this file shape and the compiled one ~15,000. Only an item that the fast validator
rejects goes through `jsonschema`, to learn where and why; a test proves both accept and
reject the same items.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import ijson
from django.conf import settings
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError as SchemaError

from formats.jsonsplit import Span
from labeling.annotation import MediaAnnotation, MediaRef, Shape, rectangle_from_corners
from labelsite.archives import ZIP_MAGIC, SafeZip, archive_entry_ignored
from labelsite.errors import ErrorDetail, ValidationFailed
from projects.label_config import LabelConfigIndex


class FileError(Exception):
    """The file cannot be read as the format at all (syntax error, wrong top level)."""

    def __init__(self, detail: ErrorDetail, *more: ErrorDetail) -> None:
        super().__init__(detail.message)
        self.detail = detail
        #: Every problem found (a format that checks a whole header or config reports them all).
        self.details = [detail, *more]


#: How to fix a file in another encoding; every reader says the same.
UTF8_FIX = "Save it as UTF-8 (in Excel: “CSV UTF-8”; in a text editor: encoding UTF-8) and upload it again."

#: Byte-order marks of the encodings a file saved as "Unicode" usually has instead of UTF-8.
_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def not_utf8_check(head: bytes) -> None:
    """Refuse a file that starts with the byte-order mark of UTF-16 or UTF-32, naming it."""
    for bom, encoding in _OTHER_BOMS:
        if head.startswith(bom):
            raise FileError(
                ErrorDetail(
                    path="byte 0", code="not_utf8", message=f"The file is {encoding} text, not UTF-8. {UTF8_FIX}"
                )
            )


def not_utf8_error(place: str, path: str) -> FileError:
    """A byte that is not UTF-8 (a Latin-1 `é`, say), at `place` ("at line 3, column 7")."""
    return FileError(ErrorDetail(path=path, code="not_utf8", message=f"The file is not UTF-8 text {place}. {UTF8_FIX}"))


#: What yajl (ijson's parser) says about such a byte.
YAJL_NOT_UTF8 = "invalid bytes in UTF8 string"


def max_line_bytes() -> int:
    """The longest line a line-oriented reader takes (`LABELSITE_IMPORT_MAX_LINE_BYTES`), line break excluded."""
    return int(getattr(settings, "LABELSITE_IMPORT_MAX_LINE_BYTES", 10 * 1024 * 1024))


class _HeadThenFile(io.RawIOBase):
    """`head` (bytes a reader looked at already), then the rest of `file`, for `io.BufferedReader`."""

    def __init__(self, head: bytes, file: IO[bytes]) -> None:
        self._head = head
        self._file = file

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if self._head:
            data, self._head = self._head[: len(target)], self._head[len(target) :]
        else:
            data = self._file.read(len(target))
            if isinstance(data, str):
                raise TypeError("open the import file in binary mode")
        target[: len(data)] = data
        return len(data)


def lines_bounded(file: IO[bytes], *, fix: str, head: bytes = b"") -> Iterator[bytes]:
    """The lines of `head` + `file`, each with its line break (the last one perhaps without).

    A line longer than `max_line_bytes()` raises `FileError` at its number once that many bytes
    are read, never more: a 100 MB line would otherwise be read, decoded and parsed whole, a few
    times its size in the worker's memory. `fix` ends the message (what the line should be).
    """
    limit = max_line_bytes()
    lines = io.BufferedReader(_HeadThenFile(head, file), buffer_size=65536)
    number = 0
    # limit + 2: room for the longest allowed line with its "\r\n", and a byte more is too long.
    while line := lines.readline(limit + 2):
        number += 1
        content = len(line) - (line.endswith(b"\n") + line.endswith(b"\r\n"))
        if content > limit:
            raise FileError(
                ErrorDetail(
                    path=f"line {number}",
                    code="line_too_long",
                    message=f"Line {number} is longer than {limit:,} bytes, the longest line an import reads "
                    f"(LABELSITE_IMPORT_MAX_LINE_BYTES); nothing after it was read. {fix}",
                )
            )
        yield line


@dataclass(frozen=True, slots=True)
class RawItem:
    """One item of a file: its 0-based index, where it is (a JSON pointer), its data."""

    index: int
    location: str
    data: Any


class PlainItems(Protocol):
    """Where `TypedItem.plain` finds an item as the JSON parser gives it: by its position."""

    def item(self, position: int) -> Any: ...


class TypedItem:
    """An item's data as a format's reader decoded it for its fast path (`convert_checked`):
    `typed`, its own structs; `plain()`, the item as the JSON parser gives it, parsed only when
    asked for (by the schema check and `convert`, for the items the fast path leaves)."""

    __slots__ = ("_position", "_source", "typed")

    def __init__(self, typed: Any, source: PlainItems, position: int) -> None:
        self.typed = typed
        self._source = source
        self._position = position

    def plain(self) -> Any:
        return self._source.item(self._position)


def item_plain(data: Any) -> Any:
    """An item's data as the JSON parser gives it (`TypedItem.plain`), whichever way it was read."""
    return data.plain() if data.__class__ is TypedItem else data


def file_or_archive_items(
    file: IO[bytes], *, suffix: str, parse: Callable[[bytes, str], Any], none_found: ErrorDetail
) -> Iterator[RawItem]:
    """One label file, or every `suffix` file of a ZIP in path order (hidden and macOS entries
    passed over), one item each, its data `parse(body, path)`; `none_found` when a ZIP has none."""
    head = file.read(4)
    file.seek(0)
    if head != ZIP_MAGIC:
        yield RawItem(index=0, location="file", data=parse(file.read(), "file"))
        return
    try:
        archive = SafeZip(file)
    except ValidationFailed as exc:
        raise FileError(*(exc.details or [ErrorDetail("file", exc.code, exc.message)])) from exc
    with archive:
        paths = sorted(
            e.path for e in archive.entries if e.path.lower().endswith(suffix) and not archive_entry_ignored(e.path)
        )
        if not paths:
            raise FileError(none_found)
        for index, path in enumerate(paths):
            try:
                body = archive.read(path)
            except ValidationFailed as exc:
                raise FileError(*(exc.details or [ErrorDetail(path, exc.code, exc.message)])) from exc
            yield RawItem(index=index, location=path, data=parse(body, path))


@dataclass(slots=True)
class Converted:
    """One item in the canonical model, or why it cannot be; `None` and no errors = skipped."""

    annotation: MediaAnnotation | None
    errors: list[ErrorDetail] = field(default_factory=list)
    #: How the item names its media (kept when the item has errors, to check the media too).
    reference: MediaRef | None = None
    #: The media the item asks to create when none matches (`ImportFormat.creates_media`
    #: formats; an `formats.media_rows.MediaRow`).
    new_media: Any = None
    #: Where the item names its media (a JSON pointer or a row and column), for the error when
    #: no media matches; by default the new media row's location, else `/<index>/internal_media_ID`.
    reference_path: str | None = None
    #: The image size the item's pixels assume (a mask's size); the pipeline checks it
    #: against the matched media's stored size.
    size_check: SizeCheck | None = None
    #: Shapes whose points are percentages of the image (Label Studio regions without
    #: original_width/height): the pipeline scales them by the matched media's stored size.
    media_scale: MediaScale | None = None
    #: The reference to try when no media matches `reference` (COCO's file name without Label
    #: Studio's upload prefix); an ambiguous match is never retried.
    fallback_reference: MediaRef | None = None


@dataclass(slots=True)
class MediaScale:
    shapes: list[Shape]
    #: Where the first such region is, for the error when the media's size is unknown.
    path: str
    #: Rectangle shapes among `shapes` that hold an oriented box's 4 corners (YOLO OBB read
    #: without the image): a rotation is an angle in pixels, so they become a box and its
    #: rotation only once scaled (`corners_to_rectangle`), or an error at its place (file, line)
    #: when they are no rectangle.
    corner_boxes: list[tuple[Shape, str]] = field(default_factory=list)


def corners_to_rectangle(shape: Shape) -> str | None:
    """A rectangle shape holding 4 corners in pixels made its box and rotation; why not when the
    corners are no rectangle. Corners may be off square by a pixel or 1 % of the longest side,
    since files hold rounded coordinates."""
    corners = shape.points
    sides = [math.dist(corners[i], corners[(i + 1) % 4]) for i in range(4)]
    turned = rectangle_from_corners(corners, tolerance=max(1.0, 0.01 * max(sides)))
    if turned is None:
        return (
            f"The oriented box's 4 corners do not form a rectangle (its sides are not square to each other), so "
            f"the rectangle class {shape.key!r} cannot hold it; map the class to a polygon class with the option "
            "label_mapping, or correct the corners."
        )
    box, shape.rotation = turned
    shape.points = [[round(v, 3) for v in point] for point in box]
    return None


@dataclass(frozen=True, slots=True)
class SizeCheck:
    """`subject` (e.g. "The mask") is `width` x `height` pixels; the media must be as large."""

    width: int
    height: int
    path: str
    subject: str


#: `(file) -> RawItem, ...`; raises `FileError` for a file it cannot read.
Reader = Callable[[IO[bytes]], Iterator[RawItem]]
#: `(raw item data, configuration index, index=..., options=...) -> Converted`.
Converter = Callable[..., Converted]


def json_first_item_keys(head: bytes) -> frozenset[str] | None:
    """The keys of the first object of a JSON array, read from the file's first bytes (a value
    cut off at the end of `head` is no matter); None when `head` does not start a list of objects."""
    keys: set[str] = set()
    parser = ijson.parse(io.BytesIO(head.removeprefix(b"\xef\xbb\xbf")), use_float=True)
    try:
        for prefix, event, value in parser:
            if prefix == "" and event != "start_array":
                return None
            if prefix == "item" and event in ("start_map", "map_key"):
                if event == "map_key":
                    keys.add(str(value))
                continue
            if prefix == "item" and event == "end_map":
                break
            if prefix == "item" or (prefix == "" and event == "end_array"):
                return None  # a first item that is not an object, or an empty list
    except (ijson.JSONError, ValueError):
        pass  # the head ends mid-value, or the file is no JSON: the keys seen so far count
    return frozenset(keys) if keys else None


def pointer_escape(part: object) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def pointer(*parts: object) -> str:
    """A JSON pointer: `pointer(3, "labels", "car")` is `/3/labels/car`."""
    return "".join(f"/{pointer_escape(part)}" for part in parts)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class ItemSchema:
    """The reference validator of one item schema, with an optional fast path in front."""

    def __init__(self, schema: dict[str, Any], *, fast: Callable[[Any], bool] | None = None) -> None:
        self.schema = schema
        self.reference = Draft7Validator(schema)
        self.fast = fast

    def is_valid(self, data: Any) -> bool:
        if self.fast is not None and self.fast(data):
            return True
        return bool(self.reference.is_valid(data))

    def errors(self, data: Any, *, prefix: tuple[object, ...] = ()) -> list[ErrorDetail]:
        """Every violation of the item, located under `prefix`; empty when the item is valid."""
        if self.fast is not None and self.fast(data):
            return []
        found = sorted(self.reference.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
        return [schema_error_detail(error, prefix=prefix) for error in found]


#: How to fix the common violations, by (validator, name of the last path element).
_HINTS: dict[tuple[str, str], str] = {
    ("minItems", "polygon"): "A polygon needs at least 3 points {x, y}.",
    ("minItems", "line"): "A line needs at least 2 points {x, y}.",
    ("minItems", "point"): "A point is a list of exactly one {x, y}.",
    ("maxItems", "point"): "A point is a list of exactly one {x, y}.",
    ("minItems", "rectangle"): "A rectangle is a list of exactly one {x, y, w, h}.",
    ("maxItems", "rectangle"): "A rectangle is a list of exactly one {x, y, w, h}.",
    ("type", "keepData"): "keepData is true or false, without quotes.",
    ("type", "internal_media_ID"): "internal_media_ID is the media id as a string.",
    ("additionalProperties", ""): "A geometry object may only have the keys polygon, line, point, rectangle, "
    "geometry, image_segmentation, classifications and nested_geometries.",
}
_COORDINATE_HINT = 'Coordinates are numbers >= 0 or strings of digits such as "12".'
_CLASSIFICATION_HINT = (
    "A classification is a list: an option key, text or null first, then optionally one object of child "
    'answers such as {"daytime": ["day"]}, then only strings.'
)


def schema_error_detail(error: SchemaError, *, prefix: tuple[object, ...] = ()) -> ErrorDetail:
    """A jsonschema error as a located detail: its message, and how to fix it where we know."""
    parts = (*prefix, *error.absolute_path)
    words = _expected(error)
    message = words[0].upper() + words[1:]
    last = str(error.absolute_path[-1]) if error.absolute_path else ""
    hint = _HINTS.get((str(error.validator), last)) or _HINTS.get((str(error.validator), ""))
    schema_path = [str(p) for p in error.absolute_schema_path]
    if hint is None and last in {"x", "y", "w", "h"}:
        hint = _COORDINATE_HINT
    elif hint is None and "classification" in schema_path:
        hint = _CLASSIFICATION_HINT
    message = f"{message}. {hint}" if hint else f"{message}."
    return ErrorDetail(path=pointer(*parts), code=f"schema_{_snake(str(error.validator))}", message=message)


#: The job option an archive upload sets (never a user): the stored ZIP the job's file came
#: from, whose other entries (masks) formats may read (`formats.mask_sources.ArchiveMasks`).
ARCHIVE_OPTION = "archive"

# --- options ------------------------------------------------------------------------------
#
# Every option has a JSON schema (Draft 7); one validator checks a job's options against the
# schemas of its format when the job is created, so a wrong value is refused with its place
# before any work (`overwrite: "false"`, a string, replaced labels when it was taken as true).
# A schema's `description` says how to fix a wrong value; it ends the error's message.

MATCH_BY_CHOICES = ("id", "name", "external_id", "global_key")
BOOLEAN_OPTION: dict[str, Any] = {"type": "boolean"}
#: The options every import takes; a format may declare them again with its own default.
JOB_OPTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "match_by": {"enum": list(MATCH_BY_CHOICES)},
    "skip_invalid": BOOLEAN_OPTION,
    "write_when_valid": BOOLEAN_OPTION,
    "keep_data": {
        "type": ["boolean", "null"],
        "description": "With true the file's labels are added to each media's, with false they replace them, "
        "with null the file decides.",
    },
}
IMAGE_FIELD_OPTION: dict[str, Any] = {
    "type": ["string", "null"],
    "minLength": 1,
    "description": 'Name the field of the task\'s data that holds the image, e.g. "image", or leave it out.',
}
DATASET_ID_OPTION: dict[str, Any] = {
    "type": ["string", "null"],
    "description": "Give the id of a dataset connected to the project, or leave it out.",
}
LABEL_MAPPING_OPTION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "string", "minLength": 1},
    "description": 'Map names of the file to class keys of the configuration, e.g. {"Bus": "bus"}.',
}

#: How a schema type is said in a message.
_TYPE_WORDS = {
    "boolean": "true or false (a JSON boolean)",
    "string": "a string",
    "null": "null",
    "object": "a JSON object",
    "array": "a list",
    "integer": "a whole number",
    "number": "a number",
}
_SHOWN_CHARACTERS = 40


def _value_words(value: Any) -> str:
    """A JSON value as a message names it: `the string "false"`, `the number 1`, `a list`."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        shown = value if len(value) <= _SHOWN_CHARACTERS else value[:_SHOWN_CHARACTERS] + "…"
        return f"the string {json.dumps(shown, ensure_ascii=False)}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return "a list" if isinstance(value, list) else "an object"


def _expected(error: SchemaError) -> str:
    """What the value must be, in plain words after the place's name ("must be a number, not the
    string "x""), for items and options alike: the one place that words jsonschema's errors."""
    validator, wanted = str(error.validator), error.validator_value
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
        patterns = error.schema.get("patternProperties", {}) if isinstance(error.schema, dict) else {}
        extra = [k for k in error.instance if k not in known and not any(re.search(p, k) for p in patterns)]
        return f"must not have the key {', '.join(json.dumps(k) for k in extra)}"
    if validator in {"minItems", "maxItems"} and isinstance(error.instance, list):
        bound = "at least" if validator == "minItems" else "at most"
        return f"must have {bound} {wanted} item{'' if wanted == 1 else 's'}, not {len(error.instance)}"
    if validator in {"exclusiveMinimum", "exclusiveMaximum"}:
        bound = "more than" if validator == "exclusiveMinimum" else "less than"
        return f"must be {bound} {wanted}, not {_value_words(error.instance)}"
    if validator in {"minProperties", "maxProperties"} and isinstance(error.instance, dict):
        bound = "at least" if validator == "minProperties" else "at most"
        return f"must have {bound} {wanted} key{'' if wanted == 1 else 's'}, not {len(error.instance)}"
    if validator == "minLength":
        return "must not be empty" if wanted == 1 else f"must be at least {wanted} characters long"
    if validator == "pattern":
        return f"must match the pattern {wanted}, not {_value_words(error.instance)}"
    if validator in {"oneOf", "anyOf"} and error.context:
        # The alternative of the value's own type says what is wrong (-1 is a number below 0),
        # not the others ("or a string"); when no alternative took its type, all are said.
        relevant = [sub for sub in error.context if sub.validator != "type"] or error.context
        alternatives = list(dict.fromkeys(_expected(sub) for sub in relevant))
        if all(words.startswith("must be ") for words in alternatives):
            return "must be " + " or ".join(words.removeprefix("must be ") for words in alternatives)
        return "; or ".join(alternatives)
    if validator == "type":
        types = [wanted] if isinstance(wanted, str) else list(wanted)
        return f"must be {' or '.join(_TYPE_WORDS.get(t, t) for t in types)}, not {_value_words(error.instance)}"
    if validator == "enum":
        return f"must be one of {', '.join(json.dumps(v) for v in wanted)}, not {_value_words(error.instance)}"
    if validator == "const":
        return f"must be {json.dumps(wanted)}, not {_value_words(error.instance)}"
    if validator == "required" and isinstance(error.instance, dict):
        missing = [key for key in wanted if key not in error.instance]
        return f"must have the key {', '.join(json.dumps(key) for key in missing)}"
    if validator in {"minimum", "maximum"}:
        bound = "at least" if validator == "minimum" else "at most"
        return f"must be {bound} {wanted}, not {_value_words(error.instance)}"
    return f"is not valid: {error.message}"


def _deepest(error: SchemaError) -> SchemaError:
    """The deepest of the alternatives' errors (which key or item of the value is wrong)."""
    if not error.context:
        return error
    return max((_deepest(sub) for sub in error.context), key=lambda e: len(e.absolute_path))


def option_error_detail(error: SchemaError, schemas: Mapping[str, Mapping[str, Any]]) -> ErrorDetail:
    """A jsonschema error of the options as a located detail: `options.<name>[.key|[i]]`, what the
    value must be, and the option's `description` (how to fix it)."""
    parts = list(error.absolute_path)
    if error.validator in {"oneOf", "anyOf"}:
        # None of the alternatives fits: name the key of the value that is wrong, not the reasons
        # each alternative gives (`mask_color_mapping.Car is not valid`), and say what fits.
        parts = list(_deepest(error).absolute_path)[: len(parts) + 1]
        expected = "is not valid"
    else:
        expected = _expected(error)
    place = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).removeprefix(".")
    hint = str(schemas.get(str(parts[0]), {}).get("description", "")) if parts else ""
    message = f"{place} {expected}." if place else f"The options are not valid: {error.message}."
    code = {"type": "wrong_type", "enum": "invalid_choice", "const": "invalid_choice"}.get(
        str(error.validator), f"invalid_{_snake(str(error.validator))}"
    )
    return ErrorDetail(path=f"options.{place}" if place else "options", code=code, message=f"{message} {hint}".strip())


def options_errors(options: Mapping[str, Any], schemas: Mapping[str, Mapping[str, Any]]) -> list[ErrorDetail]:
    """Every option of `options` that breaks its schema, in the order of their places."""
    validator = Draft7Validator({"type": "object", "properties": dict(schemas)})
    found = sorted(validator.iter_errors(dict(options)), key=lambda e: [str(p) for p in e.absolute_path])
    return [option_error_detail(error, schemas) for error in found]


@dataclass(frozen=True)
class ImportFormat:
    """One import format: what the registry lists and the pipeline runs."""

    name: str
    label: str
    description: str
    file_kinds: tuple[str, ...]
    #: The JSON schema of the whole file as published (kept verbatim), if the format has one.
    schema: dict[str, Any] | None
    #: The schema check of one item (reference + fast path).
    item_schema: ItemSchema
    read: Reader
    convert: Converter
    #: Options this format understands, with their defaults.
    options: dict[str, Any] = field(default_factory=dict)
    #: The JSON schema of each of its options that is not a job option (`JOB_OPTION_SCHEMAS`), or
    #: that it narrows; every option has one (checked as the format is declared).
    option_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: `(file, every=..., options=...) -> [Span, ...] | None`: byte ranges of `every` items, for
    #: chunked jobs; None keeps the file whole (then `read` reports what is wrong with it).
    split: Callable[..., list[Span] | None] | None = None
    #: `(file, span, options=...) -> RawItem, ...`: the items of one span, numbered and located as in
    #: the whole file; `FileError` when the span cannot be read alone (the job reads the file whole).
    read_span: Callable[..., Iterator[RawItem]] | None = None
    #: Whether the first bytes of a file look like this format (tells formats of one file kind apart).
    sniff: Callable[[bytes], bool] | None = None
    #: Items may create media (`Converted.new_media`, written by `imports.media_create`).
    creates_media: bool = False
    #: `read` and `convert` take the job's options as `options=` (a mapping).
    takes_options: bool = False
    #: `(cleaned options, organization_id=...) -> [ErrorDetail, ...]`: the format's own check of
    #: its options, run when the job is created (before any work).
    options_check: Callable[..., list[ErrorDetail]] | None = None
    #: The option that sets how many items are checked and written per batch (else the defaults).
    batch_option: str | None = None
    #: What to check when a file of this format yields nothing to import, or no label (shown with
    #: the job's error or warning).
    nothing_hint: str = ""
    #: An item that does not name its media the job's way (`match_by`) is matched by the reference
    #: it carries (its `MediaRef`'s other field): Ango elements name assets each their own way.
    match_by_item: bool = False
    #: `(entry paths) -> bool`, for a format whose file is a whole archive (a dataset export of
    #: label files, class lists and images): whether an archive with these entries is one. Such
    #: an archive is one job whose file is the archive itself, which `read` opens.
    archive_reader: Callable[[list[str]], bool] | None = None
    #: `convert`'s fast path for the items it finds valid under `item_schema` itself (it checks
    #: what it reads as the schema does): their `Converted`, or None for every other item, which
    #: then gets the schema check and `convert` as usual. Saves walking common items twice.
    convert_checked: Callable[..., Converted | None] | None = None

    def __post_init__(self) -> None:
        unchecked = sorted(set(self.options) - set(self.option_schemas) - set(JOB_OPTION_SCHEMAS))
        if unchecked:
            raise TypeError(f"The import format {self.name!r} declares options without a schema: {unchecked}.")

    def options_schemas(self) -> dict[str, dict[str, Any]]:
        """The schema of every option a job of this format takes."""
        return {**JOB_OPTION_SCHEMAS, **self.option_schemas}

    def items(self, file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
        """The file's items; the job's options reach formats that take them."""
        if self.takes_options:
            return self.read(file, options=dict(options or {}))  # type: ignore[call-arg]
        return self.read(file)

    def convert_item(
        self,
        data: Any,
        config: LabelConfigIndex,
        *,
        index: int,
        match_by: str,
        options: Mapping[str, Any] | None = None,
    ) -> Converted:
        """One raw item in the canonical model; the job's options reach formats that take them.

        The job's `keep_data` option, when set, decides for every item whether it adds to what
        its media has (true) or replaces it (false), over what the file or the format says."""
        converted = self._convert(self.convert, data, config, index=index, match_by=match_by, options=options)
        if converted is None:
            raise TypeError(f"The import format {self.name!r}: convert answered None for item {index}.")
        return converted

    def convert_item_checked(
        self,
        data: Any,
        config: LabelConfigIndex,
        *,
        index: int,
        match_by: str,
        options: Mapping[str, Any] | None = None,
    ) -> Converted | None:
        """`convert_item` of an item `convert_checked` takes (valid under the item schema, so
        not to be checked again), else None."""
        if self.convert_checked is None:
            return None
        return self._convert(self.convert_checked, data, config, index=index, match_by=match_by, options=options)

    def _convert(
        self,
        convert: Callable[..., Converted | None],
        data: Any,
        config: LabelConfigIndex,
        *,
        index: int,
        match_by: str,
        options: Mapping[str, Any] | None,
    ) -> Converted | None:
        if self.takes_options:
            converted = convert(data, config, index=index, match_by=match_by, options=dict(options or {}))
        else:
            converted = convert(data, config, index=index, match_by=match_by)
        keep_data = options.get("keep_data") if options else None
        if keep_data is not None and converted is not None and converted.annotation is not None:
            converted.annotation.keep_data = keep_data
        return converted


__all__ = [
    "BOOLEAN_OPTION",
    "DATASET_ID_OPTION",
    "IMAGE_FIELD_OPTION",
    "JOB_OPTION_SCHEMAS",
    "LABEL_MAPPING_OPTION",
    "MATCH_BY_CHOICES",
    "Converted",
    "FileError",
    "ImportFormat",
    "ItemSchema",
    "LabelConfigIndex",
    "RawItem",
    "SizeCheck",
    "options_errors",
    "pointer",
    "schema_error_detail",
]
