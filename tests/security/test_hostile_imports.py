"""Hostile import files, through the job path and the DataGym v1 inline path: a clear error, nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from imports.models import ImportJob, ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from labeling.models import Label
from projects.services import api_token_create
from tests.imports.conftest import item

pytestmark = pytest.mark.django_db

DEPTH = 100_000


def job_from_bytes(project: Any, raw: bytes) -> ImportJob:
    return import_job_create(
        project=project, user=None, file=raw, file_name="labels.json", format="datagym", options={}
    )


def validated(project: Any, raw: bytes) -> ImportJob:
    job = job_from_bytes(project, raw)
    job = import_job_validate(job_id=job.id)
    job.refresh_from_db()
    return job


def assert_refused_and_nothing_written(job: ImportJob) -> None:
    assert job.status in {ImportStatus.FAILED, ImportStatus.VALIDATED}, job.status
    assert job.error_count > 0 or job.status == ImportStatus.FAILED, (job.status, job.message)
    assert job.message or job.errors.exists()
    if job.status == ImportStatus.VALIDATED:
        # a job with errors refuses to write
        with pytest.raises(Exception):  # noqa: B017, PT011 - the service's own refusal
            import_job_write(job_id=job.id)
    assert Label.objects.count() == 0


def good_item(task: Any) -> dict[str, Any]:
    return item(
        task,
        labels={"poi": [{"point": [{"x": 1, "y": 2}], "classifications": {}}]},
        global_classifications={"weather": ["sunny"]},
    )


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'[{"internal_media_ID": "x", "labels": {', id="truncated"),
        pytest.param(b'[{"internal_media_ID": "x",, }]', id="malformed"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00\x01\x02binary", id="binary"),
    ],
)
def test_import_job_refuses_broken_json_with_a_clear_error(configured_project: Any, media_storage: Any, raw: bytes):
    assert_refused_and_nothing_written(validated(configured_project, raw))


READ_IN_A_CAPPED_PROCESS = """
import io, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1024 * 1024 * 1024, 1024 * 1024 * 1024))
import django
django.setup()
from formats.reading import FileError
from formats.datagym import read
raw = sys.stdin.buffer.read()
try:
    for _ in read(io.BytesIO(raw)):
        pass
except FileError as error:
    print("FileError", error)
    sys.exit(0)
except MemoryError:
    print("MemoryError")
    sys.exit(3)
