"""Assisted segmentation on a task's image: GrabCut from a box, the magic wand, scissors.

The caller has checked that the user may label the task (`labeling.selectors.
task_get_for_labeling`). Each service reads the task's image (from this process's cache, else
from storage or its URL, outside the computing slot so that a slow fetch holds no core), then
takes one of the machine's computing slots (`assist.slots`), decodes the image if needed, runs
the tool and traces its mask with `formats.codecs.mask_polygons`, the one tracer from masks to
polygons. The answer is the points of a new label of the geometry asked for: one ring for a
polygon, rings (shells and holes) for a segmentation. Nothing is saved: the page shows the
result for the annotator to keep or discard, and keeps it as any drawn label.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np

from assist import images, slots, tools
from formats.codecs.mask_polygons import binary_mask_polygons, mask_segmentation, polygon_rings
from labeling.models import Task
from labelsite.errors import ErrorDetail, ValidationFailed
from projects.media_probe import media_image_bytes
from projects.models import Media, MediaSource

logger = logging.getLogger(__name__)

Geometry = Literal["polygon", "segmentation"]
GEOMETRIES: tuple[str, ...] = ("polygon", "segmentation")

#: The outline's largest deviation from the mask's pixel edges (shapely's simplify, pixels).
OUTLINE_TOLERANCE = 0.7
#: Vertices an answer carries at most; a ragged mask is simplified further until it fits.
MAX_VERTICES = 20_000
#: Anchors one scissors request takes at most (the page sends two: the last anchor and the new one).
MAX_ANCHORS = 100


@dataclass
class AssistResult:
    """A new label's geometry and points (image pixels), with what the tool measured."""

    type: str
    points: list[Any]
    area: int | None = None  # pixels of the mask (GrabCut, wand)
    path: list[list[float]] = field(default_factory=list)  # scissors: the edge-following path
    milliseconds: float = 0.0
    cached: bool = False  # the decoded image came from this process's cache

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "points": self.points,
            "milliseconds": round(self.milliseconds, 1),
            "cached": self.cached,
        }
        if self.area is not None:
            out["area"] = self.area
        if self.type == "line" or self.path:
            out["path"] = self.path
        return out


def _image_key(media: Media) -> tuple[str, ...]:
    where = media.file.name if media.source == MediaSource.LOCAL else media.url
    return (str(media.pk), str(media.source), str(where or ""))


def _size_problems(image: np.ndarray, media: Media) -> None:
    """The stored size must be the decoded one, or the page's coordinates are not the image's."""
    height, width = image.shape[:2]
    if media.width and media.height and (media.width, media.height) != (width, height):
        raise ValidationFailed(
            code="media_size_mismatch",
            message=f"{media.name!r} is {width} x {height} pixels but is recorded as {media.width} x "
            f"{media.height}; the assist tools cannot place their result. Upload the image again.",
        )


def _run(task: Task, work: Callable[[np.ndarray], AssistResult]) -> AssistResult:
    media = task.media
    key = _image_key(media)
    image = images.image_cached(key)
    cached = image is not None
    content = None if cached else media_image_bytes(media=media)
    started = time.perf_counter()
    with slots.assist_slot():
        if image is None:
            assert content is not None
            image = images.image_keep(key, images.image_decode(content, name=media.name))
        _size_problems(image, media)
        try:
            result = work(image)
        except tools.ToolInputError as exc:
            raise ValidationFailed(code="assist_invalid_input", message=str(exc)) from exc
        except cv2.error as exc:
            # Not seen with any input we tried; an answer that says so beats a 500.
            logger.warning("An assist tool failed on media %s: %s", media.pk, exc)
            raise ValidationFailed(
                code="assist_failed",
                message="OpenCV could not work on this image with that input; try another box or point.",
            ) from exc
    result.milliseconds = (time.perf_counter() - started) * 1000
    result.cached = cached
    return result


def _vertex_count(rings: Sequence[Sequence[Any]]) -> int:
    return sum(len(ring) for ring in rings)


