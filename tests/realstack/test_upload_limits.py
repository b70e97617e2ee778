"""Uploads on a real gunicorn server: an oversized upload is refused by its declared size before
its body is read, a file past the limit is refused as it streams, and no upload is held whole
in the server's memory (security review, issue 15, item 10).

Each upload path of the README's deployment: the dataset page's upload, the native API's media
upload (token and browser session), the import upload (page and API) and DataGym v1's raw upload.
A browser session's CSRF check reads the body (CsrfViewMiddleware reads request.POST), so the
session paths are the ones where a limit checked in the view came too late.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest
from django.test import Client, override_settings
from PIL import Image

from projects.models import Dataset, Media
from projects.services import api_token_create, dataset_connect, project_create
from tests.factories import DatasetFactory, MembershipFactory, OrganizationFactory, UserFactory
from tests.realstack.conftest import CHILD_SECRET_KEY, CeleryWorker
from tests.realstack.webserver import MIB, WebServer, raw_request, web_server_running

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

LIMIT = 32 * MIB
#: What an upload the server refuses or streams may add to its peak memory: a few chunks of
#: 64 KiB and the allocator's slack, far under the file (and no copy of it).
FLAT = 8 * MIB
#: An answer, not a server still waiting for the body.
ANSWER_SECONDS = 10
BOUNDARY = "labelsite-upload-limits-boundary"


@pytest.fixture(scope="module")
def server(celery_worker_process: CeleryWorker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    folder = tmp_path_factory.mktemp("upload-limits-server")
    with web_server_running(
        media_root=celery_worker_process.media_root,
        log_path=folder / "gunicorn.log",
        LABELSITE_MAX_IMAGE_BYTES=str(LIMIT),
        LABELSITE_MAX_IMPORT_BYTES=str(LIMIT),
    ) as running:
        yield running


@dataclass
class Site:
    server: WebServer
    dataset: Dataset
    project_id: str
    token: str
    session: str
    csrf: str

    def headers(self, auth: str, content_type: str, length: int) -> dict[str, str]:
        headers = {"Host": "127.0.0.1", "Content-Type": content_type, "Content-Length": str(length)}
        if auth == "token":
            headers["Authorization"] = f"Token {self.token}"
        else:
            headers["Cookie"] = f"sessionid={self.session}; csrftoken={self.csrf}"
            headers["X-CSRFToken"] = self.csrf
            headers["Accept"] = "application/json"
        return headers


@pytest.fixture
def site(server: WebServer, celery_worker: CeleryWorker) -> Site:
    organization: Any = OrganizationFactory()
    admin: Any = UserFactory()
    MembershipFactory(user=admin, organization=organization, role="admin")
    project = project_create(organization=organization, name="Streets")
    dataset: Any = DatasetFactory(organization=organization, name="Photos")
    dataset_connect(dataset=dataset, project=project)
    browser = Client()
    with override_settings(SECRET_KEY=CHILD_SECRET_KEY):  # the server's key signs its sessions
        browser.force_login(admin)
    return Site(
        server=server,
        dataset=dataset,
        project_id=str(project.pk),
        token=api_token_create(organization=organization)[1],
        session=browser.cookies["sessionid"].value,
        csrf=secrets.token_hex(16),
    )


@dataclass(frozen=True)
class UploadPath:
    name: str
    path: str
    auth: str
    field: str  # the multipart field of the file; "" for a raw body


PATHS = {
    "dataset-page": UploadPath("dataset-page", "/datasets/{dataset}/upload", "session", "file"),
    "native-api-token": UploadPath("native-api-token", "/api/datasets/{dataset}/media", "token", "file"),
    "native-api-session": UploadPath("native-api-session", "/api/datasets/{dataset}/media", "session", "file"),
    "import-page": UploadPath("import-page", "/projects/{project}/imports", "session", "file"),
    "import-api-token": UploadPath("import-api-token", "/api/projects/{project}/imports", "token", "file"),
    "import-api-session": UploadPath("import-api-session", "/api/projects/{project}/imports", "session", "file"),
    "datagym-v1-raw": UploadPath("datagym-v1-raw", "/api/v1/media/{dataset}/file", "token", ""),
}


def url_of(site: Site, path: UploadPath) -> str:
    return path.path.format(dataset=site.dataset.pk, project=site.project_id)


def request_head(site: Site, path: UploadPath, length: int, name: str = "photo.png") -> bytes:
    content_type = f"multipart/form-data; boundary={BOUNDARY}" if path.field else "application/octet-stream"
    headers = site.headers(path.auth, content_type, length)
    if not path.field:
        headers["X-filename"] = name
    lines = [f"POST {url_of(site, path)} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def multipart(files: list[tuple[str, bytes]], fields: dict[str, str] | None = None, field: str = "file") -> bytes:
    parts = []
    for name, value in (fields or {}).items():
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, content in files:
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + content + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1."), f"no answer within {ANSWER_SECONDS}s (the server waits for the body)"
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> Any:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


def page_messages(answer: bytes) -> list[str]:
    """The messages a page redirect carries in its cookie (the next page would show them)."""
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    cookies = SimpleCookie()
    for line in head.split("\r\n"):
        if line.lower().startswith("set-cookie:"):
            cookies.load(line.split(":", 1)[1].strip())
    with override_settings(SECRET_KEY=CHILD_SECRET_KEY):
        decoded = CookieStorage(HttpRequest())._decode(cookies["messages"].value)  # type: ignore[attr-defined]
    return [str(message) for message in decoded or []]


def png_of_size(size: int) -> bytes:
    """A valid PNG of about `size` bytes: random pixels, stored without compression."""
    side = int((size / 3) ** 0.5)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def assert_refused_for_size(site: Site, path: UploadPath, answer: bytes) -> None:
    """The refusal in the path's own shape, saying which limit and how to fix it."""
    if path.name == "import-page":
        assert status_of(answer) == 302
        (message,) = page_messages(answer)
        assert "LABELSITE_MAX_IMPORT_BYTES" in message
        assert "Split the file" in message
        return
    assert status_of(answer) == 413, answer[:2000]
    body = body_of(answer)
    if path.name == "datagym-v1-raw":
        assert body["key"] == "ex_validation"
        assert [(d["name"], d["key"]) for d in body["details"]] == [("data", "ex_file_too_large")]
        return
    assert body["error"]["code"] == "file_too_large"
    setting = "LABELSITE_MAX_IMPORT_BYTES" if "import" in path.name else "LABELSITE_MAX_IMAGE_BYTES"
    assert setting in body["error"]["message"]


