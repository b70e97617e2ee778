"""Thumbnails of uploaded media: small JPEGs for lists and previews, made by the worker.

Only the worker decodes an image (`media_thumbnail_create`, run by the task
`projects.media_thumbnails_create`): a web process that decoded a 10,000 x 10,000 PNG for each
of four requests grew to 3.3 GB. Uploads queue their thumbnail; a page that asks for one not made
yet queues it again (`media_thumbnails_queue`) and shows a placeholder meanwhile.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from kombu.exceptions import KombuError
from PIL import Image

from labelsite.errors import ValidationFailed
from labelsite.queue import task_publish
from projects.models import Media, MediaSource

logger = logging.getLogger(__name__)

THUMBNAIL_MAX_SIDE = 256
THUMBNAIL_JPEG_QUALITY = 85
THUMBNAILS_CREATE = "projects.media_thumbnails_create"
#: A thumbnail asked for again within this many seconds is not queued again (by this process):
#: a page of 100 media reloaded while the worker is busy queues each once.
QUEUED_SECONDS = 60


def media_thumbnail_path(*, media: Media) -> str:
    return f"thumbnails/{media.id}.jpg"


def _rgb(image: Image.Image) -> Image.Image:
    """JPEG has no alpha: transparent pixels become white rather than black."""
    if image.mode in {"RGBA", "LA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


def media_thumbnail_create(*, media: Media) -> str:
    """Store a JPEG of the media's file, longest side at most 256, and return its storage path.

    Idempotent: a thumbnail that exists already is returned as it is. The image is not
    rotated by its EXIF orientation, so that the thumbnail matches the pixel coordinates
    that labels use (the media's width and height are read the same way).
    """
    if media.source != MediaSource.LOCAL or not media.file:
        raise ValidationFailed(
            code="thumbnail_needs_file",
            message=f"Media {media.id} has no stored file; only uploaded media get thumbnails.",
        )
    path = media_thumbnail_path(media=media)
    if default_storage.exists(path):
        return path
    with media.file.open("rb") as source, Image.open(source) as image:
        # A JPEG is decoded scaled (1/2 to 1/8) to the smallest size at least as large as the
        # thumbnail: a 10,000 px JPEG never exists whole in memory. Other formats cannot be
        # decoded reduced; they are decoded here, in the worker, within LABELSITE_MAX_IMAGE_PIXELS.
        image.draft("RGB", (THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE))
        image.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE))
        buffer = io.BytesIO()
        _rgb(image).save(buffer, format="JPEG", quality=THUMBNAIL_JPEG_QUALITY)
    saved = default_storage.save(path, ContentFile(buffer.getvalue()))
    if saved != path:
        # Another worker stored it between our check and our save: keep theirs.
        default_storage.delete(saved)
    return path


def media_thumbnails_queue(*, media_ids: Sequence[str]) -> None:
    """Ask the worker for the thumbnails of these media (each at most once per `QUEUED_SECONDS`).

    Never fails its caller: a queue that does not answer is logged, and the page that shows the
    media asks again.
    """
    fresh = [media_id for media_id in media_ids if _first_ask(media_id)]
    if not fresh:
        return
    try:
        task_publish(THUMBNAILS_CREATE, fresh, retry=False)
    except (KombuError, OSError) as exc:
        logger.warning("The thumbnails of %s were not queued (the queue did not answer): %s", fresh, exc)
        for media_id in fresh:
            _forget_ask(media_id)


def _first_ask(media_id: str) -> bool:
    """True unless this process queued the thumbnail within `QUEUED_SECONDS` (a cache that fails: True)."""
    try:
        return bool(cache.add(f"thumbnail-queued:{media_id}", 1, QUEUED_SECONDS))
    except Exception:
        logger.warning("The cache is not answering; the thumbnail of %s is queued again", media_id, exc_info=True)
        return True


def _forget_ask(media_id: str) -> None:
    try:
        cache.delete(f"thumbnail-queued:{media_id}")
    except Exception:
        logger.warning("The cache is not answering", exc_info=True)
