"""A task with 1,000 polygons of 20 points opens fast and pans smoothly.

Measured in real headless Chromium (software rendering, --disable-gpu) and printed; the
numbers go to docs/benchmarks.md. The assertions are loose bounds that catch an order of
magnitude regression without failing on a busy CI machine; the targets are first paint
under 1 s and frames within 16.7 ms (60 frames per second).
"""

from __future__ import annotations

import io
import math
import statistics
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, Route

from labeling.services import task_annotation_replace
from tests.browser.conftest import IMAGE_HOST, log_in, make_task

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH, HEIGHT = 2000, 1500
COLUMNS, ROWS = 40, 25  # 1,000 polygons
SIDES = 20


def polygons() -> list[dict[str, Any]]:
    cell_w, cell_h = WIDTH / COLUMNS, HEIGHT / ROWS
    radius = min(cell_w, cell_h) * 0.45
    labels = []
    for row in range(ROWS):
        for column in range(COLUMNS):
            cx, cy = (column + 0.5) * cell_w, (row + 0.5) * cell_h
            points = [
                [
                    round(cx + radius * math.cos(2 * math.pi * i / SIDES), 1),
                    round(cy + radius * math.sin(2 * math.pi * i / SIDES), 1),
                ]
                for i in range(SIDES)
            ]
            labels.append({"key": "car", "type": "polygon", "points": points})
    return labels


def photo_png() -> bytes:
    image = Image.radial_gradient("L").resize((WIDTH, HEIGHT)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def test_a_thousand_polygons_open_fast_and_pan_smoothly(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "crowd.png", width=WIDTH, height=HEIGHT)
    task_annotation_replace(task=task, document={"labels": polygons()})
    big = photo_png()

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="image/png", body=big)

    page.route(f"{IMAGE_HOST}/crowd.png", serve)
    log_in(page, live_server, "annie")
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#label-count").inner_text() == "1000"
    first_paint = page.evaluate("window.labelsite.firstPaint")
    first_draw = page.evaluate("window.labelsite.renderer.frameTimes.slice(-1)[0]")

    # Zoom in so that the polygons are large on screen, then pan with the middle button
    # for about two seconds while counting animation frames.
    page.keyboard.press("+")
    page.keyboard.press("+")
    page.evaluate(
        """() => {
            window.__frames = [];
            window.__draws = window.labelsite.renderer.frameTimes.length;
            const tick = (t) => { window.__frames.push(t); if (window.__sampling) requestAnimationFrame(tick); };
            window.__sampling = true;
            requestAnimationFrame(tick);
        }"""
    )
    box = page.locator("#stage").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down(button="middle")
    for step in range(120):
        angle = step / 120 * 2 * math.pi
        page.mouse.move(x + 200 * math.sin(angle), y + 120 * math.sin(2 * angle))
        page.wait_for_timeout(16)
    page.mouse.up(button="middle")
    result = page.evaluate(
        """() => {
            window.__sampling = false;
            const f = window.__frames;
            const intervals = f.slice(1).map((t, i) => t - f[i]);
            const draws = window.labelsite.renderer.frameTimes.slice(window.__draws);
            return {intervals, draws, elapsed: f[f.length - 1] - f[0]};
        }"""
    )
    intervals, draws = result["intervals"], result["draws"]
    fps = 1000 * len(intervals) / result["elapsed"]
    report = {
        "first_paint_ms": round(first_paint),
        "first_draw_ms": round(first_draw, 1),
        "pan_frames": len(intervals),
        "pan_fps": round(fps, 1),
        "frame_interval_median_ms": round(statistics.median(intervals), 1),
        "frame_interval_p95_ms": round(percentile(intervals, 0.95), 1),
        "draw_median_ms": round(statistics.median(draws), 2),
        "draw_p95_ms": round(percentile(draws, 0.95), 2),
        "draw_max_ms": round(max(draws), 2),
        "redraws": len(draws),
    }
    print(f"\nlabeling page, 1,000 polygons x 20 points, {WIDTH}x{HEIGHT} image: {report}")
    assert len(draws) > 30, "panning redrew the canvas"
    assert first_paint < 3000
    assert report["draw_p95_ms"] < 33
    assert report["frame_interval_median_ms"] < 50
