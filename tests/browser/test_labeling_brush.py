"""The brush and the eraser (issue 17, point 10), in real Chromium.

Real mouse strokes paint and erase; the saved segmentation is read back through the API.
Traced polygons run through boundary pixels (pixel (i, j) is the image point (i, j), the
importers' convention) and OpenCV follows them with 8-connectivity, so they lie up to a
pixel's diagonal inside the painted shape: a shell's vertices are within [R - 1.5, R + 0.5] of
the stroke's path, a hole's within [r - 0.5, r + 1.5] of its centre; the hole's centre is where
the eraser pressed, to half a pixel; and the polygon's area matches the ideal shape's (IoU >=
0.97). A painted label comes back unchanged from a Label Studio brush export and import.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from shapely.geometry import LineString, Point, Polygon

from imports.services import import_items_inline
from labeling.models import Label, Task, TaskState
from projects.label_config import label_config_replace
from tests.browser.conftest import DOCS, log_in, make_task, open_task, wait_saved
from tests.browser.test_labeling_page import Screen, press
from tests.exports.conftest import export_bytes
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = Path("/tmp/shots/brush")

BRUSH_CONFIG: list[dict[str, Any]] = [
    {"key": "road", "title": "Road surface", "type": "segmentation", "color": "#911eb4", "shortcut": "4"},
    {"key": "grass", "title": "Grass", "type": "segmentation", "color": "#3cb44b", "shortcut": "5"},
    {"key": "sign", "title": "Traffic sign", "type": "rectangle", "color": "#42d4f4", "shortcut": "2"},
]


def screenshot(page: Page, name: str) -> None:
    """Into /tmp/shots/brush; also into docs/ (docs/labeling.md shows them) when LABELSITE_SCREENSHOT=1."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))
    if os.environ.get("LABELSITE_SCREENSHOT"):
        page.screenshot(path=str(DOCS / name))
    assert (SHOTS / name).stat().st_size > 10_000


@pytest.fixture
def brush_project(labeling_project: Any) -> Any:
    label_config_replace(configuration=labeling_project.label_configuration, entries=BRUSH_CONFIG)
    return labeling_project


