"""Upload limits in-process (security review, issue 15, item 10; the real server's memory is
measured in tests/realstack/test_upload_limits.py and test_thumbnails.py).

A request that declares more than its upload may have is refused before anything reads its body,
also where a browser session's CSRF check reads the body before the view (it used to parse the
whole upload first); a file past the limit fails alone in a many-file upload; Django's refusal of
too many files is a 400, not a 500; uploads queue their thumbnail for the worker, and a queue that
does not answer costs neither the upload nor the page.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from imports.models import ImportJob
from projects.models import Media
from projects.thumbnails import media_thumbnail_path
from tests.api.conftest import png_bytes
from tests.celery_broker import publishing_to
from tests.security.conftest import SecurityWorld

pytestmark = pytest.mark.django_db

#: Nothing listens here: a broker that does not answer.
DEAD_BROKER = "redis://127.0.0.1:1/0"


def session_client(world: SecurityWorld) -> tuple[Client, str]:
    """A browser session of the admin whose CSRF check runs as in production (it reads the body)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.admin)
    token = secrets.token_hex(16)
    client.cookies["csrftoken"] = token
    return client, token


UPLOADS = {
    "dataset-page": ("/datasets/{dataset}/upload", "session"),
    "native-api-session": ("/api/datasets/{dataset}/media", "session"),
    "native-api-token": ("/api/datasets/{dataset}/media", "token"),
    "import-page": ("/projects/{project}/imports", "session"),
    "import-api-session": ("/api/projects/{project}/imports", "session"),
    "import-api-token": ("/api/projects/{project}/imports", "token"),
    "datagym-v1-raw": ("/api/v1/media/{dataset}/file", "token"),
}


@pytest.mark.parametrize("name", list(UPLOADS))
def test_a_declared_size_over_the_limit_is_refused_before_anything_reads_the_body(
    security_world: SecurityWorld, settings: Any, name: str
):
    settings.LABELSITE_MAX_IMAGE_BYTES = settings.LABELSITE_MAX_IMPORT_BYTES = 10 * 1024 * 1024
    path, auth = UPLOADS[name]
    url = path.format(dataset=security_world.dataset.id, project=security_world.project.id)
    raw = name == "datagym-v1-raw"
    body = png_bytes() if raw else encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("a.png", png_bytes())})
    declared = str(10 * 1024**3)  # the test client's payload refuses to be read past its real end
    if auth == "session":
        client, token = session_client(security_world)
        extra: dict[str, Any] = {"HTTP_X_CSRFTOKEN": token, "HTTP_ACCEPT": "application/json"}
    else:
        client = Client()
        key = "org_token" if raw else "admin"
        extra = {"HTTP_AUTHORIZATION": f"Token {security_world.tokens[key]}", "HTTP_X_FILENAME": "a.png"}

    response = client.generic(
        "POST",
        url,
        body,
        content_type="application/octet-stream" if raw else MULTIPART_CONTENT,
        CONTENT_LENGTH=declared,
        **extra,
    )

    setting = "LABELSITE_MAX_IMPORT_BYTES" if "import" in name else "LABELSITE_MAX_IMAGE_BYTES"
    if name == "import-page":
        assert response.status_code == 302
        (message,) = [str(m) for m in response.wsgi_request._messages]  # type: ignore[attr-defined]
        assert setting in message
    elif raw:
        assert response.status_code == 413
        assert [(d["name"], d["key"]) for d in response.json()["details"]] == [("data", "ex_file_too_large")]
    else:
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "file_too_large"
        assert "The request declares 10,737,418,240 bytes (Content-Length)" in error["message"]
        assert setting in error["message"]
    assert not Media.objects.filter(dataset=security_world.dataset, name="a.png").exists()
    assert not ImportJob.objects.exclude(pk=security_world.import_job.pk).exists()


