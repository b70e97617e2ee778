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


def test_safe_zip_refuses_an_entry_with_a_bomb_ratio_past_the_ratio_floor() -> None:
    data = zip_bytes({"bomb.json": b"0" * (10 * 1024 * 1024)})
    assert len(data) < 100_000
    with pytest.raises(ValidationFailed) as caught:
        SafeZip(io.BytesIO(data), limits=ArchiveLimits(ratio_floor_bytes=1024 * 1024))
    assert caught.value.code == "compression_ratio"
    assert "more than 100 times its compressed size and past 1048576 bytes" in caught.value.message


def test_a_mostly_empty_mask_that_compresses_hundreds_of_times_is_no_bomb() -> None:
    mask = bytearray(4000 * 3000)  # an 8-bit mask, one small object on a 12 MB canvas
    for row in range(100, 140):
        mask[row * 4000 + 200 : row * 4000 + 260] = b"\xff" * 60
    data = zip_bytes({"masks/frame_0001.raw": bytes(mask), "labels.json": b"[]"})
    assert len(mask) > 500 * len(data)  # far past the ratio of 100

    with SafeZip(io.BytesIO(data)) as archive:
        assert archive.read("masks/frame_0001.raw") == bytes(mask)


def _declared_size(data: bytes, size: int) -> bytes:
    """The archive with its first entry's uncompressed size in the central directory set to `size`."""
    patched = bytearray(data)
    struct.pack_into("<I", patched, patched.index(b"PK\x01\x02") + 24, size)
    return bytes(patched)


def test_an_entry_that_expands_past_the_absolute_entry_limit_is_refused_naming_the_limit() -> None:
    data = _declared_size(zip_bytes({"bomb.raw": b"0" * 1000}), 3 * 1024**3)
    with pytest.raises(ValidationFailed) as caught:
        SafeZip(io.BytesIO(data))
    assert caught.value.code == "entry_too_large"
    assert "expands to 3221225472 bytes, more than the limit of 2147483648 bytes per entry" in caught.value.message


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
