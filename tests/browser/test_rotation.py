"""Rotated rectangles on the labeling page, in real headless Chromium: the handle and the keys
turn a box of a rotatable class (the stored rotation is read back through the REST API), and
boxes imported rotated are drawn rotated in any rectangle class."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from labeling.models import Label
from labeling.services import task_annotation_replace
from projects.label_config import label_config_replace
from projects.models import LabelEntry
from tests.browser.conftest import log_in, make_task, open_task, wait_saved
from tests.browser.test_labeling_page import Screen
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROTATION_CONFIG: list[dict[str, Any]] = [
    {"key": "panel", "title": "Solar panel", "type": "rectangle", "color": "#e6194b", "rotatable": True},
    {"key": "sign", "title": "Traffic sign", "type": "rectangle", "color": "#4363d8"},
]


@pytest.fixture
def rotation_project(labeling_project: Any) -> Any:
    label_config_replace(configuration=labeling_project.label_configuration, entries=ROTATION_CONFIG)
    return labeling_project


def api_label(page: Page, live_server: Any, task: Any) -> dict[str, Any]:
    """The task's only label as the REST API answers it, fetched by the page (its session)."""
    document = page.evaluate(
        "async (url) => (await fetch(url, {headers: {Accept: 'application/json'}})).json()",
        f"{live_server.url}/api/tasks/{task.pk}/annotation",
    )
    (label,) = document["labels"]
    return dict(label)


def centre(label: dict[str, Any]) -> tuple[float, float]:
    (x1, y1), (x2, y2) = label["points"]
    w, h, r = x2 - x1, y2 - y1, math.radians(label["rotation"])
    return x1 + w / 2 * math.cos(r) - h / 2 * math.sin(r), y1 + w / 2 * math.sin(r) + h / 2 * math.cos(r)


def test_a_box_of_a_rotatable_class_turns_with_its_handle_and_with_keys_about_its_centre(
    page: Page, live_server: Any, rotation_project: Any, annotator: Any
) -> None:
    task = make_task(rotation_project, "roof.png")
    task_annotation_replace(
        task=task, document={"labels": [{"key": "panel", "type": "rectangle", "points": [[300, 200], [500, 300]]}]}
    )
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)

    # Select the box, then grab the round handle 24 screen pixels above the middle of its top edge.
    page.mouse.click(*screen.at(400, 250))
    hx, hy = screen.at(400, 200)
    hy -= 24
    page.mouse.move(hx, hy)
    page.mouse.down()
    # Swing it round to the right of the centre (400, 250): the box turns 90° clockwise.
    page.mouse.move(*screen.at(480, 140), steps=4)
    page.mouse.move(*screen.at(560, 250), steps=4)
    page.mouse.up()
    wait_saved(page)
    turned = api_label(page, live_server, task)
    assert turned["rotation"] == pytest.approx(90, abs=0.5)
    assert centre(turned) == pytest.approx((400, 250), abs=0.5)
    # The turn keeps the box's size: it is the box's own frame that turns.
    (x1, y1), (x2, y2) = turned["points"]
    assert (x2 - x1, y2 - y1) == pytest.approx((200, 100), abs=0.2)

    # Keys: . turns 1° clockwise (three times), Shift+, 15° counter-clockwise.
    for _ in range(3):
        page.keyboard.press("Period")
    page.keyboard.press("Shift+Comma")
    wait_saved(page)
    keyed = api_label(page, live_server, task)
    assert keyed["rotation"] == pytest.approx(90 + 3 - 15, abs=0.5)
    assert centre(keyed) == pytest.approx((400, 250), abs=0.5)
    assert Label.objects.get(task=task).rotation == pytest.approx(78, abs=0.5)


