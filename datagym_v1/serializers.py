"""The shapes of the request bodies, checked as DataGym's bean validation checks them.

Each function takes the raw bytes of a body and returns plain values, or raises the 400
`ex_validation` (`code: 0`) that lists every problem. Bodies are read here rather than
through DRF's parsers: the client sends some bodies without a content type, and some
requests without a body at all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import TemporaryUploadedFile

from datagym_v1.errors import DataGymError, bean_validation, detail
from labelsite.jsondepth import json_depth_exceeded

DATASET_NAME_PATTERN = r"^[a-zA-Z0-9_ ]{1,128}$"
DATASET_DESCRIPTION_PATTERN = r"^[a-zA-Z0-9_ -]*$"
TASK_SEARCH_PATTERN = r"^[a-zA-Z0-9_ -]*$"
_NAME_RE = re.compile(DATASET_NAME_PATTERN)
_DESCRIPTION_RE = re.compile(DATASET_DESCRIPTION_PATTERN)
_SEARCH_RE = re.compile(TASK_SEARCH_PATTERN)

_MISSING: Any = object()

#: Bytes read from the request at a time when a body is copied to a file.
BODY_READ_BYTES = 64 * 1024


def json_body(raw: bytes, *, when_empty: Any = _MISSING) -> Any:
    """The parsed JSON body; an empty body is `when_empty` if given, else a 400."""
    if not raw.strip():
        if when_empty is not _MISSING:
            return when_empty
        raise bean_validation([detail("Body", "ex_notnull", "Body")])
    # Nested beyond any DataGym body, it is unreadable too: `json.loads` would recurse into a 500.
    # (The scan reads UTF-8; `json.loads` also takes UTF-16 and UTF-32, which are decoded first.)
    encoding = json.detect_encoding(raw)
    scanned = raw if encoding.startswith("utf-8") else raw.decode(encoding, errors="replace").encode()
    if json_depth_exceeded(scanned) is not None:
        raise bean_validation([detail("Body", "ex_notreadable", "Body")])
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bean_validation([detail("Body", "ex_notreadable", "Body")]) from exc


@dataclass(frozen=True)
class DatasetInput:
    name: str
    short_description: str


def dataset_create_input(raw: bytes) -> DatasetInput:
    data = json_body(raw)
    if not isinstance(data, dict):
        raise bean_validation([detail("Body", "ex_notreadable", "Body")])
    problems: list[dict[str, Any]] = []
    name = data.get("name")
    if name is None:
        problems.append(detail("Name", "ex_notnull", "Name"))
    elif not isinstance(name, str):
        problems.append(detail("Name", "ex_pattern", "Name", "[]", DATASET_NAME_PATTERN))
    else:
        if not 1 <= len(name) <= 128:
            problems.append(detail("Name", "ex_size", "Name", "128", "1"))
        if not _NAME_RE.fullmatch(name):
            problems.append(detail("Name", "ex_pattern", "Name", "[]", DATASET_NAME_PATTERN))
    description = data.get("shortDescription")
    if description is not None:
        if not isinstance(description, str):
            problems.append(
                detail("Short Description", "ex_pattern", "Short Description", "[]", DATASET_DESCRIPTION_PATTERN)
            )
        else:
            if len(description) > 128:
                problems.append(detail("Short Description", "ex_size", "Short Description", "128", "0"))
            if not _DESCRIPTION_RE.fullmatch(description):
                problems.append(
                    detail("Short Description", "ex_pattern", "Short Description", "[]", DATASET_DESCRIPTION_PATTERN)
                )
    if problems or not isinstance(name, str):
        raise bean_validation(problems)
    return DatasetInput(name=name, short_description=description or "")


def url_list_input(raw: bytes) -> list[str]:
    urls = json_body(raw)
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        raise bean_validation([detail("Body", "ex_notreadable", "Body")])
    return urls


def config_entries_input(raw: bytes) -> list[Any]:
    """The entries of a configuration upload; no body means no entries (the client's `[]`)."""
    entries = json_body(raw, when_empty=[])
    if not isinstance(entries, list):
        raise bean_validation([detail("Body", "ex_notreadable", "Body")])
    return entries


@dataclass(frozen=True)
class TaskListInput:
    search: str
    state: str
    limit: int


def task_list_input(params: Any) -> TaskListInput:
    search = params.get("search", "") or ""
    state = params.get("state", "") or ""
    problems: list[dict[str, Any]] = []
    if not _SEARCH_RE.fullmatch(search):
        problems.append(detail("search", "ex_pattern", "search", "[]", TASK_SEARCH_PATTERN))
    try:
        limit = int(params.get("limit", 0) or 0)
    except ValueError:
        limit = 0
        problems.append(detail("limit", "ex_min", "limit", "0"))
    if problems:
        raise bean_validation(problems)
    return TaskListInput(search=search, state=state, limit=limit)


def upload_filename(headers: Any) -> str:
    name = (headers.get("X-Filename") or "").strip()
    if not name:
        raise DataGymError(
            400, "ex_validation", (), [detail("Header: X-filename", "ex_val_empty", "Header: X-filename")]
        )
    return name


def body_size(meta: Any) -> int:
    """The body's declared length, read as Django reads it: no or a broken header is 0."""
    try:
        return max(0, int(meta.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def body_spooled(stream: Any, *, size: int, limit: int, name: str) -> TemporaryUploadedFile:
    """The body of `size` bytes copied to a temporary file 64 KiB at a time, never held whole.

    Over `limit` it is refused before a byte is read: 413 `ex_validation`, detail `data` /
    `ex_file_too_large`. A body that ends before `size` bytes (the client went away) is a 400
    `ex_incomplete_body`.
    """
    if size > limit:
        raise DataGymError(
            413,
            "ex_validation",
            (),
            [
                detail(
                    "data",
                    "ex_file_too_large",
                    limit,
                    f"The body has {size} bytes; an import takes at most {limit} bytes "
                    "(LABELSITE_MAX_IMPORT_BYTES). Send the items in several requests.",
                )
            ],
        )
    spool = TemporaryUploadedFile(name=name, content_type="application/json", size=size, charset=None)
    received = 0
    try:
        while received < size:
            try:
                chunk = stream.read(min(BODY_READ_BYTES, size - received))
            except OSError:
                break  # the connection broke: as good as a body that ended early
            if not chunk:
                break
            spool.write(chunk)
            received += len(chunk)
        if received != size:
            raise bean_validation(
                [
                    detail(
                        "data",
                        "ex_incomplete_body",
                        size,
                        received,
                        f"The body ended after {received} of the {size} bytes its Content-Length announced; "
                        "send the request again.",
                    )
                ]
            )
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool
