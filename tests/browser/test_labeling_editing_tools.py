"""The labeling page's editing tools (issue 17, points 5-8 and 11), in real Chromium.

Each test drives the page with real mouse and keyboard events and reads the result back
through the native API the page saves to; coordinates are checked to half a pixel.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat
from playwright.sync_api import Page, expect

from labeling.services import task_annotation_replace
from tests.browser.conftest import DOCS, log_in, make_task, open_task, wait_until
from tests.browser.test_labeling_everyday_moves import close, drag, moves_project, saved_document
from tests.browser.test_labeling_page import Screen, click, press

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["moves_project"]  # the fixture, used by name

SHOTS = Path("/tmp/shots-page2")


def shoot(page: Page, name: str) -> None:
    """Into /tmp/shots-page2; also into docs/ (docs/labeling.md shows some) when LABELSITE_SCREENSHOT=1."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))
    if os.environ.get("LABELSITE_SCREENSHOT"):
        page.screenshot(path=str(DOCS / name))
    assert (SHOTS / name).stat().st_size > 10_000


CAR_WITH_WHEEL: dict[str, Any] = {
    "key": "car",
    "type": "rectangle",
    "points": [[100, 100], [300, 250]],
    "answers": {"colour": {"value": "red"}},
    "children": [{"key": "wheel", "type": "point", "points": [[150, 240]]}],
}


# --- 5: copy, paste, duplicate --------------------------------------------------------------------


