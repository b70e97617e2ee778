"""A brush or eraser stroke applied to a segmentation, pure: numbers in, rings out.

A stroke is the mask of the pixels it covers, run-length encoded in row-major order inside
its box: `{"x", "y", "width", "height", "counts"}`, the counts alternating unpainted and
painted runs and starting with an unpainted one (0 when the box starts painted). Pixel
(i, j) of the mask is the image point (i, j), the convention of the importers' tracer and of
`segmentation_mask`: the segmentation's own pixels are painted from its rings, the stroke is
added or cut, and `mask_segmentation` traces the result with the rules of imported masks
(OpenCV's RETR_CCOMP contours, shapely's structural repair, regions under one pixel dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from formats.codecs.mask_polygons import mask_segmentation, segmentation_crop
from labeling.geometry import points_problems
from labelsite.errors import ErrorDetail, TooLarge, ValidationFailed

#: Pixels of the window a stroke is traced in (the stroke's box joined with the label's): a
#: bool mask and OpenCV's copy of it, about 80 MB at the limit.
MAX_WINDOW_PIXELS = 40_000_000
#: Vertices of the segmentation sent with a stroke (a painted region's outline has about
#: four per pixel of its perimeter's turns).
MAX_RING_POINTS = 200_000


@dataclass(frozen=True)
class Stroke:
    x: int
    y: int
    width: int
    height: int
    counts: Sequence[int]


def _invalid(path: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        code="invalid_stroke", message=message, details=[ErrorDetail(path=path, code="invalid", message=message)]
    )


def stroke_mask(stroke: Stroke, *, image_width: int, image_height: int) -> np.ndarray:
    """The stroke's `(height, width)` bool mask, after checking that it lies in the image and
    that its runs cover its box exactly."""
    if stroke.x + stroke.width > image_width or stroke.y + stroke.height > image_height:
        raise _invalid(
            "stroke",
            f"The stroke's box ({stroke.x}, {stroke.y}, {stroke.width} x {stroke.height}) leaves the "
            f"{image_width} x {image_height} image; cut it to the image.",
        )
    pixels = stroke.width * stroke.height
    if pixels > MAX_WINDOW_PIXELS:
        raise TooLarge(
            code="stroke_too_large",
            message=f"A stroke's box holds at most {MAX_WINDOW_PIXELS:,} pixels; paint a smaller area at a time.",
        )
    if len(stroke.counts) > pixels + 1 or any(not 0 <= count <= pixels for count in stroke.counts):
        raise _invalid(
            "stroke.counts", "The counts are runs of the box's pixels: whole numbers from 0 to its pixel count."
        )
    counts = np.asarray(stroke.counts, dtype=np.int64)
    if int(counts.sum()) != pixels:
        raise _invalid(
            "stroke.counts",
            f"The runs add up to {int(counts.sum())} pixels; the {stroke.width} x {stroke.height} box has {pixels}.",
        )
    values = np.zeros(counts.size, dtype=bool)
    values[1::2] = True
    return np.repeat(values, counts).reshape(stroke.height, stroke.width)


def _rings_problems(rings: Sequence[Sequence[Sequence[float]]]) -> None:
    if not rings:
        return
    problems = points_problems("segmentation", rings)
    if problems:
        raise ValidationFailed(
            code="invalid_stroke",
            message=f"The segmentation's rings are not valid: {problems[0]}.",
            details=[ErrorDetail(path="rings", code="invalid", message=problem) for problem in problems[:20]],
        )
    if sum(len(ring) for ring in rings) > MAX_RING_POINTS:
        raise TooLarge(
            code="rings_too_large",
            message=f"A segmentation sent with a stroke has at most {MAX_RING_POINTS:,} vertices.",
        )


def segmentation_stroke_apply(
    *,
    rings: Sequence[Sequence[Sequence[float]]],
    stroke: Stroke,
    erase: bool,
    image_width: int,
    image_height: int,
) -> list[list[list[float]]]:
    """The rings of `rings` (a segmentation: shells and holes, read even-odd) with the stroke's
    pixels added (`erase` False) or cut (True), traced as imported masks are. Empty when
    nothing is left."""
    mask = stroke_mask(stroke, image_width=image_width, image_height=image_height)
    _rings_problems(rings)
    # Only the image's pixels can be painted: points beyond it (an import may have some) are
    # brought to its edge, which also keeps the tracer's fixed-point arithmetic in range.
    rings = [
        [[min(max(float(x), 0.0), image_width), min(max(float(y), 0.0), image_height)] for x, y in ring]
        for ring in rings
    ]
    crop, cx, cy = segmentation_crop(rings, image_width, image_height) if rings else (np.zeros((0, 0), bool), 0, 0)
    # The window: the stroke's box joined with the painted pixels of the segmentation.
    left, top = stroke.x, stroke.y
    right, bottom = stroke.x + stroke.width, stroke.y + stroke.height
    if crop.size:
        left, top = min(left, cx), min(top, cy)
        right, bottom = max(right, cx + crop.shape[1]), max(bottom, cy + crop.shape[0])
    if (right - left) * (bottom - top) > MAX_WINDOW_PIXELS:
        raise TooLarge(
            code="stroke_too_large",
            message=f"The segmentation and the stroke span more than {MAX_WINDOW_PIXELS:,} pixels; "
            "split the label into smaller ones to paint on it.",
        )
    window = np.zeros((bottom - top, right - left), dtype=bool)
    if crop.size:
        window[cy - top : cy - top + crop.shape[0], cx - left : cx - left + crop.shape[1]] = crop
    box = window[stroke.y - top : stroke.y - top + stroke.height, stroke.x - left : stroke.x - left + stroke.width]
    if erase:
        box &= ~mask
    else:
        box |= mask
    return [[[round(x + left, 2), round(y + top, 2)] for x, y in ring] for ring in mask_segmentation(window)]
