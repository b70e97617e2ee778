"""The OpenCV tools on images with known objects: each answer is held to IoU >= 0.9 against the
drawn truth, through the same tracing to rings the API answers with."""

from __future__ import annotations

import numpy as np
import pytest

from assist import tools
from assist.services import _mask_result
from tests.assist.scenes import Scene, anchors_on_circle, background, disk, iou, paint, rings_mask, street_scene

SCENE = street_scene()


def _segmentation_iou(mask: np.ndarray, truth: np.ndarray) -> float:
    result = _mask_result(mask, "segmentation", tool="test")
    return iou(rings_mask(result.points, SCENE.width, SCENE.height), truth)


@pytest.mark.parametrize("name", ["disk", "star", "ring"])
def test_grabcut_separates_each_object_from_the_textured_background(name: str):
    box = tools.box_clamped(SCENE.box_of(name), SCENE.width, SCENE.height)
    mask = tools.grabcut(SCENE.image, box)
    assert iou(mask, SCENE.truths[name]) >= 0.9
    assert _segmentation_iou(mask, SCENE.truths[name]) >= 0.9


def test_grabcut_keeps_the_hole_of_a_ring_in_a_segmentation_and_drops_it_in_a_polygon():
    box = tools.box_clamped(SCENE.box_of("ring"), SCENE.width, SCENE.height)
    mask = tools.grabcut(SCENE.image, box)
    segmentation = _mask_result(mask, "segmentation", tool="box")
    assert len(segmentation.points) == 2  # the shell, then the hole
    polygon = _mask_result(mask, "polygon", tool="box")
    assert isinstance(polygon.points[0][0], float)  # one ring of [x, y]
    filled = rings_mask([polygon.points], SCENE.width, SCENE.height)
    hole = SCENE.truths["ring"] ^ filled
    assert hole.sum() > 0.8 * np.pi * 40**2  # a polygon has no holes: the centre is inside it


def test_grabcut_on_a_two_megapixel_image_works_on_a_shrunk_crop_and_scales_back():
    big = street_scene(1700, 1275)
    box = tools.box_clamped(big.box_of("star", margin=25), big.width, big.height)
    mask = tools.grabcut(big.image, box)
    assert mask.shape == (1275, 1700)
    assert iou(mask, big.truths["star"]) >= 0.9


def test_grabcut_refuses_a_box_too_small_to_hold_an_object():
    with pytest.raises(tools.ToolInputError, match="smaller than 4 x 4"):
        tools.grabcut(SCENE.image, tools.Box(10, 10, 12, 40))


@pytest.mark.parametrize(("name", "seed"), [("disk", (170, 150)), ("star", (450, 170)), ("ring", (300, 300))])
def test_magic_wand_selects_the_object_around_the_click(name: str, seed: tuple[int, int]):
    mask = tools.magic_wand(SCENE.image, seed, tolerance=40)
    assert iou(mask, SCENE.truths[name]) >= 0.9
    assert _segmentation_iou(mask, SCENE.truths[name]) >= 0.9


def test_magic_wand_tolerance_decides_how_far_the_region_reaches():
    tight = tools.magic_wand(SCENE.image, (170, 150), tolerance=4)
    right = tools.magic_wand(SCENE.image, (170, 150), tolerance=40)
    loose = tools.magic_wand(SCENE.image, (170, 150), tolerance=255)
    assert tight.sum() < 0.5 * SCENE.truths["disk"].sum()  # noise breaks a tight selection up
    assert iou(right, SCENE.truths["disk"]) >= 0.9
    assert loose.all()  # every colour is within 255


def test_magic_wand_refuses_a_point_outside_the_image():
    with pytest.raises(tools.ToolInputError, match="outside the 640 x 480 image"):
        tools.magic_wand(SCENE.image, (640, 10), tolerance=10)


def test_scissors_follow_the_edge_of_a_disk_between_few_anchors():
    anchors = anchors_on_circle((170, 150), 90, 5)
    path = tools.scissors(SCENE.image, anchors, closed=True)
    outline = tools.path_simplified(path, closed=True)
    found = rings_mask([outline], SCENE.width, SCENE.height)
    assert iou(found, SCENE.truths["disk"]) >= 0.9
    # Straight lines between the same anchors (a pentagon) would miss much more of the disk.
    straight = rings_mask([anchors], SCENE.width, SCENE.height)
    assert iou(straight, SCENE.truths["disk"]) < 0.8
    assert len(outline) < len(path)  # the pixel staircase is simplified away


def test_scissors_follow_the_star_through_its_spikes():
    # Anchors on the star's tips only: the path goes in and out along the spikes' edges.
    import math

    tips = [
        [
            450 + 110 * math.cos(math.pi * 2 * k / 5 - math.pi / 2),
            170 + 110 * math.sin(math.pi * 2 * k / 5 - math.pi / 2),
        ]
        for k in range(5)
    ]
    anchors = [[float(round(x)), float(round(y))] for x, y in tips]
    path = tools.scissors(SCENE.image, anchors, closed=True)
    found = rings_mask([tools.path_simplified(path, closed=True)], SCENE.width, SCENE.height)
    assert iou(found, SCENE.truths["star"]) >= 0.9


def test_an_open_scissors_path_starts_and_ends_at_its_anchors():
    path = tools.scissors(SCENE.image, [[80.0, 150.0], [170.0, 60.0]], closed=False)
    assert path[0] == [80.0, 150.0]
    assert path[-1] == [170.0, 60.0]
    assert len(path) > 50  # along the arc, not a straight step


def test_scissors_need_two_anchors_and_three_to_close():
    with pytest.raises(tools.ToolInputError, match="at least two"):
        tools.scissors(SCENE.image, [[10.0, 10.0]], closed=False)
    with pytest.raises(tools.ToolInputError, match="at least three"):
        tools.scissors(SCENE.image, [[10.0, 10.0], [50.0, 50.0]], closed=True)


def test_grabcut_separates_an_object_close_in_colour_to_its_background():
    # Background around (110, 130, 100) BGR with its texture; the disk 30 levels off in each
    # channel and noisier: a magic wand leaks or breaks up here, GrabCut's colour models do not.
    image = background(640, 480, seed=11)
    truth = disk(640, 480, (320, 240), 100)
    paint(image, truth, (140, 115, 130), seed=5, noise=10)
    scene = Scene(image=image, truths={"disk": truth})
    box = tools.box_clamped(scene.box_of("disk"), scene.width, scene.height)
    assert iou(tools.grabcut(image, box), truth) >= 0.9
