"""Labelbox data rows (seed 003, reference/labelbox-ango.md section 1): one URL media per row.

A file is a JSON array of rows, or NDJSON (one row per line). A row is
`{"row_data": "<https URL>", "global_key", "external_id", "media_type", "metadata_fields",
"attachments"}`; any other key is refused, as the Labelbox SDK does. Each row creates a URL
media (not fetched now) in the target dataset (option `dataset_id`, else the project's first
dataset) with a task in every project the dataset is connected to (`creates_media`).

Each row stands alone, as in a Labelbox bulk task: a bad row fails with its messages and
the others are created (the format's default `skip_invalid` is true). The job fails as a
whole (Labelbox's `FAILED`) only for what stops every row: a file that is not JSON, more
than 150,000 rows, or a `dataset_id` that is not the project's. A global key repeated in
the file (compared case-insensitively), or held by a live media of the organisation, fails
its row with `Duplicate global key: '<key>'`; the first row with the key is created.

Metadata fields are found by `name` (reserved names first) or `schema_id` and checked by
kind: the reserved `tag` (string), `split` (enum train/valid/test) and `captureDateTime`
(datetime, stored in UTC) carry Labelbox's own schema ids; other fields are declared in the
option `metadata_schema` (`[{"name", "kind", "schema_id"?, "options"?}]`, kinds string,
number, datetime, enum, embedding). They are stored in the media's `metadata` by name;
attachments (every type of the seed) in its `attachments`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import IO, Any

import ijson
import orjson

from formats.jsonsplit import PART_ITEMS, Span, SpanShort, json_array_split, span_items
from formats.label_studio import _first_byte, json_array_items, json_syntax_error
from formats.labelbox import _LineSchema, json_line
from formats.media_rows import ATTACHMENT_TYPES, MediaRow, global_key_errors, url_errors
from formats.reading import DATASET_ID_OPTION, Converted, FileError, ImportFormat, RawItem, lines_bounded, pointer
from formats.writing import ExportFormat, ExportItem, ExportSource
from labeling.annotation import MediaAnnotation, MediaRef
from labelsite.errors import ErrorDetail
from projects.label_config import LabelConfigIndex

#: Labelbox's limit of data rows per upload task.
MAX_ROWS = 150_000
#: Labelbox's limit of a string metadata value (current docs).
STRING_MAX_LENGTH = 4096
EMBEDDING_LENGTH = 128
EXTERNAL_ID_MAX_LENGTH = 255
#: Values of the SDK's `MediaType`; only IMAGE is imported.
MEDIA_TYPES = (
    "IMAGE", "VIDEO", "TEXT", "AUDIO", "HTML", "PDF", "DOCUMENT", "TMS_GEO", "TMS_SIMPLE", "CONVERSATIONAL",
    "POINT_CLOUD", "LLM",
)  # fmt: skip
#: Attachment types of the seed and the SDK's enum (CAMERA_IMAGE is for point clouds only).
METADATA_KINDS = ("string", "number", "datetime", "enum", "embedding")

ROW_KEYS = ("row_data", "global_key", "external_id", "media_type", "metadata_fields", "attachments")
ITEM_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Labelbox data row",
    "type": "object",
    "required": ["row_data"],
    "additionalProperties": False,
    "properties": {
        "row_data": {"type": "string", "minLength": 1},
        "global_key": {"type": "string"},
        "external_id": {"type": "string"},
        "media_type": {"type": "string"},
        "metadata_fields": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["value"],
                "anyOf": [{"required": ["name"]}, {"required": ["schema_id"]}],
                "additionalProperties": False,
                "properties": {"name": {"type": "string"}, "schema_id": {"type": "string"}, "value": {}},
            },
        },
        "attachments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "value"],
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": list(ATTACHMENT_TYPES)},
                    "value": {"type": "string", "minLength": 1},
                    "name": {"type": "string"},
                },
            },
        },
    },
}


class _RowSchema(_LineSchema):
    """The row schema, with Labelbox's words for the mistakes people make most."""

    def errors(self, data: Any, *, prefix: tuple[object, ...] = ()) -> list[ErrorDetail]:
        found = super().errors(data, prefix=prefix)
        return [_reworded(detail, data) for detail in found]


