"""The safe ZIP reader refuses traversal, links, bombs and too many entries before reading."""

from __future__ import annotations

import io
import stat
import struct
import zipfile

import pytest

from labelsite.archives import ArchiveLimits, SafeZip, archive_entry_path
from labelsite.errors import ValidationFailed


def zip_bytes(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def refused_code(data: bytes, limits: ArchiveLimits | None = None) -> str:
    with pytest.raises(ValidationFailed) as caught:
        SafeZip(io.BytesIO(data), limits=limits)
    return caught.value.code


def test_safe_zip_reads_ordinary_entries() -> None:
    data = zip_bytes({"images/a.png": b"png", "labels.json": b"[]", "./b.txt": b"b"})
    with SafeZip(io.BytesIO(data)) as archive:
        assert [e.path for e in archive.entries] == ["images/a.png", "labels.json", "b.txt"]
        assert archive.read("labels.json") == b"[]"


@pytest.mark.parametrize(
    "name",
    ["../evil.json", "images/../../evil.json", "/etc/passwd", "C:/windows/evil", "a\\..\\b", "..", "ok/./../../x"],
)
def test_safe_zip_refuses_traversal_and_absolute_entry_paths(name: str) -> None:
    assert refused_code(zip_bytes({name: b"x"})) == "unsafe_path"


def test_entry_path_normalises_dot_segments() -> None:
    assert archive_entry_path("a/./b//c.png") == "a/b/c.png"


def test_safe_zip_refuses_a_symlink_entry() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    assert refused_code(buffer.getvalue()) == "unsafe_entry"


def test_safe_zip_refuses_an_entry_with_a_bomb_ratio() -> None:
    data = zip_bytes({"bomb.json": b"0" * (10 * 1024 * 1024)})
    assert len(data) < 100_000
    assert refused_code(data) == "compression_ratio"


def test_safe_zip_refuses_an_archive_over_the_total_size() -> None:
    data = zip_bytes({f"{n}.bin": bytes(range(256)) * 8 for n in range(10)}, compression=zipfile.ZIP_STORED)
    assert refused_code(data, ArchiveLimits(max_total_bytes=10_000)) == "archive_too_large"


def test_safe_zip_refuses_too_many_entries() -> None:
    data = zip_bytes({f"{n}.txt": b"x" for n in range(11)})
    assert refused_code(data, ArchiveLimits(max_entries=10)) == "too_many_entries"


def test_safe_zip_refuses_duplicate_entries() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.json", b"1")
        archive.writestr("A.json", b"2")
    assert refused_code(buffer.getvalue()) == "duplicate_entry"


def test_safe_zip_refuses_a_file_that_is_not_a_zip() -> None:
    assert refused_code(b"PK\x03\x04 but not really a zip") == "invalid_archive"


def test_safe_zip_stops_an_entry_that_lies_about_its_size() -> None:
    data = bytearray(zip_bytes({"small.txt": b"y" * 5000}, compression=zipfile.ZIP_STORED))
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)  # declare 10 bytes uncompressed
    with SafeZip(io.BytesIO(bytes(data)), limits=ArchiveLimits(max_ratio=10**6)) as archive:
        assert archive.entries[0].size == 10
        with pytest.raises(ValidationFailed) as caught:
            archive.read("small.txt")
    assert caught.value.code in {"entry_size_mismatch", "invalid_archive"}
