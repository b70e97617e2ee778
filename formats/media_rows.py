"""The media rows a format reads: Label Studio tasks (JSON, CSV, TSV, TXT) and Labelbox data rows.

A format with `creates_media` returns, per item, a `MediaRow` (`Converted.new_media`) and
checks it here without a database (URL shape, global key). The import pipeline creates the
media in bulk (`imports.media_create.media_rows_create`) and reports one `MediaRowOutcome`
per row: the media and task, or why the row failed. Row failures never fail the batch
(Labelbox's bulk semantics): a duplicate global key fails only its own row with
`Duplicate global key: '<key>'`.

Global keys follow Labelbox's rules (reference/labelbox-ango.md 1.2): at most 200
characters, no leading or trailing whitespace, letters, digits, space and
`! _ . * ' ( ) & $ @ = ; / : + , ? -`; unique per organisation, compared case-insensitively
(the database enforces it with `media_unique_live_global_key`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from labelsite.errors import ErrorDetail
from labelsite.netguard import url_shape_problem
from projects.media_keys import global_key_errors

#: Labelbox's attachment types (seed 003), the ones a media's `attachments` hold.
ATTACHMENT_TYPES = ("IMAGE", "VIDEO", "AUDIO", "RAW_TEXT", "TEXT_URL", "HTML", "IMAGE_OVERLAY", "PDF_URL")


@dataclass(slots=True)
class MediaRow:
    """One media an import item asks for; `url` names the image, the rest is stored with it."""

    location: str
    url: str
    name: str = ""
    global_key: str | None = None
    external_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    #: Where the global key is (a JSON pointer), when it is not at `location`.
    key_location: str = ""

    def global_key_place(self) -> str:
        return self.key_location or self.location

    def media_name(self) -> str:
        return (self.name or urlsplit(self.url).path.rsplit("/", 1)[-1] or "media")[:255]


@dataclass(slots=True)
class MediaRowOutcome:
    row: MediaRow
    media_id: Any = None
    task_id: Any = None
    created: bool = False
    errors: list[ErrorDetail] = field(default_factory=list)


def duplicate_global_key(path: str, key: str) -> ErrorDetail:
    return ErrorDetail(path=path, code="duplicate_global_key", message=f"Duplicate global key: '{key}'", params=(key,))


def url_errors(url: Any, path: str) -> list[ErrorDetail]:
    """A media URL must be http(s) (an `s3://` URL must be given in virtual-hosted https style)."""
    if not isinstance(url, str) or not url.strip():
        return [ErrorDetail(path, "missing_url", "Give the image's URL.")]
    parts = urlsplit(url)
    if parts.scheme == "s3":
        return [
            ErrorDetail(
                path,
                "s3_url",
                f"{url!r}: s3 assets must start with 'https'; use https://<bucket>.s3.<region>.amazonaws.com/<key>.",
            )
        ]
    if not parts.scheme and not parts.netloc and url.startswith("/"):
        # A path on the tool the file came from (Label Studio's /data/upload/<project>/<8 hex>-<name>).
        name = PurePosixPath(parts.path).name.split("-", 1)[-1] if "/upload/" in parts.path else ""
        image = name or "the image"
        return [
            ErrorDetail(
                path,
                "tool_path",
                f"{url!r} is a path on the tool the file came from, not a URL this server can fetch; "
                f"upload {image} to a dataset of the project first (the item then finds it by name), "
                "or give the image's https URL.",
            )
        ]
    problem = url_shape_problem(url)
    if problem:
        return [
            ErrorDetail(path, "invalid_url", f"{url!r} cannot be a media URL: {problem}; give the image's https URL.")
        ]
    return []


def media_row_errors(row: MediaRow) -> list[ErrorDetail]:
    """What is wrong with a row by itself: its URL (labelsite.netguard's rules) and its global key."""
    errors = url_errors(row.url, row.location)
    if row.global_key is not None:
        errors += global_key_errors(row.global_key, row.global_key_place())
    return errors


def stored_context(meta: Any, path: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[ErrorDetail]]:
    """The metadata and attachments our own exports write in a Label Studio task's `meta`.

    Label Studio's `meta` is free for its users: only our shapes are read (`metadata` an object,
    `attachments` a list of `{type, value, name?}` of Labelbox's types), anything else is passed
    over; an attachment of ours whose URL is not one a media may have is an error at its place."""
    if not isinstance(meta, dict):
        return {}, [], []
    metadata = meta.get("metadata")
    given = meta.get("attachments")
    errors: list[ErrorDetail] = []
    attachments: list[dict[str, Any]] = []
    for position, attachment in enumerate(given if isinstance(given, list) else []):
        if not isinstance(attachment, dict) or attachment.get("type") not in ATTACHMENT_TYPES:
            continue
        kind, value = attachment["type"], attachment.get("value")
        place = f"{path}/attachments/{position}/value"
        if not isinstance(value, str) or not value:
            errors.append(ErrorDetail(place, "invalid_attachment", f"A {kind} attachment needs its value."))
            continue
        if kind != "RAW_TEXT":
            errors += url_errors(value, place)
        stored = {"type": kind, "value": value}
        if isinstance(attachment.get("name"), str) and attachment["name"]:
            stored["name"] = attachment["name"]
        attachments.append(stored)
    return (metadata if isinstance(metadata, dict) else {}), attachments, errors
