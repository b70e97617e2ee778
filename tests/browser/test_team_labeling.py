"""Issue 18 in Chromium, with two people at once: an admin and an annotator who press "Start
labeling" together get different tasks, each reserved for them; the admin sees who holds which
task in the task list and releases one; completing records who did it and how long the page was
in use. What the pages did is checked through the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from labeling.models import Task, TaskState
from tests.browser.conftest import IMAGE_HOST, log_in, make_task, png_bytes
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def admin_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    image = png_bytes()
    context.route(f"{IMAGE_HOST}/**", lambda route: route.fulfill(status=200, content_type="image/png", body=image))
    yield context
    context.close()


def api_task(page: Page, task_id: Any) -> dict[str, Any]:
    """The task as the native API shows it to the page's user."""
    return page.evaluate(f"fetch('/api/tasks/{task_id}').then((r) => r.json())")


def opened_task_id(page: Page, live_server: Any) -> str:
    page.wait_for_url(f"{live_server.url}/tasks/*/")
    page.wait_for_selector("body[data-ready=true]")
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def test_an_admin_and_an_annotator_pressing_start_at_once_get_different_tasks_and_completing_records_who(
    page: Page, admin_context: BrowserContext, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    admin: Any = UserFactory(username="ada")
    MembershipFactory(user=admin, organization=labeling_project.organization, role="admin")
    tasks = [make_task(labeling_project, f"street-{index}.png") for index in range(3)]
    admin_page = admin_context.new_page()
    log_in(page, live_server, "annie")
    log_in(admin_page, live_server, "ada")
    for each in (page, admin_page):
        each.goto(f"{live_server.url}/projects/{labeling_project.pk}/")

    # Both press Start: the second click goes out before the first page has loaded its task.
    page.click("#start-labeling", no_wait_after=True)
    admin_page.click("#start-labeling", no_wait_after=True)
    annies = opened_task_id(page, live_server)
    adas = opened_task_id(admin_page, live_server)

    assert annies != adas
    assert {annies, adas} <= {str(task.pk) for task in tasks}
    assert api_task(admin_page, annies)["holder"]["username"] == "annie"
    assert api_task(page, adas)["holder"]["username"] == "ada"
    expect(page.locator("#save-state")).to_have_text("All changes saved")  # not read-only

    # The admin sees who holds which task in the task list.
    admin_page.goto(f"{live_server.url}/projects/{labeling_project.pk}/tasks")
    expect(admin_page.locator(f"tr[data-task='{annies}'] [data-holder]")).to_contain_text("annie")
    expect(admin_page.locator(f"tr[data-task='{adas}'] [data-holder]")).to_contain_text("ada")

    # Annie answers the required question, works a little, and completes with Ctrl+Enter.
    page.select_option("#global-questions select", "sunny")
    page.mouse.move(400, 300)
    page.wait_for_timeout(2500)  # active time is counted per second while the page is in use
    expect(page.locator("#save-state")).to_have_text("All changes saved", timeout=40000)
    page.keyboard.press("Control+Enter")
    page.wait_for_url(lambda url: annies not in url)

    completed = api_task(admin_page, annies)
    assert completed["state"] == TaskState.COMPLETED
    assert completed["completed_by"]["username"] == "annie"
    assert completed["completed_at"] is not None
    assert completed["holder"] is None
    assert completed["active_seconds"] >= 1


def test_an_annotator_opening_a_task_someone_holds_gets_it_read_only_until_an_admin_releases_it(
    page: Page, admin_context: BrowserContext, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    admin: Any = UserFactory(username="ada")
    MembershipFactory(user=admin, organization=labeling_project.organization, role="admin")
    rita: Any = UserFactory(username="rita")
    MembershipFactory(user=rita, organization=labeling_project.organization, role="annotator")
    task = make_task(labeling_project, "held.png")
    from labeling.services import task_reserve

    assert task_reserve(task=task, user=rita)
    log_in(page, live_server, "annie")
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#banner")).to_contain_text("reserved by rita")
    expect(page.locator("#save-state")).to_have_text("Read only")

    # The admin releases it from the task list (a real click on its Release button).
    admin_page = admin_context.new_page()
    log_in(admin_page, live_server, "ada")
    admin_page.goto(f"{live_server.url}/projects/{labeling_project.pk}/tasks")
    admin_page.locator(f"tr[data-task='{task.pk}'] [data-release]").click()
    expect(admin_page.locator(f"tr[data-task='{task.pk}'] [data-holder]")).not_to_contain_text("rita")
    assert api_task(admin_page, task.pk)["holder"] is None

    # Now Annie's Start labeling gets it, and she may label it.
    page.goto(f"{live_server.url}/projects/{labeling_project.pk}/label")
    page.wait_for_url(f"{live_server.url}/tasks/{task.pk}/")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#save-state")).to_have_text("All changes saved")
    assert Task.objects.get(pk=task.pk).reserved_by_id == annotator.pk
