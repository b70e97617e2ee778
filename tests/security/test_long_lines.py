"""A line-oriented import file with one enormous line: refused at its line number, never read whole.

Security review 15, item 6: NDJSON, CSV/TSV and TXT readers read a line at a time; a 100 MB line
took 100 MB to read and as much again to parse, so a few such files in one worker exhausted its
memory. Lines are now read with a bounded `readline` (`LABELSITE_IMPORT_MAX_LINE_BYTES`).
"""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from formats import format_get
from formats.reading import FileError
from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate
from labeling.models import Label
from projects.config_converters import ls_config_to_entries
from projects.label_config import label_config_replace
from tests.formats.conftest import LS_CONFIG_XML

pytestmark = pytest.mark.django_db

MB = 1024 * 1024
LONG_LINE_BYTES = 100 * MB


def ndjson_with_a_long_second_line(path: Path) -> None:
    """Line 1 an ordinary annotation; line 2 one JSON object of 100 MB, written 1 MB at a time."""
    first = json.dumps({"dataRow": {"globalKey": "a.jpg"}, "name": "Car", "point": {"x": 1, "y": 2}})
    with path.open("wb") as file:
        file.write(first.encode() + b"\n")
        file.write(b'{"dataRow": {"globalKey": "b.jpg"}, "name": "Car", "pad": "')
        for _ in range(LONG_LINE_BYTES // MB):
            file.write(b"x" * MB)
        file.write(b'"}\n')


def test_a_100_mb_ndjson_line_is_refused_with_its_line_number_in_well_under_100_mb(
    project: Any, media_storage: Any, tmp_path: Path
):
    label_config_replace(configuration=project.label_configuration, entries=ls_config_to_entries(LS_CONFIG_XML).entries)
    path = tmp_path / "labels.ndjson"
    ndjson_with_a_long_second_line(path)
    with path.open("rb") as upload:
        job = import_job_create(
            project=project, user=None, file=upload, file_name="labels.ndjson", format="labelbox_ndjson"
        )

    tracemalloc.start()
    try:
        import_job_validate(job_id=job.pk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED, job.message
    errors = list(job.errors.values_list("location", "code", "message"))
    too_long = [(location, message) for location, code, message in errors if code == "line_too_long"]
    assert [location for location, _ in too_long] == ["line 2"]
    message = too_long[0][1]
    assert message.startswith("Line 2 is longer than 10,485,760 bytes")
    assert peak < 40 * MB, f"reading the file took {peak / MB:.0f} MB"
    assert Label.objects.count() == 0


#: Each line reader with a line of 3 MB on line 3 (and the options it needs), for a limit of 1 MB.
LONG = b"x" * (3 * MB)
LINE_FILES: dict[str, tuple[bytes, dict[str, Any]]] = {
    "labelbox_ndjson": (b'{"dataRow": {"globalKey": "a.jpg"}, "name": "Car"}\n\n{"pad": "' + LONG + b'"}\n', {}),
    "labelbox_data_rows": (b'{"row_data": "https://example.com/a.jpg"}\n\n{"row_data": "' + LONG + b'"}', {}),
    "label_studio_csv": (b"image,caption\nhttps://example.com/a.jpg,one\nhttps://example.com/b.jpg," + LONG, {}),
    "label_studio_txt": (b"https://example.com/a.jpg\n\nhttps://example.com/" + LONG, {}),
    "ango_csv": (b"External Id,Note\na.jpg,\n" + LONG + b".jpg,\n", {"external_id_column": "External Id"}),
}


@pytest.mark.parametrize("format_name", list(LINE_FILES))
def test_every_line_reader_refuses_a_line_over_the_limit_at_its_number(format_name: str, settings: Any):
    settings.LABELSITE_IMPORT_MAX_LINE_BYTES = MB
    content, options = LINE_FILES[format_name]
    fmt = format_get(name=format_name)

    with pytest.raises(FileError) as refused:
        list(fmt.items(io.BytesIO(content), options=options))

    assert refused.value.detail.path == "line 3"
    assert refused.value.detail.code == "line_too_long"
    assert refused.value.detail.message.startswith("Line 3 is longer than 1,048,576 bytes")


@pytest.mark.parametrize("format_name", ["labelbox_ndjson", "label_studio_txt"])
def test_a_line_of_exactly_the_limit_is_read(format_name: str, settings: Any):
    settings.LABELSITE_IMPORT_MAX_LINE_BYTES = 1000
    body = {"dataRow": {"globalKey": "a.jpg"}, "name": "Car", "pad": ""}
    body["pad"] = "x" * (1000 - len(json.dumps(body)))
    line = json.dumps(body).encode() if format_name == "labelbox_ndjson" else b"h" * 1000
    assert len(line) == 1000

    items = list(format_get(name=format_name).items(io.BytesIO(line + b"\r\n" + line), options={}))

    assert len(items) == 2


@pytest.mark.parametrize(
    ("format_name", "content", "options", "place"),
    [
        ("label_studio_csv", b'image,caption\nhttps://example.com/a.jpg,"' + b"x\n" * 70_000, {}, "line"),
        ("ango_csv", b'External Id,Note\na.jpg,"' + b"x\n" * 70_000, {"external_id_column": "External Id"}, "row"),
    ],
    ids=["label_studio_csv", "ango_csv"],
)
def test_a_csv_cell_whose_quote_never_closes_is_a_located_error_not_a_crash(
    format_name: str, content: bytes, options: dict[str, Any], place: str
):
    with pytest.raises(FileError) as refused:
        list(format_get(name=format_name).items(io.BytesIO(content), options=options))

    assert refused.value.detail.code == "csv_unreadable"
    assert refused.value.detail.path.startswith(f"{place} ")
    assert "field larger than field limit" in refused.value.detail.message
