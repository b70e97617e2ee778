"""The labeling page's everyday moves (issue 17, points 1-4, 12 and 14), in real Chromium.

Each test drives the page with real mouse and keyboard events and reads the result back
through the native API the page saves to; coordinates are checked to half a pixel.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from labeling.services import task_annotation_replace
from projects.label_config import label_config_replace
from tests.browser.conftest import DOCS, log_in, make_task, open_task, wait_saved
from tests.browser.test_labeling_page import Screen, click, press

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = Path("/tmp/shots-page")


def screenshot(page: Page, name: str) -> None:
    """Into /tmp/shots-page; also into docs/ (docs/labeling.md shows them) when LABELSITE_SCREENSHOT=1."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))
    if os.environ.get("LABELSITE_SCREENSHOT"):
        page.screenshot(path=str(DOCS / name))
    assert (SHOTS / name).stat().st_size > 10_000


PLAIN_OPTIONS = [{"key": "red", "label": "Red"}, {"key": "blue", "label": "Blue"}]

#: Two rectangle classes that share a question and a nested class, a polygon class with a
#: long name, a segmentation, and a class with a letter shortcut.
MOVES_CONFIG: list[dict[str, Any]] = [
    {
        "key": "car",
        "title": "Car",
        "type": "rectangle",
        "color": "#e6194b",
        "shortcut": "1",
        "children": [
            {"key": "colour", "title": "Colour", "type": "select", "options": PLAIN_OPTIONS},
            {"key": "damage", "title": "Damage", "type": "checklist", "options": [{"key": "dent", "label": "Dent"}]},
            {"key": "wheel", "title": "Wheel", "type": "point", "color": "#ffe119", "shortcut": "5"},
            {"key": "hitch", "title": "Trailer hitch", "type": "point", "color": "#f032e6"},
        ],
    },
    {
        "key": "truck",
        "title": "Truck",
        "type": "rectangle",
        "color": "#4363d8",
        "shortcut": "2",
        "children": [
            {"key": "colour", "title": "Colour", "type": "select", "options": PLAIN_OPTIONS},
            {"key": "wheel", "title": "Wheel", "type": "point", "color": "#bfef45", "shortcut": "6"},
        ],
    },
    {
        "key": "bicycle",
        "title": "Bicycle with a child trailer attached behind it",
        "type": "polygon",
        "color": "#3cb44b",
        "shortcut": "3",
    },
    {"key": "road", "title": "Road surface", "type": "segmentation", "color": "#911eb4", "shortcut": "4"},
    {"key": "sign", "title": "Traffic sign", "type": "rectangle", "color": "#42d4f4", "shortcut": "s"},
]


@pytest.fixture
def moves_project(labeling_project: Any) -> Any:
    label_config_replace(configuration=labeling_project.label_configuration, entries=MOVES_CONFIG)
    return labeling_project


def close(actual: Any, expected: Any, tolerance: float = 0.5) -> bool:
    """Coordinates equal to half a pixel, nested lists of any depth."""
    if isinstance(expected, int | float):
        return abs(actual - expected) <= tolerance
    return len(actual) == len(expected) and all(close(a, e, tolerance) for a, e in zip(actual, expected, strict=True))


def drag(page: Page, screen: Screen, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*screen.at(*start))
    page.mouse.down()
    middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    page.mouse.move(*screen.at(*middle), steps=3)
    page.mouse.move(*screen.at(*end), steps=3)
    page.mouse.up()


def saved_document(page: Page, task: Any) -> Any:
    wait_saved(page)
    return page.evaluate(f"fetch('/api/tasks/{task.pk}/annotation').then((r) => r.json())")


def entry_id(project: Any, key: str, parent: str | None = None) -> str:
    entries = project.label_configuration.entries.filter(key=key)
    entries = entries.filter(parent__key=parent) if parent else entries.filter(parent__isnull=True)
    return str(entries.get().id)


# --- 1: a press with a drawing tool always starts a new shape -------------------------------------


