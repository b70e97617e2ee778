"""The labeling page in real headless Chromium: draw every geometry, answer, save, reload, complete.

Coordinates are checked independently of the page's own conversion: the test computes
where an image pixel is on the screen from the view (scale and offset, which it first
checks against "fit to screen" for the canvas size), clicks there, and expects the stored
label to hold that image pixel.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from labeling.models import Label, Task, TaskState
from labeling.services import task_annotation_replace
from tests.browser.conftest import (
    IMAGE_HEIGHT,
    IMAGE_WIDTH,
    XSS_TITLE,
    log_in,
    make_task,
    open_task,
    wait_saved,
)
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Screen:
    """Image pixels -> client pixels, from the page's view and the canvas's place."""

    def __init__(self, page: Page) -> None:
        state = page.evaluate(
            """() => {
                const r = document.getElementById("stage").getBoundingClientRect();
                const v = window.labelsite.view;
                return {scale: v.scale, x: v.x, y: v.y, left: r.left, top: r.top, width: r.width, height: r.height};
            }"""
        )
        self.scale: float = state["scale"]
        self.x: float = state["x"]
        self.y: float = state["y"]
        self.left: float = state["left"]
        self.top: float = state["top"]
        self.width: float = state["width"]
        self.height: float = state["height"]

    def at(self, x: float, y: float) -> tuple[float, float]:
        return self.left + self.x + x * self.scale, self.top + self.y + y * self.scale


def click(page: Page, screen: Screen, x: float, y: float) -> None:
    page.mouse.click(*screen.at(x, y))


def press(page: Page, key: str) -> None:
    page.keyboard.press(key)


def points_close(actual: Any, expected: Any, tolerance: float = 0.15) -> bool:
    if isinstance(expected, int | float):
        return abs(actual - expected) <= tolerance
    return len(actual) == len(expected) and all(
        points_close(a, e, tolerance) for a, e in zip(actual, expected, strict=True)
    )


def test_annotator_draws_every_geometry_answers_saves_reloads_and_completes(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "street-1.png")
    following = make_task(labeling_project, "street-2.png")
    log_in(page, live_server, "annie")

    # "Start labeling" on the project page opens the first open task.
    page.goto(f"{live_server.url}/projects/{labeling_project.pk}/")
    page.click("#start-labeling")
    page.wait_for_url(f"{live_server.url}/tasks/{task.pk}/")
    page.wait_for_selector("body[data-ready=true]")

    # Fit to screen: the whole image, centred, with a 16 px margin, in the canvas.
    fitted = Screen(page)
    expected_scale = min((fitted.width - 32) / IMAGE_WIDTH, (fitted.height - 32) / IMAGE_HEIGHT)
    assert fitted.scale == pytest.approx(expected_scale)
    assert fitted.x == pytest.approx((fitted.width - IMAGE_WIDTH * expected_scale) / 2)

    # Zoom in twice with the keyboard: coordinates must still land in image pixels.
    press(page, "+")
    press(page, "+")
    screen = Screen(page)
    assert screen.scale == pytest.approx(expected_scale * 1.25 * 1.25)

    # Polygon "Car" (digit 1), closed with Enter.
    press(page, "1")
    for x, y in [(200, 150), (400, 150), (400, 300), (200, 300)]:
        click(page, screen, x, y)
    press(page, "Enter")
    # A wheel (digit 5) drawn while the car is selected nests inside it.
    press(page, "5")
    click(page, screen, 250, 290)
    # Rectangle "Traffic sign" (digit 2), dragged.
    press(page, "2")
    page.mouse.move(*screen.at(450, 100))
    page.mouse.down()
    page.mouse.move(*screen.at(520, 150), steps=4)
    page.mouse.move(*screen.at(600, 200), steps=4)
    page.mouse.up()
    # Line "Lane marking" (digit 3).
    press(page, "3")
    for x, y in [(150, 400), (300, 450), (450, 420)]:
        click(page, screen, x, y)
    press(page, "Enter")
    # Point "Pole" (digit 4).
    press(page, "4")
    click(page, screen, 620, 300)
    # Segmentation "Road surface" (digit 6): two polygons, the second added to the selected
    # one with Shift+Enter (a plain Enter would make it a label of its own).
    press(page, "6")
    for x, y in [(160, 480), (300, 480), (300, 540)]:
        click(page, screen, x, y)
    press(page, "Enter")
    for x, y in [(350, 480), (500, 480), (500, 540), (350, 540)]:
        click(page, screen, x, y)
    press(page, "Shift+Enter")
    expect(page.locator("#label-count")).to_have_text("6")

    # Questions: the car's checklist, the global dropdown (4 options) and its nested radio, free text.
    press(page, "Escape")  # leave the drawing tool
    page.locator("#label-list button", has_text="Car").first.click()
    expect(page.locator("#shape-title")).to_contain_text("Car")
    page.locator("#shape-questions label", has_text="Dent").click()
    page.select_option("#global-questions select", "rain")
    page.locator("#global-questions label", has_text="Poor").click()
    page.fill("#global-questions input[type=text]", "wet road")
    assert page.get_attribute("#global-questions input[type=text]", "maxlength") == "40"
    wait_saved(page)
    expect(page.locator("#save-state")).to_have_text("All changes saved")

    # Reload: everything is there, from the server (no local draft is left over).
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#banner")).to_be_hidden()
    expect(page.locator("#label-count")).to_have_text("6")
    assert page.input_value("#global-questions select") == "rain"
    assert page.locator("#global-questions label", has_text="Poor").locator("input").is_checked()
    assert page.input_value("#global-questions input[type=text]") == "wet road"

    # Completing with the car's required question unanswered is refused, pointing at it.
    page.click("#complete")
    problems = page.locator("#problems")
    expect(problems).to_be_visible()
    expect(problems).to_contain_text("Car type")
    expect(page.locator("#shape-title")).to_contain_text("Car")
    expect(page.locator("#shape-questions .question--problem")).to_have_count(1)
    page.locator("#shape-questions label", has_text="SUV").click()
    wait_saved(page)
    page.keyboard.press("Control+Enter")
    # Done: "Start labeling" moves on to the next open task.
    page.wait_for_url(f"{live_server.url}/tasks/{following.pk}/")

    task.refresh_from_db()
    assert task.state == TaskState.COMPLETED
    assert task.answers == {
        "weather": {"value": "rain", "answers": {"visibility": {"value": "poor", "answers": {}}}},
        "notes": {"value": "wet road", "answers": {}},
    }
    labels = {label.entry.key: label for label in Label.objects.filter(task=task).select_related("entry", "parent")}
    assert set(labels) == {"car", "wheel", "sign", "lane", "pole", "road"}
    assert points_close(labels["car"].points, [[200, 150], [400, 150], [400, 300], [200, 300]])
    assert labels["car"].answers == {
        "damage": {"value": ["dent"], "answers": {}},
        "car_type": {"value": "suv", "answers": {}},
    }
    assert labels["wheel"].parent == labels["car"]
    assert points_close(labels["wheel"].points, [[250, 290]])
    assert points_close(labels["sign"].points, [[450, 100], [600, 200]])
    assert points_close(labels["lane"].points, [[150, 400], [300, 450], [450, 420]])
    assert points_close(labels["pole"].points, [[620, 300]])
    assert points_close(
        labels["road"].points,
        [[[160, 480], [300, 480], [300, 540]], [[350, 480], [500, 480], [500, 540], [350, 540]]],
    )
    assert all(label.source == "manual" for label in labels.values())

    # The same through the native API that scripts use.
    document = page.evaluate(f"fetch('/api/tasks/{task.pk}/annotation').then((r) => r.json())")
    assert [label["key"] for label in document["labels"]] == ["car", "sign", "lane", "pole", "road"]
    assert document["labels"][0]["children"][0]["key"] == "wheel"


def test_editing_moves_resizes_inserts_and_removes_vertices_with_undo(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "edit.png")
    task_annotation_replace(
        task=task,
        document={
            "labels": [
                {"key": "car", "type": "polygon", "points": [[100, 100], [300, 100], [300, 250], [100, 250]]},
                {"key": "sign", "type": "rectangle", "points": [[500, 100], [600, 200]]},
            ]
        },
    )
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)

    # Move the car by dragging its inside by (+50, +20) image pixels.
    page.mouse.move(*screen.at(200, 180))
    page.mouse.down()
    page.mouse.move(*screen.at(225, 190), steps=3)
    page.mouse.move(*screen.at(250, 200), steps=3)
    page.mouse.up()
    # Click on its top edge: a vertex is inserted there; drag it up.
    page.mouse.move(*screen.at(250, 120))
    page.mouse.down()
    page.mouse.move(*screen.at(250, 90), steps=3)
    page.mouse.up()
    # Shift+click removes the bottom-left vertex.
    page.keyboard.down("Shift")
    click(page, screen, 150, 270)
    page.keyboard.up("Shift")
    # Resize the sign by its bottom-right corner.
    click(page, screen, 550, 150)
    page.mouse.move(*screen.at(600, 200))
    page.mouse.down()
    page.mouse.move(*screen.at(650, 260), steps=3)
    page.mouse.up()
    wait_saved(page)
    car, sign = Label.objects.filter(task=task).order_by("id")
    assert points_close(car.points, [[150, 120], [250, 90], [350, 120], [350, 270]])
    assert points_close(sign.points, [[500, 100], [650, 260]])

    # Undo the resize, redo it, undo again; Delete removes the selected label.
    press(page, "Control+z")
    press(page, "Control+Shift+z")
    press(page, "Control+z")
    press(page, "Delete")
    expect(page.locator("#label-count")).to_have_text("1")
    wait_saved(page)
    assert list(Label.objects.filter(task=task).values_list("entry__key", flat=True)) == ["car"]


def test_predictions_are_dashed_with_score_and_are_accepted_or_dismissed(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "predicted.png")
    prediction = {"source": "prediction", "model_version": "yolo-3"}
    task_annotation_replace(
        task=task,
        document={
            "labels": [
                {"key": "sign", "type": "rectangle", "points": [[10, 10], [60, 60]], "score": 0.91, **prediction},
                {"key": "sign", "type": "rectangle", "points": [[100, 10], [160, 60]], "score": 0.42, **prediction},
                {"key": "pole", "type": "point", "points": [[300, 300]], "score": 0.77, **prediction},
                {"key": "pole", "type": "point", "points": [[400, 300]], "score": 0.55, **prediction},
                {"key": "pole", "type": "point", "points": [[500, 300]], "source": "import"},
            ]
        },
    )
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    panel = page.locator("#predictions")
    expect(panel).to_be_visible()
    expect(panel.locator("[data-prediction-count]")).to_have_text("4")
    expect(panel).to_contain_text("91%")

    # One by one: accept the first, dismiss the second (buttons), then with the keyboard.
    panel.locator(".prediction").nth(0).get_by_role("button", name="Accept").click()
    panel.locator(".prediction").nth(0).get_by_role("button", name="Dismiss").click()
    expect(panel.locator("[data-prediction-count]")).to_have_text("2")
    # All at once: Shift+A accepts the rest.
    press(page, "Shift+A")
    expect(panel).to_be_hidden()
    wait_saved(page)
    stored = list(Label.objects.filter(task=task).order_by("id").values_list("entry__key", "source", "score"))
    assert stored == [
        ("sign", "manual", None),
        ("pole", "manual", None),
        ("pole", "manual", None),
        ("pole", "import", None),
    ]


def test_dismiss_all_predictions_with_the_keyboard(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "dismiss.png")
    task_annotation_replace(
        task=task,
        document={
            "labels": [
                {"key": "sign", "type": "rectangle", "points": [[10, 10], [60, 60]], "source": "prediction"},
                {"key": "pole", "type": "point", "points": [[300, 300]], "source": "manual"},
            ]
        },
    )
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    press(page, "Shift+X")
    expect(page.locator("#predictions")).to_be_hidden()
    wait_saved(page)
    assert list(Label.objects.filter(task=task).values_list("entry__key", "source")) == [("pole", "manual")]


def test_class_title_with_markup_stays_text(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "xss.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    evil = page.locator("#class-list button", has_text=XSS_TITLE)
    expect(evil).to_have_count(1)
    assert page.locator("img").count() == 0
    press(page, "7")
    screen = Screen(page)
    page.mouse.move(*screen.at(100, 100))
    page.mouse.down()
    page.mouse.move(*screen.at(200, 200), steps=3)
    page.mouse.up()
    expect(page.locator("#shape-title")).to_have_text(XSS_TITLE)
    expect(page.locator("#label-list")).to_contain_text(XSS_TITLE)
    assert page.locator("img").count() == 0
    wait_saved(page)
    # The page fixture fails the test on any alert.


def test_a_task_with_a_label_of_a_deleted_class_opens_with_a_note_and_the_next_save_drops_it(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any, tmp_path: Any
) -> None:
    task = make_task(labeling_project, "orphan.png")
    pole = labeling_project.label_configuration.entries.get(key="pole")
    Label.objects.create(task=task, entry=pole, points=[[700, 250]])
    Label.objects.create(task=task, entry_id=uuid.uuid4(), points=[[100, 100]])  # its class is gone
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    expect(page.locator(".banner[data-kind=note]")).to_contain_text("no longer in the label configuration")
    expect(page.locator("#label-count")).to_have_text("1")
    page.screenshot(path=str(tmp_path / "labeling-page-note.png"))

    press(page, "4")
    click(page, Screen(page), 300, 300)
    wait_saved(page)

    assert sorted(Label.objects.filter(task=task).values_list("entry__key", flat=True)) == ["pole", "pole"]


def test_an_annotator_on_a_task_assigned_to_someone_else_is_told_who_holds_it_and_nothing_is_saved(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any, tmp_path: Any
) -> None:
    task = make_task(labeling_project, "held.png")
    holder: Any = UserFactory(username="hanna")
    MembershipFactory(user=holder, organization=labeling_project.organization, role="annotator")
    Task.objects.filter(pk=task.pk).update(assignee=holder)
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)

    # The page opens read-only, saying who holds the task; drawing does nothing.
    banner = page.locator("#banner")
    expect(banner).to_contain_text("This task is assigned to hanna; you can look at it but not change it.")
    expect(page.locator("#save-state")).to_have_text("Read only")
    expect(page.locator("#complete")).to_be_disabled()
    press(page, "4")
    click(page, Screen(page), 300, 300)
    expect(banner.get_by_role("button", name="Merge my changes into theirs (M)")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "labeling-page-held.png"))
    assert Label.objects.filter(task=task).count() == 0


def test_unsaved_work_survives_a_reload_as_a_local_draft(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "draft.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    # The server cannot be reached for saves.
    page.route("**/annotation", lambda route: route.abort() if route.request.method == "PATCH" else route.continue_())
    screen = Screen(page)
    press(page, "4")
    click(page, screen, 123, 234)
    expect(page.locator("#save-state")).to_have_attribute("data-state", "offline", timeout=10000)
    expect(page.locator("#banner")).to_contain_text("cannot be reached")
    page.wait_for_timeout(500)  # the draft is written 300 ms after the change

    page.reload()  # the beforeunload warning is answered "leave" by the page fixture
    page.wait_for_selector("body[data-ready=true]")
    # Only now: a retry of the old page could otherwise reach the server while it reloads.
    page.unroute("**/annotation")
    assert any(d.startswith("beforeunload") for d in page.dialogs)  # type: ignore[attr-defined]
    banner = page.locator("#banner")
    expect(banner).to_contain_text("Unsaved changes")
    expect(page.locator("#label-count")).to_have_text("0")
    banner.get_by_role("button", name="Restore them").click()
    expect(page.locator("#label-count")).to_have_text("1")
    wait_saved(page)
    pole = Label.objects.get(task=task)
    assert pole.entry.key == "pole"
    assert points_close(pole.points, [[123, 234]])


def test_offline_saves_retry_until_the_server_answers(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "offline.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    page.context.set_offline(True)
    screen = Screen(page)
    press(page, "4")
    click(page, screen, 50, 60)
    expect(page.locator("#save-state")).to_have_attribute("data-state", "offline", timeout=10000)
    page.context.set_offline(False)
    wait_saved(page)
    assert Label.objects.filter(task=task).count() == 1


def test_a_save_over_someone_elses_newer_version_shows_the_conflict_banner(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "conflict.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    # Someone else saves meanwhile.
    task_annotation_replace(task=task, document={"labels": [{"key": "pole", "type": "point", "points": [[1, 1]]}]})
    screen = Screen(page)
    press(page, "4")
    click(page, screen, 50, 60)
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-kind", "conflict", timeout=10000)
    expect(page.locator("#save-state")).to_have_attribute("data-state", "conflict")
    # Theirs is kept until the annotator chooses; reloading shows theirs and offers ours back.
    assert Label.objects.get(task=task).points == [[1, 1]]
    expect(banner.get_by_role("button", name="Merge my changes into theirs (M)")).to_be_visible()
    banner.get_by_role("button", name="Reload their version (R)").click()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#label-count")).to_have_text("1")
    expect(page.locator("#banner")).to_contain_text("saved elsewhere")


def test_a_reviewer_and_an_annotator_on_one_task_the_second_save_conflicts_and_merges_onto_the_first(
    page: Page, browser: Browser, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    """Annie deletes a pole and adds one while Ben adds another and saves first: Annie's save is
    refused (409), nothing of Ben's is overwritten, and Merge applies Annie's two changes on
    top of Ben's version: Ben's pole and Annie's pole remain, the pole Annie deleted is gone."""
    from tests.browser.conftest import IMAGE_HOST, png_bytes
    from tests.factories import MembershipFactory, UserFactory

    # Ben reviews: Annie has the task reserved (she opened it first), so another annotator would
    # get it read-only; a reviewer still writes it, and that is where two saves can cross.
    ben: Any = UserFactory(username="ben")
    MembershipFactory(user=ben, organization=labeling_project.organization, role="reviewer")
    labeling_project.members.add(ben)
    task = make_task(labeling_project, "shared.png")
    task_annotation_replace(task=task, document={"labels": [{"key": "pole", "type": "point", "points": [[100, 100]]}]})

    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    ben_context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        image = png_bytes()
        ben_context.route(
            f"{IMAGE_HOST}/**", lambda route: route.fulfill(status=200, content_type="image/png", body=image)
        )
        ben_page = ben_context.new_page()
        log_in(ben_page, live_server, "ben")
        open_task(ben_page, live_server, task)

        # Ben adds a pole and saves first.
        ben_screen = Screen(ben_page)
        press(ben_page, "4")
        click(ben_page, ben_screen, 300, 300)
        wait_saved(ben_page)
    finally:
        ben_context.close()
    bens = sorted(label.points for label in Label.objects.filter(task=task))
    assert points_close(bens, [[[100, 100]], [[300, 300]]]), bens

    # Annie, still on the version she opened, deletes the first pole and adds her own.
    screen = Screen(page)
    press(page, "v")
    click(page, screen, 100, 100)
    expect(page.locator("#label-count")).to_have_text("1")  # nothing drawn yet: she selected it
    press(page, "Delete")
    press(page, "4")
    click(page, screen, 500, 400)
    banner = page.locator("#banner")
    expect(banner).to_have_attribute("data-kind", "conflict", timeout=20000)
    expect(page.locator("#save-state")).to_have_attribute("data-state", "conflict")
    # The refused save wrote nothing: Ben's version is whole.
    assert len(Label.objects.filter(task=task)) == 2

    page.keyboard.press("m")
    wait_saved(page)
    expect(page.locator("#label-count")).to_have_text("2")
    expect(page.locator("#banner")).to_be_hidden()
    stored = sorted(label.points for label in Label.objects.filter(task=task))
    assert len(stored) == 2
    assert points_close(stored[0], [[300, 300]]), stored
    assert points_close(stored[1], [[500, 400]]), stored
    task.refresh_from_db()
    assert task.version == 3  # the import above, Ben's save, the merge: no other write