# --- refused by the declared size, before the body is read ----------------------------------------


@pytest.mark.parametrize("name", list(PATHS))
def test_an_upload_declaring_ten_gigabytes_is_refused_before_its_body_is_read(site: Site, name: str):
    """The request declares 10 GiB and sends none of it: the answer must come without waiting."""
    path = PATHS[name]

    answer = raw_request(site.server, request_head(site, path, 10 * 1024**3), timeout=ANSWER_SECONDS)

    assert_refused_for_size(site, path, answer)
    assert not Media.objects.filter(dataset=site.dataset).exists()


# --- memory: nothing is held whole ----------------------------------------------------------------


def upload_measured(site: Site, path: UploadPath, content: bytes, name: str = "photo.png") -> tuple[bytes, int]:
    """Upload `content` as the path's file; the answer and how much the server's peak memory grew."""
    body = multipart([(name, content)]) if path.field else content
    baseline = site.server.peak_reset()
    answer = raw_request(site.server, request_head(site, path, len(body), name), body, timeout=120)
    return answer, site.server.peak() - baseline


def warm_up(site: Site, path: UploadPath) -> None:
    """A first small upload: the worker imports what the path needs before anything is measured."""
    answer, _ = upload_measured(site, path, b"not an image", name=f"warm-{uuid.uuid4().hex}.png")
    assert status_of(answer) in {302, 400}, answer[:2000]


@pytest.mark.parametrize("name", ["dataset-page", "native-api-token", "native-api-session", "datagym-v1-raw"])
def test_an_image_past_the_limit_is_refused_while_the_server_grows_far_less_than_the_file(site: Site, name: str):
    path = PATHS[name]
    warm_up(site, path)
    # Past the limit by less than the multipart envelope's allowance: refused as it streams
    # (the raw upload has no envelope: by its exact declared size).
    content = b"\x89PNG\r\n\x1a\n" + os.urandom(LIMIT + 512 * 1024)

    answer, growth = upload_measured(site, path, content)

    assert growth < FLAT, f"the server grew by {growth / MIB:.1f} MiB for a file of {len(content) / MIB:.1f} MiB"
    if name.startswith("native-api"):
        # Each file of a native upload succeeds or fails on its own.
        assert status_of(answer) == 400
        (failed,) = body_of(answer)["failed"]
        assert (failed["name"], failed["error"]["code"]) == ("photo.png", "file_too_large")
        assert "LABELSITE_MAX_IMAGE_BYTES" in failed["error"]["message"]
    else:
        assert_refused_for_size(site, path, answer)
    assert not Media.objects.filter(dataset=site.dataset).exclude(name__startswith="warm-").exists()


def test_a_native_upload_of_a_file_three_times_the_limit_beside_a_good_one_stores_the_good_one(site: Site):
    path = PATHS["native-api-token"]
    warm_up(site, path)
    small = png_of_size(20_000)
    body = multipart([("big.png", b"\x89PNG\r\n\x1a\n" + os.urandom(3 * LIMIT)), ("small.png", small)])
    baseline = site.server.peak_reset()

    answer = raw_request(site.server, request_head(site, path, len(body)), body, timeout=120)

    growth = site.server.peak() - baseline
    assert growth < FLAT, f"the server grew by {growth / MIB:.1f} MiB for a file of {3 * LIMIT / MIB:.0f} MiB"
    assert status_of(answer) == 201
    result = body_of(answer)
    assert [media["name"] for media in result["created"]] == ["small.png"]
    assert [(f["name"], f["error"]["code"]) for f in result["failed"]] == [("big.png", "file_too_large")]


@pytest.mark.parametrize("name", ["dataset-page", "native-api-token", "datagym-v1-raw"])
def test_an_image_just_under_the_limit_is_stored_without_the_server_holding_it(site: Site, name: str):
    path = PATHS[name]
    warm_up(site, path)
    content = png_of_size(LIMIT - 2 * MIB)
    assert len(content) < LIMIT

    answer, growth = upload_measured(site, path, content, name="large.png")

    assert status_of(answer) in {200, 201}, answer[:2000]
    assert growth < FLAT, f"the server grew by {growth / MIB:.1f} MiB for a file of {len(content) / MIB:.1f} MiB"
    media = Media.objects.get(dataset=site.dataset, name="large.png")
    assert media.file.size == len(content)
    assert Path(media.file.path).read_bytes() == content
