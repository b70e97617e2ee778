"""A safe reader of ZIP archives that users upload (images and label files in one file).

Every entry is checked before anything is extracted: no absolute paths, no `..`, no drive
letters or backslashes, no symlinks or other special files, no more entries than a limit,
and sizes within limits (bombs are judged by the size they expand to and their entry count; the
compression ratio only past a floor, since a mostly-empty mask compresses a thousand times)
both as declared and as actually decompressed (a ZIP's declared
sizes can lie). Entries are read into memory or streamed, never written to disk by name.
The pipeline's ZIP import builds on this later.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

from labelsite.errors import ErrorDetail, ValidationFailed

#: The first bytes of a ZIP file (a local file header): how readers tell an archive from a file.
ZIP_MAGIC = b"PK\x03\x04"
DEFAULT_MAX_ENTRIES = 100_000
DEFAULT_MAX_TOTAL_BYTES = 20 * 1024**3
DEFAULT_MAX_ENTRY_BYTES = 2 * 1024**3
DEFAULT_MAX_RATIO = 100
DEFAULT_RATIO_FLOOR_BYTES = 256 * 1024**2
_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
    max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES
    #: Uncompressed size over compressed size, per entry and for the whole archive; judged only
    #: past `ratio_floor_bytes` expanded.
    max_ratio: int = DEFAULT_MAX_RATIO
    #: A ratio alone makes no bomb: a mostly-empty mask (an 8-bit 4000 x 3000 canvas with one
    #: object) compresses a thousand times into a few kilobytes. Bombs are judged by what they
    #: expand to (`max_entry_bytes`, `max_total_bytes`) and their entry count; the ratio only
    #: counts for an entry (or archive) that expands past this many bytes.
    ratio_floor_bytes: int = DEFAULT_RATIO_FLOOR_BYTES


@dataclass(frozen=True)
class ArchiveEntry:
    path: str  # normalised, relative, with forward slashes
    size: int
    compressed_size: int


def _refuse(code: str, path: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        code=code, message=message, details=[ErrorDetail(path=path or "archive", code=code, message=message)]
    )


def archive_entry_ignored(path: str) -> bool:
    """Entries no user means as label files: macOS resource forks and hidden files."""
    parts = PurePosixPath(path).parts
    return parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts)


def archive_entry_path(raw: str) -> str:
    """The safe relative path of an entry name, or ValidationFailed(`unsafe_path`)."""
    message = f"The archive entry {raw!r} has an unsafe path; entries must be relative paths inside the archive."
    if not raw or "\x00" in raw or "\\" in raw or raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise _refuse("unsafe_path", raw, message)
    parts = PurePosixPath(raw).parts
    if any(part == ".." for part in parts):
        raise _refuse("unsafe_path", raw, message)
    cleaned = [part for part in parts if part not in {"", "."}]
    if not cleaned:
        raise _refuse("unsafe_path", raw, message)
    return "/".join(cleaned)


def _is_symlink_or_special(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    if not stat.S_IFMT(mode):  # no file type recorded (DOS attributes, or permissions only)
        return False
    return stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


class SafeZip:
    """Open with `SafeZip(file)`; `entries` lists the files, `read`/`open_entry` give their bytes."""

    def __init__(self, file: str | IO[bytes], *, limits: ArchiveLimits | None = None) -> None:
        self.limits = limits or ArchiveLimits()
        try:
            self._zip = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise _refuse("invalid_archive", "", "The file is not a readable ZIP archive.") from exc
        try:
            self.entries = self._check()
        except BaseException:
            self._zip.close()
            raise
        self._by_path = {entry.path: entry for entry in self.entries}
        self._infos = {archive_entry_path(i.filename): i for i in self._zip.infolist() if not i.is_dir()}

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def _check(self) -> list[ArchiveEntry]:
        infos = self._zip.infolist()
        limits = self.limits
        if len(infos) > limits.max_entries:
            raise _refuse(
                "too_many_entries", "", f"The archive has {len(infos)} entries, more than {limits.max_entries}."
            )
        entries: list[ArchiveEntry] = []
        seen: set[str] = set()
        total = compressed_total = 0
        for info in infos:
            path = archive_entry_path(info.filename)
            if _is_symlink_or_special(info):
                raise _refuse(
                    "unsafe_entry", path, f"The archive entry {path!r} is a link or special file; only files are read."
                )
            if info.is_dir():
                continue
            if path.lower() in seen:
                raise _refuse("duplicate_entry", path, f"The archive has the entry {path!r} twice.")
            seen.add(path.lower())
            if info.file_size > limits.max_entry_bytes:
                raise _refuse(
                    "entry_too_large",
                    path,
                    f"The entry {path!r} expands to {info.file_size} bytes, more than the limit of "
                    f"{limits.max_entry_bytes} bytes per entry.",
                )
            if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                raise _refuse(
                    "compression_ratio",
                    path,
                    f"The entry {path!r} expands to {info.file_size} bytes, more than {limits.max_ratio} times its "
                    f"compressed size and past {limits.ratio_floor_bytes} bytes; it looks like a ZIP bomb.",
                )
            total += info.file_size
            compressed_total += info.compress_size
            entries.append(ArchiveEntry(path=path, size=info.file_size, compressed_size=info.compress_size))
        if total > limits.max_total_bytes:
            raise _refuse(
                "archive_too_large", "", f"The archive expands to {total} bytes, more than {limits.max_total_bytes}."
            )
        if total > limits.ratio_floor_bytes and total > limits.max_ratio * max(compressed_total, 1):
            raise _refuse(
                "compression_ratio",
                "",
                f"The archive expands to {total} bytes, more than {limits.max_ratio} times its compressed size "
                f"and past {limits.ratio_floor_bytes} bytes; it looks like a ZIP bomb.",
            )
        return entries

    def open_entry(self, path: str) -> Generator[bytes, None, None]:
        """Stream an entry's bytes, stopping if it decompresses to more than it declared."""
        entry = self._by_path.get(path)
        if entry is None:
            raise _refuse("missing_entry", path, f"The archive has no entry {path!r}.")
        read = 0
        try:
            with self._zip.open(self._infos[path]) as stream:
                while chunk := stream.read(_CHUNK_BYTES):
                    read += len(chunk)
                    if read > entry.size:
                        raise _refuse(
                            "entry_size_mismatch", path, f"The entry {path!r} holds more than its declared size."
                        )
                    yield chunk
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise _refuse("invalid_archive", path, f"The entry {path!r} cannot be read: {exc}.") from exc

    def read(self, path: str) -> bytes:
        return b"".join(self.open_entry(path))
