"""Issue 18, point 5 in Chromium, with two people: an annotator completes a task, a reviewer in
another browser context presses Review, gets that task and sends it back with a comment, and the
annotator's Start labeling brings the task back with the reviewer's comment shown. What the pages
did is checked through the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from labeling.models import ReviewVerdict, TaskState
from tests.browser.conftest import IMAGE_HOST, log_in, make_task, png_bytes
from tests.browser.test_team_labeling import api_task, opened_task_id
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def reviewer_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    image = png_bytes()
    context.route(f"{IMAGE_HOST}/**", lambda route: route.fulfill(status=200, content_type="image/png", body=image))
    yield context
    context.close()


def test_a_reviewer_sends_a_completed_task_back_and_the_annotator_gets_it_with_the_comment(
    page: Page, reviewer_context: BrowserContext, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    reviewer: Any = UserFactory(username="rev")
    MembershipFactory(user=reviewer, organization=labeling_project.organization, role="reviewer")
    labeling_project.members.add(reviewer)
    task = make_task(labeling_project, "street-0.png")
    project_url = f"{live_server.url}/projects/{labeling_project.pk}/"

    # Annie labels the task and completes it with Ctrl+Enter.
    log_in(page, live_server, "annie")
    page.goto(project_url)
    expect(page.locator("#start-review")).to_have_count(0)  # annotators do not review
    page.click("#start-labeling")
    assert opened_task_id(page, live_server) == str(task.pk)
    page.select_option("#global-questions select", "sunny")
    expect(page.locator("#save-state")).to_have_text("All changes saved", timeout=40000)
    page.keyboard.press("Control+Enter")
    page.wait_for_url(lambda url: str(task.pk) not in url)

    # The reviewer presses Review on the project page, gets the task, and sends it back.
    review_page = reviewer_context.new_page()
    log_in(review_page, live_server, "rev")
    review_page.goto(project_url)
    expect(review_page.locator("#review-counts [data-review=to_review] b")).to_have_text("1")
    review_page.click("#start-review")
    assert opened_task_id(review_page, live_server) == str(task.pk)
    assert api_task(review_page, task.pk)["holder"]["username"] == "rev"
    expect(review_page.locator("#review")).to_be_visible()
    review_page.click("#review-comment")
    review_page.keyboard.type("The parked car on the left has no box.")
    review_page.click("#review-reject")
    # On to the next task to review: none is left, so back to the project page, which counts it.
    review_page.wait_for_url(project_url)
    expect(review_page.locator("#review-counts [data-review=rejected] b")).to_have_text("1")

    sent_back = api_task(review_page, task.pk)
    assert sent_back["state"] == TaskState.IN_PROGRESS
    assert sent_back["review_verdict"] == ReviewVerdict.REJECTED
    assert sent_back["review_comment"] == "The parked car on the left has no box."
    assert sent_back["assignee_id"] == annotator.pk
    assert sent_back["reviewed_by"]["username"] == "rev"

    # Annie's home counts it as hers to fix; her Start labeling brings it back with the comment.
    page.goto(f"{live_server.url}/")
    expect(page.locator(f"td.queue[data-project='{labeling_project.pk}'] [data-queue=rejected] b")).to_have_text("1")
    page.goto(project_url)
    expect(page.locator("#my-queue [data-queue=rejected] b")).to_have_text("1")
    page.click("#start-labeling")
    assert opened_task_id(page, live_server) == str(task.pk)
    expect(page.locator("#review-note")).to_be_visible()
    expect(page.locator("#review-note [data-comment]")).to_have_text("The parked car on the left has no box.")
    expect(page.locator("#save-state")).to_have_text("All changes saved")  # hers to edit, not read-only
