"""Assisted segmentation without a model: GrabCut from a box, a magic wand, intelligent scissors.

Pure functions on a decoded image (`(height, width, 3)` uint8, BGR as OpenCV decodes it): they
take pixel coordinates and answer a boolean mask of the image's size (GrabCut, magic wand) or
a path of pixel points (scissors). No Django, no storage: `assist.services` reads the image,
bounds the work and turns masks into rings with `formats.codecs.mask_polygons`, the one tracer
from masks to polygons.

Each tool bounds its own cost so that a 2-megapixel image answers well under 500 ms
(`bench/assist_bench.py`):
- GrabCut works on the box and a margin around it only, shrunk to at most
  `GRABCUT_WORK_PIXELS` before the graph cut; the mask is scaled back to the box.
- The magic wand compares every pixel once with the colour around the seed (vectorised) and
  keeps the connected region that holds the seed.
- Scissors run OpenCV's `IntelligentScissorsMB` on the bounding box of each pair of anchors
  and a margin (so a segment costs what its neighbourhood costs, not the whole image), shrunk
  to at most `SCISSORS_WORK_PIXELS`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: Pixels GrabCut works on at most (the box and its margin, shrunk): its graph cut is the cost.
GRABCUT_WORK_PIXELS = 64_000
#: GrabCut's iterations: three settle the objects we tried; each costs as much again.
GRABCUT_ITERATIONS = 3
#: Pixels one scissors segment works on at most (its neighbourhood, shrunk).
SCISSORS_WORK_PIXELS = 250_000
#: The colour of the seed is the median of this square around it (noise-proof).
WAND_SEED_SQUARE = 5


class ToolInputError(ValueError):
    """A point or box the tool cannot work with; the message says which and why."""


@dataclass(frozen=True)
class Box:
    """A rectangle in image pixels, x0 <= x1 and y0 <= y1, clamped to the image."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def box_clamped(points: Sequence[Sequence[float]], width: int, height: int) -> Box:
    """The box of two corners (any order), rounded outwards to whole pixels and cut to the image."""
    (ax, ay), (bx, by) = points[0][:2], points[1][:2]
    x0, x1 = sorted((ax, bx))
    y0, y1 = sorted((ay, by))
    return Box(
        x0=max(0, min(width, math.floor(x0))),
        y0=max(0, min(height, math.floor(y0))),
        x1=max(0, min(width, math.ceil(x1))),
        y1=max(0, min(height, math.ceil(y1))),
    )


def _fill_small_holes(mask: np.ndarray, max_area: int) -> np.ndarray:
    """Holes (background pixels enclosed by the mask) smaller than `max_area` become mask: the
    specks that noise or a highlight leave inside an object."""
    if max_area <= 0:
        return mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    small = np.zeros(count, dtype=bool)
    small[1:] = stats[1:, cv2.CC_STAT_AREA] < max_area
    # A background region touching the border is outside the object, not a hole.
    edges = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    small[edges] = False
    if not small.any():
        return mask
    return mask | small[labels]


