"""Pure geometry rules, shared by the labeling API and every importer.

Each function returns problems as short English sentences (empty when the points are
valid); callers attach the place (JSON pointer, row) where the points came from.
"""

from __future__ import annotations

import math
import sys
from typing import Any

#: Fewest points of each geometry type (a rectangle is two corners).
MIN_POINTS = {"point": 1, "line": 2, "polygon": 3, "rectangle": 2}
MAX_POINTS = {"point": 1, "rectangle": 2}


def _is_coordinate(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):  # math.isfinite raises OverflowError for ints beyond the float range
        return abs(value) <= sys.float_info.max
    return isinstance(value, float) and math.isfinite(value)


def _ring_problems(points: Any, geometry_type: str) -> list[str]:
    if not isinstance(points, list):
        return ["points must be a list of [x, y] pairs"]
    problems = []
    for index, point in enumerate(points):
        if not (isinstance(point, list | tuple) and len(point) == 2 and all(_is_coordinate(v) for v in point)):
            problems.append(f"point {index} must be a pair of finite numbers [x, y]")
        elif point[0] < 0 or point[1] < 0:
            problems.append(f"point {index} has a negative coordinate; coordinates are pixels from the top left")
    fewest = MIN_POINTS.get(geometry_type, 3)
    if len(points) < fewest:
        problems.append(f"a {geometry_type} needs at least {fewest} points, got {len(points)}")
    most = MAX_POINTS.get(geometry_type)
    if most is not None and len(points) > most:
        problems.append(f"a {geometry_type} has exactly {most} point(s), got {len(points)}")
    return problems


def points_problems(geometry_type: str, points: Any) -> list[str]:
    """What is wrong with `points` for a geometry of this type."""
    if geometry_type == "segmentation":
        if not isinstance(points, list) or not points:
            return ["a segmentation is a list of polygons, each a list of [x, y] pairs"]
        problems: list[str] = []
        for index, ring in enumerate(points):
            problems.extend(f"polygon {index}: {p}" for p in _ring_problems(ring, "polygon"))
        return problems
    return _ring_problems(points, geometry_type)


def rotation_problems(geometry_type: str, rotation: Any) -> list[str]:
    """What is wrong with a label's `rotation` (degrees clockwise; any finite number, stored
    normalised to (-180, 180]): only a rectangle turns."""
    if rotation is None:
        return []
    if not _is_coordinate(rotation):
        return ["rotation must be a finite number of degrees"]
    if geometry_type != "rectangle" and float(rotation) % 360.0 != 0.0:
        return [f"a {geometry_type} has no rotation; only rectangles turn (send 0 or leave it out)"]
    return []
