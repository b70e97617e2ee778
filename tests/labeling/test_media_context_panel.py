"""The labeling page's attachments and metadata panel without a browser: what becomes a link, what a
thumbnail, and what stays text (the browser test shows it drawn: tests/browser/test_media_context_panel.py)."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from labelsite.csp import img_src_allows
from tests.factories import MembershipFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_of(project: Any) -> Client:
    user: Any = UserFactory()
    MembershipFactory(user=user, organization=project.organization, role="annotator")
    project.members.add(user)
    client = Client()
    client.force_login(user)
    return client


class Panel(HTMLParser):
    """The panel `#media-context` of a page, parsed: its links, images, tags, and the text of each
    attachment (`[data-type]`) and metadata value (`dd`)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found = False
        self.depth = 0
        self.links: list[str] = []
        self.images: list[str] = []
        self.tags: list[str] = []
        self.items: list[str] = []
        self.values: list[str] = []
        self._into: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id") == "media-context":
            self.found, self.depth = True, 0
        if not self.found or self.depth < 0:
            return
        if tag not in ("img", "br"):
            self.depth += 1
        self.tags.append(tag)
        if tag == "a":
            self.links.append(found.get("href") or "")
        elif tag == "img":
            self.images.append(found.get("src") or "")
        if "data-type" in found:
            self.items.append("")
            self._into = self.items
        elif tag == "dd":
            self.values.append("")
            self._into = self.values

    def handle_endtag(self, tag: str) -> None:
        if self.found and self.depth >= 0:
            self.depth -= 1
            if tag in ("li", "dd"):
                self._into = None

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            self._into[-1] = " ".join((self._into[-1] + " " + data).split())


def panel(client: Client, task: Any) -> Panel:
    return Panel(client.get(reverse("task-label", kwargs={"task_id": task.pk})).content.decode())


def test_only_http_and_https_values_become_links(project: Any, client_of: Client) -> None:
    """Stored values come from files users upload: a `javascript:` or `data:` value is shown as text."""
    task: Any = TaskFactory(
        project=project,
        media__metadata={"site": "https://maps.example.com/?q=7", "trap": "javascript:alert(1)", "count": 3},
        media__attachments=[
            {"type": "TEXT_URL", "value": "javascript:alert(1)"},
            {"type": "IMAGE", "value": "data:image/png;base64,AAAA"},
            {"type": "RAW_TEXT", "value": "https://looks.like/a/link <b>bold</b>"},
        ],
    )
    found = panel(client_of, task)

    assert found.links == ["https://maps.example.com/?q=7"]
    assert found.images == []
    assert "b" not in found.tags
    assert found.items == [
        "TEXT_URL javascript:alert(1)",
        "IMAGE data:image/png;base64,AAAA",
        "RAW_TEXT https://looks.like/a/link <b>bold</b>",
    ]
    assert found.values == ["https://maps.example.com/?q=7", "javascript:alert(1)", "3"]


def test_an_image_attachment_from_a_host_the_csp_does_not_allow_is_a_link_not_a_broken_thumbnail(
    project: Any, client_of: Client, settings: Any
) -> None:
    task: Any = TaskFactory(
        project=project,
        media__attachments=[
            {"type": "IMAGE_OVERLAY", "value": "https://cdn.example.com/overlay.png"},
            {"type": "IMAGE", "value": "https://elsewhere.example.org/photo.jpg"},
        ],
    )
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["img-src"] = ["'self'", "https://cdn.example.com"]
    settings.CONTENT_SECURITY_POLICY = policy
    found = panel(client_of, task)

    assert found.images == ["https://cdn.example.com/overlay.png"]
    assert found.links == [
        "https://cdn.example.com/overlay.png",
        "https://elsewhere.example.org/photo.jpg",
    ]


def test_a_media_with_nothing_stored_has_no_panel(project: Any, client_of: Client) -> None:
    assert panel(client_of, TaskFactory(project=project)).found is False


@pytest.mark.parametrize(
    ("sources", "url", "allowed"),
    [
        (["'self'", "https:", "http:"], "https://a.example.com/x.png", True),
        (["'self'", "https:"], "http://a.example.com/x.png", False),
        (["'self'", "http:"], "https://a.example.com/x.png", True),
        (["'self'"], "https://a.example.com/x.png", False),
        (["https://a.example.com"], "https://a.example.com/x.png", True),
        (["https://a.example.com"], "https://b.example.com/x.png", False),
        (["https://a.example.com"], "https://a.example.com:8443/x.png", False),
        (["a.example.com:8443"], "https://a.example.com:8443/x.png", True),
        (["*.example.com"], "https://deep.a.example.com/x.png", True),
        (["*.example.com"], "https://example.com/x.png", False),
        (["*"], "https://any.where/x.png", True),
        (["https:"], "javascript:alert(1)", False),
    ],
)
def test_img_src_allows_reads_the_policys_sources(settings: Any, sources: list[str], url: str, allowed: bool) -> None:
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["img-src"] = sources
    settings.CONTENT_SECURITY_POLICY = policy

    assert img_src_allows(url) is allowed
