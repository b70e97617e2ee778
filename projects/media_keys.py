"""The rules of a media's global key, shared by the imports that create media (`formats/media_rows.py`)
and the media API that sets a key on an uploaded image (`services.media_keys_update`).

Labelbox's rules: 1-200 characters, no outer whitespace, a restricted character set. Uniqueness
(per organisation, case-insensitive, live media) is the database's `media_unique_live_global_key`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from labelsite.errors import ErrorDetail, ValidationFailed
from labelsite.jsondepth import json_depth_check

GLOBAL_KEY_MAX_LENGTH = 200
_GLOBAL_KEY_RE = re.compile(r"[A-Za-z0-9 !_.*'()&$@=;/:+,?-]+")


def global_key_errors(key: Any, path: str) -> list[ErrorDetail]:
    """What is wrong with a global key by itself (not its uniqueness)."""
    if not isinstance(key, str) or not key:
        return [ErrorDetail(path, "invalid_global_key", "A global key is a non-empty string.")]
    problems = []
    if len(key) > GLOBAL_KEY_MAX_LENGTH:
        problems.append(f"at most {GLOBAL_KEY_MAX_LENGTH} characters (it has {len(key)})")
    if key != key.strip():
        problems.append("no leading or trailing whitespace")
    if not _GLOBAL_KEY_RE.fullmatch(key):
        bad = sorted(set(_GLOBAL_KEY_RE.sub("", key)))
        problems.append(f"only letters, digits, space and ! _ . * ' ( ) & $ @ = ; / : + , ? - (not {''.join(bad)!r})")
    if problems:
        return [ErrorDetail(path, "invalid_global_key", f"Global key {key!r} breaks the rules: {'; '.join(problems)}.")]
    return []


# --- the mapping file: file name -> external id, global key ------------------------------

#: Rows one mapping file may have (a dataset of 200,000 images takes one file).
MEDIA_KEYS_MAX_ROWS = 200_000
#: Errors reported at most; the message says how many there were.
MEDIA_KEYS_MAX_ERRORS = 1000
_COLUMNS = {
    "name": "name",
    "file_name": "name",
    "filename": "name",
    "file": "name",
    "external_id": "external_id",
    "externalid": "external_id",
    "external id": "external_id",
    "global_key": "global_key",
    "globalkey": "global_key",
    "global key": "global_key",
}
_GIVE = 'a column "name" (the image\'s file name in the dataset) and "external_id" and/or "global_key"'


@dataclass(frozen=True)
class MediaKeysRow:
    """One line of a mapping file; None: the field is left as it is."""

    #: Where the row is, and how a field's place is written ("line 3, global_key" or "/2/global_key").
    place: str
    field_place: str
    name: str
    external_id: str | None
    global_key: str | None

    def path(self, field_name: str) -> str:
        return self.field_place.format(field=field_name)


def _invalid(message: str, details: list[ErrorDetail]) -> ValidationFailed:
    return ValidationFailed(code="invalid_media_keys", message=message, details=details)


def media_keys_parse(*, content: bytes, file_name: str) -> list[MediaKeysRow]:
    """The rows of a CSV (with a header) or JSON mapping file (a list of objects, or an object of
    name -> {external_id, global_key}); a file that cannot be read raises with its place."""
    text = content.decode("utf-8-sig", errors="strict") if _utf8(content) else None
    if text is None:
        raise _invalid("The mapping file is not UTF-8 text; save it as UTF-8.", [ErrorDetail("file", "not_utf8", "")])
    if file_name.lower().endswith(".json") or text.lstrip()[:1] in ("[", "{"):
        rows = _json_rows(text)
    else:
        rows = _csv_rows(text)
    if not rows:
        raise _invalid(f"The mapping file has no rows; give {_GIVE}.", [ErrorDetail("file", "empty_file", "")])
    if len(rows) > MEDIA_KEYS_MAX_ROWS:
        raise _invalid(
            f"The mapping file has {len(rows):,} rows, more than {MEDIA_KEYS_MAX_ROWS:,}; split it.",
            [ErrorDetail("file", "too_many_rows", "")],
        )
    return rows


def _utf8(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def _csv_rows(text: str) -> list[MediaKeysRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    columns = [_COLUMNS.get(cell.strip().lower()) for cell in header or []]
    if "name" not in columns or not {"external_id", "global_key"} & set(columns):
        raise _invalid(
            f"The first line of the CSV must name the columns: {_GIVE}.",
            [ErrorDetail("line 1", "missing_columns", f"Give {_GIVE}.")],
        )
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        values: dict[str, str | None] = {}
        for column, cell in zip(columns, cells, strict=False):
            if column is not None:
                values[column] = _cell(cell)
        rows.append(
            MediaKeysRow(
                place=f"line {number}",
                field_place=f"line {number}, {{field}}",
                name=values.get("name") or "",
                external_id=values.get("external_id"),
                global_key=values.get("global_key"),
            )
        )
        if len(rows) > MEDIA_KEYS_MAX_ROWS:
            break
    return rows


def _json_rows(text: str) -> list[MediaKeysRow]:
    json_depth_check(text, path="file")
    try:
        data = json.loads(text)
    except ValueError as exc:
        detail = ErrorDetail("file", "invalid_json", str(exc))
        raise _invalid(f"The mapping file is not valid JSON: {exc}.", [detail]) from exc
    if isinstance(data, dict):
        data = [{"name": name, **value} if isinstance(value, dict) else value for name, value in data.items()]
    if not isinstance(data, list):
        raise _invalid(
            f"A JSON mapping file is a list of objects with {_GIVE}.", [ErrorDetail("/", "invalid_type", "")]
        )
    rows = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise _invalid(
                f"Item {index} of the mapping file is not an object; give {_GIVE}.",
                [ErrorDetail(f"/{index}", "invalid_type", "Give an object.")],
            )
        values = {_COLUMNS.get(str(key).lower()): value for key, value in item.items()}
        rows.append(
            MediaKeysRow(
                place=f"/{index}",
                field_place=f"/{index}/{{field}}",
                name=str(values.get("name") or ""),
                external_id=_cell(values.get("external_id")),
                global_key=_cell(values.get("global_key")),
            )
        )
    return rows


def media_keys_upload_parse(*, text: str, file_names: Sequence[str]) -> dict[str, MediaKeysRow]:
    """The `keys` part of an image upload: a JSON object file name -> {external_id, global_key}
    (`externalId`, `globalKey` too), checked against the files sent and the key rules, every
    problem at `keys/<file name>/<field>`."""
    json_depth_check(text, path="keys")
    try:
        data = json.loads(text)
    except ValueError as exc:
        detail = ErrorDetail("keys", "invalid_json", str(exc))
        raise _invalid(f"keys is not valid JSON: {exc}.", [detail]) from exc
    if not isinstance(data, dict) or not all(isinstance(value, dict) for value in data.values()):
        detail = ErrorDetail("keys", "invalid_type", 'Give {"<file name>": {"external_id": ..., "global_key": ...}}.')
        raise _invalid("keys is an object: file name -> {external_id, global_key}.", [detail])
    sent = set(file_names)
    rows: dict[str, MediaKeysRow] = {}
    errors: list[ErrorDetail] = []
    for name, value in data.items():
        values = {_COLUMNS.get(str(key).lower()): item for key, item in value.items()}
        row = MediaKeysRow(
            place=f"keys/{name}",
            field_place=f"keys/{name}/{{field}}",
            name=name,
            external_id=_cell(values.get("external_id")),
            global_key=_cell(values.get("global_key")),
        )
        if name not in sent:
            errors.append(
                ErrorDetail(row.path("name"), "file_not_sent", f"No file part is named {name!r}; fix the name.")
            )
        if row.external_id is not None and len(row.external_id) > 255:
            errors.append(ErrorDetail(row.path("external_id"), "external_id_length", "At most 255 characters."))
        if row.global_key is not None:
            errors += global_key_errors(row.global_key, row.path("global_key"))
        rows[name] = row
    if errors:
        raise _invalid(f"{len(errors)} error(s) in keys; nothing was stored.", errors)
    return rows
