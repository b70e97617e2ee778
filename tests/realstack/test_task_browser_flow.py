"""The task browser as an admin and two annotators use it, in real Chromium against a live server
and a real Celery worker: the admin filters the backlog, spreads all of it round-robin over two
annotators (a background job whose progress the page follows), changes a checked row, saves a
shared view; each annotator then sees exactly their own tasks, and the shared view.

Screenshots of the page at 1440 and 1024 px go to $LABELSITE_SHOTS_DIR (default /tmp/shots/browser).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from labeling.models import Label, LabelSource, Task, TaskBulkJob, TaskState
from tests.browser.conftest import LABEL_CONFIG, log_in, make_task
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("LABELSITE_SHOTS_DIR", "/tmp/shots/browser"))
JOB_TIMEOUT_MS = 60_000


@pytest.fixture
def team_project(transactional_db: None, celery_worker: Any) -> Any:
    from projects.label_config import label_config_replace

    organization = OrganizationFactory()
    project: Any = ProjectFactory(organization=organization, name="Street scenes")
    label_config_replace(configuration=project.label_configuration, entries=LABEL_CONFIG)
    for username, role in (("ada", "admin"), ("annie", "annotator"), ("bob", "annotator")):
        user: Any = UserFactory(username=username)
        MembershipFactory(user=user, organization=organization, role=role)
        project.members.add(user)
    tasks = [make_task(project, f"street-{index:02d}.png") for index in range(9)]
    Task.objects.filter(pk=tasks[8].pk).update(state=TaskState.COMPLETED)
    sign = project.label_configuration.entries.get(key="sign")
    Label.objects.create(task=tasks[0], entry=sign, points=[[10, 10], [60, 40]])
    Label.objects.create(
        task=tasks[1], entry=sign, points=[[10, 10], [60, 40]], source=LabelSource.PREDICTION, score=0.8
    )
    return project


@pytest.fixture
def second_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    other = context.new_page()
    other.on("pageerror", lambda error: errors.append(str(error)))
    yield other
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def open_browser(page: Page, live_server: Any, project: Any) -> None:
    page.goto(f"{live_server.url}/projects/{project.pk}/tasks")
    page.wait_for_selector("body[data-ready=true]")


def names_shown(page: Page) -> list[str]:
    return page.locator("#tb-body td[data-column=name]").all_inner_texts()


def wait_loaded(page: Page) -> None:
    page.wait_for_selector("body[data-loading=false]")


def test_an_admin_spreads_the_backlog_round_robin_and_each_annotator_sees_their_own(
    page: Page, second_page: Page, live_server: Any, team_project: Any
) -> None:
    project = team_project
    log_in(page, live_server, "ada")
    open_browser(page, live_server, project)
    expect(page.locator("#tb-body tr")).to_have_count(9)
    expect(page.locator("#tb-page")).to_contain_text("9 tasks")
    row = page.locator("#tb-body tr").first
    expect(row.locator("td[data-column=labels]")).to_contain_text("Traffic sign 1")
    expect(page.locator("#tb-body tr").nth(1).locator("td[data-column=predictions]")).to_contain_text("1 · 0.80")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"task-browser-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    # Sort by name, descending: a second click on the head.
    page.click("button[data-sort=name]")
    wait_loaded(page)
    page.click("button[data-sort=name]")
    wait_loaded(page)
    assert names_shown(page) == [f"street-{index:02d}.png" for index in range(8, -1, -1)]
    # Search narrows the rows as one types.
    page.fill("#tb-search", "street-03")
    expect(page.locator("#tb-body tr")).to_have_count(1)
    page.fill("#tb-search", "")
    expect(page.locator("#tb-body tr")).to_have_count(9)

    # The backlog only, then all of it to Annie and Bob, round-robin, as a background job.
    page.select_option("select[data-filter=state]", "backlog")
    expect(page.locator("#tb-body tr")).to_have_count(8)
    assert "state=backlog" in page.url
    page.check("#tb-scope-all")
    page.select_option("#tb-action", "assign")
    page.check("#tb-users-list input[data-user=annie]")
    page.check("#tb-users-list input[data-user=bob]")
    page.click("#tb-apply")
    expect(page.locator("#tb-confirm-text")).to_contain_text("all 8 tasks matching the filters")
    page.click("#tb-confirm-ok")
    expect(page.locator("#tb-progress")).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#tb-progress-text")).to_contain_text("8 of 8 tasks")
    job = TaskBulkJob.objects.get(project=project)
    assert (job.status, job.done, job.changed) == ("succeeded", 8, 8)
    by_user = {name: Task.objects.filter(project=project, assignee__username=name).count() for name in ("annie", "bob")}
    assert by_user == {"annie": 4, "bob": 4}
    expect(page.locator("#tb-body td[data-column=assignee]").first).not_to_have_text("—")
    page.screenshot(path=str(SHOTS / "task-browser-after-bulk-1280.png"), full_page=True)

    # One checked row sent to review: completed, so that reviewers get it.
    first = page.locator("#tb-body tr").first
    first_id = str(first.get_attribute("data-task"))
    first.locator("td.tb-check input").check()
    expect(page.locator("#tb-selected")).to_have_text("1 checked")
    page.check("input[name=tb-scope][value=checked]")
    page.select_option("#tb-action", "send_to_review")
    page.click("#tb-apply")
    page.click("#tb-confirm-ok")
    expect(page.locator("#tb-message")).to_contain_text("send to review on 1 task")
    assert Task.objects.get(pk=first_id).state == TaskState.COMPLETED

    # A view of the backlog, shared with the project.
    page.click("#tb-view-save")
    page.fill("#tb-save-name", "Backlog")
    page.check("#tb-save-shared")
    page.click("#tb-save-form button[value=ok]")
    expect(page.locator("#tb-message")).to_contain_text('Saved the view "Backlog"')

    # Each annotator sees their own tasks, and nothing else.
    for name in ("annie", "bob"):
        second_page.context.clear_cookies()
        log_in(second_page, live_server, name)
        open_browser(second_page, live_server, project)
        theirs = Task.objects.filter(project=project, assignee__username=name)
        expect(second_page.locator("#tb-body tr")).to_have_count(theirs.count())
        shown = set(second_page.locator("#tb-body tr").evaluate_all("rows => rows.map(r => r.dataset.task)"))
        assert shown == {str(pk) for pk in theirs.values_list("pk", flat=True)}
        assert set(second_page.locator("#tb-body td[data-column=assignee]").all_inner_texts()) == {name}
        expect(second_page.locator("#tb-bulk")).to_have_count(0)  # bulk actions are the admin's
        # The shared view is theirs to use too.
        second_page.select_option("#tb-view", label="Backlog (shared)")
        wait_loaded(second_page)
        assert "state=backlog" in second_page.url
        expect(second_page.locator("#tb-body tr")).to_have_count(theirs.filter(state=TaskState.BACKLOG).count())


@pytest.fixture
def long_project(transactional_db: None) -> Any:
    """120 tasks: three pages of 50, 50 and 20."""
    from projects.label_config import label_config_replace

    organization = OrganizationFactory()
    project: Any = ProjectFactory(organization=organization, name="Long street")
    label_config_replace(configuration=project.label_configuration, entries=LABEL_CONFIG)
    user: Any = UserFactory(username="ada")
    MembershipFactory(user=user, organization=organization, role="admin")
    for index in range(120):
        make_task(project, f"lane-{index:03d}.png")
    return project


def test_next_and_previous_page_through_every_task_once_by_cursor(
    page: Page, live_server: Any, long_project: Any
) -> None:
    """Next and Previous follow the API's cursors (sorted by name, descending: a keyset over the
    media name), First and Last go by offset, and the page number stays right."""
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/projects/{long_project.pk}/tasks?sort=-name")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#tb-page")).to_contain_text("Page 1 of 3")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url) if "/api/projects/" in request.url else None)
    seen = names_shown(page)
    for number in (2, 3):
        page.click("#tb-next")
        expect(page.locator("#tb-page")).to_contain_text(f"Page {number} of 3")
        wait_loaded(page)
        seen += names_shown(page)
    assert seen == [f"lane-{index:03d}.png" for index in range(119, -1, -1)]
    expect(page.locator("#tb-next")).to_be_disabled()
    page.click("#tb-prev")
    expect(page.locator("#tb-page")).to_contain_text("Page 2 of 3")
    wait_loaded(page)
    assert names_shown(page) == [f"lane-{index:03d}.png" for index in range(69, 19, -1)]
    assert len(requests) == 3
    assert all("cursor=" in url for url in requests), requests
    # Last and First: by offset (the last page read from the end of the list).
    page.click("#tb-last")
    expect(page.locator("#tb-page")).to_contain_text("Page 3 of 3")
    wait_loaded(page)
    assert names_shown(page) == [f"lane-{index:03d}.png" for index in range(19, -1, -1)]
    expect(page.locator("#tb-last")).to_be_disabled()
    page.click("#tb-first")
    expect(page.locator("#tb-page")).to_contain_text("Page 1 of 3")
    wait_loaded(page)
    assert names_shown(page) == [f"lane-{index:03d}.png" for index in range(119, 69, -1)]
