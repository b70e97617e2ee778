"""An image's size as people see it: its EXIF orientation applied.

A phone stores a portrait photo as landscape pixels with an EXIF orientation tag (5-8 turn it
by a quarter). Browsers draw it turned (`image-orientation: from-image` is their default, for
`<img>` and for a canvas's `drawImage` alike), and Label Studio, Labelbox and Ultralytics give
its coordinates in that turned frame. So does Labelsite: a media's width and height, its
thumbnail and the pixels the assist tools read are all of the turned image, the frame the
labeling page draws and labels are written in.
"""

from __future__ import annotations

from PIL import Image, ImageOps

#: EXIF's Orientation tag (0x0112): values 5-8 turn the image by a quarter, swapping its sides.
ORIENTATION_TAG = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


def image_orientation(image: Image.Image) -> int:
    """The EXIF orientation of an opened image (1 when it has none or it is not readable).

    Reads the header's EXIF only: the pixels are not decoded. A PNG may carry its EXIF after its
    pixels, where Pillow's `getexif` would decode the whole image to reach it (a 30 MB upload held
    in the web process): such an EXIF is not read, as a browser may not either."""
    if "exif" not in image.info and image.format != "TIFF":  # TIFF keeps its tags in its header
        return 1
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except (OSError, SyntaxError, ValueError, TypeError):  # a damaged EXIF block is no orientation
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def image_seen_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of an opened image as it is shown: sides swapped for a quarter turn."""
    width, height = image.size
    return (height, width) if image_orientation(image) in _QUARTER_TURNS else (width, height)


def image_turned(image: Image.Image) -> Image.Image:
    """The image as shown (its EXIF orientation applied; the same image when there is none)."""
    if image_orientation(image) == 1:
        return image
    return ImageOps.exif_transpose(image)
