"""The media probe through a real Celery worker (issue 20, point 8): media added by URL get their
size and a stored thumbnail from the worker, fetched from a local image server that the worker's
allow-list opens; an image that is not there is recorded with its reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from projects.models import Dataset, Media, Organization
from projects.services import media_create_from_urls
from projects.thumbnails import media_thumbnail_path
from tests.media_sources import image_http_server, png_bytes
from tests.realstack.conftest import wait_until

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

WORKER_SECONDS = 60


def test_a_worker_learns_the_size_and_stores_the_thumbnail_of_media_added_by_url(import_stack: Any, settings: Any):
    stack = import_stack(0)
    stack.worker_start(LABELSITE_URL_ALLOWLIST="127.0.0.1")
    settings.LABELSITE_URL_ALLOWLIST = ["127.0.0.1"]
    dataset = Dataset.objects.get(projects=stack.project)
    images = {"wide.png": png_bytes((200, 0, 0), 800, 400), "tall.png": png_bytes((0, 200, 0), 100, 300)}

    with image_http_server(images) as base:
        # Committed at once (no transaction open): the probe is queued as the add commits.
        results = media_create_from_urls(dataset=dataset, urls=[f"{base}/{name}" for name in [*images, "gone.png"]])
        ids = [result.media.pk for result in results if result.media is not None]
        wait_until(
            lambda: not Media.objects.filter(pk__in=ids, probed_at__isnull=True).exists(),
            timeout=WORKER_SECONDS,
            message=f"The worker did not probe the media:\n{stack.logs()}",
            interval=0.2,
        )

    found = {m.name: m for m in Media.objects.filter(pk__in=ids)}
    assert (found["wide.png"].width, found["wide.png"].height) == (800, 400)
    assert (found["tall.png"].width, found["tall.png"].height) == (100, 300)
    assert "HTTP 404" in found["gone.png"].probe_error
    assert found["gone.png"].width is None
    for name, size in (("wide.png", (256, 128)), ("tall.png", (85, 256))):
        with default_storage.open(media_thumbnail_path(media=found[name]), "rb") as stored, Image.open(stored) as image:
            assert image.format == "JPEG"
            assert image.size == size
    assert not default_storage.exists(media_thumbnail_path(media=found["gone.png"]))
    assert Organization.objects.get(pk=dataset.organization_id).media_probe_queued_at is None  # the chain ended