print("read without an error")
sys.exit(4)
"""


# ijson's C backend builds a prefix string per nesting level ("item.item.item..."), so memory
# grows with the square of the depth: 100,000 levels would take tens of GB and kill the worker.
# The reader's depth guard (formats/jsonsplit.py) refuses the file before ijson goes deep.
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * DEPTH + b"]" * DEPTH, id="nested-100000-arrays"),
        pytest.param(b'[{"labels": ' + b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"}]", id="nested-100000-objects"),
    ],
)
def test_import_reader_refuses_json_nested_100000_levels_deep_within_1_gb(raw: bytes):
    import subprocess
    import sys
    from pathlib import Path

    child = subprocess.run(
        [sys.executable, "-c", READ_IN_A_CAPPED_PROCESS],
        input=raw,
        capture_output=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "DJANGO_SETTINGS_MODULE": "labelsite.settings"},
        check=False,
    )
    assert child.returncode == 0, (child.returncode, child.stdout[-500:], child.stderr[-500:])
    assert b"FileError" in child.stdout


@pytest.mark.parametrize(
    "coordinate",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-1e400",
        "123456789012345678901234567890",
        # found by tests/security/test_datagym_validator_fuzzing.py: an int beyond the float range
        # made the fast validator disagree with jsonschema and math.isfinite raise OverflowError,
        # and a string of 5,000 digits made int() raise ValueError (4,300-digit limit)
        "1" + "0" * 400,
        '"' + "9" * 5000 + '"',
    ],
    ids=lambda coordinate: coordinate[:12],
)
def test_import_job_refuses_non_finite_and_huge_coordinates(
    configured_project: Any, media_storage: Any, task: Any, coordinate: str
):
    raw = (
        f'[{{"internal_media_ID": "{task.media_id}", "global_classifications": {{"weather": ["sunny"]}},'
        f' "labels": {{"poi": [{{"point": [{{"x": {coordinate}, "y": 2}}], "classifications": {{}}}}]}}}}]'
    ).encode()
    assert_refused_and_nothing_written(validated(configured_project, raw))


def test_import_job_accepts_a_utf8_byte_order_mark(configured_project: Any, media_storage: Any, task: Any):
    raw = b"\xef\xbb\xbf" + json.dumps([good_item(task)]).encode()
    job = validated(configured_project, raw)
    errors = list(job.errors.values_list("code", "message"))
    assert (job.status, job.error_count) == (ImportStatus.VALIDATED, 0), errors


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('[{"internal_media_ID": "caf\xe9"}]'.encode("latin-1"), id="latin-1"),
        pytest.param(b"\xff\xfe" + '[{"a": 1}]'.encode("utf-16-le"), id="utf-16"),
    ],
)
def test_import_job_refuses_text_that_is_not_utf8(configured_project: Any, media_storage: Any, raw: bytes):
    assert_refused_and_nothing_written(validated(configured_project, raw))


# --- the DataGym v1 inline path -----------------------------------------------------------------


@pytest.fixture
def v1(configured_project: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(organization=configured_project.organization)[1]}")
    return client


def post_prediction(v1: APIClient, project: Any, raw: bytes) -> Any:
    return v1.post(f"/api/v1/project/{project.id}/prediction", data=raw, content_type="application/json")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * DEPTH + b"]" * DEPTH, id="nested-100000-arrays"),
        pytest.param(b'[{"a":' * 1 + b'{"a":' * DEPTH + b"1" + b"}" * (DEPTH + 1) + b"]", id="nested-100000-objects"),
        pytest.param(b'[{"internal_media_ID": "x", "labels": {', id="truncated"),
        pytest.param('[{"internal_media_ID": "caf\xe9"}]'.encode("latin-1"), id="latin-1"),
    ],
)
def test_v1_prediction_import_answers_hostile_json_without_a_crash(v1: APIClient, configured_project: Any, raw: bytes):
    response = post_prediction(v1, configured_project, raw)
    assert response.status_code == 200, response.content[:500]
    assert response.json()["errorMessages"]
    assert Label.objects.count() == 0


@pytest.mark.parametrize(
    "coordinate",
    ["NaN", "Infinity", "1e400", "1" + "0" * 400, "9" * 5000, '"' + "9" * 5000 + '"'],
    ids=lambda c: f"{c[:12]}-{len(c)}",
)
def test_v1_prediction_import_refuses_non_finite_coordinates(
    v1: APIClient, configured_project: Any, task: Any, coordinate: str
):
    raw = (
        f'[{{"internal_media_ID": "{task.media_id}", "global_classifications": {{"weather": ["sunny"]}},'
        f' "labels": {{"poi": [{{"point": [{{"x": {coordinate}, "y": 2}}], "classifications": {{}}}}]}}}}]'
    ).encode()
    response = post_prediction(v1, configured_project, raw)
    assert response.status_code in {200, 400, 500}, response.content[:500]
    body = response.json()
    assert body.get("errorMessages") or str(body.get("key", "")).startswith("ex_gen_"), body
    assert Label.objects.count() == 0


def test_a_deep_file_is_refused_with_a_located_error_and_a_label_studio_file_too():
    import io

    from formats import datagym, label_studio
    from formats.reading import FileError

    deep = b"[" + b'{"a":' * 200 + b"1" + b"}" * 200 + b"]"
    for reader in (datagym.read, label_studio.read_json_tasks):
        with pytest.raises(FileError) as caught:
            list(reader(io.BytesIO(deep)))
        assert caught.value.detail.code == "json_too_deep"
        assert caught.value.detail.path.startswith("byte ")