class Pointer:
    """Moves the real mouse to whole client pixels and knows which image point each one is."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.screen = Screen(page)

    def client(self, x: float, y: float) -> tuple[int, int]:
        cx, cy = self.screen.at(x, y)
        return round(cx), round(cy)

    def image(self, client: tuple[int, int]) -> tuple[float, float]:
        s = self.screen
        return (client[0] - s.left - s.x) / s.scale, (client[1] - s.top - s.y) / s.scale

    def stroke(self, start: tuple[float, float], end: tuple[float, float] | None = None, *, shift: bool = False) -> Any:
        """A press at `start`, a drag to `end` (or none: a dab), a release; answers the image points."""
        first = self.client(*start)
        last = self.client(*end) if end else first
        if shift:
            self.page.keyboard.down("Shift")
        self.page.mouse.move(*first)
        self.page.mouse.down()
        if end:
            self.page.mouse.move(*last, steps=12)
        self.page.mouse.up()
        if shift:
            self.page.keyboard.up("Shift")
        return self.image(first), self.image(last)


def applied(page: Page) -> None:
    """Every stroke traced by the server and applied to the labels (polled with evaluate: the
    page's CSP refuses wait_for_function's eval)."""
    deadline = time.monotonic() + 30
    while page.evaluate("window.labelsite.brush.pending.length > 0 || Boolean(window.labelsite.brush.stroke)"):
        assert time.monotonic() < deadline, "the strokes were never applied"
        page.wait_for_timeout(50)


def brush_size(page: Page) -> float:
    return float(page.evaluate("window.labelsite.brush.size"))


def resize_to(page: Page, at_least: float) -> float:
    while brush_size(page) < at_least:
        press(page, "]")
    return brush_size(page)


def shrink_to(page: Page, at_most: float) -> float:
    while brush_size(page) > at_most:
        press(page, "[")
    return brush_size(page)


def saved_labels(page: Page, task: Any) -> list[dict[str, Any]]:
    wait_saved(page)
    document = page.evaluate(f"fetch('/api/tasks/{task.pk}/annotation').then((r) => r.json())")
    return list(document["labels"])


def distances(ring: list[list[float]], to: Any) -> list[float]:
    return [to.distance(Point(x, y)) for x, y in ring]


def test_painting_a_stroke_and_erasing_a_hole_saves_a_shell_and_a_hole_where_the_mouse_went(
    page: Page, live_server: Any, brush_project: Any, annotator: Any
) -> None:
    task = make_task(brush_project, "brush.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    pointer = Pointer(page)

    press(page, "4")
    press(page, "b")
    expect(page.locator("#brush-tool")).to_have_attribute("aria-pressed", "true")
    size = resize_to(page, 90)
    expect(page.locator("#brush-tool")).to_have_text(f"Brush {size:g} px")
    expect(page.locator("#mode-hint")).to_contain_text(f"brush {size:g} px")
    start, end = pointer.stroke((260, 250), (360, 250))
    applied(page)
    page.mouse.move(*pointer.client(470, 330))
    screenshot(page, "labeling-brush.png")

    press(page, "e")
    expect(page.locator("#eraser-tool")).to_have_attribute("aria-pressed", "true")
    hole_size = shrink_to(page, 36)
    centre, _ = pointer.stroke((310, 250))
    applied(page)
    page.mouse.move(*pointer.client(420, 330))
    screenshot(page, "labeling-eraser.png")

    labels = saved_labels(page, task)
    assert [label["key"] for label in labels] == ["road"]
    rings = labels[0]["points"]
    assert len(rings) == 2, "one shell and one hole"
    shell, hole = rings
    R, r = size / 2, hole_size / 2
    path = LineString([start, end])
    assert all(R - 1.5 <= d <= R + 0.5 for d in distances(shell, path)), sorted(distances(shell, path))
    assert all(r - 0.5 <= d <= r + 1.5 for d in distances(hole, Point(centre))), sorted(distances(hole, Point(centre)))
    hole_polygon = Polygon(hole)
    assert hole_polygon.centroid.distance(Point(centre)) <= 0.5
    saved = Polygon(shell, [hole])
    # Boundary pixels are points inside the painted shape: the ideal shape shrunk by half a pixel.
    ideal = path.buffer(R - 0.5, quad_segs=64).difference(Point(centre).buffer(r + 0.5, quad_segs=64))
    assert saved.intersection(ideal).area / saved.union(ideal).area >= 0.97

    # Undo takes one stroke back: the hole goes, then comes back with redo.
    press(page, "Control+z")
    expect(page.locator("#label-count")).to_have_text("1")
    assert len(page.evaluate("window.labelsite.store.labels[0].points")) == 1
    press(page, "Control+Shift+z")
    assert len(page.evaluate("window.labelsite.store.labels[0].points")) == 2

    # The status bar keeps the tools at the widths people use (looked at, not compared).
    for width, height in ((1440, 900), (1024, 768)):
        page.set_viewport_size({"width": width, "height": height})
        page.mouse.move(*Pointer(page).client(430, 330))
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"brush-{width}.png"))


def test_a_stroke_is_a_new_label_unless_shift_adds_it_to_the_selected_one(
    page: Page, live_server: Any, brush_project: Any, annotator: Any
) -> None:
    task = make_task(brush_project, "brush-regions.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    pointer = Pointer(page)

    press(page, "4")
    press(page, "b")
    radius = resize_to(page, 30) / 2
    first, _ = pointer.stroke((100, 100), (200, 100))
    applied(page)
    # Shift: the stroke joins the selected road (the one just painted), as a second region.
    second, _ = pointer.stroke((100, 300), (200, 300), shift=True)
    applied(page)
    expect(page.locator("#label-count")).to_have_text("1")
    # Without Shift, painting over it is a new label: nothing is extended silently.
    pointer.stroke((150, 80), (150, 160))
    applied(page)
    expect(page.locator("#label-count")).to_have_text("2")
    # Another segmentation class keeps the brush on.
    press(page, "5")
    expect(page.locator("#brush-tool")).to_have_attribute("aria-pressed", "true")
    pointer.stroke((500, 400), (600, 450))
    applied(page)

    labels = saved_labels(page, task)
    assert [label["key"] for label in labels] == ["road", "road", "grass"]
    assert len(labels[0]["points"]) == 2
    assert len(labels[1]["points"]) == 1
    tops = sorted(min(y for _, y in ring) for ring in labels[0]["points"])
    assert abs(tops[0] - (first[1] - radius)) <= 1.5
    assert abs(tops[1] - (second[1] - radius)) <= 1.5


def test_erasing_all_of_a_label_deletes_it_and_undo_brings_it_back(
    page: Page, live_server: Any, brush_project: Any, annotator: Any
) -> None:
    task = make_task(brush_project, "brush-erase.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    pointer = Pointer(page)

    press(page, "4")
    press(page, "b")
    shrink_to(page, 20)
    pointer.stroke((400, 300))
    applied(page)
    expect(page.locator("#label-count")).to_have_text("1")
    press(page, "Escape")  # the select tool: nothing selected is erased by a press on it
    press(page, "Escape")
    press(page, "e")
    resize_to(page, 40)
    pointer.stroke((395, 300), (405, 300))
    applied(page)
    expect(page.locator("#label-count")).to_have_text("0")
    expect(page.locator("#toast")).to_contain_text("The eraser removed the whole label")
    assert saved_labels(page, task) == []
    page.locator("#toast button", has_text="Undo").click()
    expect(page.locator("#label-count")).to_have_text("1")
    assert len(saved_labels(page, task)) == 1

    # The eraser needs a segmentation label: on empty canvas with nothing selected it says so.
    press(page, "Escape")
    press(page, "Escape")
    press(page, "e")
    pointer.stroke((100, 100))
    expect(page.locator("#toast")).to_contain_text("The eraser works on a segmentation label")


def test_brush_keys_are_in_the_help_and_can_be_remapped(
    page: Page, live_server: Any, brush_project: Any, annotator: Any
) -> None:
    task = make_task(brush_project, "brush-keys.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    press(page, "?")
    help_dialog = page.locator("#help")
    expect(help_dialog.locator('tr[data-action="tool.brush"]')).to_contain_text("B")
    expect(help_dialog.locator('tr[data-action="tool.eraser"]')).to_contain_text("E")
    expect(help_dialog.locator('tr[data-action="view.adjust"]')).to_contain_text("Shift+B")
    expect(help_dialog).to_contain_text("make it smaller, larger")
    help_dialog.locator('button[data-remap="tool.brush"]').click()
    page.keyboard.press("y")
    expect(help_dialog.locator('tr[data-action="tool.brush"]')).to_contain_text("Y")
    page.click("#help-close")
    press(page, "4")
    press(page, "y")
    expect(page.locator("#brush-tool")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("fetch('/api/me/labeling-keys').then((r) => r.json())") == {"keys": {"tool.brush": "y"}}


def test_a_painted_label_comes_back_unchanged_through_a_label_studio_brush_export_and_import(
    page: Page, live_server: Any, brush_project: Any, annotator: Any
) -> None:
    task = make_task(brush_project, "brush-export.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    pointer = Pointer(page)
    press(page, "4")
    press(page, "b")
    resize_to(page, 80)
    pointer.stroke((300, 300), (420, 340))
    press(page, "e")
    shrink_to(page, 30)
    pointer.stroke((360, 320))
    applied(page)
    painted = saved_labels(page, task)[0]["points"]
    assert len(painted) == 2

    Task.objects.filter(pk=task.pk).update(state=TaskState.COMPLETED)
    fresh: Any = ProjectFactory(organization=brush_project.organization)
    label_config_replace(configuration=fresh.label_configuration, entries=BRUSH_CONFIG)
    task.media.dataset.projects.add(fresh)
    Task.objects.get_or_create(project=fresh, media=task.media, defaults={"state": TaskState.BACKLOG})
    items = json.loads(export_bytes(brush_project, "label_studio"))
    results = items[0]["annotations"][0]["result"]
    assert [result["type"] for result in results] == ["brushlabels"]
    import_items_inline(project=fresh, items=items, format="label_studio", options={"match_by": "name"})

    (imported,) = Label.objects.filter(task__project=fresh)
    assert imported.points == painted
    assert not any(math.isnan(x) for ring in painted for point in ring for x in point)


def test_the_brush_size_is_in_image_pixels_at_any_zoom(
    page: Page, live_server: Any, brush_project: Any, annotator: Any
) -> None:
    task = make_task(brush_project, "brush-zoom.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    press(page, "4")
    press(page, "b")
    size = resize_to(page, 40)
    for _ in range(3):
        press(page, "+")
    zoomed = Pointer(page)
    assert zoomed.screen.scale > 1.5
    centre, _ = zoomed.stroke((400, 300))
    applied(page)

    (label,) = saved_labels(page, task)
    (ring,) = label["points"]
    disc = Polygon(ring)
    assert disc.centroid.distance(Point(centre)) <= 0.5
    ideal = Point(centre).buffer(size / 2 - 0.5, quad_segs=64)
    assert disc.intersection(ideal).area / disc.union(ideal).area >= 0.95
