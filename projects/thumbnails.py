"""Thumbnails of media: small JPEGs for lists and previews, made by the worker.

Only the worker decodes an image (`projects/media_probe.py` for every source; the older task
`projects.media_thumbnails_create` for uploads): a web process that decoded a 10,000 x 10,000
PNG for each of four requests grew to 3.3 GB. The grid's view answers a placeholder until the
thumbnail is in storage.
"""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from labelsite.errors import ValidationFailed
from labelsite.images import image_turned
from projects.models import Media, MediaSource

THUMBNAIL_MAX_SIDE = 256
THUMBNAIL_JPEG_QUALITY = 85


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


def thumbnail_store(*, image: Image.Image, path: str) -> str:
    """Store a JPEG of an opened image at `path`, longest side at most 256 (kept when it exists).

    The thumbnail is turned by the image's EXIF orientation, as the labeling page draws the
    image and as its width and height are recorded (labelsite/images.py).
    """
    if default_storage.exists(path):
        return path
    # A JPEG is decoded scaled (1/2 to 1/8) to the smallest size at least as large as the
    # thumbnail: a 10,000 px JPEG never exists whole in memory. Other formats cannot be
    # decoded reduced; they are decoded here, in the worker, within LABELSITE_MAX_IMAGE_PIXELS.
    image.draft("RGB", (THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE))
    image.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE))
    buffer = io.BytesIO()
    _rgb(image_turned(image)).save(buffer, format="JPEG", quality=THUMBNAIL_JPEG_QUALITY)
    saved = default_storage.save(path, ContentFile(buffer.getvalue()))
    if saved != path:
        # Another worker stored it between our check and our save: keep theirs.
        default_storage.delete(saved)
    return path


def media_thumbnail_create(*, media: Media) -> str:
    """Store the thumbnail of an uploaded media and return its storage path (idempotent)."""
    if media.source != MediaSource.LOCAL or not media.file:
        raise ValidationFailed(
            code="thumbnail_needs_file",
            message=f"Media {media.id} has no stored file; use media_probe for URL and S3 media.",
        )
    path = media_thumbnail_path(media=media)
    if default_storage.exists(path):
        return path
    with media.file.open("rb") as source, Image.open(source) as image:
        return thumbnail_store(image=image, path=path)
