"""Where an import finds the mask a row names: a URL, a storage, or the uploaded archive.

A mask reference is a URL (`http`/`https`, fetched through `labelsite.netguard.url_fetch`,
so private addresses are refused unless `LABELSITE_URL_ALLOWLIST` permits them) or a
relative path, looked up in the storage the job's `storage_id` names
(`LABELSITE_MASK_STORAGES`) or else in the ZIP the import came in (`ArchiveMasks`). Each source
is an object with one method, `read(reference) -> bytes`, raising `MaskUnavailable` with a
sentence that says what to fix; `MaskLookup` picks the source for a reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.storage import Storage, default_storage, storages

from labelsite.archives import SafeZip, archive_entry_path
from labelsite.errors import ValidationFailed
from labelsite.netguard import url_fetch

#: Largest mask read from any source.
MAX_MASK_BYTES = 50 * 1024 * 1024

#: The eight bytes every PNG file starts with. Masks are decoded only as PNG: Pillow would open
#: some forty formats, each decoder more attack surface, and the formats document PNG masks.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: What a file that is no PNG probably is, by its first bytes; only for the error message.
_OTHER_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"RIFF", "WebP"),
)


def mask_png_problem(content: bytes) -> str | None:
    """Why these bytes are not a PNG file, judged by their signature alone; None for a PNG.

    Readers call this before the bytes reach Pillow or OpenCV, and open them with PNG's decoder only.
    """
    if content.startswith(PNG_SIGNATURE):
        return None
    if not content:
        return "an empty file, not a PNG; masks are PNG files"
    kind = next((name for signature, name in _OTHER_SIGNATURES if content.startswith(signature)), None)
    what = f"a {kind} file" if kind else "not a PNG file"
    return f"{what}; masks are read only as PNG files (save or convert the mask as PNG)"


class MaskUnavailable(Exception):
    """The mask cannot be read; the message says why and what to do."""


class MaskSource(Protocol):
    def read(self, reference: str) -> bytes: ...


@dataclass(frozen=True)
class UrlMasks:
    """Masks by http(s) URL, through the SSRF guard."""

    max_bytes: int = MAX_MASK_BYTES

    def read(self, reference: str) -> bytes:
        try:
            fetched = url_fetch(reference, max_bytes=self.max_bytes)
        except ValidationFailed as exc:
            raise MaskUnavailable(exc.message) from exc
        if fetched.status_code != 200:
            raise MaskUnavailable(f"Fetching {reference!r} answered HTTP {fetched.status_code}.")
        return fetched.content


@dataclass(frozen=True)
class StorageMasks:
    """Masks by relative path inside one configured storage; a path never leaves it."""

    storage: Storage
    storage_id: str
    max_bytes: int = MAX_MASK_BYTES

    def read(self, reference: str) -> bytes:
        try:
            path = archive_entry_path(reference.strip())
        except ValidationFailed as exc:
            raise MaskUnavailable(
                f"{reference!r} is not a relative path inside the storage {self.storage_id!r} (no '..', no leading /)."
            ) from exc
        try:
            with self.storage.open(path, "rb") as file:
                content = file.read(self.max_bytes + 1)
        except (FileNotFoundError, OSError) as exc:
            raise MaskUnavailable(f"The storage {self.storage_id!r} has no file {path!r}.") from exc
        if len(content) > self.max_bytes:
            raise MaskUnavailable(f"{path!r} is larger than {self.max_bytes} bytes.")
        return bytes(content)


@dataclass(frozen=True)
class ArchiveMasks:
    """Masks by path inside the ZIP the import was uploaded in (`imports.archive_import`)."""

    name: str  # the stored archive, in the default storage
    max_bytes: int = MAX_MASK_BYTES

    def read(self, reference: str) -> bytes:
        try:
            path = archive_entry_path(reference.strip())
        except ValidationFailed as exc:
            raise MaskUnavailable(f"{reference!r} is not a relative path inside the uploaded archive.") from exc
        try:
            with default_storage.open(self.name, "rb") as file, SafeZip(file) as archive:
                entry = next((e for e in archive.entries if e.path == path), None)
                if entry is None:
                    raise MaskUnavailable(f"The uploaded archive has no file {path!r}.")
                if entry.size > self.max_bytes:
                    raise MaskUnavailable(f"{path!r} is larger than {self.max_bytes} bytes.")
                return archive.read(path)
        except ValidationFailed as exc:
            raise MaskUnavailable(exc.message) from exc
        except (FileNotFoundError, OSError) as exc:
            raise MaskUnavailable("The uploaded archive is no longer stored; upload it again.") from exc


@dataclass(frozen=True)
class MaskLookup:
    """The source of each reference: URLs by URL, paths in the storage, else in the archive."""

    urls: MaskSource = field(default_factory=UrlMasks)
    storage: MaskSource | None = None
    #: The uploaded archive's entries (an `labelsite.archives` reader), once uploads carry ZIPs.
    archive: MaskSource | None = None

    def read(self, reference: str) -> bytes:
        scheme = urlsplit(reference).scheme.lower() if "://" in reference else ""
        if scheme in ("http", "https"):
            return self.urls.read(reference)
        if scheme:
            raise MaskUnavailable(f"{reference!r} is a {scheme}:// URL; masks are http(s) URLs or storage paths.")
        if self.storage is not None:
            return self.storage.read(reference)
        if self.archive is not None:
            return self.archive.read(reference)
        raise MaskUnavailable(
            f"{reference!r} is a path, and the import names no storage to find it in; set storage_id, "
            "or give the mask's http(s) URL."
        )


def _permitted(entry: Mapping[str, Any], organization_id: Any) -> bool:
    organizations: Iterable[Any] = entry.get("organizations") or ()
    allowed = {str(org) for org in organizations}
    return "*" in allowed or (organization_id is not None and str(organization_id) in allowed)


def mask_storage_known(storage_id: str, *, organization_id: Any) -> bool:
    """Whether the organisation may read masks from the storage `storage_id`."""
    entry = getattr(settings, "LABELSITE_MASK_STORAGES", {}).get(storage_id)
    return isinstance(entry, Mapping) and _permitted(entry, organization_id)


def mask_lookup(*, storage_id: str = "", archive: str = "") -> MaskLookup:
    """The lookup of a job (its `storage_id` was checked against the organisation when created;
    `archive` is the ZIP the job's file came in, whose entries are paths too)."""
    archived = ArchiveMasks(name=archive) if archive else None
    if not storage_id:
        return MaskLookup(archive=archived)
    entry = getattr(settings, "LABELSITE_MASK_STORAGES", {}).get(storage_id)
    if not isinstance(entry, Mapping):
        raise MaskUnavailable(f"The storage {storage_id!r} is not configured (LABELSITE_MASK_STORAGES).")
    storage = storages.create_storage({"BACKEND": entry["BACKEND"], "OPTIONS": dict(entry.get("OPTIONS") or {})})
    return MaskLookup(storage=StorageMasks(storage=storage, storage_id=storage_id), archive=archived)