def _reworded(detail: ErrorDetail, data: Any) -> ErrorDetail:
    message = detail.message
    if detail.code == "schema_required" and '"row_data"' in message:
        message = "`row_data` missing when creating DataRow: give the image's https URL."
    elif detail.code == "schema_additional_properties" and detail.path.count("/") == 1 and isinstance(data, dict):
        unknown = ", ".join(repr(k) for k in data if k not in ROW_KEYS)
        message = f"Unknown key(s) {unknown}; a data row has only {', '.join(ROW_KEYS)}."
    elif detail.code == "schema_enum" and "/attachments/" in detail.path:
        message = f"{message} An attachment's type is one of {', '.join(ATTACHMENT_TYPES)}."
    elif detail.code == "schema_any_of" and "/metadata_fields/" in detail.path:
        message = "A metadata field must have either 'schema_id' or 'name' key, and a 'value'."
    elif detail.code == "schema_type" and detail.path.endswith("/row_data"):
        message = f"{message} row_data is the image's https URL (Labelsite imports images only)."
    else:
        return detail
    return ErrorDetail(path=detail.path, code=detail.code, message=message, params=detail.params)


_ATTACHMENT_TYPE_SET = frozenset(ATTACHMENT_TYPES)


def _row_fast(data: Any) -> bool:
    """True only for rows the schema surely accepts (the common case), without jsonschema."""
    if type(data) is not dict or not isinstance(data.get("row_data"), str) or not data["row_data"]:
        return False
    for key, value in data.items():
        if key in ("global_key", "external_id", "media_type"):
            if not isinstance(value, str):
                return False
        elif key == "metadata_fields":
            if type(value) is not list:
                return False
            for entry in value:
                if type(entry) is not dict or "value" not in entry or not ("name" in entry or "schema_id" in entry):
                    return False
                if any(k not in ("name", "schema_id", "value") for k in entry):
                    return False
                if not isinstance(entry.get("name", ""), str) or not isinstance(entry.get("schema_id", ""), str):
                    return False
        elif key == "attachments":
            if type(value) is not list:
                return False
            for entry in value:
                if type(entry) is not dict or entry.get("type") not in _ATTACHMENT_TYPE_SET:
                    return False
                if not isinstance(entry.get("value"), str) or not entry["value"]:
                    return False
                if any(k not in ("type", "value", "name") for k in entry) or not isinstance(entry.get("name", ""), str):
                    return False
        elif key != "row_data":
            return False
    return True


ITEM = _RowSchema(ITEM_SCHEMA, fast=_row_fast)


# --- metadata schema ----------------------------------------------------------------------


@dataclass(frozen=True)
class MetadataField:
    name: str
    kind: str
    schema_id: str = ""
    #: Enum options: name -> schema id.
    options: Mapping[str, str] = field(default_factory=dict)


#: Labelbox's reserved fields, with the schema ids every Labelbox organisation has.
RESERVED_FIELDS = (
    MetadataField("tag", "string", "cko8s9r5v0001h2dk9elqdidh"),
    MetadataField(
        "split",
        "enum",
        "cko8sbczn0002h2dkdaxb5kal",
        {
            "train": "cko8sbscr0003h2dk04w86hof",
            "valid": "cko8sc2yr0004h2dk69aj5x63",
            "test": "cko8scbz70005h2dkastwhgqt",
        },
    ),
    MetadataField("captureDateTime", "datetime", "cko8sdzv70006h2dk8jg64zvb"),
)


@dataclass(frozen=True)
class MetadataSchema:
    fields: tuple[MetadataField, ...]

    def by_name(self, name: str) -> MetadataField | None:
        return next((f for f in self.fields if f.name == name), None)

    def by_schema_id(self, schema_id: str) -> MetadataField | None:
        return next((f for f in self.fields if f.schema_id and f.schema_id == schema_id), None)

    def names(self) -> str:
        return ", ".join(f.name for f in self.fields)


#: The documented shape of the option `metadata_schema` (docs/formats.md), checked when the job is
#: created; names that are reserved or given twice are the reader's to refuse (`_metadata_schema_parsed`).
METADATA_SCHEMA_OPTION: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "kind": {"enum": list(METADATA_KINDS)},
            "schema_id": {"type": "string"},
            "options": {
                "oneOf": [
                    {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                    {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}},
                ]
            },
        },
        "if": {"properties": {"kind": {"const": "enum"}}, "required": ["kind"]},
        "then": {"required": ["options"]},
    },
    "description": 'Give a list of fields {"name", "kind", "schema_id"?, "options"?}, e.g. [{"name": "site", "kind": '
    '"string"}, {"name": "weather", "kind": "enum", "options": ["sun", "rain"]}]; kinds are '
    + ", ".join(METADATA_KINDS)
    + '; an enum lists its "options" (names, or {name: schema_id}).',
}