def test_a_rotated_box_resizes_in_its_own_frame(
    page: Page, live_server: Any, rotation_project: Any, annotator: Any
) -> None:
    task = make_task(rotation_project, "resize.png")
    # Turned 90° about its top-left (400, 200): its own bottom-right corner is at (300, 400).
    task_annotation_replace(
        task=task,
        document={
            "labels": [{"key": "panel", "type": "rectangle", "points": [[400, 200], [600, 300]], "rotation": 90}]
        },
    )
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)
    page.mouse.click(*screen.at(350, 300))
    # Drag that corner 50 pixels further along the box's own width (down the screen).
    page.mouse.move(*screen.at(300, 400))
    page.mouse.down()
    page.mouse.move(*screen.at(300, 425), steps=3)
    page.mouse.move(*screen.at(300, 450), steps=3)
    page.mouse.up()
    wait_saved(page)
    label = api_label(page, live_server, task)
    assert label["rotation"] == pytest.approx(90, abs=0.01)
    # Wider by 50 in its own frame; the opposite corner (the top-left, 400 200) stayed.
    assert label["points"][0] == pytest.approx([400, 200], abs=0.2)
    assert label["points"][1] == pytest.approx([650, 300], abs=0.2)


def test_an_imported_rotated_box_is_drawn_rotated_in_a_class_without_the_flag_and_keys_leave_it(
    page: Page, live_server: Any, rotation_project: Any, annotator: Any
) -> None:
    task = make_task(rotation_project, "imported.png")
    # A sign turned 45° about its top-left corner (300, 200): 200 x 100 pixels.
    task_annotation_replace(
        task=task,
        document={"labels": [{"key": "sign", "type": "rectangle", "points": [[300, 200], [500, 300]], "rotation": 45}]},
    )
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)
    assert page.evaluate("window.labelsite.store.labels[0].rotation") == 45

    # Inside the turned box but outside the unturned one, and the other way round.
    turned_only, unturned_only = (330, 330), (480, 215)
    hits = page.evaluate(
        "([a, b]) => [a, b].map(([x, y]) => Boolean(window.labelsite.controller.shapeAt(x, y)))",
        [turned_only, unturned_only],
    )
    assert hits == [True, False]

    # The pixels say the same (a screenshot: the image from another origin taints the canvas
    # for getImageData): the class's fill tints the turned box only.
    def pixel(x: float, y: float) -> tuple[int, ...]:
        sx, sy = screen.at(x, y)
        shot = page.screenshot(clip={"x": round(sx), "y": round(sy), "width": 1, "height": 1})
        rgb: Any = Image.open(io.BytesIO(shot)).convert("RGB").getpixel((0, 0))
        return tuple(rgb)

    background = pixel(25 + 700, 25 + 500)  # far from every label, between the image's grid lines
    inside = pixel(*turned_only)
    outside = pixel(*unturned_only)
    assert inside != background
    assert outside == background

    # A class without the flag shows no handle and does not turn by keys.
    page.mouse.click(*screen.at(*turned_only))
    page.keyboard.press("Period")
    assert page.evaluate("window.labelsite.store.labels[0].rotation") == 45
    assert Label.objects.get(task=task).rotation == 45


def test_the_configuration_editor_makes_a_rectangle_class_rotatable(
    page: Page, live_server: Any, rotation_project: Any
) -> None:
    admin: Any = UserFactory(username="ada")
    MembershipFactory(user=admin, organization=rotation_project.organization, role="admin")
    label_config_replace(
        configuration=rotation_project.label_configuration,
        entries=[*ROTATION_CONFIG, {"key": "road", "title": "Road", "type": "polygon"}],
    )
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/projects/{rotation_project.pk}/configuration")
    page.wait_for_selector("body[data-ready=true]")

    panel, sign, road = (page.locator(f'.node[data-path="entries[{i}]"]') for i in range(3))
    expect(panel.locator("input[name=rotatable]").first).to_be_checked()
    expect(road.locator("input[name=rotatable]")).to_have_count(0)  # only rectangles turn
    sign.locator("input[name=rotatable]").first.check()
    expect(page.locator("#save-config")).to_be_enabled(timeout=10000)
    page.click("#save-config")
    expect(page.locator("#editor-status")).to_have_text("Saved", timeout=10000)

    flags = dict(LabelEntry.objects.filter(configuration__project=rotation_project).values_list("key", "rotatable"))
    assert flags == {"panel": True, "sign": True, "road": False}
