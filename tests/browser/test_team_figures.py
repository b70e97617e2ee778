"""Issue 18, point 7 in Chromium: two annotators' real work (labels saved and tasks completed
through the API, with the active time the page reports; verdicts given through the API) shows on
the project page, which loads the figures after it has shown, as a table of totals and a bar chart
per day, for the admin; an annotator sees only their own. Screenshots at 1440 and 1024 px go to /tmp/shots/figures (or
$LABELSITE_SHOTS_DIR)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from labeling.models import Task
from projects.services import api_token_create
from tests.browser.conftest import log_in, make_task
from tests.factories import MembershipFactory, UserFactory

SHOTS = Path(os.environ.get("LABELSITE_SHOTS_DIR", "/tmp/shots/figures"))


def member(project: Any, name: str, role: str) -> Any:
    user: Any = UserFactory(username=name)
    MembershipFactory(user=user, organization=project.organization, role=role)
    project.members.add(user)
    return user


def api(page: Page, live_server: Any, token: str, method: str, path: str, data: Any = None) -> Any:
    answer = page.request.fetch(
        f"{live_server.url}{path}",
        method=method,
        headers={"Authorization": f"Token {token}"},
        data=data,
    )
    assert answer.ok, (method, path, answer.status, answer.text())
    return answer.json()


def work(page: Page, live_server: Any, token: str, task: Task, *, boxes: int, seconds: int) -> None:
    """Save rectangles and the required answer with the page's active time, then complete."""
    added = [{"uid": f"s{n}", "key": "sign", "points": [[10 + n, 10], [60 + n, 50]]} for n in range(boxes)]
    body = {"version": 0, "added": added, "answers": {"weather": {"value": "sunny"}}, "active_seconds": seconds}
    api(page, live_server, token, "PATCH", f"/api/tasks/{task.pk}/annotation", body)
    api(page, live_server, token, "POST", f"/api/tasks/{task.pk}/complete")


def bar_counts(page: Page) -> dict[str, int]:
    counts: dict[str, int] = {}
    for bar in page.locator("#team-figures-chart rect.team-figures__bar").all():
        name = bar.get_attribute("data-member") or ""
        counts[name] = counts.get(name, 0) + int(bar.get_attribute("data-count") or 0)
    return counts


def test_the_project_page_charts_two_annotators_work(
    page: Page, browser: Browser, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    project = labeling_project
    member(project, "ada", "admin")
    bert = member(project, "bert", "annotator")
    rita = member(project, "rita", "reviewer")
    tokens = {
        name: api_token_create(organization=project.organization, user=user)[1]
        for name, user in (("annie", annotator), ("bert", bert), ("rita", rita))
    }
    tasks = [make_task(project, f"street-{index}.png") for index in range(5)]
    for task, seconds in zip(tasks[:3], (40, 90, 65), strict=True):
        work(page, live_server, tokens["annie"], task, boxes=2, seconds=seconds)
    for task, seconds in zip(tasks[3:], (30, 50), strict=True):
        work(page, live_server, tokens["bert"], task, boxes=3, seconds=seconds)
    for task, accept in ((tasks[0], True), (tasks[1], False), (tasks[3], True)):
        review = {"accept": accept, "comment": "" if accept else "The sign on the left is missing"}
        api(page, live_server, tokens["rita"], "POST", f"/api/tasks/{task.pk}/review", review)

    csp_errors: list[str] = []
    page.on("console", lambda message: csp_errors.append(message.text) if "Content Security" in message.text else None)
    log_in(page, live_server, "ada")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/projects/{project.pk}/")
        figures = page.locator("#team-figures")
        expect(figures.locator("h2")).to_have_text("Team figures")
        expect(figures.locator("tr[data-member=annie] td").nth(1)).to_have_text("3")
        expect(figures.locator("tr[data-member=annie] td").nth(2)).to_have_text("6")
        expect(figures.locator("tr[data-member=annie] td").nth(3)).to_have_text("1 min 5 s")
        expect(figures.locator("tr[data-member=annie] td").nth(6)).to_have_text("50 %")
        expect(figures.locator("tr[data-member=bert] td").nth(2)).to_have_text("6")
        expect(figures.locator("tr[data-member=rita] td").nth(7)).to_have_text("3")
        assert bar_counts(page) == {"annie": 3, "bert": 2}
        chart = figures.locator("#team-figures-chart").bounding_box()
        assert chart is not None
        assert chart["width"] > 500  # the chart takes the card's width, not a thumbnail's
        figures.scroll_into_view_if_needed()
        figures.screenshot(path=str(SHOTS / f"team-figures-admin-{width}.png"))
        page.screenshot(path=str(SHOTS / f"project-page-{width}.png"), full_page=True)
        # the figures' own page, which the project page loads them from
        page.goto(f"{live_server.url}/projects/{project.pk}/team-figures")
        expect(page.locator("#team-figures tr[data-member=annie] td").nth(1)).to_have_text("3")
        page.screenshot(path=str(SHOTS / f"team-figures-page-{width}.png"), full_page=True)
        page.goto(f"{live_server.url}/projects/{project.pk}/")
    assert csp_errors == []

    # The CSV link downloads the same figures.
    with page.expect_download() as download:
        page.click("#team-figures-csv")
    csv_text = Path(download.value.path()).read_text()
    assert csv_text.startswith("date,user_id,username,tasks_completed")
    assert ",annie,3,6,65.0,1,1,0.5,0" in csv_text

    # The range form reloads the project page for other days, whose figures the page loads in turn.
    page.fill("#team-figures-range input[name=figures_from]", "2020-01-01")
    page.fill("#team-figures-range input[name=figures_to]", "2020-01-31")
    page.click("#team-figures-range button[type=submit]")
    page.wait_for_url(
        f"{live_server.url}/projects/{project.pk}/?figures_from=2020-01-01&figures_to=2020-01-31#team-figures"
    )
    expect(page.locator("#team-figures-chart-empty")).to_be_visible()
    expect(page.locator("#team-figures tr[data-member=annie] td").nth(1)).to_have_text("0")

    # Annie sees her own figures only.
    context = browser.new_context(viewport={"width": 1024, "height": 900})
    annie_page = context.new_page()
    log_in(annie_page, live_server, "annie")
    annie_page.goto(f"{live_server.url}/projects/{project.pk}/")
    expect(annie_page.locator("#team-figures h2")).to_have_text("Your figures")
    expect(annie_page.locator("#team-figures tbody tr")).to_have_count(1)
    assert bar_counts(annie_page) == {"annie": 3}
    annie_page.locator("#team-figures").screenshot(path=str(SHOTS / "team-figures-annotator-1024.png"))
    context.close()
