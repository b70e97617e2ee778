"""Issue 17 point 13: a save of the labeling page sends what changed, not the whole document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, Request

from labeling.models import Label
from labeling.services import task_annotation_replace
from tests.browser.conftest import log_in, make_task, open_task, wait_saved
from tests.browser.test_labeling_page import Screen, click, points_close, press

pytestmark = pytest.mark.django_db(transaction=True)


def test_moving_one_vertex_saves_only_that_label(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "one-vertex.png")
    square = [[100, 100], [300, 100], [300, 250], [100, 250]]
    task_annotation_replace(
        task=task,
        document={
            "labels": [
                {"key": "car", "type": "polygon", "points": square},
                {"key": "car", "type": "polygon", "points": [[x + 400, y] for x, y in square]},
                {"key": "sign", "type": "rectangle", "points": [[500, 300], [600, 400]]},
            ]
        },
    )
    first, second, sign = Label.objects.filter(task=task).order_by("id")
    saves: list[dict[str, Any]] = []

    def record(request: Request) -> None:
        if request.method in ("PATCH", "PUT") and request.url.endswith("/annotation"):
            saves.append({"method": request.method, "body": json.loads(request.post_data or "{}")})

    page.on("request", record)
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)

    # Select the first car, then drag its top-left vertex by (+20, -10) image pixels.
    click(page, screen, 200, 180)
    page.mouse.move(*screen.at(100, 100))
    page.mouse.down()
    page.mouse.move(*screen.at(110, 95), steps=3)
    page.mouse.move(*screen.at(120, 90), steps=3)
    page.mouse.up()
    wait_saved(page)

    assert [save["method"] for save in saves] == ["PATCH"]
    body = saves[0]["body"]
    assert body["added"] == []
    assert body["deleted"] == []
    assert "answers" not in body
    assert [change["id"] for change in body["changed"]] == [first.pk]
    assert set(body["changed"][0]) == {"id", "points"}
    moved = [[120, 90], [300, 100], [300, 250], [100, 250]]
    assert points_close(body["changed"][0]["points"], moved)
    assert points_close(Label.objects.get(pk=first.pk).points, moved)
    assert Label.objects.get(pk=second.pk).points == second.points
    assert Label.objects.get(pk=sign.pk).points == sign.points


def test_a_drawn_label_is_added_once_and_later_changed_by_the_id_the_server_gave_it(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "added-then-moved.png")
    saves: list[dict[str, Any]] = []

    def record(request: Request) -> None:
        if request.method == "PATCH" and request.url.endswith("/annotation"):
            saves.append(json.loads(request.post_data or "{}"))

    page.on("request", record)
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    screen = Screen(page)

    press(page, "4")  # the pole, a point
    click(page, screen, 300, 300)
    wait_saved(page)
    (pole,) = Label.objects.filter(task=task)
    assert len(saves) == 1
    assert [item["key"] for item in saves[0]["added"]] == ["pole"]
    assert points_close(saves[0]["added"][0]["points"], [[300, 300]])
    assert saves[0]["changed"] == []
    assert saves[0]["deleted"] == []

    # Select it and drag it by (+40, +20): the save changes the stored label, it adds none.
    press(page, "v")
    click(page, screen, 300, 300)
    page.mouse.move(*screen.at(300, 300))
    page.mouse.down()
    page.mouse.move(*screen.at(320, 310), steps=3)
    page.mouse.move(*screen.at(340, 320), steps=3)
    page.mouse.up()
    wait_saved(page)

    assert saves[-1]["added"] == []
    assert [change["id"] for change in saves[-1]["changed"]] == [pole.pk]
    assert list(Label.objects.filter(task=task).values_list("pk", flat=True)) == [pole.pk]
    assert points_close(Label.objects.get(pk=pole.pk).points, [[340, 320]])