def test_a_file_past_the_limit_fails_alone_in_a_native_upload_of_many(
    security_world: SecurityWorld, media_storage: Path, settings: Any
):
    settings.LABELSITE_MAX_IMAGE_BYTES = 2000
    files = [
        SimpleUploadedFile("first.png", png_bytes()),
        SimpleUploadedFile("big.png", png_bytes() + b"\x00" * 3000),
        SimpleUploadedFile("last.png", png_bytes()),
    ]

    response = security_world.client("admin").post(
        f"/api/datasets/{security_world.dataset.id}/media", {"file": files}, format="multipart"
    )

    assert response.status_code == 201
    body = response.json()
    assert [media["name"] for media in body["created"]] == ["first.png", "last.png"]
    (failed,) = body["failed"]
    assert (failed["name"], failed["error"]["code"]) == ("big.png", "file_too_large")
    assert "at most 2,000 bytes (LABELSITE_MAX_IMAGE_BYTES)" in failed["error"]["message"]
    assert not Media.objects.filter(name="big.png").exists()


def test_a_page_upload_past_the_limit_answers_413_saying_the_limit_and_the_fix(
    security_world: SecurityWorld, media_storage: Path, settings: Any
):
    settings.LABELSITE_MAX_IMAGE_BYTES = 2000
    client, token = session_client(security_world)

    response = client.post(
        f"/datasets/{security_world.dataset.id}/upload",
        {"file": SimpleUploadedFile("big.png", png_bytes() + b"\x00" * 3000)},
        HTTP_X_CSRFTOKEN=token,
    )

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "file_too_large"
    assert error["message"] == (
        "The file 'big.png' is larger than 2,000 bytes; an image may have at most 2,000 bytes "
        "(LABELSITE_MAX_IMAGE_BYTES). Scale the image down or save it compressed (JPEG or WebP), then upload it again."
    )
    assert not Media.objects.filter(name="big.png").exists()


def test_more_files_than_django_takes_in_one_request_answer_400_not_500(security_world: SecurityWorld, settings: Any):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    files = [SimpleUploadedFile(f"{n}.png", png_bytes()) for n in range(3)]

    response = security_world.client("admin").post(
        f"/api/datasets/{security_world.dataset.id}/media", {"file": files}, format="multipart"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "too_many_parts"
    assert "several requests of at most 2 files" in error["message"]
    assert not Media.objects.filter(name__in=["0.png", "1.png", "2.png"]).exists()


# --- thumbnails: made by the worker ------------------------------------------------------------


def test_an_upload_queues_its_thumbnail_for_the_worker(
    security_world: SecurityWorld, media_storage: Path, eager_worker: None, django_capture_on_commit_callbacks: Any
):
    with django_capture_on_commit_callbacks(execute=True):
        response = security_world.client("admin").post(
            f"/api/datasets/{security_world.dataset.id}/media",
            {"file": [SimpleUploadedFile("wide.png", png_bytes(600, 300))]},
            format="multipart",
        )

    assert response.status_code == 201
    media = Media.objects.get(name="wide.png")
    assert default_storage.exists(media_thumbnail_path(media=media))


def test_with_the_queue_down_an_upload_is_stored_and_its_thumbnail_is_a_placeholder(
    security_world: SecurityWorld, media_storage: Path, django_capture_on_commit_callbacks: Any
):
    with publishing_to(DEAD_BROKER):
        with django_capture_on_commit_callbacks(execute=True):
            created = security_world.page_client("admin").post(
                f"/datasets/{security_world.dataset.id}/upload", {"file": SimpleUploadedFile("a.png", png_bytes())}
            )
        media = Media.objects.get(pk=json.loads(created.content)["id"])
        thumbnail = security_world.page_client("admin").get(
            reverse("setup-media-thumbnail", kwargs={"media_id": media.pk})
        )

    assert created.status_code == 201
    assert (thumbnail.status_code, thumbnail["Content-Type"], thumbnail["Retry-After"]) == (202, "image/svg+xml", "5")
    assert not default_storage.exists(media_thumbnail_path(media=media))
