"""Media of every source whose image really answers, for the tests of image addresses.

An uploaded file (the default storage), an object in a bucket of the S3-compatible server on
loopback (moto, `tests.realstack.conftest.s3_server`, listed in `LABELSITE_S3_SOURCES`), and a
URL on a local HTTP server (loopback, so allow-listed with `LABELSITE_URL_ALLOWLIST` as the
SSRF tests do). Each image has its own colour, so a test can tell which bytes it got.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from projects.models import Dataset, Media
from projects.services import media_create_from_file, media_create_from_s3, media_create_from_urls

WIDTH, HEIGHT = 64, 48


def png_bytes(color: tuple[int, int, int], width: int = WIDTH, height: int = HEIGHT) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


@contextmanager
def image_http_server(files: dict[str, bytes]) -> Iterator[str]:
    """A local HTTP server answering GET of each `/<name>` with its PNG bytes; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class ThreeMedia:
    uploaded: Media
    s3: Media
    url: Media
    #: The bytes each media's image must answer with, by media id (as text).
    images: dict[str, bytes]

    def all(self) -> list[Media]:
        return [self.uploaded, self.s3, self.url]


def three_media(
    *, dataset: Dataset, s3_server: Any, image_base: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> ThreeMedia:
    """One media of each source in `dataset`; the URL media is `<image_base>/url.png`, which the
    caller's `image_http_server` must serve with `URL_IMAGE`."""
    settings.LABELSITE_URL_ALLOWLIST = ["127.0.0.1"]
    settings.LABELSITE_MEDIA_PROBE_URLS = True  # the images are on loopback, not the internet
    uploaded = media_create_from_file(dataset=dataset, name="uploaded.png", content=UPLOADED_IMAGE)

    bucket = f"photos-{uuid.uuid4().hex[:12]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="acme/s3.png", Body=S3_IMAGE, ContentType="image/png")
    # The server signs S3 media with its own credentials (boto3 reads them from the environment).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_server.region_name)
    settings.LABELSITE_S3_SOURCES = {
        "acme": {
            "bucket": bucket,
            "prefix": "acme/",
            "endpoint_url": s3_server.endpoint_url,
            "region_name": s3_server.region_name,
            "organizations": [str(dataset.organization_id)],
        }
    }
    [s3_result] = media_create_from_s3(dataset=dataset, bucket=bucket, keys=["acme/s3.png"])
    [url_result] = media_create_from_urls(dataset=dataset, urls=[f"{image_base}/url.png"])
    assert s3_result.media is not None, s3_result
    assert url_result.media is not None, url_result
    return ThreeMedia(
        uploaded=uploaded,
        s3=s3_result.media,
        url=url_result.media,
        images={
            str(uploaded.id): UPLOADED_IMAGE,
            str(s3_result.media.id): S3_IMAGE,
            str(url_result.media.id): URL_IMAGE,
        },
    )


UPLOADED_IMAGE = png_bytes((200, 30, 30))
S3_IMAGE = png_bytes((30, 200, 30))
URL_IMAGE = png_bytes((30, 30, 200))