def _schema_error(message: str) -> FileError:
    return FileError(ErrorDetail("options.metadata_schema", "invalid_metadata_schema", message))


@lru_cache(maxsize=32)
def _metadata_schema_parsed(declared: str) -> MetadataSchema:
    fields = list(RESERVED_FIELDS)
    for position, entry in enumerate(json.loads(declared)):
        place = f"metadata_schema[{position}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise _schema_error(f"{place} is an object with a name, e.g. {{'name': 'site', 'kind': 'string'}}.")
        name, kind = entry["name"], entry.get("kind", "string")
        if kind not in METADATA_KINDS:
            raise _schema_error(f"{place}: kind {kind!r} is not one of {', '.join(METADATA_KINDS)}.")
        if any(f.name == name for f in fields):
            raise _schema_error(f"{place}: the name {name!r} is reserved or declared twice.")
        schema_id = entry.get("schema_id") or ""
        options: dict[str, str] = {}
        if kind == "enum":
            given = entry.get("options")
            if isinstance(given, list) and given and all(isinstance(o, str) for o in given):
                options = dict.fromkeys(given, "")
            elif isinstance(given, Mapping) and given and all(isinstance(v, str) for v in given.values()):
                options = dict(given)
            else:
                raise _schema_error(f"{place}: an enum lists its options, as names or as {{name: schema_id}}.")
        fields.append(MetadataField(name=name, kind=kind, schema_id=str(schema_id), options=options))
    return MetadataSchema(fields=tuple(fields))


def metadata_schema(options: Mapping[str, Any]) -> MetadataSchema:
    """The reserved fields and those the option `metadata_schema` declares (parsed once per job)."""
    declared = options.get("metadata_schema") or []
    if not isinstance(declared, list):
        raise _schema_error("metadata_schema is a list of {name, kind, schema_id?, options?}.")
    return _metadata_schema_parsed(json.dumps(declared, sort_keys=True))


