"""Issue 17 point 13: a save of the labeling page sends what changed, not the whole document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, Request

from labeling.models import Label
from labeling.services import task_annotation_replace
from tests.browser.conftest import log_in, make_task, open_task, wait_saved
from tests.browser.test_labeling_page import Screen, click, points_close

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
