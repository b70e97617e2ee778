"""Dialogs keep the keyboard inside them (issue 20, point 7): Tab and Shift+Tab never leave the
open dialog for the page behind it, in real Chromium with real key presses."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from labeling.services import task_annotation_replace
from tests.browser.conftest import log_in, make_task, open_task
from tests.browser.test_labeling_everyday_moves import moves_project
from tests.browser.test_labeling_page import Screen, click, press

__all__ = ["moves_project"]

pytestmark = pytest.mark.django_db(transaction=True)

FOCUS_INSIDE = "(selector) => Boolean(document.activeElement && document.activeElement.closest(selector))"


def tab_around(page: Page, selector: str, presses: int) -> list[str]:
    """Press Tab, then Shift+Tab, `presses` times each; answer where focus went each time it left."""
    escaped: list[str] = []
    for key in ["Tab"] * presses + ["Shift+Tab"] * presses:
        page.keyboard.press(key)
        if not page.evaluate(FOCUS_INSIDE, selector):
            escaped.append(f"{key}: {page.evaluate('() => document.activeElement?.outerHTML.slice(0, 80)')}")
    return escaped


def test_the_keys_help_keeps_focus_inside_until_it_closes(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = make_task(labeling_project, "street.png")
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    press(page, "?")
    expect(page.locator("#help")).to_be_visible()
    buttons = page.locator("#help button").count()
    assert buttons > 3
    assert tab_around(page, "#help", buttons + 3) == []
    press(page, "Escape")
    expect(page.locator("#help")).to_be_hidden()


def test_the_parent_chooser_keeps_focus_on_its_choices_until_one_is_taken_or_it_is_cancelled(
    page: Page, live_server: Any, moves_project: Any, annotator: Any
) -> None:
    task = make_task(moves_project, "parking.png")
    car = {"key": "car", "type": "rectangle"}
    task_annotation_replace(
        task=task,
        document={"labels": [{**car, "points": [[400, 100], [700, 400]]}, {**car, "points": [[550, 250], [780, 550]]}]},
    )
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    press(page, "5")
    click(page, Screen(page), 600, 300)  # inside both cars, neither holds the other: the page asks
    chooser = page.locator("#parent-chooser")
    expect(chooser).to_be_visible()
    assert page.evaluate(FOCUS_INSIDE, "#parent-chooser")
    assert tab_around(page, "#parent-chooser", 5) == []
    press(page, "Escape")
    expect(chooser).to_be_hidden()


def test_the_task_browsers_save_view_dialog_keeps_focus_inside(
    page: Page, live_server: Any, labeling_project: Any
) -> None:
    from tests.factories import MembershipFactory, UserFactory

    admin: Any = UserFactory(username="ada")
    MembershipFactory(user=admin, organization=labeling_project.organization, role="admin")
    make_task(labeling_project, "street.png")
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/projects/{labeling_project.pk}/tasks")
    page.click("#tb-view-save")
    dialog = page.locator("#tb-save-dialog")
    expect(dialog).to_be_visible()
    assert tab_around(page, "#tb-save-dialog", 4) == []
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