def _metadata_value(spec: MetadataField, value: Any, path: str) -> tuple[Any, ErrorDetail | None]:
    """The value to store for one field, or the error naming the field."""

    def bad(message: str) -> tuple[Any, ErrorDetail]:
        return None, ErrorDetail(path, "invalid_metadata_value", f"Metadata {spec.name!r}: {message}")

    if spec.kind == "string":
        if not isinstance(value, str):
            return bad(f"expected a string type, got {type(value).__name__}.")
        if len(value) > STRING_MAX_LENGTH:
            return bad(f"a string is at most {STRING_MAX_LENGTH} characters (it has {len(value)}).")
        return value, None
    if spec.kind == "number":
        if isinstance(value, bool):
            return bad("expected a number, got true/false.")
        try:
            number = float(value)
        except (TypeError, ValueError):
            return bad(f"expected a number, got {value!r}.")
        if not math.isfinite(number):
            return bad("a number must be finite.")
        return number, None
    if spec.kind == "datetime":
        if not isinstance(value, str):
            return bad('expected an ISO-8601 date and time such as "2024-05-01T12:00:00Z".')
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return bad(f'{value!r} is not an ISO-8601 date and time such as "2024-05-01T12:00:00Z".')
        # Labelbox: all times are UTC; a time without an offset is taken to be UTC.
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return moment.isoformat().replace("+00:00", "Z"), None
    if spec.kind == "enum":
        if isinstance(value, str):
            if value in spec.options:
                return value, None
            by_id = next((name for name, option_id in spec.options.items() if option_id and option_id == value), None)
            if by_id is not None:
                return by_id, None
        return bad(f"There is no enum option by name {value!r}; use one of: {', '.join(spec.options)}.")
    # embedding
    if (
        not isinstance(value, list)
        or len(value) != EMBEDDING_LENGTH
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        count = len(value) if isinstance(value, list) else "not a list"
        return bad(f"Embedding length invalid: give a list of exactly {EMBEDDING_LENGTH} numbers (got {count}).")
    return [float(v) for v in value], None


def metadata_errors(given: list[Any], schema: MetadataSchema, index: int) -> tuple[dict[str, Any], list[ErrorDetail]]:
    values: dict[str, Any] = {}
    errors: list[ErrorDetail] = []
    for position, entry in enumerate(given):
        place = pointer(index, "metadata_fields", position)
        schema_id, name = entry.get("schema_id"), entry.get("name")
        spec = schema.by_schema_id(schema_id) if schema_id else None
        if spec is None and schema_id:
            errors.append(
                ErrorDetail(
                    f"{place}/schema_id",
                    "unknown_metadata_schema_id",
                    f"Schema Id `{schema_id}` not found in ontology; use one of the reserved fields' ids or declare "
                    "it in the option metadata_schema.",
                    params=(schema_id,),
                )
            )
            continue
        if spec is None:
            spec = schema.by_name(name)
        if spec is None:
            errors.append(
                ErrorDetail(
                    f"{place}/name",
                    "unknown_metadata_name",
                    f"There is no metadata with name {name!r}; use one of {schema.names()} (names are exact-case), "
                    "or declare it in the option metadata_schema.",
                    params=(name,),
                )
            )
            continue
        if spec.name in values:
            errors.append(
                ErrorDetail(place, "repeated_metadata", f"Metadata {spec.name!r} is given twice; give it once.")
            )
            continue
        value, error = _metadata_value(spec, entry.get("value"), f"{place}/value")
        if error is not None:
            errors.append(error)
        else:
            values[spec.name] = value
    return values, errors


# --- reading ------------------------------------------------------------------------------


def _too_many() -> FileError:
    return FileError(
        ErrorDetail(
            "file",
            "too_many_rows",
            f"A data-row file holds at most {MAX_ROWS:,} rows (Labelbox's limit per upload task); split it.",
        )
    )


def _json_rows(head: bytes, file: IO[bytes]) -> Iterator[RawItem]:
    index = 0
    for item in json_array_items(head, file):
        if index >= MAX_ROWS:
            raise _too_many()
        yield item
        index += 1
    if index == 0:
        raise FileError(ErrorDetail("", "empty_file", "The array holds no data row; add at least one."))


def _ndjson_rows(head: bytes, file: IO[bytes]) -> Iterator[RawItem]:
    lines = lines_bounded(file, head=head, fix="Put one JSON data row on each line.")
    index = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        data = json_line(
            number,
            raw,
            per_line="one data row",
            syntax_hint=" A data-row file is a JSON array [...] or one JSON object per line.",
        )
        if index >= MAX_ROWS:
            raise _too_many()
        yield RawItem(index=index, location=f"line {number}", data=data)
        index += 1


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """The rows of a JSON array (streamed) or of NDJSON; the metadata option is checked first."""
    metadata_schema(options or {})
    head, first = _first_byte(file)
    if first == b"[":
        yield from _json_rows(head, file)
    elif first == b"{":
        yield from _ndjson_rows(head, file)
    else:
        raise FileError(
            ErrorDetail(
                "line 1",
                "not_data_rows",
                f"A Labelbox data-row file is a JSON array of rows or one row per line, but it starts with {first!r}.",
            )
        )


def split(file: IO[bytes], *, every: int, options: Mapping[str, Any] | None = None) -> list[Span] | None:
    """Spans of `every` rows of a JSON array (NDJSON, and a file over `MAX_ROWS`, stay whole)."""
    spans = json_array_split(file, every=every, part_items=PART_ITEMS if every % PART_ITEMS == 0 else None)
    if spans and spans[-1].item_start + spans[-1].item_count > MAX_ROWS:
        return None  # the whole-file reader refuses it, saying so
    return spans


def read_span(file: IO[bytes], span: Span, *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """The rows of one span of a JSON array, numbered as in the whole file."""
    metadata_schema(options or {})
    try:
        for index, data in span_items(file, span):
            yield RawItem(index=index, location=pointer(index), data=data)
    except ijson.JSONError as exc:
        raise json_syntax_error(exc) from exc
    except SpanShort as exc:
        raise FileError(ErrorDetail("", "json_syntax", str(exc))) from exc


def sniff(head: bytes) -> bool:
    return b'"row_data"' in head[:4096]


# --- conversion ---------------------------------------------------------------------------


def _row_data_errors(url: str, path: str) -> list[ErrorDetail]:
    if "://" not in url and not url.startswith("//"):
        return [
            ErrorDetail(
                path,
                "local_path",
                f"row_data {url!r} is not a URL. Local files are uploaded on the media page (as Labelbox's direct "
                "upload); a data-row file gives each image's https URL.",
            )
        ]
    return url_errors(url, path)


def convert(
    data: Any,
    config: LabelConfigIndex | None,
    *,
    index: int = 0,
    match_by: str = "global_key",
    options: Mapping[str, Any] | None = None,
) -> Converted:
    """One data row as the media it creates (no labels), or every reason it cannot be."""
    options = options or {}
    errors: list[ErrorDetail] = []
    url = data["row_data"]
    errors += _row_data_errors(url, pointer(index, "row_data"))
    media_type = data.get("media_type")
    if media_type is not None and media_type != "IMAGE":
        known = media_type in MEDIA_TYPES
        errors.append(
            ErrorDetail(
                pointer(index, "media_type"),
                "unsupported_media_type",
                (
                    f"media_type {media_type!r} is not supported: Labelsite imports images (IMAGE: JPG, PNG, BMP)."
                    if known
                    else f"{media_type!r} is not a Labelbox media type; an image's media_type is IMAGE."
                ),
                params=(str(media_type),),
            )
        )
    external_id = data.get("external_id") or ""
    if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
        errors.append(
            ErrorDetail(
                pointer(index, "external_id"),
                "external_id_too_long",
                f"external_id is at most {EXTERNAL_ID_MAX_LENGTH} characters (it has {len(external_id)}).",
            )
        )
    metadata, metadata_problems = metadata_errors(data.get("metadata_fields") or [], metadata_schema(options), index)
    errors += metadata_problems
    attachments = []
    for position, attachment in enumerate(data.get("attachments") or []):
        kind, value = attachment["type"], attachment["value"]
        if kind != "RAW_TEXT":
            errors += url_errors(value, pointer(index, "attachments", position, "value"))
        stored = {"type": kind, "value": value}
        if attachment.get("name"):
            stored["name"] = attachment["name"]
        attachments.append(stored)
    global_key = data.get("global_key")
    if global_key is not None:
        errors += global_key_errors(global_key, pointer(index, "global_key"))
    row = MediaRow(
        location=pointer(index, "row_data"),
        url=url,
        global_key=global_key,
        external_id=external_id,
        metadata=metadata,
        attachments=attachments,
        key_location=pointer(index, "global_key"),
    )
    if errors:
        return Converted(annotation=None, errors=errors)
    reference = MediaRef(global_key=global_key, url=url, external_id=external_id or None)
    return Converted(annotation=MediaAnnotation(media=reference), new_media=row)


FORMAT = ImportFormat(
    name="labelbox_data_rows",
    label="Labelbox data rows",
    description=(
        "Labelbox data rows (a JSON array or NDJSON): row_data image URLs with global_key, external_id, "
        "metadata_fields and attachments; each becomes a media with a task, and a bad row fails alone."
    ),
    file_kinds=("json", "ndjson", "jsonl"),
    schema=None,
    item_schema=ITEM,
    read=read,
    convert=convert,
    options={"match_by": "global_key", "dataset_id": None, "metadata_schema": [], "skip_invalid": True},
    option_schemas={"dataset_id": DATASET_ID_OPTION, "metadata_schema": METADATA_SCHEMA_OPTION},
    sniff=sniff,
    creates_media=True,
    takes_options=True,
    split=split,
    read_span=read_span,
)


# --- the writer ----------------------------------------------------------------------------------


def _data_row(item: ExportItem) -> dict[str, Any]:
    """One media as the data row Labelbox's `create_data_rows` (and our import) reads."""
    row: dict[str, Any] = {"row_data": item.media_url or item.media_name}
    if item.global_key:
        row["global_key"] = item.global_key
    if item.external_id:
        row["external_id"] = item.external_id
    row["media_type"] = "IMAGE"
    if item.metadata:
        row["metadata_fields"] = [{"name": name, "value": value} for name, value in item.metadata.items()]
    if item.attachments:
        row["attachments"] = item.attachments
    return row


def labelbox_data_rows_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    """A JSON array of data rows: each task's media with its global key, external id, metadata fields
    and attachments (no labels: those are the `labelbox_ndjson` export)."""
    out.write(b"[")
    first = True
    for chunk in source.chunks():
        for item in chunk:
            out.write((b"" if first else b",") + orjson.dumps(_data_row(item)))
            first = False
        yield
    out.write(b"]")


EXPORT_FORMAT = ExportFormat(
    name="labelbox_data_rows",
    label="Labelbox data rows",
    description="The media as Labelbox data rows (row_data, global_key, external_id, metadata_fields, "
    "attachments), to create them in Labelbox or another Labelsite organisation; no labels.",
    extension="json",
    content_type="application/json",
    write=labelbox_data_rows_write,
)
