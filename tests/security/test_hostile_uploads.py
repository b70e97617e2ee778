"""Hostile images through every upload path: the dataset page's upload, the native API's
multipart upload and DataGym v1's raw upload. Each is refused with an error that says what is
wrong, and nothing is written: no media row, no file in storage.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from projects.models import Media
from tests.api.conftest import png_bytes
from tests.security.conftest import SecurityWorld

pytestmark = pytest.mark.django_db


def png_declaring(width: int, height: int) -> bytes:
    """A well-formed PNG header declaring width x height, with a tiny IDAT: a decompression bomb
    for whoever decodes it (50,000 x 50,000 RGB is 7.5 GB of pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


BOMB = png_declaring(50_000, 50_000)


# --- the three upload paths, each answering (status, error code) ------------------------------

Upload = Callable[[SecurityWorld, str, bytes], tuple[int, str]]


def page_upload(world: SecurityWorld, name: str, content: bytes) -> tuple[int, str]:
    response = world.page_client("admin").post(
        f"/datasets/{world.dataset.id}/upload", {"file": SimpleUploadedFile(name, content)}
    )
    return response.status_code, response.json()["error"]["code"]


def api_upload(world: SecurityWorld, name: str, content: bytes) -> tuple[int, str]:
    response = world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media", {"file": [SimpleUploadedFile(name, content)]}, format="multipart"
    )
    body = response.json()
    assert body["created"] == [], body
    return response.status_code, body["failed"][0]["error"]["code"]


def v1_upload(world: SecurityWorld, name: str, content: bytes) -> tuple[int, str]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens['org_token']}")
    response = client.generic(
        "POST",
        f"/api/v1/media/{world.dataset.id}/file",
        content,  # type: ignore[arg-type]  # APIClient's stubs say str; bytes go through as they are
        content_type="application/octet-stream",
        HTTP_X_FILENAME=name,
    )
    body = response.json()
    return response.status_code, body["details"][0]["key"] if body.get("details") else body["key"]


UPLOADS = [
    pytest.param(page_upload, id="dataset-page"),
    pytest.param(api_upload, id="native-api"),
    pytest.param(v1_upload, id="datagym-v1-raw"),
]

#: The error each path answers, by what is wrong (the v1 keys are DataGym's).
EXPECTED: dict[str, dict[Any, str]] = {
    "bomb": {page_upload: "image_too_large", api_upload: "image_too_large", v1_upload: "ex_image_too_large"},
    "not_an_image": {page_upload: "not_an_image", api_upload: "not_an_image", v1_upload: "ex_val_bin_mime"},
    "too_large": {page_upload: "file_too_large", api_upload: "file_too_large", v1_upload: "ex_file_too_large"},
    "path": {page_upload: "invalid_name", api_upload: "invalid_name", v1_upload: "ex_pattern"},
}
#: The status of a refusal: 400, but 413 for a file over the size limit where the request is the
#: one file (the native API's many-file upload lists each failed file and answers 400 if none was stored).
STATUS: dict[str, dict[Any, int]] = {"too_large": {page_upload: 413, api_upload: 400, v1_upload: 413}}


def media_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def assert_refused_and_nothing_written(
    world: SecurityWorld, media_storage: Path, upload: Upload, name: str, content: bytes, problem: str
) -> None:
    before, files_before = Media.objects.count(), media_files(media_storage)
    status, code = upload(world, name, content)
    assert (status, code) == (STATUS.get(problem, {}).get(upload, 400), EXPECTED[problem][upload])
    assert Media.objects.count() == before
    assert media_files(media_storage) == files_before


@pytest.mark.parametrize("upload", UPLOADS)
def test_a_decompression_bomb_png_is_refused_by_its_pixel_count_before_decoding(
    security_world: SecurityWorld, media_storage: Path, upload: Upload
):
    assert len(BOMB) < 200
    assert_refused_and_nothing_written(security_world, media_storage, upload, "bomb.png", BOMB, "bomb")


