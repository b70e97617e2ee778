"""Brush strokes: the server's cost of one stroke (decode, paint the label, add or cut, trace).

    .venv/bin/python bench/brush_bench.py              # a 1920 x 1080 image
    .venv/bin/python bench/brush_bench.py --repeat 20

Three strokes on a 1920 x 1080 image, each through `segmentation_stroke_apply` exactly as
POST /api/tasks/{id}/brush runs it (no HTTP, no database): a 40 px brush dragged 600 px to
start a new label; the same added to a label of 600 x 400 px painted before; a 60 px eraser
through that label (a hole). Prints the median and the worst wall and CPU time, the size of the
request's run counts and the vertices traced. On a shared machine the wall time grows; the CPU
time much less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")

import django

django.setup()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from brush.strokes import Stroke, segmentation_stroke_apply  # noqa: E402
from formats.codecs.mask_polygons import mask_segmentation  # noqa: E402

WIDTH, HEIGHT = 1920, 1080


def stroke_of(mask: np.ndarray) -> Stroke:
    """The page's encoding: the painted box's row-major runs, starting unpainted."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, columns[0], columns[-1] + 1
    flat = mask[y0:y1, x0:x1].ravel()
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    counts = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    if flat[0]:
        counts = [0, *counts]
    return Stroke(x=int(x0), y=int(y0), width=int(x1 - x0), height=int(y1 - y0), counts=counts)


def line_mask(start: tuple[int, int], end: tuple[int, int], size: int) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    cv2.line(mask, start, end, 1, thickness=size, lineType=cv2.LINE_8)
    return mask.astype(bool)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    label = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    cv2.ellipse(label, (900, 500), (300, 200), 10, 0, 360, 1, -1)
    label_rings = mask_segmentation(label.astype(bool))
    cases = [
        ("new label, 40 px brush, 600 px", [], line_mask((300, 300), (900, 420), 40), False),
        ("added to a 600 x 400 label", label_rings, line_mask((1100, 500), (1500, 560), 40), False),
        ("60 px eraser through it", label_rings, line_mask((800, 450), (1000, 520), 60), True),
    ]
    print(f"image {WIDTH} x {HEIGHT}, {args.repeat} runs each")
    for name, rings, mask, erase in cases:
        stroke = stroke_of(mask)
        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            result = segmentation_stroke_apply(
                rings=rings, stroke=stroke, erase=erase, image_width=WIDTH, image_height=HEIGHT
            )
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        vertices = sum(len(ring) for ring in result)
        print(
            f"{name:34} wall median {statistics.median(walls) * 1000:6.1f} ms, worst {max(walls) * 1000:6.1f} ms; "
            f"CPU median {statistics.median(cpus) * 1000:6.1f} ms; {len(stroke.counts)} runs sent, "
            f"{len(result)} rings, {vertices} vertices"
        )


if __name__ == "__main__":
    main()
