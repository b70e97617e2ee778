"""POST /api/v1/project/{id}/prediction with large bodies (security review 15, item 3).

A body up to `LABELSITE_V1_INLINE_MAX_BYTES` is imported in the request, validated with no
transaction open and written in short batches; a larger one is streamed to storage and
becomes a background import job, and the client still gets DataGym's answer. Real parts: the
live server, the published `datagym` client, the test database (SQLite or PostgreSQL).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from datagym import Client
from datagym.endpoints import Endpoint

from imports import services as import_services
from imports.models import ImportJob, ImportStatus
from labeling.models import Label, Task
from projects.label_config import label_config_replace
from projects.models import Dataset
from projects.services import api_token_create
from tests.celery_broker import publishing_to
from tests.datagym_v1.conftest import assert_error
from tests.factories import MediaFactory

CONFIG: list[dict[str, Any]] = [
    {
        "entryKey": "car",
        "entryValue": "Car",
        "type": "polygon",
        "children": [{"entryKey": "car_type", "entryValue": "Type", "type": "select", "options": {"suv": "SUV"}}],
    },
    {"entryKey": "weather", "entryValue": "Weather", "type": "select", "options": {"sunny": "Sunny"}},
]


def prediction_path(project: Any) -> str:
    return f"/api/v1/project/{project.id}/prediction"


def prediction_item(task: Task, *, polygons: int = 1, points: int = 3) -> dict[str, Any]:
    """One import item for the task's media: `polygons` cars of `points` points each."""
    car = {
        "polygon": [{"x": 10 + i, "y": 20 + 2 * i} for i in range(points)],
        "classifications": {"car_type": ["suv"]},
    }
    return {
        "internal_media_ID": str(task.media_id),
        "global_classifications": {"weather": ["sunny"]},
        "labels": {"car": [car] * polygons},
    }


@pytest.fixture
def tasks(project, connected):
    label_config_replace(configuration=project.label_configuration, entries=CONFIG)
    return [Task.objects.create(project=project, media=MediaFactory(dataset=connected)) for _ in range(5)]


# --- the cap, in process ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_body_at_the_inline_cap_is_imported_in_the_request(api, project, tasks, settings, media_storage):
    body = json.dumps([prediction_item(task) for task in tasks]).encode()
    settings.LABELSITE_V1_INLINE_MAX_BYTES = len(body)
    response = api.generic("POST", prediction_path(project), body, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"errorMessages": ""}
    assert Label.objects.filter(task__project=project).count() == len(tasks)
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_a_body_one_byte_over_the_inline_cap_becomes_a_queued_import_job(api, project, tasks, settings, media_storage):
    body = json.dumps([prediction_item(task) for task in tasks]).encode()
    settings.LABELSITE_V1_INLINE_MAX_BYTES = len(body) - 1
    response = api.generic("POST", prediction_path(project), body, content_type="application/json")
    assert response.status_code == 202
    job = ImportJob.objects.get()
    assert response.json() == {
        "errorMessages": "",
        "importJobId": str(job.id),
        "importJobUrl": f"http://testserver/api/imports/{job.id}",
    }
    assert (job.project_id, job.format, job.status) == (project.id, "datagym", ImportStatus.QUEUED)
    # DataGym writes a valid request at once, all or nothing, each item's keepData deciding.
    assert job.options["write_when_valid"] is True
    assert job.options["skip_invalid"] is False
    assert job.options["keep_data"] is None
    with job.file.open("rb") as stored:
        assert stored.read() == body
    assert job.file_size == len(body)
    assert not Label.objects.exists()  # the worker writes it


@pytest.mark.django_db
def test_a_body_over_the_import_file_limit_answers_413_in_datagyms_shape(api, project, tasks, settings, media_storage):
    body = json.dumps([prediction_item(task) for task in tasks]).encode()
    settings.LABELSITE_V1_INLINE_MAX_BYTES = 10
    settings.LABELSITE_MAX_IMPORT_BYTES = len(body) - 1
    response = api.generic("POST", prediction_path(project), body, content_type="application/json")
    error = assert_error(response, 413, "ex_validation", [])
    (found,) = error["details"]
    assert found["name"] == "data"
    assert found["key"] == "ex_file_too_large"
    assert str(len(body) - 1) in found["params"]
    assert "LABELSITE_MAX_IMPORT_BYTES" in " ".join(found["params"])
    assert not ImportJob.objects.exists()


# --- through a live server -------------------------------------------------------------------


@pytest.fixture
def datagym_client(live_server, token) -> Iterator[Client]:
    # The base URL is a class attribute of the client, shared by the whole process.
    previous = Endpoint.BASE_PATH
    yield Client(api_key=token, base_url=live_server.url + "/")
    Endpoint.BASE_PATH = previous


@pytest.mark.django_db(transaction=True)
def test_the_real_client_gets_datagyms_answer_when_its_body_goes_to_an_import_job(
    datagym_client, project, tasks, settings, media_storage, eager_worker
):
    items = [prediction_item(task, polygons=2) for task in tasks]
    settings.LABELSITE_V1_INLINE_MAX_BYTES = len(json.dumps(items)) // 2
    result = datagym_client.import_label_data(str(project.id), items)
    job = ImportJob.objects.get()
    # What the client returns for fewer than 50 items is the answer's JSON object, unchanged.
    assert result["errorMessages"] == ""
    assert result["importJobId"] == str(job.id)
    assert result["importJobUrl"].endswith(f"/api/imports/{job.id}")
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert Label.objects.filter(task__project=project).count() == 2 * len(tasks)