def test_help_overlay_lists_the_keys_and_the_page_fits_1280x800(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "help.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    # Nothing scrolls or overflows at 1280x800.
    size = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert size == [1280, 800]
    for control in ["#complete", "#skip", "#save-state", "#help-button", "#next"]:
        box = page.locator(control).bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= 1280
    press(page, "?")
    help_dialog = page.locator("#help")
    expect(help_dialog).to_be_visible()
    for text in ["Undo", "Fit the image", "Accept all predictions", "Complete the task"]:
        expect(help_dialog).to_contain_text(text)
    press(page, "Escape")
    expect(help_dialog).to_be_hidden()
    # Focus is visible: tabbing to a button draws an outline.
    page.focus("#complete")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_reviewer_sends_a_completed_task_back_with_a_comment(
    page: Page, live_server: Any, labeling_project: Any
) -> None:
    from tests.factories import MembershipFactory, UserFactory

    reviewer = UserFactory(username="rita")
    MembershipFactory(user=reviewer, organization=labeling_project.organization, role="reviewer")
    labeling_project.members.add(reviewer)
    task = make_task(labeling_project, "review.png")
    Task.objects.filter(pk=task.pk).update(state=TaskState.COMPLETED)
    log_in(page, live_server, "rita")
    open_task(page, live_server, task)
    review = page.locator("#review")
    expect(review).to_be_visible()
    review.get_by_role("button", name="Send back").click()
    expect(page.locator("#toast")).to_contain_text("comment")
    page.fill("#review-comment", "The sign is a <b>stop</b> sign")
    review.get_by_role("button", name="Send back").click()
    # On to the next task to review: none is left, so the project page.
    page.wait_for_url(f"{live_server.url}/projects/{labeling_project.pk}/")
    task.refresh_from_db()
    assert task.state == TaskState.IN_PROGRESS
    assert task.review_comment == "The sign is a <b>stop</b> sign"
