"""Thumbnails of uploaded media: small JPEGs for lists and previews, made by the worker."""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from labelsite.errors import ValidationFailed
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
        image.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE))
        buffer = io.BytesIO()
        _rgb(image).save(buffer, format="JPEG", quality=THUMBNAIL_JPEG_QUALITY)
    saved = default_storage.save(path, ContentFile(buffer.getvalue()))
    if saved != path:
        # Another worker stored it between our check and our save: keep theirs.
        default_storage.delete(saved)
    return path
