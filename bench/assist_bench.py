"""Assisted segmentation on a 2-megapixel image: GrabCut, magic wand and scissors, median of N.

    .venv/bin/python bench/assist_bench.py [--runs 15] [--width 1700 --height 1200]

What one API request computes once it holds its slot, on the decoded image (the per-process
cache's warm case, the common one: every click after the first on an image): the tool and the
tracing of its mask into a segmentation's rings (`assist.services._mask_result`, the one
tracer), or the scissors path and its simplification. Also the cold case's extra cost: decoding
the image's JPEG and PNG bytes (`assist.images.image_decode`), once per image and process.

The image is `tests/assist/scenes.street_scene` at the size asked (textured, noisy
background; a disk, a star, a ring), so every run also checks the answer against the drawn
truth (IoU). Prints each measure's median, p95 and max wall time and its median CPU time (on a
shared machine the fairer figure) in milliseconds and appends a JSON line to `--results`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
os.environ.setdefault("DEBUG", "1")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--width", type=int, default=1700)
    parser.add_argument("--height", type=int, default=1200)
    parser.add_argument("--results", default="/tmp/labelsite-assist-bench.jsonl")
    return parser.parse_args()


#: CPU milliseconds of the last `_timed` call's runs (all threads of this process): on a shared
#: machine the wall time waits for the cores, the CPU time much less so.
CPU_TIMES: list[float] = []


def _timed(runs: int, work: Callable[[], Any]) -> tuple[list[float], Any]:
    times, result = [], None
    CPU_TIMES.clear()
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        result = work()
        times.append((time.perf_counter() - started) * 1000)
        CPU_TIMES.append((time.process_time() - cpu) * 1000)
    return times, result


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1),
        "max_ms": round(ordered[-1], 1),
        "cpu_median_ms": round(statistics.median(CPU_TIMES), 1),
    }


def main() -> None:
    arguments = _arguments()
    import django

    django.setup()
    import cv2
    from PIL import Image

    from assist import images, tools
    from assist.services import _mask_result
    from tests.assist.scenes import anchors_on_circle, iou, rings_mask, street_scene

    scene = street_scene(arguments.width, arguments.height)
    width, height, image = scene.width, scene.height, scene.image
    scale = width / 640
    png = scene.png()
    jpeg_buffer = io.BytesIO()
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(jpeg_buffer, format="JPEG", quality=90)
    jpeg = jpeg_buffer.getvalue()
    runs = arguments.runs
    measures: dict[str, dict[str, Any]] = {}

    def record(name: str, times: list[float], quality: float | None = None) -> None:
        measures[name] = {**_summary(times), **({"iou": round(quality, 4)} if quality is not None else {})}
        extra = f"  IoU {quality:.3f}" if quality is not None else ""
        print(
            f"{name:<34} median {measures[name]['median_ms']:>7.1f} ms  p95 {measures[name]['p95_ms']:>7.1f}"
            f"  max {measures[name]['max_ms']:>7.1f}  CPU {measures[name]['cpu_median_ms']:>6.1f}{extra}"
        )

    times, _ = _timed(runs, lambda: images.image_decode(jpeg, name="scene.jpg"))
    record(f"decode JPEG ({len(jpeg) // 1024} KiB, cold only)", times)
    times, _ = _timed(runs, lambda: images.image_decode(png, name="scene.png"))
    record(f"decode PNG ({len(png) // 1024} KiB, cold only)", times)

    for name in ("disk", "star"):
        box = tools.box_clamped(scene.box_of(name, margin=int(12 * scale)), width, height)

        def grabcut_outline(box: tools.Box = box) -> Any:
            return _mask_result(tools.grabcut(image, box), "segmentation", tool="box")

        times, result = _timed(runs, grabcut_outline)
        found = rings_mask(result.points, width, height)
        record(f"grabcut {name} ({box.width}x{box.height} box)", times, iou(found, scene.truths[name]))

    seed = (int(170 * scale), int(150 * scale))
    times, result = _timed(
        runs, lambda: _mask_result(tools.magic_wand(image, seed, tolerance=40), "segmentation", tool="magic wand")
    )
    record(
        "magic wand (disk, tolerance 40)", times, iou(rings_mask(result.points, width, height), scene.truths["disk"])
    )
    times, result = _timed(
        runs, lambda: _mask_result(tools.magic_wand(image, (20, 20), tolerance=60), "segmentation", tool="magic wand")
    )
    record(f"magic wand (background, {int(result.area) * 100 // (width * height)} % of image)", times)

    centre, radius = (int(170 * scale), int(150 * scale)), int(90 * scale)
    anchors = anchors_on_circle(centre, radius, 5)
    times, _ = _timed(
        runs, lambda: tools.path_simplified(tools.scissors(image, anchors[:2], closed=False), closed=False)
    )
    distance = ((anchors[0][0] - anchors[1][0]) ** 2 + (anchors[0][1] - anchors[1][1]) ** 2) ** 0.5
    record(f"scissors, one click ({distance:.0f} px segment)", times)
    far = [[20.0, 20.0], [float(width - 20), float(height - 20)]]
    times, _ = _timed(runs, lambda: tools.path_simplified(tools.scissors(image, far, closed=False), closed=False))
    record("scissors, corner to corner (shrunk)", times)
    times, outline = _timed(
        runs, lambda: tools.path_simplified(tools.scissors(image, anchors, closed=True), closed=True)
    )
    record("scissors, 5 anchors closed (all)", times, iou(rings_mask([outline], width, height), scene.truths["disk"]))

    line = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "image": f"{width}x{height}",
        "runs": runs,
        "cpus": os.cpu_count(),
        "load": os.getloadavg()[0],
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "measures": measures,
    }
    with open(arguments.results, "a") as results:
        results.write(json.dumps(line) + "\n")
    print(f"load average {line['load']:.2f} on {line['cpus']} CPUs; appended to {arguments.results}")


if __name__ == "__main__":
    main()
