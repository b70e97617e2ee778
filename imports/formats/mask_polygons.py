"""Segmentation masks to polygons with holes (reference/labelbox-ango.md, section 4).

- Colour masks: exact palette matches first; a blended (anti-aliased) pixel then takes the
  class of the nearest exactly matched pixel, never the nearest palette colour, so that the
  blend of red and blue never becomes a speck of purple. Unmatched pixels are counted.
- Tracing: OpenCV `RETR_CCOMP` per class (outer contours and their holes), shapely for
  `simplify(tolerance, preserve_topology=True)` and `make_valid`, keeping polygonal parts only
  and dropping parts under `min_area`.
- `instance` mode: one polygon (with holes) per connected region of a class; touching regions
  of one class merge, since a class mask cannot tell them apart. `semantic` mode: one
  segmentation per class holding all its regions.

Output coordinates are pixels: a segmentation is a list of rings `[[x, y], ...]`, the shell
of each region first, then its holes (our segmentation points are a list of polygons).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

UNASSIGNED = -1


@dataclass
class MaskRegions:
    """Per class index: its regions, each a list of rings (shell first, then holes)."""

    regions: dict[int, list[list[list[list[float]]]]] = field(default_factory=dict)
    unmatched_pixels: int = 0


def class_map_from_colours(
    image: np.ndarray, palette: Mapping[int, Sequence[int]], *, background: int = -1
) -> tuple[np.ndarray, int]:
    """(H, W) class indices from an RGB image: exact matches, then blends from the nearest match.

    Pixels that match no palette colour and are black (0, 0, 0) stay unassigned, as does
    everything when no pixel matches exactly. Returns the map and the count of blended pixels.
    """
    rgb = image[..., :3].astype(np.int32)
    classes = np.full(rgb.shape[:2], UNASSIGNED, dtype=np.int32)
    for index, colour in palette.items():
        classes[np.all(rgb == np.asarray(colour[:3], dtype=np.int32), axis=-1)] = index
    black = np.all(rgb == 0, axis=-1)
    blended = (classes == UNASSIGNED) & ~black
    count = int(blended.sum())
    matched = classes != UNASSIGNED
    if count and matched.any():
        # Distance to the nearest matched pixel, with the index of that pixel (OpenCV's labelled
        # distance transform: the label of each pixel is its nearest zero pixel's).
        source = np.where(matched, 0, 1).astype(np.uint8)
        _, labels = cv2.distanceTransformWithLabels(source, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        zero_y, zero_x = np.nonzero(source == 0)
        # OpenCV numbers the zero pixels 1.. in row-major scan order.
        nearest = classes[zero_y, zero_x]
        filled = nearest[labels[blended] - 1]
        classes[blended] = filled
    return classes, count


def _rings(polygon: Polygon) -> list[list[list[float]]]:
    def ring(coords: Sequence[Sequence[float]]) -> list[list[float]]:
        points = [[round(float(x), 2), round(float(y), 2)] for x, y in coords]
        return points[:-1] if len(points) > 1 and points[0] == points[-1] else points

    return [ring(polygon.exterior.coords), *(ring(hole.coords) for hole in polygon.interiors)]


def _polygonal(geometry: shapely.Geometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry] if not geometry.is_empty else []
    if isinstance(geometry, MultiPolygon):
        return list(geometry.geoms)
    if hasattr(geometry, "geoms"):  # a GeometryCollection from make_valid: keep the polygons
        return [part for g in geometry.geoms for part in _polygonal(g)]
    return []


def binary_mask_polygons(mask: np.ndarray, *, tolerance: float = 0.1, min_area: float = 1.0) -> list[Polygon]:
    """Valid polygons (with holes) of the True pixels of `mask`, one per connected region."""
    contours, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    polygons: list[Polygon] = []
    for position, contour in enumerate(contours):
        if hierarchy[0][position][3] != -1 or len(contour) < 3:
            continue  # a hole (handled with its shell), or a line / single pixel
        holes = []
        child = hierarchy[0][position][2]
        while child != -1:
            if len(contours[child]) >= 3:
                holes.append(contours[child][:, 0, :])
            child = hierarchy[0][child][0]
        shell = contour[:, 0, :]
        geometry = shapely.make_valid(Polygon(shell, holes))
        if tolerance > 0:
            geometry = shapely.make_valid(geometry.simplify(tolerance, preserve_topology=True))
        polygons.extend(p for p in _polygonal(geometry) if p.area >= min_area)
    return polygons


def class_map_polygons(
    classes: np.ndarray,
    indices: Sequence[int],
    *,
    mode: str = "instance",
    tolerance: float = 0.1,
    min_area: float = 1.0,
) -> dict[int, list[list[list[list[float]]]]]:
    """Per class index, its objects: in `instance` mode one per region, in `semantic` mode one
    per class; each object is a list of regions' rings (shell, holes...) flattened to rings."""
    objects: dict[int, list[list[list[list[float]]]]] = {}
    for index in indices:
        polygons = binary_mask_polygons(classes == index, tolerance=tolerance, min_area=min_area)
        if not polygons:
            continue
        if mode == "semantic":
            objects[index] = [[ring for polygon in polygons for ring in _rings(polygon)]]
        else:
            objects[index] = [_rings(polygon) for polygon in polygons]
    return objects