@pytest.mark.parametrize("upload", UPLOADS)
@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("photo.png", b"<html><script>alert(1)</script></html>", id="html-named-png"),
        pytest.param("photo.jpg", b"PK\x03\x04" + b"\x00" * 100, id="zip-named-jpg"),
        pytest.param("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, id="truncated-png"),
        pytest.param("photo.jpeg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", id="pdf-named-jpeg"),
        pytest.param("photo.png", b"", id="empty"),
    ],
)
def test_a_file_that_is_not_an_image_is_refused_whatever_its_name(
    security_world: SecurityWorld, media_storage: Path, upload: Upload, name: str, content: bytes
):
    assert_refused_and_nothing_written(security_world, media_storage, upload, name, content, "not_an_image")


@pytest.mark.parametrize("upload", UPLOADS)
def test_an_image_over_the_size_limit_is_refused(
    security_world: SecurityWorld, media_storage: Path, upload: Upload, settings: Any
):
    content = png_bytes(64, 64)
    settings.LABELSITE_MAX_IMAGE_BYTES = len(content) - 1
    assert_refused_and_nothing_written(security_world, media_storage, upload, "big.png", content, "too_large")


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd.png",
        "..\\..\\windows\\win.ini.png",
        "/etc/cron.d/x.png",
        "C:\\x.png",
        "a/b.png",
        "..",
        "x\x00.png",
    ],
)
def test_a_path_in_the_v1_x_filename_header_is_refused(security_world: SecurityWorld, media_storage: Path, name: str):
    # Multipart uploads (page, native API) lose their directories in Django's parser; the raw
    # upload takes its name from the header as it is, so it is checked by the service.
    assert_refused_and_nothing_written(security_world, media_storage, v1_upload, name, png_bytes(), "path")


def test_a_v1_raw_upload_over_the_request_size_limit_is_refused_before_it_is_read(
    security_world: SecurityWorld, media_storage: Path, settings: Any
):
    # The raw body is the file: it is streamed to a temporary file, so its limit is the image
    # limit (it was DATA_UPLOAD_MAX_MEMORY_SIZE while the body was read whole into memory).
    settings.LABELSITE_MAX_IMAGE_BYTES = 1024
    before, files_before = Media.objects.count(), media_files(media_storage)
    # It answered a 500: RequestDataTooBig reached the v1 exception handler unmapped.
    status, key = v1_upload(security_world, "big.png", png_bytes() + b"\x00" * 2048)
    assert (status, key) == (413, "ex_file_too_large")
    assert Media.objects.count() == before
    assert media_files(media_storage) == files_before


def test_a_url_media_of_a_bomb_is_never_fetched_or_decoded_by_the_server(
    security_world: SecurityWorld, media_storage: Path, settings: Any
):
    """URL media are registered by their extension and shown by the browser; the server does
    not fetch them (so a 50,000 x 50,000 PNG behind a URL never reaches Pillow on our side).
    This test serves one on a local port and checks that nobody asked for it."""
    import http.server

    settings.LABELSITE_URL_ALLOWLIST = ["127.0.0.1"]  # loopback URL media are refused otherwise
    import threading

    requests_seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests_seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(BOMB)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        files_before = media_files(media_storage)
        url = f"http://127.0.0.1:{server.server_address[1]}/bomb.png"
        response = security_world.client("admin").post(
            f"/api/datasets/{security_world.dataset.id}/media/urls", {"urls": [url]}, format="json"
        )
        assert response.status_code in {200, 201}, response.content
        media = Media.objects.get(url=url)
        page = security_world.page_client("admin").get(f"/media/{media.id}/file")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert (media.width, media.height) in {(None, None), (0, 0)}
    assert page.status_code == 302  # the browser fetches it, not us
    assert page["Location"] == url
    assert requests_seen == []
    assert media_files(media_storage) == files_before


def test_a_native_api_json_body_over_the_request_size_limit_answers_413_not_500(
    security_world: SecurityWorld, settings: Any
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = security_world.client("admin").post("/api/projects", {"name": "x" * 4096}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
