"""Synthetic images with known objects, and the measure the assist tools are held to.

A scene is a textured, noisy background with objects painted on it; each object's true mask
is kept, so a tool's answer is compared with the drawn truth (intersection over union)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from formats.codecs.mask_polygons import segmentation_mask


@dataclass
class Scene:
    image: np.ndarray  # (height, width, 3) uint8 BGR
    truths: dict[str, np.ndarray] = field(default_factory=dict)  # object name -> boolean mask

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    def png(self) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(cv2.cvtColor(self.image, cv2.COLOR_BGR2RGB)).save(buffer, format="PNG")
        return buffer.getvalue()

    def box_of(self, name: str, margin: int = 10) -> list[list[float]]:
        ys, xs = np.nonzero(self.truths[name])
        return [
            [float(xs.min() - margin), float(ys.min() - margin)],
            [float(xs.max() + margin), float(ys.max() + margin)],
        ]


def iou(found: np.ndarray, truth: np.ndarray) -> float:
    union = np.logical_or(found, truth).sum()
    return float(np.logical_and(found, truth).sum() / union) if union else 0.0


def rings_mask(rings: list[list[list[float]]], width: int, height: int) -> np.ndarray:
    """The pixels a segmentation's rings (or a polygon's one ring, wrapped) cover."""
    return segmentation_mask(rings, width, height)


def background(width: int, height: int, *, seed: int = 7) -> np.ndarray:
    """A grey-green texture: blurred noise with stripes, plus fine noise, as in a photo."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (height // 16 + 1, width // 16 + 1, 3))
    coarse = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    base = np.array([110, 130, 100], dtype=np.float64) + 18 * coarse
    stripes = 10 * np.sin(np.arange(width) / 23.0)[None, :, None]
    fine = rng.normal(0, 6, (height, width, 3))
    return np.clip(base + stripes + fine, 0, 255).astype(np.uint8)


def paint(
    image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int], *, seed: int = 3, noise: float = 6
) -> None:
    """Fill the mask with a colour (BGR) and its own fine noise and a gentle shading."""
    rng = np.random.default_rng(seed)
    ys, xs = np.nonzero(mask)
    shade = 12 * (ys - ys.mean()) / max(1.0, float(np.ptp(ys)))
    values = np.array(colour, dtype=np.float64)[None, :] + shade[:, None] + rng.normal(0, noise, (len(ys), 3))
    image[ys, xs] = np.clip(values, 0, 255).astype(np.uint8)


def disk(width: int, height: int, centre: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.circle(mask, centre, radius, 1, -1, lineType=cv2.LINE_8)
    return mask.astype(bool)


def star(width: int, height: int, centre: tuple[int, int], outer: int, inner: int, spikes: int = 5) -> np.ndarray:
    points = []
    for index in range(spikes * 2):
        radius = outer if index % 2 == 0 else inner
        angle = math.pi * index / spikes - math.pi / 2
        points.append([centre[0] + radius * math.cos(angle), centre[1] + radius * math.sin(angle)])
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(np.array(points)).astype(np.int32)], 1)
    return mask.astype(bool)


def ring(width: int, height: int, centre: tuple[int, int], outer: int, inner: int) -> np.ndarray:
    return disk(width, height, centre, outer) & ~disk(width, height, centre, inner)


def street_scene(width: int = 640, height: int = 480) -> Scene:
    """A red disk, a blue five-pointed star and a yellow ring (an object with a hole)."""
    image = background(width, height)
    scale = width / 640
    truths = {
        "disk": disk(width, height, (int(170 * scale), int(150 * scale)), int(90 * scale)),
        "star": star(width, height, (int(450 * scale), int(170 * scale)), int(110 * scale), int(50 * scale)),
        "ring": ring(width, height, (int(300 * scale), int(360 * scale)), int(90 * scale), int(40 * scale)),
    }
    paint(image, truths["disk"], (40, 40, 200), seed=1)
    paint(image, truths["star"], (200, 90, 30), seed=2)
    paint(image, truths["ring"], (40, 210, 230), seed=3)
    return Scene(image=image, truths=truths)


def anchors_on_circle(centre: tuple[int, int], radius: int, count: int) -> list[list[float]]:
    """`count` points on a circle's edge (the object's outline, where an annotator clicks)."""
    return [
        [
            float(round(centre[0] + radius * math.cos(2 * math.pi * k / count))),
            float(round(centre[1] + radius * math.sin(2 * math.pi * k / count))),
        ]
        for k in range(count)
    ]
