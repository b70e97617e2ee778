"""A stroke applied to a segmentation traces exactly as the importers trace a mask."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Polygon

from brush.strokes import MAX_WINDOW_PIXELS, Stroke, segmentation_stroke_apply, stroke_mask
from formats.codecs.mask_polygons import mask_segmentation, segmentation_mask
from labelsite.errors import TooLarge, ValidationFailed

WIDTH, HEIGHT = 120, 90


def encode(mask: np.ndarray, x: int = 0, y: int = 0) -> Stroke:
    """Row-major runs starting with an unpainted one, as the page sends them."""
    flat = mask.astype(bool).ravel()
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0, *counts]
    return Stroke(x=x, y=y, width=mask.shape[1], height=mask.shape[0], counts=counts)


def disc(cx: float, cy: float, radius: float, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2


def test_runs_decode_to_the_mask_they_encode():
    mask = disc(10, 8, 5, 25, 20)
    assert (stroke_mask(encode(mask), image_width=25, image_height=20) == mask).all()
    starts_painted = np.ones((2, 3), dtype=bool)
    assert encode(starts_painted).counts == [0, 6]


def test_painting_a_new_label_gives_the_importers_rings_for_the_same_mask():
    mask = disc(40, 30, 12)
    crop = mask[10:50, 20:60]
    rings = segmentation_stroke_apply(
        rings=[], stroke=encode(crop, 20, 10), erase=False, image_width=WIDTH, image_height=HEIGHT
    )
    assert rings == mask_segmentation(mask)
    assert len(rings) == 1


def test_erasing_a_hole_keeps_the_shell_and_adds_the_hole_as_the_importers_would():
    painted = disc(60, 45, 30)
    rings = mask_segmentation(painted)
    hole = disc(60, 45, 10)
    rings = segmentation_stroke_apply(
        rings=rings, stroke=encode(hole[30:60, 45:75], 45, 30), erase=True, image_width=WIDTH, image_height=HEIGHT
    )
    assert rings == mask_segmentation(painted & ~hole)
    shell, inner = Polygon(rings[0]), Polygon(rings[1])
    assert shell.contains(inner)
    assert inner.centroid.distance(Polygon(rings[0]).centroid) < 0.5


def test_painting_next_to_a_region_adds_a_second_region_of_the_same_label():
    left = disc(30, 45, 10)
    right = disc(90, 45, 10)
    rings = segmentation_stroke_apply(
        rings=mask_segmentation(left), stroke=encode(right), erase=False, image_width=WIDTH, image_height=HEIGHT
    )
    assert rings == mask_segmentation(left | right)
    assert len(rings) == 2


def test_painted_rings_survive_the_export_round_trip_unchanged():
    """What a brush export paints (segmentation_mask) traces back to the same rings."""
    mask = disc(60, 45, 30) & ~disc(60, 45, 10)
    rings = segmentation_stroke_apply(
        rings=[], stroke=encode(mask), erase=False, image_width=WIDTH, image_height=HEIGHT
    )
    assert mask_segmentation(segmentation_mask(rings, WIDTH, HEIGHT)) == rings
    assert (segmentation_mask(rings, WIDTH, HEIGHT) == mask).all()


def test_erasing_everything_leaves_no_rings():
    rings = mask_segmentation(disc(60, 45, 10))
    everything = np.ones((HEIGHT, WIDTH), dtype=bool)
    assert (
        segmentation_stroke_apply(
            rings=rings, stroke=encode(everything), erase=True, image_width=WIDTH, image_height=HEIGHT
        )
        == []
    )


def test_a_stroke_outside_the_image_is_refused_with_its_place():
    with pytest.raises(ValidationFailed) as raised:
        segmentation_stroke_apply(
            rings=[],
            stroke=Stroke(x=110, y=0, width=20, height=1, counts=[0, 20]),
            erase=False,
            image_width=WIDTH,
            image_height=HEIGHT,
        )
    assert raised.value.details[0].path == "stroke"
    assert "leaves the 120 x 90 image" in raised.value.message


def test_runs_that_do_not_cover_the_box_are_refused():
    with pytest.raises(ValidationFailed) as raised:
        segmentation_stroke_apply(
            rings=[],
            stroke=Stroke(x=0, y=0, width=4, height=4, counts=[3, 4]),
            erase=False,
            image_width=WIDTH,
            image_height=HEIGHT,
        )
    assert raised.value.details[0].path == "stroke.counts"
    assert "add up to 7 pixels" in raised.value.message


def test_invalid_rings_are_refused_with_the_polygon_named():
    with pytest.raises(ValidationFailed) as raised:
        segmentation_stroke_apply(
            rings=[[[1, 1], [5, 1]]],
            stroke=Stroke(x=0, y=0, width=1, height=1, counts=[1]),
            erase=False,
            image_width=WIDTH,
            image_height=HEIGHT,
        )
    assert raised.value.details[0].path == "rings"
    assert "polygon 0" in raised.value.details[0].message


def test_a_stroke_box_beyond_the_limit_is_too_large():
    side = int(MAX_WINDOW_PIXELS**0.5) + 1
    with pytest.raises(TooLarge):
        segmentation_stroke_apply(
            rings=[],
            stroke=Stroke(x=0, y=0, width=side, height=side, counts=[side * side]),
            erase=False,
            image_width=side,
            image_height=side,
        )


def test_runs_longer_than_the_box_are_refused_before_they_are_decoded():
    with pytest.raises(ValidationFailed) as raised:
        segmentation_stroke_apply(
            rings=[],
            stroke=Stroke(x=0, y=0, width=2, height=2, counts=[10**30, 4]),
            erase=False,
            image_width=WIDTH,
            image_height=HEIGHT,
        )
    assert raised.value.details[0].path == "stroke.counts"


def test_points_beyond_the_image_are_brought_to_its_edge():
    """A label that an import left partly outside the image is painted where it meets the image."""
    outside = [[[100.0, 60.0], [1e300, 60.0], [1e300, 1e300], [100.0, 1e300]]]
    rings = segmentation_stroke_apply(
        rings=outside, stroke=encode(disc(10, 10, 3)), erase=False, image_width=WIDTH, image_height=HEIGHT
    )
    inside = mask_segmentation(
        disc(10, 10, 3) | (np.mgrid[0:HEIGHT, 0:WIDTH][1] >= 100) & (np.mgrid[0:HEIGHT, 0:WIDTH][0] >= 60)
    )
    assert rings == inside
