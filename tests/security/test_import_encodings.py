"""Byte-order marks and text that is not UTF-8, for every import format: a UTF-8 BOM changes
nothing; Latin-1 and UTF-16 files are refused with an error that names the encoding and where
it broke, and nothing is written."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from formats import format_list
from imports.models import ImportJob, ImportStatus
from imports.services import import_job_create, import_job_validate
from labeling.models import Label
from projects.models import Media

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "formats" / "examples"
FORMATS = [fmt.name for fmt in format_list()]


def example(name: str) -> tuple[str, bytes]:
    path = next(EXAMPLES.glob(f"{name}.*"))
    return path.name, path.read_bytes()


#: Formats that need options to run at all: Ango CSV's documented config (docs/formats.md).
OPTIONS: dict[str, dict[str, Any]] = {
    "ango_csv": {
        "external_id_column": "External ID",
        "classification_columns": ["Color", "Category", "Image Type"],
        "classification_schema_ids": ["8c481a58f4c68e5db0a5016", "12a20f8061c044bcff26688", "1976d3fc0fa1429e23f7171"],
    }
}


#: The entries of an archive example that are text (the others, images and masks, are binary).
TEXT_ENTRIES = (".txt", ".json", ".yaml", ".yml", ".csv")


def recoded(file_name: str, raw: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """`change` applied to the file, or to every text entry of an archive example (`yolo.zip`)."""
    if not file_name.endswith(".zip"):
        return change(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            target.writestr(info.filename, change(content) if info.filename.endswith(TEXT_ENTRIES) else content)
    return out.getvalue()


def validated(project: Any, name: str, file_name: str, raw: bytes) -> ImportJob:
    options = OPTIONS.get(name, {})
    job = import_job_create(project=project, user=None, file=raw, file_name=file_name, format=name, options=options)
    import_job_validate(job_id=job.id)
    job.refresh_from_db()
    return job


def outcome(job: ImportJob) -> tuple[str, list[tuple[str, str]]]:
    return job.status, sorted(job.errors.values_list("location", "code"))


def test_every_import_format_has_an_example_to_test_with():
    assert FORMATS
    assert all(list(EXAMPLES.glob(f"{name}.*")) for name in FORMATS)


@pytest.mark.parametrize("name", FORMATS)
def test_a_utf8_byte_order_mark_changes_nothing(configured_project: Any, media_storage: Any, name: str):
    file_name, raw = example(name)
    plain = validated(configured_project, name, file_name, raw)
    with_bom = validated(configured_project, name, file_name, recoded(file_name, raw, lambda b: b"\xef\xbb\xbf" + b))
    assert plain.status in {ImportStatus.VALIDATED, ImportStatus.FAILED}  # the examples' media are not here
    assert outcome(with_bom) == outcome(plain)
    assert (with_bom.items_total, with_bom.error_count) == (plain.items_total, plain.error_count)


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_a_file_that_is_not_utf8_is_refused_with_the_place_and_nothing_is_written(
    configured_project: Any, media_storage: Any, name: str, encoding: str
):
    file_name, raw = example(name)
    media_before = Media.objects.count()
    job = validated(
        configured_project,
        name,
        file_name,
        recoded(file_name, raw, lambda b: b.decode("utf-8").replace("e", "é", 1).encode(encoding)),
    )
    messages = [job.message, *job.errors.values_list("message", flat=True)]
    assert job.status == ImportStatus.FAILED or job.error_count > 0, (job.status, messages)
    not_utf8 = job.errors.filter(code="not_utf8").values_list("location", "message")
    assert not_utf8, messages
    location, message = not_utf8[0]
    assert "Save it as UTF-8" in message
    assert location or "line" in message or "byte" in message  # it says where
    assert Label.objects.count() == 0
    assert Media.objects.count() == media_before
