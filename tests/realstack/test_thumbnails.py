"""Thumbnails are made by the worker, never decoded in the web process (security review, issue 15,
item 10b): four requests for the thumbnail of a 10,000 x 10,000 PNG grew a gunicorn worker to
3.3 GB. The page now answers a placeholder (202) until the Celery worker has stored the thumbnail.
"""

from __future__ import annotations

import io
import struct
import urllib.request
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client, override_settings
from django.urls import reverse
from PIL import Image

from labelsite.queue import task_publish
from projects.models import Media, MediaSource
from projects.thumbnails import media_thumbnail_path
from tests.factories import DatasetFactory, MembershipFactory, OrganizationFactory, UserFactory
from tests.realstack.conftest import CHILD_SECRET_KEY, CeleryWorker, wait_until
from tests.realstack.webserver import MIB, WebServer, child_pid, peak, peak_reset, web_server_running

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

SIDE = 10_000
#: Decoding the PNG takes 300 MB (RGB); a placeholder answer takes next to nothing.
FLAT = 16 * MIB
WORKER_SECONDS = 120


@pytest.fixture(scope="module")
def server(celery_worker_process: CeleryWorker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    folder = tmp_path_factory.mktemp("thumbnails-server")
    with web_server_running(media_root=celery_worker_process.media_root, log_path=folder / "gunicorn.log") as running:
        yield running


def huge_png(width: int, height: int) -> bytes:
    """A width x height RGB PNG of one colour, written row by row (never whole in memory): a few
    hundred kilobytes of file that decode to width x height x 3 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes([30, 120, 200]) * width
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def stored_media(dataset: Any, name: str, content: bytes, width: int, height: int) -> Media:
    """A media whose file is in storage and whose thumbnail nobody has asked for yet."""
    media = Media(
        organization=dataset.organization,
        dataset=dataset,
        name=name,
        source=MediaSource.LOCAL,
        mime_type="image/png",
        width=width,
        height=height,
    )
    media.file.save(name, ContentFile(content), save=True)
    return media


def get(server: WebServer, path: str, session: str) -> tuple[int, str, bytes]:
    request = urllib.request.Request(server.url + path, headers={"Cookie": f"sessionid={session}"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return answer.status, answer.headers["Content-Type"], answer.read()


def test_thumbnail_requests_for_a_huge_png_do_not_decode_it_in_the_web_process_and_the_worker_makes_it(
    server: WebServer, celery_worker: CeleryWorker
):
    organization: Any = OrganizationFactory()
    admin: Any = UserFactory()
    MembershipFactory(user=admin, organization=organization, role="admin")
    browser = Client()
    with override_settings(SECRET_KEY=CHILD_SECRET_KEY):  # the server's key signs its sessions
        browser.force_login(admin)
    session = browser.cookies["sessionid"].value
    dataset = DatasetFactory(organization=organization)
    small = stored_media(dataset, "small.png", huge_png(40, 30), 40, 30)
    media = stored_media(dataset, "huge.png", huge_png(SIDE, SIDE), SIDE, SIDE)
    path = reverse("setup-media-thumbnail", kwargs={"media_id": media.pk})
    # The web process imports what the view needs before anything is measured.
    get(server, reverse("setup-media-thumbnail", kwargs={"media_id": small.pk}), session)
    assert not default_storage.exists(media_thumbnail_path(media=media))
    baseline = server.peak_reset()

    answers = [get(server, path, session) for _ in range(4)]

    growth = server.peak() - baseline
    assert growth < FLAT, f"the web process grew by {growth / MIB:.0f} MiB"
    assert {(status, content_type) for status, content_type, _ in answers} == {(202, "image/svg+xml")}
    wait_until(
        lambda: default_storage.exists(media_thumbnail_path(media=media)),
        timeout=WORKER_SECONDS,
        message="The worker did not store the thumbnail",
        interval=0.5,
    )
    status, content_type, body = get(server, path, session)
    assert (status, content_type) == (200, "image/jpeg")
    with Image.open(io.BytesIO(body)) as thumbnail:
        assert thumbnail.size == (256, 256)


def test_the_worker_decodes_a_huge_jpeg_reduced_not_whole(server: WebServer, celery_worker: CeleryWorker):
    """Pillow's `draft` has the JPEG decoder scale by 1/8 as it decodes: 8,000 x 6,000 pixels
    (144 MB as RGB) become 1,000 x 750 before the thumbnail is made."""
    buffer = io.BytesIO()
    Image.new("RGB", (8000, 6000), (30, 120, 200)).save(buffer, format="JPEG", quality=80)
    organization: Any = OrganizationFactory()
    media = stored_media(DatasetFactory(organization=organization), "huge.jpg", buffer.getvalue(), 8000, 6000)
    pool = child_pid(celery_worker.process.pid)
    baseline = peak_reset(pool)

    task_publish("projects.media_thumbnails_create", [str(media.pk)])
    wait_until(
        lambda: default_storage.exists(media_thumbnail_path(media=media)),
        timeout=WORKER_SECONDS,
        message="The worker did not store the thumbnail",
        interval=0.2,
    )

    growth = peak(pool) - baseline
    assert growth < 40 * MIB, f"the worker grew by {growth / MIB:.0f} MiB"
    with default_storage.open(media_thumbnail_path(media=media), "rb") as stored, Image.open(stored) as thumbnail:
        assert thumbnail.size == (256, 192)
