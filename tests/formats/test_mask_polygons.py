"""Masks to polygons: holes, instance and semantic modes, simplification, no specks of a third class."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Polygon

from formats.codecs.mask_polygons import UNASSIGNED, class_map_from_colours, class_map_polygons

RED, BLUE, PURPLE = (244, 67, 54), (3, 169, 244), (156, 39, 176)
PALETTE = {1: RED, 2: BLUE, 3: PURPLE}


def anti_aliased_pair() -> np.ndarray:
    """Red and blue touching along a column of blended pixels (what a resized PNG has)."""
    image = np.zeros((40, 60, 3), np.uint8)
    image[5:35, 5:28] = RED
    image[5:35, 29:55] = BLUE
    image[5:35, 28] = (np.array(RED) + np.array(BLUE)) // 2  # (123, 118, 149): nearest palette colour is purple
    return image


def test_blended_edge_pixels_take_a_neighbours_class_never_a_third_one():
    classes, blended = class_map_from_colours(anti_aliased_pair(), PALETTE)

    assert blended == 30
    assert not (classes == 3).any()
    assert set(np.unique(classes[5:35, 28])) <= {1, 2}
    assert (classes[0] == UNASSIGNED).all()


def test_a_ring_keeps_its_hole():
    classes = np.full((50, 50), UNASSIGNED)
    classes[10:40, 10:40] = 1
    classes[20:30, 20:30] = UNASSIGNED

    (ring,) = class_map_polygons(classes, [1])[1]
    polygon = Polygon(ring[0], ring[1:])

    assert len(ring) == 2
    assert polygon.is_valid
    assert 700 < polygon.area < 800  # 30x30 minus 10x10, traced through the pixel centres


def test_instance_mode_gives_one_object_per_region_and_semantic_mode_one_per_class():
    classes = np.full((30, 60), UNASSIGNED)
    classes[5:15, 5:15] = 2
    classes[5:15, 30:50] = 2

    instance = class_map_polygons(classes, [2], mode="instance")[2]
    semantic = class_map_polygons(classes, [2], mode="semantic")[2]

    assert len(instance) == 2
    assert len(semantic) == 1
    assert len(semantic[0]) == 2


def test_a_higher_tolerance_gives_fewer_points_and_valid_polygons():
    yy, xx = np.mgrid[:200, :200]
    classes = np.where((xx - 100) ** 2 + (yy - 100) ** 2 < 80**2, 1, UNASSIGNED)

    fine = class_map_polygons(classes, [1], tolerance=0.1)[1][0][0]
    coarse = class_map_polygons(classes, [1], tolerance=2.0)[1][0][0]

    assert len(coarse) < len(fine) / 3
    assert shapely.is_valid(Polygon(coarse))


def test_single_pixels_and_specks_under_the_minimum_area_are_dropped():
    classes = np.full((20, 20), UNASSIGNED)
    classes[3, 3] = 1
    classes[10:13, 10:13] = 1

    assert len(class_map_polygons(classes, [1], min_area=1.0)[1]) == 1
    assert class_map_polygons(classes, [1], min_area=50.0) == {}