def _body_file(path: Path, tasks: list[Task], size: int) -> int:
    """Write an import body of at least `size` bytes to `path`, an item at a time; its length."""
    items = [json.dumps(prediction_item(task, points=200)).encode() for task in tasks]
    written = 0
    with path.open("wb") as out:
        out.write(b"[")
        while written < size:
            for item in items:
                out.write((b"," if written else b"") + item)
                written += len(item) + 1
        out.write(b"]")
    return path.stat().st_size


def _sha256(file: Any) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: file.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


@pytest.mark.django_db(transaction=True)
def test_a_large_body_is_streamed_to_storage_and_never_held_whole_in_memory(
    live_server, token, project, tasks, settings, media_storage, tmp_path
):
    settings.LABELSITE_V1_INLINE_MAX_BYTES = 1024 * 1024
    body_path = tmp_path / "predictions.json"
    size = _body_file(body_path, tasks, 24 * 1024 * 1024)
    address = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=120)
    # The job's first message goes to a broker in this process's memory: nothing runs it.
    with publishing_to("memory://"), body_path.open("rb") as body:
        tracemalloc.start()
        try:
            # http.client sends a file 8 KiB at a time; the live server runs in this process.
            connection.request(
                "POST",
                prediction_path(project),
                body=body,
                headers={
                    "Authorization": f"Token {token}",
                    "Content-Type": "application/json",
                    "Content-Length": str(size),
                },
            )
            response = connection.getresponse()
            answer = json.loads(response.read())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            connection.close()
    # Reading the body whole took 24 MiB, parsing it several times that.
    assert peak < 4 * 1024 * 1024, f"{peak:,} bytes allocated at the peak for a {size:,}-byte body"
    assert response.status == 202, answer
    assert answer["errorMessages"] == ""
    job = ImportJob.objects.get()
    assert job.file_size == size
    with job.file.open("rb") as stored, body_path.open("rb") as sent:
        assert _sha256(stored) == _sha256(sent)


@pytest.mark.django_db(transaction=True)
def test_a_body_shorter_than_its_content_length_answers_400_and_queues_nothing(
    live_server, token, project, tasks, settings, media_storage
):
    settings.LABELSITE_V1_INLINE_MAX_BYTES = 100
    address = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=60)
    connection.putrequest("POST", prediction_path(project))
    connection.putheader("Authorization", f"Token {token}")
    connection.putheader("Content-Length", "5000")
    connection.endheaders(b"[" + b" " * 1000)
    assert connection.sock is not None
    connection.sock.shutdown(1)  # the client stops sending: the server reads the end of the body
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 400, body
    assert body["key"] == "ex_validation"
    assert body["details"][0]["name"] == "data"
    assert body["details"][0]["key"] == "ex_incomplete_body"
    assert not ImportJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_another_organisations_write_goes_through_while_a_large_inline_import_is_validated(
    live_server, token, project, tasks, other_organization, settings, monkeypatch
):
    """On SQLite a transaction holds the one write lock: validation must run outside it.

    The import's validation (the real one) waits at its start until the other organisation's
    request has answered, or `HOLD_SECONDS`. Before the fix the view opened the transaction
    (`BEGIN IMMEDIATE`, the write lock) before it validated, and the other request waited.
    """
    hold_seconds = 8.0
    validating, other_answered = threading.Event(), threading.Event()
    real_items_check = import_services.items_check

    def items_check_that_waits(*args: Any, **kwargs: Any) -> Iterator[Any]:
        validating.set()
        other_answered.wait(hold_seconds)
        yield from real_items_check(*args, **kwargs)

    monkeypatch.setattr(import_services, "items_check", items_check_that_waits)
    body = json.dumps([prediction_item(task, polygons=10, points=30) for task in tasks * 40]).encode()
    settings.LABELSITE_V1_INLINE_MAX_BYTES = len(body)
    _, other_token = api_token_create(organization=other_organization)
    url = live_server.url + prediction_path(project)
    answers: dict[str, Any] = {}

    def import_predictions() -> None:
        answers["import"] = requests.post(url, data=body, headers={"Authorization": f"Token {token}"}, timeout=120)

    importer = threading.Thread(target=import_predictions)
    importer.start()
    try:
        assert validating.wait(60), "the import never started to validate"
        started = time.monotonic()
        other = requests.post(
            live_server.url + "/api/v1/dataset",
            json={"name": "Other_set", "shortDescription": None},
            headers={"Authorization": f"Token {other_token}"},
            timeout=120,
        )
        elapsed = time.monotonic() - started
    finally:
        other_answered.set()
        importer.join(120)
    assert other.status_code == 200, other.text
    assert Dataset.objects.filter(organization=other_organization, name="Other_set").exists()
    assert elapsed < hold_seconds / 2, f"the other organisation's write waited {elapsed:.1f}s for the import"
    assert answers["import"].status_code == 200, answers["import"].text
    assert answers["import"].json() == {"errorMessages": ""}
    assert Label.objects.filter(task__project=project).count() == 10 * len(tasks) * 40
