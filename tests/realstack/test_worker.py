"""A real Celery worker process runs the product's tasks against the test's database and broker."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image

from projects.models import Dataset
from projects.services import dataset_create, media_create_from_file, organization_get_or_create
from projects.tasks import media_thumbnails_create
from projects.thumbnails import media_thumbnail_path
from tests.realstack.conftest import CeleryWorker, wait_until

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

TASK_TIMEOUT_SECONDS = 60


def new_dataset() -> Dataset:
    organization = organization_get_or_create(name=f"Realstack {uuid.uuid4().hex[:8]}")
    return dataset_create(organization=organization, name="Photos")


def png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), (200, 40, 40, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_worker_stores_thumbnail_of_uploaded_media(celery_worker: CeleryWorker) -> None:
    dataset = new_dataset()
    media = media_create_from_file(dataset=dataset, name="wide.png", content=png_bytes(1024, 640))
    transaction.on_commit(lambda: media_thumbnails_create.delay([str(media.id)]))
    path = media_thumbnail_path(media=media)

    wait_until(
        lambda: default_storage.exists(path),
        timeout=TASK_TIMEOUT_SECONDS,
        message=f"The worker did not store {path}",
        interval=0.2,
    )

    assert (celery_worker.media_root / path).is_file()
    with default_storage.open(path, "rb") as stored, Image.open(stored) as thumbnail:
        assert thumbnail.format == "JPEG"
        assert thumbnail.size == (256, 160)


def test_worker_makes_thumbnails_for_a_batch_and_skips_unknown_ids(celery_worker: CeleryWorker) -> None:
    dataset = new_dataset()
    tall = media_create_from_file(dataset=dataset, name="tall.png", content=png_bytes(300, 900))
    small = media_create_from_file(dataset=dataset, name="small.png", content=png_bytes(40, 30))
    unknown = "00000000-0000-0000-0000-000000000000"
    transaction.on_commit(lambda: media_thumbnails_create.delay([unknown, str(tall.id), str(small.id)]))

    paths = {media_thumbnail_path(media=tall): (85, 256), media_thumbnail_path(media=small): (40, 30)}
    wait_until(
        lambda: all(default_storage.exists(path) for path in paths),
        timeout=TASK_TIMEOUT_SECONDS,
        message=f"The worker did not store {sorted(paths)}",
        interval=0.2,
    )

    for path, size in paths.items():
        with default_storage.open(path, "rb") as stored, Image.open(stored) as thumbnail:
            assert thumbnail.size == size