def _drop_specks(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Regions of the mask smaller than `min_area` (and than the largest region) are dropped."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, dtype=bool)
    keep[1:] = areas >= min(min_area, int(areas.max()))
    return keep[labels]


def grabcut(image: np.ndarray, box: Box, *, iterations: int = GRABCUT_ITERATIONS) -> np.ndarray:
    """The object inside `box`: OpenCV's GrabCut initialised with the box (everything outside is
    background), on the box and a margin of 10 % around it, shrunk to `GRABCUT_WORK_PIXELS`."""
    height, width = image.shape[:2]
    if box.width < 4 or box.height < 4:
        raise ToolInputError("The box is smaller than 4 x 4 pixels inside the image; draw it around the object.")
    margin = max(8, round(0.1 * max(box.width, box.height)))
    cx0, cy0 = max(0, box.x0 - margin), max(0, box.y0 - margin)
    cx1, cy1 = min(width, box.x1 + margin), min(height, box.y1 + margin)
    crop = image[cy0:cy1, cx0:cx1]
    scale = min(1.0, math.sqrt(GRABCUT_WORK_PIXELS / (crop.shape[0] * crop.shape[1])))
    small = crop if scale >= 1.0 else cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    rx0, ry0 = int((box.x0 - cx0) * scale), int((box.y0 - cy0) * scale)
    rx1, ry1 = min(sw, math.ceil((box.x1 - cx0) * scale)), min(sh, math.ceil((box.y1 - cy0) * scale))
    if rx0 == 0 and ry0 == 0 and rx1 == sw and ry1 == sh:
        # A box over the whole image leaves GrabCut no background to learn from: keep a rim.
        rx0, ry0, rx1, ry1 = 1, 1, sw - 1, sh - 1
    labels = np.zeros((sh, sw), dtype=np.uint8)
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(
        small, labels, (rx0, ry0, rx1 - rx0, ry1 - ry0), background, foreground, iterations, cv2.GC_INIT_WITH_RECT
    )
    found: np.ndarray = np.where((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    if small is not crop:
        found = cv2.resize(found, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR)
    inside = found > 127
    # The object is in the box: nothing outside it, then no specks and no pinholes.
    box_mask = np.zeros(inside.shape, dtype=bool)
    box_mask[box.y0 - cy0 : box.y1 - cy0, box.x0 - cx0 : box.x1 - cx0] = True
    inside &= box_mask
    speck = max(16, box.width * box.height // 500)
    inside = _fill_small_holes(_drop_specks(inside, speck), speck)
    mask = np.zeros((height, width), dtype=bool)
    mask[cy0:cy1, cx0:cx1] = inside
    return mask


def _seed(point: Sequence[float], width: int, height: int) -> tuple[int, int]:
    x, y = math.floor(point[0]), math.floor(point[1])
    if not (0 <= x < width and 0 <= y < height):
        raise ToolInputError(f"The point ({point[0]}, {point[1]}) is outside the {width} x {height} image.")
    return x, y


def magic_wand(image: np.ndarray, point: Sequence[float], *, tolerance: int) -> np.ndarray:
    """The connected region (8-neighbours) around `point` whose pixels differ from the seed's
    colour by at most `tolerance` (0-255) in every channel. The seed's colour is the median of the
    5 x 5 square around it, so a noisy seed pixel does not decide; small holes are filled."""
    height, width = image.shape[:2]
    x, y = _seed(point, width, height)
    half = WAND_SEED_SQUARE // 2
    square = image[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1].reshape(-1, image.shape[2])
    reference = np.median(square, axis=0)
    low = np.clip(reference - tolerance, 0, 255).astype(np.uint8)
    high = np.clip(reference + tolerance, 0, 255).astype(np.uint8)
    candidates = cv2.inRange(image, low, high)
    if not candidates[y, x]:
        # The seed pixel itself is off the median (a speck): start from the nearest candidate.
        nearby = np.argwhere(candidates[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1])
        if not len(nearby):
            return np.zeros((height, width), dtype=bool)
        y, x = int(nearby[0][0]) + max(0, y - half), int(nearby[0][1]) + max(0, x - half)
    region = np.zeros((height + 2, width + 2), dtype=np.uint8)
    cv2.floodFill(candidates, region, (x, y), 0, 0, 0, 8 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
    mask = region[1:-1, 1:-1].astype(bool)
    return _fill_small_holes(mask, max(16, int(mask.sum()) // 1000))


def _segment(image: np.ndarray, start: tuple[int, int], end: tuple[int, int]) -> np.ndarray:
    """The cheapest path along edges from `start` to `end`, as (n, 2) pixel points."""
    height, width = image.shape[:2]
    if start == end:
        return np.array([start], dtype=np.float64)
    margin = max(24, round(0.3 * math.dist(start, end)))
    x0, y0 = max(0, min(start[0], end[0]) - margin), max(0, min(start[1], end[1]) - margin)
    x1, y1 = min(width, max(start[0], end[0]) + margin + 1), min(height, max(start[1], end[1]) + margin + 1)
    crop = image[y0:y1, x0:x1]
    scale = min(1.0, math.sqrt(SCISSORS_WORK_PIXELS / (crop.shape[0] * crop.shape[1])))
    if scale < 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ch, cw = crop.shape[:2]

    def local(point: tuple[int, int]) -> tuple[int, int]:
        return min(cw - 1, int((point[0] - x0) * scale)), min(ch - 1, int((point[1] - y0) * scale))

    scissors = cv2.segmentation_IntelligentScissorsMB()  # type: ignore[attr-defined]
    scissors.setEdgeFeatureCannyParameters(32, 100)
    scissors.setGradientMagnitudeMaxLimit(200)
    scissors.applyImage(crop)
    scissors.buildMap(local(start))
    contour = scissors.getContour(local(end)).reshape(-1, 2).astype(np.float64)
    origin = np.array([x0, y0], dtype=np.float64)
    points = contour / scale + origin if scale < 1.0 else contour + origin
    # The anchors themselves, exactly: the user placed them.
    points[0], points[-1] = start, end
    return points


def scissors(image: np.ndarray, anchors: Sequence[Sequence[float]], *, closed: bool) -> list[list[float]]:
    """A path through the anchors that follows the image's edges between each pair (and from the
    last back to the first when `closed`): pixel points, each anchor once, no repeated points."""
    height, width = image.shape[:2]
    seeds = [_seed(point, width, height) for point in anchors]
    if len(seeds) < 2:
        raise ToolInputError("Scissors need at least two anchor points.")
    if closed and len(seeds) < 3:
        raise ToolInputError("A closed scissors outline needs at least three anchor points.")
    pairs = list(itertools.pairwise(seeds))
    if closed:
        pairs.append((seeds[-1], seeds[0]))
    path: list[list[float]] = []
    for start, end in pairs:
        segment = _segment(image, start, end)
        for x, y in segment.tolist():
            if path and path[-1] == [x, y]:
                continue
            path.append([x, y])
    if closed and len(path) > 1 and path[-1] == path[0]:
        path.pop()
    return path


def path_simplified(path: Sequence[Sequence[float]], *, closed: bool, epsilon: float = 0.7) -> list[list[float]]:
    """The path with the pixel staircase removed (Douglas-Peucker within `epsilon` pixels)."""
    if len(path) < 3:
        return [list(map(float, point)) for point in path]
    curve = np.asarray(path, dtype=np.float32).reshape(-1, 1, 2)
    simplified = cv2.approxPolyDP(curve, epsilon, closed).reshape(-1, 2)
    return [[round(float(x), 1), round(float(y), 1)] for x, y in simplified]
