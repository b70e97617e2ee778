"""Issue 18, point 6: each role sees what it can use. Starting from the project list, every link a
page shows to an admin, a reviewer or an annotator is followed (breadth first, every page reachable
from the project list) and none answers 403 or 5xx; every form a page shows that posts somewhere
posts to a route the route walk's rules (tests/security/test_route_walk.py ROUTES) allow to that
role. So navigation, tabs and buttons are built from the same rules the views enforce."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from django.urls import Resolver404, resolve

from labeling import services
from tests.security.conftest import SecurityWorld
from tests.security.test_route_walk import ROUTES, expected_class

pytestmark = pytest.mark.django_db

#: Enough for every page of the test world; a walk that needs more has found a loop of new URLs.
MAX_PAGES = 400
#: Links that end the session or leave the pages (files, the API and its documentation).
SKIPPED_PREFIXES = ("/logout/", "/static/", "/api/", "/admin/")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.post_forms: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        elif tag == "form" and (values.get("method") or "get").lower() == "post":
            self.post_forms.append(values.get("action") or "")


def _walk(world: SecurityWorld, actor: str) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Every page reachable from the project list by the actor's links: path -> status, and for
    each page the actions of the POST forms it shows."""
    client = world.page_client(actor)
    seen: dict[str, int] = {}
    forms: dict[str, set[str]] = {}
    queue = ["/"]
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        assert len(seen) < MAX_PAGES, f"more than {MAX_PAGES} pages reachable; a link makes new URLs"
        response = client.get(url)
        if response.status_code in (301, 302):
            seen[url] = response.status_code
            queue.append(urljoin(url, response["Location"]))
            continue
        seen[url] = response.status_code
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        parser = _Links()
        parser.feed(response.content.decode())
        forms[url] = {urljoin(url, action) if action else url for action in parser.post_forms}
        for href in parser.links:
            target = urljoin(url, href)
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                continue  # another site
            if parts.path.startswith(SKIPPED_PREFIXES) or "/file" in parts.path:
                continue
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen, forms


@pytest.fixture
def reviewed_world(security_world: SecurityWorld) -> SecurityWorld:
    """The world's task completed by its annotator, so that the review links have a task to open."""
    task = security_world.task
    services.task_complete(task=task, user=security_world.annotator)
    return security_world


@pytest.mark.parametrize("actor", ["admin", "reviewer", "annotator"])
def test_every_link_shown_to_a_role_opens_without_a_403(reviewed_world: SecurityWorld, actor: str) -> None:
    seen, _ = _walk(reviewed_world, actor)

    refused = {url: status for url, status in seen.items() if status == 403 or status >= 500}
    assert not refused, f"{actor} is shown links that answer {refused}"
    # The walk reached the pages that matter, not just the list.
    assert f"/projects/{reviewed_world.project.pk}/" in seen
    assert f"/projects/{reviewed_world.project.pk}/tasks" in seen


@pytest.mark.parametrize("actor", ["admin", "reviewer", "annotator"])
def test_every_form_shown_to_a_role_posts_to_a_route_it_may_use(reviewed_world: SecurityWorld, actor: str) -> None:
    _, forms = _walk(reviewed_world, actor)

    refused: list[str] = []
    for page, actions in forms.items():
        for action in actions:
            path = urlsplit(action).path
            if path.startswith("/logout/"):
                continue
            try:
                match = resolve(path)
            except Resolver404:
                refused.append(f"{page} -> {path} (no such route)")
                continue
            rule = ROUTES.get(match.url_name or "", {}).get("post")
            if rule is None or expected_class(rule=rule, actor=actor, api=False) != "allowed":
                refused.append(f"{page} -> {path} ({rule})")
    assert not refused, f"{actor} is shown forms it may not post: {refused}"


def test_the_review_entry_is_shown_to_reviewers_and_admins_only(reviewed_world: SecurityWorld) -> None:
    review = f"/projects/{reviewed_world.project.pk}/review"
    shown: dict[str, Any] = {}
    for actor in ("admin", "reviewer", "annotator"):
        seen, _ = _walk(reviewed_world, actor)
        shown[actor] = review in seen

    assert shown == {"admin": True, "reviewer": True, "annotator": False}


def test_new_project_is_offered_only_to_those_who_may_create_one(reviewed_world: SecurityWorld) -> None:
    for actor, offered in (("admin", True), ("reviewer", False), ("annotator", False)):
        page = reviewed_world.page_client(actor).get("/")
        assert (b'id="new-project"' in page.content) is offered, actor


#: The project's tabs each role is shown (and may open): the rules of the tabs' views.
TABS_SHOWN = {
    "admin": {"", "tasks", "data", "import", "export", "settings"},
    "reviewer": {"", "tasks", "data", "export"},
    "annotator": {"", "tasks", "data"},
}
ALL_TABS = TABS_SHOWN["admin"]


@pytest.mark.parametrize("actor", ["admin", "reviewer", "annotator"])
def test_each_role_is_shown_the_project_tabs_it_may_open_and_no_other(
    reviewed_world: SecurityWorld, actor: str
) -> None:
    seen, _ = _walk(reviewed_world, actor)
    base = f"/projects/{reviewed_world.project.pk}/"

    shown = {tab for tab in ALL_TABS if base + tab in seen}
    assert shown == TABS_SHOWN[actor]
    assert all(seen[base + tab] == 200 for tab in shown)
    # A tab not shown is refused when typed in, so hiding it hides nothing the role could use.
    client = reviewed_world.page_client(actor)
    for tab in ALL_TABS - shown:
        assert client.get(base + tab).status_code in (403, 404), tab