def _mask_result(mask: np.ndarray, geometry: Geometry, *, tool: str) -> AssistResult:
    """The mask as a polygon (the outline of its largest region, holes left out: a polygon has
    none) or a segmentation (every region with its holes), simplified to `MAX_VERTICES`."""
    area = int(mask.sum())
    if not area:
        raise ValidationFailed(
            code="assist_nothing_found",
            message=f"The {tool} found no object there; "
            + (
                "draw the box around the object."
                if tool == "box"
                else "click inside the object or raise the tolerance."
            ),
        )
    tolerance = OUTLINE_TOLERANCE
    for _ in range(8):
        if geometry == "segmentation":
            points: list[Any] = mask_segmentation(mask, tolerance=tolerance, min_area=4.0)
        else:
            polygons = binary_mask_polygons(mask, tolerance=tolerance, min_area=4.0)
            points = polygon_rings(max(polygons, key=lambda p: p.area))[0] if polygons else []
        count = _vertex_count(points) if geometry == "segmentation" else len(points)
        if count <= MAX_VERTICES:
            break
        tolerance *= 2
    if not points:
        raise ValidationFailed(
            code="assist_nothing_found",
            message=f"The {tool} found only a region too thin to outline; "
            + ("draw the box around the object." if tool == "box" else "raise the tolerance."),
        )
    return AssistResult(type=geometry, points=points, area=area)


def _point_problems(point: Sequence[float], width: int | None, height: int | None, path: str) -> ErrorDetail | None:
    x, y = point
    if x < 0 or y < 0 or (width and x >= width) or (height and y >= height):
        return ErrorDetail(
            path=path,
            code="outside_image",
            message=f"({x}, {y}) is outside the {width} x {height} image; give pixels from the top left.",
        )
    return None


def _check_points(points: Sequence[tuple[str, Sequence[float]]], media: Media) -> None:
    problems = [p for path, point in points if (p := _point_problems(point, media.width, media.height, path))]
    if problems:
        raise ValidationFailed(code="invalid", message="A point is outside the image; see details.", details=problems)


def assist_grabcut(*, task: Task, box: Sequence[Sequence[float]], geometry: Geometry) -> AssistResult:
    """The object inside `box` ([[x0, y0], [x1, y1]], image pixels), as GrabCut separates it."""
    _check_points([("box[0]", box[0]), ("box[1]", box[1])], task.media)

    def work(image: np.ndarray) -> AssistResult:
        height, width = image.shape[:2]
        return _mask_result(tools.grabcut(image, tools.box_clamped(box, width, height)), geometry, tool="box")

    return _run(task, work)


def assist_magic_wand(*, task: Task, point: Sequence[float], tolerance: int, geometry: Geometry) -> AssistResult:
    """The connected region around `point` within `tolerance` (0-255) of its colour."""
    _check_points([("point", point)], task.media)

    def work(image: np.ndarray) -> AssistResult:
        return _mask_result(tools.magic_wand(image, point, tolerance=tolerance), geometry, tool="magic wand")

    return _run(task, work)


def assist_scissors(
    *, task: Task, points: Sequence[Sequence[float]], closed: bool, geometry: Geometry | Literal["line"]
) -> AssistResult:
    """The path along edges through the anchor `points` (closed: back to the first). As a
    polygon or segmentation it is the outline (closed); as a `line`, the path itself."""
    _check_points([(f"points[{index}]", point) for index, point in enumerate(points)], task.media)

    def work(image: np.ndarray) -> AssistResult:
        path = tools.scissors(image, points, closed=closed)
        outline = tools.path_simplified(path, closed=closed)
        if geometry == "line":
            return AssistResult(type="line", points=outline, path=outline)
        if not closed or len(outline) < 3:
            # An open path is the annotator's work in progress: the page draws it and asks for more.
            return AssistResult(type=geometry, points=[], path=outline)
        return AssistResult(type=geometry, points=[outline] if geometry == "segmentation" else outline, path=outline)

    return _run(task, work)