def test_copy_paste_and_duplicate_keep_nested_labels_and_answers_and_paste_into_the_next_task_clipped(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    first = make_task(moves_project, "frame-1.png")
    task_annotation_replace(task=first, document={"labels": [CAR_WITH_WHEEL]})
    second = make_task(moves_project, "frame-2.png", width=250, height=200)
    log_in(page, live_server, "annie")
    open_task(page, live_server, first)
    screen = Screen(page)

    click(page, screen, 200, 150)  # select the car
    press(page, "Control+c")
    press(page, "Control+v")  # into its own task: beside the original
    press(page, "Control+d")  # the pasted copy, duplicated beside it
    expect(page.locator("#label-count")).to_have_text("6")
    labels = saved_document(page, first)["labels"]
    assert [label["key"] for label in labels] == ["car", "car", "car"]
    for label, offset in zip(labels, [0, 10, 20], strict=True):
        assert close(label["points"], [[100 + offset, 100 + offset], [300 + offset, 250 + offset]])
        assert label["answers"] == {"colour": {"value": "red"}}
        assert [child["key"] for child in label["children"]] == ["wheel"]
        assert close(label["children"][0]["points"], [[150 + offset, 240 + offset]])

    # The clipboard survives moving to the next frame; there the copy is cut to the smaller
    # image and the wheel, now outside it, is left out (and the notice says so).
    press(page, "n")
    page.wait_for_url(f"**/tasks/{second.pk}/")
    page.wait_for_selector("body[data-ready=true]")
    press(page, "Control+v")
    expect(page.locator("#toast")).to_contain_text("Pasted: 1 label")
    labels = saved_document(page, second)["labels"]
    assert len(labels) == 1
    assert close(labels[0]["points"], [[100, 100], [250, 200]])
    assert labels[0]["answers"] == {"colour": {"value": "red"}}
    assert labels[0]["children"] == []


def test_copy_all_labels_from_the_previous_task_clips_them_to_this_image(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    first = make_task(moves_project, "seq-1.png")
    polygon = {"key": "bicycle", "type": "polygon", "points": [[200, 50], [400, 50], [400, 300], [200, 300]]}
    # A road of two regions, one of them wholly beyond the next image's right edge.
    road = {
        "key": "road",
        "type": "segmentation",
        "points": [[[10, 10], [50, 10], [50, 50], [10, 50]], [[350, 10], [390, 10], [390, 50]]],
    }
    task_annotation_replace(task=first, document={"labels": [CAR_WITH_WHEEL, polygon, road]})
    second = make_task(moves_project, "seq-2.png", width=300, height=400)
    log_in(page, live_server, "annie")
    open_task(page, live_server, second)

    page.get_by_role("button", name="Copy labels of the previous task").click()
    expect(page.locator("#label-count")).to_have_text("4")
    labels = saved_document(page, second)["labels"]
    assert [label["key"] for label in labels] == ["car", "bicycle", "road"]
    assert close(labels[2]["points"], [road["points"][0]])  # the region outside is left out
    assert close(labels[0]["points"], [[100, 100], [300, 250]])
    assert close(labels[0]["children"][0]["points"], [[150, 240]])
    # The polygon is cut along the image's right edge, x = 300.
    assert close(labels[1]["points"], [[200, 50], [300, 50], [300, 300], [200, 300]])

    press(page, "Control+z")  # one step undoes the whole copy
    expect(page.locator("#label-count")).to_have_text("0")
    assert saved_document(page, second)["labels"] == []


# --- 6: select many -------------------------------------------------------------------------------


def rectangle(key: str, x1: float, y1: float, x2: float, y2: float) -> dict[str, Any]:
    return {"key": key, "type": "rectangle", "points": [[x1, y1], [x2, y2]]}


def test_shift_click_and_a_selection_box_select_many_to_move_change_class_and_delete_together(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "many.png")
    bicycle = {"key": "bicycle", "type": "polygon", "points": [[500, 100], [600, 100], [600, 200]]}
    labels = [
        rectangle("car", 100, 100, 200, 200),
        rectangle("car", 300, 100, 400, 200),
        bicycle,
        rectangle("sign", 100, 400, 200, 500),
    ]
    task_annotation_replace(task=task, document={"labels": labels})
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)

    click(page, screen, 150, 150)
    page.keyboard.down("Shift")
    click(page, screen, 350, 150)
    click(page, screen, 150, 450)
    page.keyboard.up("Shift")
    expect(page.locator("#shape-title")).to_have_text("3 labels selected")
    shoot(page, "select-many.png")
    drag(page, screen, (150, 150), (170, 160))  # dragging one moves the three
    press(page, "ArrowRight")
    press(page, "2")  # the class key changes all three to Truck
    saved = saved_document(page, task)["labels"]
    assert [label["key"] for label in saved] == ["truck", "truck", "bicycle", "truck"]
    assert close(saved[0]["points"], [[121, 110], [221, 210]])
    assert close(saved[1]["points"], [[321, 110], [421, 210]])
    assert close(saved[2]["points"], bicycle["points"])  # not selected: unmoved
    assert close(saved[3]["points"], [[121, 410], [221, 510]])

    # A box on empty space selects what lies wholly inside it; Shift+box adds to it.
    press(page, "Escape")
    drag(page, screen, (480, 80), (620, 220))
    expect(page.locator("#shape-title")).to_contain_text("Bicycle")
    page.keyboard.down("Shift")
    drag(page, screen, (110, 90), (430, 230))
    page.keyboard.up("Shift")
    expect(page.locator("#shape-title")).to_have_text("3 labels selected")
    press(page, "Delete")
    expect(page.locator("#label-count")).to_have_text("1")
    saved = saved_document(page, task)["labels"]
    assert len(saved) == 1
    assert saved[0]["key"] == "truck"
    assert close(saved[0]["points"], [[121, 410], [221, 510]])


# --- 7: hide and lock, the label list -------------------------------------------------------------


def test_the_label_list_renders_ten_thousand_labels_by_class_with_short_ids_a_class_filter_and_an_answer_search(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "crowd.png")
    signs = [
        rectangle("sign", (i % 100) * 8, (i // 100) * 6, (i % 100) * 8 + 5, (i // 100) * 6 + 4) for i in range(9_997)
    ]
    blue = {**rectangle("car", 10, 10, 60, 60), "answers": {"colour": {"value": "blue"}}}
    red = {**rectangle("car", 100, 10, 160, 60), "answers": {"colour": {"value": "red"}}}
    truck = rectangle("truck", 200, 10, 260, 60)
    task_annotation_replace(task=task, document={"labels": [*signs, blue, red, truck]})
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)

    expect(page.locator("#label-count")).to_have_text("10000")
    rows = page.locator("#label-list .label-row")
    assert 0 < rows.count() < 100  # only the rows in view exist
    groups = page.locator("#label-list .label-group__title")
    expect(groups.first).to_have_text("Car")  # grouped in the configuration's order
    expect(rows.first).to_contain_text("#9998")  # short ids: the place in the document
    # Scrolling to the end shows the last sign.
    page.locator("#label-list").evaluate("(node) => { node.scrollTop = node.scrollHeight; }")
    expect(page.locator("#label-list .label-row", has_text="#9997")).to_be_visible()
    expect(page.locator("#label-list .label-group__title", has_text="Traffic sign")).to_have_count(
        0
    )  # scrolled out of view

    page.select_option("#label-class-filter", label="Truck")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("#10000")
    page.select_option("#label-class-filter", label="All classes")
    page.fill("#label-search", "blue")  # the answer's option
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("#9998")
    rows.first.click()
    expect(page.locator("#shape-title")).to_contain_text("Car")
    # The selected label's answer is what the search found.
    assert page.evaluate("window.labelsite.store.selected.answers.colour.value") == "blue"


def test_hidden_and_locked_labels_and_classes_are_passed_over_by_clicks_boxes_moves_and_deletes(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "hide-lock.png")
    labels = [
        rectangle("car", 100, 100, 200, 200),
        rectangle("car", 300, 100, 400, 200),
        rectangle("truck", 100, 300, 200, 400),
    ]
    task_annotation_replace(task=task, document={"labels": labels})
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)

    # Lock the first car from its row: the canvas passes over it, so a drag on it is a
    # selection box that takes nothing, and Delete deletes nothing.
    page.get_by_role("button", name="Lock Car #1").click()
    drag(page, screen, (150, 150), (180, 180))
    press(page, "Delete")
    # Hide the truck class: a box around everything takes only the second car, which moves
    # and is deleted alone.
    page.get_by_role("button", name="Hide every Truck").click()
    drag(page, screen, (50, 50), (450, 450))  # a box around everything
    expect(page.locator("#shape-title")).to_contain_text("Car")
    press(page, "ArrowDown")
    press(page, "Delete")
    expect(page.locator("#label-count")).to_have_text("2")
    saved = saved_document(page, task)["labels"]
    assert [label["key"] for label in saved] == ["car", "truck"]
    assert close(saved[0]["points"], [[100, 100], [200, 200]])  # locked: neither moved nor deleted
    assert close(saved[1]["points"], [[100, 300], [200, 400]])  # hidden: not taken by the box

    # Unlock and show again: the same box now takes both, and Shift+H hides them together.
    page.get_by_role("button", name="Lock Car #1").click()
    page.get_by_role("button", name="Hide every Truck").click()
    drag(page, screen, (50, 50), (450, 450))
    expect(page.locator("#shape-title")).to_have_text("2 labels selected")
    press(page, "Shift+H")
    expect(page.locator("#label-list .label-item--hidden")).to_have_count(2)
    drag(page, screen, (50, 50), (450, 450))
    press(page, "Delete")  # nothing selected: nothing deleted
    assert len(saved_document(page, task)["labels"]) == 2


# --- 8: snapping ----------------------------------------------------------------------------------


def test_a_vertex_placed_or_dragged_near_a_neighbour_snaps_onto_its_vertex_or_edge_and_the_key_turns_it_off(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "fields.png")
    field = {"key": "bicycle", "type": "polygon", "points": [[100, 100], [300, 100], [300, 300], [100, 300]]}
    task_annotation_replace(task=task, document={"labels": [field]})
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)

    press(page, "3")
    # 2 px from the neighbour's corner, then free, then 1.5 px from its right edge.
    for x, y in [(302, 101), (450, 100), (450, 300), (301.5, 250)]:
        click(page, screen, x, y)
    press(page, "Enter")
    # Editing: a vertex dragged to 2 px from the neighbour's corner lands on it.
    press(page, "v")
    click(page, screen, 400, 200)
    drag(page, screen, (450, 300), (302, 298))
    labels = saved_document(page, task)["labels"]
    neighbour = labels[1]["points"]
    assert neighbour[0] == field["points"][1]  # exactly the same coordinates: a shared border
    assert close(neighbour[1], [450, 100])
    assert neighbour[2] == field["points"][2]
    assert neighbour[3] == [300, 250]  # on the edge x = 300

    # Shift+S turns snapping off (the help lists it, remappable); a point 2 px away stays there.
    press(page, "Shift+S")
    expect(page.locator("#snap")).to_have_text("Snap off")
    press(page, "3")
    for x, y in [(302, 101), (350, 40), (250, 40)]:
        click(page, screen, x, y)
    press(page, "Enter")
    labels = saved_document(page, task)["labels"]
    assert close(labels[2]["points"][0], [302, 101])
    assert labels[2]["points"][0] != [300, 100]
    press(page, "?")
    row = page.locator('#help-body tr[data-action="edit.snapping"]')
    expect(row).to_contain_text("Shift+S")
    expect(row.get_by_role("button", name="Change")).to_be_visible()


