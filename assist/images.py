"""A media's image decoded once per process, kept for the next click (bounded LRU).

An annotator clicks the same image again and again (a box, then the wand, then scissors
anchor after anchor); reading and decoding a 2-megapixel JPEG costs 30-60 ms, more than a
magic wand. Each process keeps the decoded pixels of the images it served last, up to
`LABELSITE_ASSIST_CACHE_BYTES` in all, keyed by the media and where its bytes live (a replaced
file or URL is another key).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from typing import Any

import cv2
import numpy as np
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from labelsite.errors import TooLarge, ValidationFailed
from labelsite.images import image_orientation, image_turned

_lock = threading.Lock()
_cache: OrderedDict[tuple[str, ...], np.ndarray] = OrderedDict()
_cached_bytes = 0


def _max_pixels() -> int:
    return int(settings.LABELSITE_ASSIST_MAX_PIXELS)


def image_decode(content: bytes, *, name: str) -> np.ndarray:
    """The pixels of an image file as (height, width, 3) uint8 BGR, as shown: its EXIF orientation
    applied (the size the media records and the frame the page draws; labelsite/images.py). Its
    header is read first: an image of more than `LABELSITE_ASSIST_MAX_PIXELS` pixels is refused
    before it is decoded."""
    try:
        with Image.open(io.BytesIO(content)) as header:
            width, height = header.size
            orientation = image_orientation(header)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationFailed(
            code="media_not_an_image", message=f"{name!r} is not an image Labelsite can read."
        ) from exc
    if width * height > _max_pixels():
        raise TooLarge(
            code="image_too_large",
            message=f"{name!r} has {width} x {height} pixels; the assist tools work on images of at most "
            f"{_max_pixels()} pixels (LABELSITE_ASSIST_MAX_PIXELS).",
        )
    decoded = None
    if orientation == 1:  # OpenCV is the faster decoder; a turned image goes through Pillow's transpose
        decoded = cv2.imdecode(np.frombuffer(content, dtype=np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if decoded is None:
        # A turned image, or a format OpenCV does not read (GIF, some TIFFs): Pillow reads it.
        try:
            with Image.open(io.BytesIO(content)) as image:
                decoded = cv2.cvtColor(np.asarray(image_turned(image).convert("RGB")), cv2.COLOR_RGB2BGR)
        except (OSError, SyntaxError, ValueError) as exc:
            raise ValidationFailed(
                code="media_not_an_image", message=f"{name!r} is not an image Labelsite can read."
            ) from exc
    return np.ascontiguousarray(decoded)


def image_cached(key: tuple[str, ...]) -> np.ndarray | None:
    """The decoded image kept under `key`, or None. The array is shared: never write into it."""
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
        return found


def image_keep(key: tuple[str, ...], image: np.ndarray) -> np.ndarray:
    """Keep `image` under `key` (dropping the least recently used beyond the byte limit); an image
    larger than the whole cache is not kept. Returns the image, now read-only."""
    global _cached_bytes
    image.setflags(write=False)
    limit = int(settings.LABELSITE_ASSIST_CACHE_BYTES)
    with _lock:
        if key not in _cache and image.nbytes <= limit:
            _cache[key] = image
            _cached_bytes += image.nbytes
            while _cached_bytes > limit and _cache:
                _, dropped = _cache.popitem(last=False)
                _cached_bytes -= dropped.nbytes
    return image


def image_cache_clear() -> None:
    global _cached_bytes
    with _lock:
        _cache.clear()
        _cached_bytes = 0


def image_cache_stats() -> dict[str, Any]:
    with _lock:
        return {"images": len(_cache), "bytes": _cached_bytes}