def test_a_drawing_tool_press_on_a_corner_or_vertex_of_a_label_starts_a_new_shape(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "touching.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)

    press(page, "2")
    drag(page, screen, (100, 100), (200, 180))
    # Started on the bottom-right corner of the box just drawn (and still selected).
    drag(page, screen, (200, 180), (300, 260))
    press(page, "3")
    for x, y in [(400, 100), (500, 100), (500, 200)]:
        click(page, screen, x, y)
    press(page, "Enter")
    # The first click lands on a vertex of the polygon just drawn (and still selected).
    for x, y in [(500, 200), (600, 200), (600, 300)]:
        click(page, screen, x, y)
    press(page, "Enter")
    expect(page.locator("#label-count")).to_have_text("4")

    # Editing handles inside a drawing tool takes Alt: select the second truck (Ctrl+click),
    # then Alt+drag its bottom-right corner.
    press(page, "2")
    page.keyboard.down("Control")
    click(page, screen, 250, 220)
    page.keyboard.up("Control")
    page.keyboard.down("Alt")
    drag(page, screen, (300, 260), (320, 290))
    page.keyboard.up("Alt")
    # Or Ctrl: select the second bicycle, then Ctrl+drag its last vertex.
    page.keyboard.down("Control")
    click(page, screen, 580, 220)
    drag(page, screen, (600, 300), (610, 320))
    page.keyboard.up("Control")
    expect(page.locator("#label-count")).to_have_text("4")

    labels = saved_document(page, task)["labels"]
    assert [label["key"] for label in labels] == ["truck", "truck", "bicycle", "bicycle"]
    assert close(labels[0]["points"], [[100, 100], [200, 180]])
    assert close(labels[1]["points"], [[200, 180], [320, 290]])
    assert close(labels[2]["points"], [[400, 100], [500, 100], [500, 200]])
    assert close(labels[3]["points"], [[500, 200], [600, 200], [610, 320]])


# --- 2: a second segmentation polygon is a new label unless added explicitly ------------------------


def test_a_second_segmentation_polygon_is_a_new_label_unless_shift_or_add_region_joins_it(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "roads.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)
    first = [(50, 350), (150, 350), (150, 450)]
    second = [(200, 350), (300, 350), (300, 450)]
    joined_by_shift = [(350, 350), (450, 350), (450, 450)]
    joined_by_button = [(50, 500), (150, 500), (150, 580)]
    separate = [(600, 350), (700, 350), (700, 450)]

    press(page, "4")
    for points in (first, second):
        for x, y in points:
            click(page, screen, x, y)
        press(page, "Enter")
    expect(page.locator("#label-count")).to_have_text("2")
    # Shift held while clicking: the polygon joins the selected label (the second).
    page.keyboard.down("Shift")
    for x, y in joined_by_shift:
        click(page, screen, x, y)
    page.keyboard.up("Shift")
    press(page, "Enter")
    expect(page.locator("#label-count")).to_have_text("2")
    # "Add region" on the first label: the next polygon joins it.
    page.locator("#label-list .label-row").nth(0).click()
    page.click("#add-region")
    for x, y in joined_by_button:
        click(page, screen, x, y)
    press(page, "Enter")
    expect(page.locator("#label-count")).to_have_text("2")
    # Drawing again, away from them, is a new label: nothing is extended silently.
    for x, y in separate:
        click(page, screen, x, y)
    press(page, "Enter")
    expect(page.locator("#label-count")).to_have_text("3")

    labels = saved_document(page, task)["labels"]
    assert [label["key"] for label in labels] == ["road", "road", "road"]
    assert close(labels[0]["points"], [first, joined_by_button])
    assert close(labels[1]["points"], [second, joined_by_shift])
    assert close(labels[2]["points"], [separate])


# --- 3: a nested shape drawn with no parent selected ------------------------------------------------


def test_a_nested_shape_without_a_selected_parent_goes_into_the_car_that_contains_it_or_the_page_asks(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "parking.png")
    car = {"key": "car", "type": "rectangle"}
    task_annotation_replace(
        task=task,
        document={
            "labels": [
                {**car, "points": [[50, 50], [350, 350]]},  # #1 holds #2
                {**car, "points": [[100, 100], [300, 300]]},  # #2
                {**car, "points": [[400, 100], [700, 400]]},  # #3 overlaps #4
                {**car, "points": [[550, 250], [780, 550]]},  # #4
            ]
        },
    )
    empty = make_task(moves_project, "empty-street.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)

    press(page, "5")
    # Inside #1 and #2: the innermost car takes the wheel.
    click(page, screen, 200, 200)
    # The wheel just drawn is selected, but its car does not hold this one; #3 and #4 both
    # do and neither holds the other: the page asks.
    click(page, screen, 600, 300)
    chooser = page.locator("#parent-chooser")
    expect(chooser).to_be_visible()
    expect(chooser).to_contain_text("inside 2")
    chooser.get_by_role("button", name="#4").click()
    expect(chooser).to_be_hidden()
    # Inside no car: the page asks among all; Esc declines, and the page says so.
    click(page, screen, 150, 500)
    expect(chooser).to_contain_text("No “Car” contains")
    expect(chooser.locator("button[data-uid]")).to_have_count(4)
    press(page, "Escape")
    expect(chooser).to_be_hidden()
    expect(page.locator("#toast")).to_contain_text("was not placed")

    labels = saved_document(page, task)["labels"]
    assert [len(label["children"]) for label in labels] == [0, 1, 0, 1]
    assert labels[1]["children"][0]["key"] == "wheel"
    assert close(labels[1]["children"][0]["points"], [[200, 200]])
    assert close(labels[3]["children"][0]["points"], [[600, 300]])

    # With no car on the image at all, the page says why the wheel cannot be placed.
    open_task(page, live_server, empty)
    press(page, "5")
    click(page, Screen(page), 300, 300)
    expect(page.locator("#toast")).to_contain_text("this image has none yet: draw the Car first")
    assert saved_document(page, empty)["labels"] == []


# --- 4: change a label's class ------------------------------------------------------------------------


def test_changing_a_labels_class_drops_what_no_longer_applies_with_a_notice_and_undo_restores_it(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "reclass.png")
    task_annotation_replace(
        task=task,
        document={
            "labels": [
                {
                    "key": "car",
                    "type": "rectangle",
                    "points": [[100, 100], [300, 250]],
                    "answers": {"colour": {"value": "red"}, "damage": {"value": ["dent"]}},
                    "children": [
                        {"key": "wheel", "type": "point", "points": [[150, 250]]},
                        {"key": "hitch", "type": "point", "points": [[300, 200]]},
                    ],
                }
            ]
        },
    )
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)

    click(page, screen, 200, 180)  # the select tool is on: select the car
    chooser = page.locator("#shape-class")
    # Same geometry, same level: the rectangle classes at the root, not the polygon class.
    assert chooser.locator("option").all_text_contents() == ["Car", "Truck", "Traffic sign"]
    chooser.select_option(label="Truck")
    toast = page.locator("#toast")
    expect(toast).to_contain_text("Changed Car to Truck")
    expect(toast).to_contain_text("Damage")
    expect(toast).to_contain_text("1 nested label")
    # The notice's Undo brings everything back.
    toast.get_by_role("button", name="Undo (Ctrl+Z)").click()
    expect(page.locator("#shape-title")).to_contain_text("Car")
    (label,) = saved_document(page, task)["labels"]
    assert label["key"] == "car"
    assert label["answers"]["damage"]["value"] == ["dent"]
    assert [child["key"] for child in label["children"]] == ["wheel", "hitch"]

    # Redo: the truck keeps what applies to it, and nothing else.
    press(page, "Control+Shift+z")
    expect(page.locator("#shape-title")).to_contain_text("Truck")
    (label,) = saved_document(page, task)["labels"]
    assert label["key"] == "truck"
    assert close(label["points"], [[100, 100], [300, 250]])
    assert label["answers"] == {"colour": {"value": "red", "answers": {}}}
    assert [child["key"] for child in label["children"]] == ["wheel"]
    assert close(label["children"][0]["points"], [[150, 250]])

    # The class shortcut while a label is selected (select tool) changes its class too.
    press(page, "1")
    expect(page.locator("#shape-title")).to_contain_text("Car")
    (label,) = saved_document(page, task)["labels"]
    assert label["key"] == "car"
    assert label["answers"] == {"colour": {"value": "red", "answers": {}}}
    # A class of another geometry is not a change of class: it picks that drawing tool.
    press(page, "3")
    expect(page.locator("#class-list button[data-key=bicycle]")).to_have_attribute("aria-pressed", "true")
    press(page, "Control+z")
    expect(page.locator("#shape-title")).to_contain_text("Truck")
    (label,) = saved_document(page, task)["labels"]
    assert label["key"] == "truck"
    assert [child["key"] for child in label["children"]] == ["wheel"]


# --- 12: keys in plain words, letter shortcuts, remapping per user -----------------------------------------


def test_keys_are_listed_plainly_letters_work_and_an_annotator_remaps_keys_that_stay_theirs(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "keys-1.png")
    following = make_task(moves_project, "keys-2.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)

    # The configuration's letter shortcut picks its class.
    press(page, "s")
    expect(page.locator("#class-list button[data-key=sign]")).to_have_attribute("aria-pressed", "true")
    press(page, "Escape")

    press(page, "?")
    help_dialog = page.locator("#help")
    expect(help_dialog).to_be_visible()
    text = help_dialog.inner_text()
    assert "1-6, S" in text
    assert "arrow keys" in text
    assert "…" not in text
    assert "←" not in text
    assert " + " not in text
    # Next task: N -> K.
    help_dialog.locator("[data-remap='task.next']").click()
    press(page, "k")
    expect(page.locator("#help-message")).to_contain_text("is now K")
    # A key that is taken is refused, naming its holder.
    help_dialog.locator("[data-remap='task.previous']").click()
    press(page, "s")
    expect(page.locator("#help-message")).to_contain_text("already “Traffic sign”")
    # The traffic sign class: S -> T.
    help_dialog.locator(f"[data-remap='class:{entry_id(moves_project, 'sign')}']").click()
    press(page, "t")
    expect(help_dialog.locator(f"tr[data-action='class:{entry_id(moves_project, 'sign')}']")).to_contain_text("T")
    screenshot(page, "labeling-keys.png")
    page.click("#help-close")
    expect(help_dialog).to_be_hidden()
    expect(page.locator("#class-list button[data-key=sign] kbd")).to_have_text("T")

    press(page, "t")
    drag(page, screen, (100, 100), (220, 160))
    (label,) = saved_document(page, task)["labels"]
    assert label["key"] == "sign"
    assert close(label["points"], [[100, 100], [220, 160]])

    # The annotator's keys are kept on the server, for them only.
    kept = page.evaluate("fetch('/api/me/labeling-keys').then((r) => r.json())")["keys"]
    assert kept == {"task.next": "k", f"class:{entry_id(moves_project, 'sign')}": "t"}

    # K goes to the next task, where the annotator's keys are still theirs.
    press(page, "k")
    page.wait_for_url(f"{live_server.url}/tasks/{following.pk}/")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#next")).to_have_attribute("title", "Next task (K)")
    press(page, "t")
    drag(page, Screen(page), (300, 300), (400, 380))
    (label,) = saved_document(page, following)["labels"]
    assert label["key"] == "sign"
    assert close(label["points"], [[300, 300], [400, 380]])


# --- 14: the side panels fit, the save pill does not move the toolbar ----------------------------------------


#: Text that is cut off, or that runs under a button or a key label, in the side panels.
FIT_PROBLEMS = """() => {
    const out = [];
    const titles = ".lb-side .tool__title, .lb-side .label-row__title, .lb-side .prediction__title";
    for (const node of document.querySelectorAll(titles)) {
        if (node.scrollWidth > node.clientWidth + 1) out.push(`truncated: ${node.textContent}`);
    }
    for (const row of document.querySelectorAll(".lb-side .tool, .lb-side .label-row, .lb-side .prediction")) {
        const texts = [...row.querySelectorAll(".tool__text, .label-row__text, .link-button")];
        const controls = [...row.querySelectorAll("kbd, .button, .badge")];
        for (const t of texts) for (const c of controls) {
            const a = t.getBoundingClientRect(), b = c.getBoundingClientRect();
            const overlap = a.right > b.left && b.right > a.left && a.bottom > b.top && b.bottom > a.top;
            if (overlap) out.push(`overlap: ${t.textContent} / ${c.textContent}`);
        }
    }
    return out;
}"""

#: Rows of the (virtualised) label list whose content runs out of the row into the next one.
ROW_OVERFLOWS = """() => [...document.querySelectorAll("#label-list .vlist__row")]
    .filter((row) => {
        const box = row.getBoundingClientRect();
        return [...row.querySelectorAll("*")].some((node) => node.getBoundingClientRect().bottom > box.bottom + 1);
    })
    .map((row) => row.textContent.trim())"""

#: Record the save pill's state and width, and where the Skip button after it is, on every change.
WATCH_PILL = """() => {
    const pill = document.getElementById("save-state");
    const skip = document.getElementById("skip");
    window.pillSeen = [];
    const note = () => window.pillSeen.push(
        [pill.dataset.state, pill.getBoundingClientRect().width, skip.getBoundingClientRect().left]
    );
    note();
    new MutationObserver(note).observe(pill, {attributes: true, childList: true, characterData: true, subtree: true});
}"""


def test_the_side_panels_fit_at_1440_and_the_save_pill_keeps_the_toolbar_still(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "wide.png")
    prediction = {"source": "prediction", "score": 0.87, "model_version": "m1"}
    task_annotation_replace(
        task=task,
        document={
            "labels": [
                {"key": "bicycle", "type": "polygon", "points": [[400, 300], [500, 300], [450, 380]], **prediction},
                {
                    "key": "car",
                    "type": "rectangle",
                    "points": [[50, 50], [150, 120]],
                    "answers": {"colour": {"value": "blue"}},
                },
            ]
        },
    )
    log_in(page, live_server, "annie")
    for width, height in [(1440, 900), (1024, 768)]:
        page.set_viewport_size({"width": width, "height": height})
        open_task(page, live_server, task)
        page.locator("#label-list .label-row").nth(1).click()
        screenshot(page, f"labeling-{width}.png")
        # A long class name wraps in the label list and its row grows: nothing runs into the next row.
        assert page.evaluate(ROW_OVERFLOWS) == []
        if width != 1440:
            continue
        problems = page.evaluate(FIT_PROBLEMS)
        assert problems == []
        title = page.locator("#class-list button[data-key=bicycle] .tool__title")
        expect(title).to_have_text("Bicycle with a child trailer attached behind it")

        # The pill's width and the buttons after it stay put while the save state changes.
        page.evaluate(WATCH_PILL)
        press(page, "Escape")  # clear the selection: a class key would change the selected label's class
        press(page, "2")
        screen = Screen(page)
        drag(page, screen, (600, 100), (700, 200))
        wait_saved(page)
        seen = page.evaluate("window.pillSeen")
        assert {"pending", "saved"} <= {state for state, _, _ in seen}, seen
        assert len({round(width_, 1) for _, width_, _ in seen}) == 1, seen
        assert len({round(left, 1) for _, _, left in seen}) == 1, seen
        labels = page.evaluate(f"fetch('/api/tasks/{task.pk}/annotation').then((r) => r.json())")["labels"]
        assert close(labels[-1]["points"], [[600, 100], [700, 200]])