# --- 11: viewing ----------------------------------------------------------------------------------


def mean_brightness(page: Page) -> float:
    """The mean grey of the middle of the canvas (image, no label), from a real screenshot."""
    box = page.locator("#stage").bounding_box()
    assert box is not None
    png = page.screenshot(
        clip={"x": box["x"] + box["width"] / 2 - 40, "y": box["y"] + box["height"] / 2 - 15, "width": 80, "height": 30}
    )
    image = Image.open(io.BytesIO(png)).convert("L")
    return float(ImageStat.Stat(image).mean[0])


def test_brightness_contrast_gamma_change_only_the_view_and_one_to_one_and_fit_keep_coordinates_true(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "dark.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    before = mean_brightness(page)

    press(page, "Shift+B")  # B is the brush
    expect(page.locator("#adjust")).to_be_visible()
    page.locator("#gamma").focus()
    for _ in range(8):
        press(page, "ArrowRight")  # 1.0 -> 1.4: the mid-greys of the image lighten
    expect(page.locator('output[for="gamma"]')).to_have_text("1.40")
    wait_until(page, "window.labelsite.renderer.imageFilter === 'url(#image-gamma)'")
    page.wait_for_timeout(300)  # a frame or two for the canvas to repaint
    with_gamma = mean_brightness(page)
    assert with_gamma > before + 10
    page.locator("#brightness").focus()
    for _ in range(10):
        press(page, "ArrowRight")  # 100 % -> 150 %
    expect(page.locator('output[for="brightness"]')).to_have_text("150%")
    page.wait_for_timeout(300)
    assert mean_brightness(page) > with_gamma + 20
    press(page, "Escape")  # back to the canvas

    # 1:1, then a rectangle drawn at that zoom is saved where it was drawn; then fit again.
    page.locator("#stage").focus()
    press(page, "o")
    expect(page.locator("#zoom-level")).to_have_text("100%")
    screen = Screen(page)
    press(page, "2")
    drag(page, screen, (350, 250), (450, 330))
    labels = saved_document(page, task)["labels"]
    assert len(labels) == 1
    assert close(labels[0]["points"], [[350, 250], [450, 330]])
    assert "brightness" not in str(labels)
    press(page, "f")
    expect(page.locator("#zoom-level")).not_to_have_text("100%")
    shoot(page, "labeling-adjust.png")


def test_at_1024_px_the_canvas_keeps_70_percent_the_task_name_and_state_show_and_panels_fold(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "narrow-street.png")
    task_annotation_replace(task=task, document={"labels": [rectangle("car", 100, 100, 200, 200)]})
    log_in(page, live_server, "annie")
    for width, height in [(1440, 900), (1024, 768)]:
        page.set_viewport_size({"width": width, "height": height})
        open_task(page, live_server, task)
        shoot(page, f"labeling-narrow-{width}.png")
    stage_width = page.evaluate("document.getElementById('stage').getBoundingClientRect().width")
    assert stage_width >= 0.7 * 1024
    expect(page.locator(".lb-bar__task")).to_be_visible()
    expect(page.locator(".lb-bar__task")).to_have_text("narrow-street.png")
    expect(page.locator(".lb-bar .state")).to_be_visible()

    # The questions panel opens over the canvas (the canvas keeps its width), and folds away.
    page.get_by_role("button", name="Questions ◨").click()
    expect(page.locator("#shape-title")).to_be_visible()
    assert page.evaluate("document.getElementById('stage').getBoundingClientRect().width") == stage_width
    shoot(page, "labeling-1024-questions.png")
    press(page, "}")
    expect(page.locator("#shape-title")).to_be_hidden()
    # The left panel folds with {, and the canvas takes its width; a label is still edited right.
    press(page, "{")
    expect(page.locator("#class-list")).to_be_hidden()
    wait_until(page, f"document.getElementById('stage').getBoundingClientRect().width > {stage_width + 100}")
    screen = Screen(page)
    click(page, screen, 150, 150)
    press(page, "ArrowRight")
    labels = saved_document(page, task)["labels"]
    assert close(labels[0]["points"], [[101, 100], [201, 200]])
