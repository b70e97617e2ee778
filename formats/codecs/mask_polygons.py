"""Segmentation masks to polygons with holes (reference/labelbox-ango.md, section 4).

- Colour masks: exact palette matches first; a blended (anti-aliased) pixel then takes the
  class of the nearest exactly matched pixel, never the nearest palette colour, so that the
  blend of red and blue never becomes a speck of purple. Unmatched pixels are counted.
- Tracing: OpenCV `RETR_CCOMP` per class (outer contours and their holes), shapely for
  `simplify(tolerance, preserve_topology=True)` and `make_valid`, keeping polygonal parts only
  and dropping parts under `min_area`. The repair is `make_valid(method="structure")`: the
  shell's area minus the holes' (the default linework repair lost holes that touch their
  shell). Strokes one pixel thin have no area and are lost (reference section 4.1).
- Back to pixels: `segmentation_mask` paints rings even-odd with their outlines, so that
  tracing its result gives the same rings (Label Studio's brush export relies on it).
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


def _pack(colour: Sequence[int]) -> int:
    return (int(colour[0]) << 16) | (int(colour[1]) << 8) | int(colour[2])


def packed_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) int32 colour codes `r << 16 | g << 8 | b`: one comparison per colour, not three."""
    rgb = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    return (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]


def class_map_from_colours(
    image: np.ndarray, palette: Mapping[int, Sequence[int]], *, background: int = -1
) -> tuple[np.ndarray, int]:
    """(H, W) class indices from an RGB image: exact matches, then blends from the nearest match.

    Pixels that match no palette colour and are black (0, 0, 0) stay unassigned, as does
    everything when no pixel matches exactly. Returns the map and the count of blended pixels.
    """
    codes = packed_rgb(image)
    classes = np.full(codes.shape, UNASSIGNED, dtype=np.int32)
    for index, colour in palette.items():
        classes[codes == _pack(colour)] = index
    black = codes == 0
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


def unmapped_colours(image: np.ndarray, palette: Mapping[int, Sequence[int]]) -> dict[tuple[int, int, int], int]:
    """Colours of an RGB mask that are neither a palette colour nor black but fill a 3x3 block
    somewhere, with their pixel counts: regions of a class the mapping lacks. A blend of an
    anti-aliased edge is a seam one or two pixels wide and never fills a block, so it is not
    counted here (`class_map_from_colours` gives it its neighbour's class)."""
    codes = packed_rgb(image)
    known = codes == 0
    for colour in palette.values():
        known |= codes == _pack(colour)
    if known.all():
        return {}
    padded = np.pad(codes, 1, mode="edge")
    height, width = codes.shape
    uniform = np.ones(codes.shape, dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            uniform &= padded[dy : dy + height, dx : dx + width] == codes
    regions = set(np.unique(codes[uniform & ~known]).tolist())
    if not regions:
        return {}
    values, counts = np.unique(codes[~known], return_counts=True)
    return {
        ((code >> 16) & 255, (code >> 8) & 255, code & 255): int(count)
        for code, count in zip(values.tolist(), counts.tolist(), strict=True)
        if code in regions
    }


def polygon_rings(polygon: Polygon) -> list[list[list[float]]]:
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


def binary_mask_polygons(
    mask: np.ndarray, *, tolerance: float = 0.1, min_area: float = 1.0, offset: tuple[int, int] = (0, 0)
) -> list[Polygon]:
    """Valid polygons (with holes) of the True pixels of `mask`, one per connected region;
    `offset` (x, y) is added to every point (where a crop of a larger mask starts)."""
    contours, hierarchy = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE, offset=offset
    )
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
        geometry = shapely.make_valid(Polygon(shell, holes), method="structure", keep_collapsed=False)
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
            objects[index] = [[ring for polygon in polygons for ring in polygon_rings(polygon)]]
        else:
            objects[index] = [polygon_rings(polygon) for polygon in polygons]
    return objects


def mask_segmentation(mask: np.ndarray, *, tolerance: float = 0.0, min_area: float = 1.0) -> list[list[list[float]]]:
    """One segmentation's rings for the True pixels of `mask`: every region's shell, then its holes
    (traced in the painted pixels' bounding box only)."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return []
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1
    crop = mask[y0:y1, x0:x1]
    polygons = binary_mask_polygons(crop, tolerance=tolerance, min_area=min_area, offset=(x0, y0))
    return [ring for polygon in polygons for ring in polygon_rings(polygon)]


def segmentation_crop(
    rings: Sequence[Sequence[Sequence[float]]], width: int, height: int
) -> tuple[np.ndarray, int, int]:
    """`segmentation_mask` cut to the rings' bounding box (within the canvas): `(crop, x0, y0)`.
    Painting only the box keeps the cost of a small segmentation on a large image small."""
    shift = 8
    points = [np.asarray(ring, dtype=np.float64)[:, :2] for ring in rings if len(ring)]
    if not points or width <= 0 or height <= 0:
        return np.zeros((0, 0), dtype=bool), 0, 0
    every = np.concatenate(points)
    x0 = int(min(max(np.floor(every[:, 0].min()) - 1, 0), width - 1))
    y0 = int(min(max(np.floor(every[:, 1].min()) - 1, 0), height - 1))
    x1 = int(min(max(np.ceil(every[:, 0].max()) + 2, x0 + 1), width))
    y1 = int(min(max(np.ceil(every[:, 1].max()) + 2, y0 + 1), height))
    origin = np.array([x0, y0], dtype=np.float64)
    scaled = [np.round((ring - origin) * (1 << shift)).astype(np.int32) for ring in points]
    parity = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    outlines = np.zeros_like(parity)
    for ring in scaled:
        filled = np.zeros_like(parity)
        cv2.fillPoly(filled, [ring], 1, lineType=cv2.LINE_8, shift=shift)
        parity ^= filled
    cv2.polylines(outlines, scaled, isClosed=True, color=1, thickness=1, lineType=cv2.LINE_8, shift=shift)
    return (parity | outlines).astype(bool), x0, y0


def segmentation_mask(rings: Sequence[Sequence[Sequence[float]]], width: int, height: int) -> np.ndarray:
    """The pixels a segmentation covers, as a `(height, width)` boolean array: the inverse of
    `mask_segmentation` (tracing the result gives the same rings back).

    Rings are read even-odd: a ring inside another is a hole, the way the tracer lists a
    region's shell and then its holes. The outline of every ring is painted too, since the
    tracer's outlines run through the centres of the region's own boundary pixels (of a
    hole as well). Coordinates are rounded to 1/256 pixel.
    """
    mask = np.zeros((height, width), dtype=bool)
    crop, x0, y0 = segmentation_crop(rings, width, height)
    mask[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    return mask
