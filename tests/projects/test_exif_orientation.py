"""A phone's portrait photo (landscape pixels + an EXIF orientation) is the portrait image
everywhere: its recorded width and height, its thumbnail and the pixels the assist tools read
are of the image as browsers draw it (labelsite/images.py)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.storage import default_storage
from PIL import Image, ImageOps

from assist.images import image_decode
from labelsite.images import ORIENTATION_TAG, image_seen_size, image_turned
from projects.media_probe import media_probe_run
from projects.services import dataset_connect, media_create_from_file, media_create_from_urls
from projects.thumbnails import media_thumbnail_create, media_thumbnail_path
from tests.factories import DatasetFactory
from tests.media_sources import image_http_server

RED = (220, 20, 20)
BLUE = (20, 20, 220)


def photo(orientation: int, *, width: int = 400, height: int = 200, image_format: str = "JPEG") -> bytes:
    """Stored pixels: left half red, right half blue; the EXIF says how to turn them."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(BLUE, (width // 2, 0, width, height))
    exif = image.getexif()
    exif[ORIENTATION_TAG] = orientation
    buffer = io.BytesIO()
    image.save(buffer, image_format, exif=exif.tobytes(), **({"quality": 95} if image_format == "JPEG" else {}))
    return buffer.getvalue()


def is_red(pixel: Any) -> bool:
    return bool(pixel[0] > 150 > pixel[2])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_seen_size_and_pixels_are_pillows_exif_transpose(orientation: int) -> None:
    with Image.open(io.BytesIO(photo(orientation, image_format="PNG"))) as opened:
        expected = ImageOps.exif_transpose(opened)
        assert image_seen_size(opened) == expected.size
        assert expected.size == ((200, 400) if orientation >= 5 else (400, 200))
        assert image_turned(opened).tobytes() == expected.tobytes()


def test_a_damaged_or_odd_orientation_is_no_turn() -> None:
    with Image.open(io.BytesIO(photo(9, image_format="PNG"))) as opened:
        assert image_seen_size(opened) == (400, 200)
        assert image_turned(opened) is opened


@pytest.mark.django_db
def test_an_uploaded_portrait_photo_is_recorded_and_thumbnailed_upright(project: Any, media_storage: Any) -> None:
    dataset: Any = DatasetFactory(organization=project.organization)
    dataset_connect(dataset=dataset, project=project)
    media = media_create_from_file(dataset=dataset, name="phone.jpg", content=photo(6))
    assert (media.width, media.height) == (200, 400)
    media_thumbnail_create(media=media)
    with default_storage.open(media_thumbnail_path(media=media), "rb") as stored:
        thumbnail = Image.open(io.BytesIO(stored.read())).convert("RGB")
    assert thumbnail.size == (128, 256)
    # Orientation 6: the stored left (red) half is the top once turned a quarter clockwise.
    assert is_red(thumbnail.getpixel((64, 20)))
    assert not is_red(thumbnail.getpixel((64, 236)))


@pytest.mark.django_db
def test_a_url_photo_learns_its_upright_size_from_the_probe(project: Any, media_storage: Any, settings: Any) -> None:
    settings.LABELSITE_URL_ALLOWLIST = ["127.0.0.1"]
    settings.LABELSITE_MEDIA_PROBE_URLS = True
    dataset: Any = DatasetFactory(organization=project.organization)
    dataset_connect(dataset=dataset, project=project)
    with image_http_server({"phone.jpg": photo(8)}) as base:
        [result] = media_create_from_urls(dataset=dataset, urls=[f"{base}/phone.jpg"])
        media_probe_run(organization_id=dataset.organization_id)
    assert result.media is not None
    result.media.refresh_from_db()
    assert (result.media.width, result.media.height) == (200, 400)


@pytest.mark.parametrize(("orientation", "red_on_top"), [(6, True), (8, False)])
def test_the_assist_tools_read_the_pixels_upright(orientation: int, red_on_top: bool) -> None:
    pixels = image_decode(photo(orientation), name="phone.jpg")
    assert pixels.shape == (400, 200, 3)
    top_red = bool(pixels[20, 100, 2] > 150 > pixels[20, 100, 0])  # BGR: red is the last channel
    bottom_red = bool(pixels[380, 100, 2] > 150 > pixels[380, 100, 0])
    assert (top_red, bottom_red) == (red_on_top, not red_on_top)


def test_an_upright_image_still_decodes_through_opencv_unchanged() -> None:
    pixels = image_decode(photo(1), name="plain.jpg")
    assert pixels.shape == (200, 400, 3)
    assert pixels[100, 20, 2] > 150 > pixels[100, 20, 0]
