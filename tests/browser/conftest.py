"""Real headless Chromium (Debian's `chromium` package) driven by Playwright for Python.

Playwright's own browser download is never used: the browser is launched from
`CHROMIUM_PATH` (default /usr/bin/chromium). The tests run against pytest-django's
`live_server` (a real HTTP server in a thread, transactional database).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, Route, sync_playwright

from labeling.models import Task
from projects.label_config import label_config_replace
from projects.models import Dataset, Project
from tests.factories import (
    MediaFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "labelsite-test-password"
IMAGE_HOST = "https://images.example.com"
IMAGE_WIDTH, IMAGE_HEIGHT = 800, 600
DOCS = Path(__file__).resolve().parents[2] / "docs"

XSS_TITLE = "<img src=x onerror=alert(1)>"

#: A configuration with every geometry type, a nested geometry, nested questions and an
#: evil class title.
LABEL_CONFIG: list[dict[str, Any]] = [
    {
        "key": "car",
        "title": "Car",
        "type": "polygon",
        "color": "#e6194b",
        "shortcut": "1",
        "children": [
            {
                "key": "car_type",
                "title": "Car type",
                "type": "select",
                "required": True,
                "options": [{"key": "suv", "label": "SUV"}, {"key": "sedan", "label": "Sedan"}],
            },
            {
                "key": "damage",
                "title": "Damage",
                "type": "checklist",
                "options": [{"key": "dent", "label": "Dent"}, {"key": "scratch", "label": "Scratch"}],
            },
            {"key": "wheel", "title": "Wheel", "type": "point", "color": "#ffe119", "shortcut": "5"},
        ],
    },
    {"key": "sign", "title": "Traffic sign", "type": "rectangle", "color": "#4363d8", "shortcut": "2"},
    {"key": "lane", "title": "Lane marking", "type": "line", "color": "#3cb44b", "shortcut": "3"},
    {"key": "pole", "title": "Pole", "type": "point", "color": "#f58231", "shortcut": "4"},
    {"key": "road", "title": "Road surface", "type": "segmentation", "color": "#911eb4", "shortcut": "6"},
    {"key": "evil", "title": XSS_TITLE, "type": "rectangle", "color": "#42d4f4", "shortcut": "7"},
    {
        "key": "weather",
        "title": "Weather",
        "type": "select",
        "required": True,
        "options": [
            {"key": "sunny", "label": "Sunny"},
            {"key": "cloudy", "label": "Cloudy"},
            {"key": "rain", "label": "Rain"},
            {"key": "snow", "label": "Snow"},
        ],
        "children": [
            {
                "key": "visibility",
                "title": "Visibility",
                "type": "select",
                "options": [{"key": "good", "label": "Good"}, {"key": "poor", "label": "Poor"}],
            },
        ],
    },
    {"key": "notes", "title": "Notes", "type": "freetext", "max_length": 40},
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from
    # a thread with a running loop unless told that this is safe (the ORM calls here are plain
    # synchronous test code).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


def png_bytes(width: int = IMAGE_WIDTH, height: int = IMAGE_HEIGHT) -> bytes:
    image = Image.new("RGB", (width, height), (90, 110, 130))
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 50):
        draw.line([(x, 0), (x, height)], fill=(120, 140, 160))
    for y in range(0, height, 50):
        draw.line([(0, y), (width, y)], fill=(120, 140, 160))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh 1280x800 page; the demo image host is served from memory, and any page error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    image = png_bytes()
    errors: list[str] = []
    dialogs: list[str] = []

    def serve_image(route: Route) -> None:
        route.fulfill(status=200, content_type="image/png", body=image)

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        # beforeunload asks whether to leave: yes. Anything else (an alert) is a failure.
        dialog.accept() if dialog.type == "beforeunload" else dialog.dismiss()

    page.route(f"{IMAGE_HOST}/**", serve_image)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", on_dialog)
    page.errors = errors  # type: ignore[attr-defined]
    page.dialogs = dialogs  # type: ignore[attr-defined]
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert [d for d in dialogs if not d.startswith("beforeunload")] == [], f"Unexpected dialogs: {dialogs}"


@pytest.fixture
def labeling_project(transactional_db: None) -> Project:
    organization = OrganizationFactory()
    project: Any = ProjectFactory(organization=organization, name="Street scenes")
    label_config_replace(configuration=project.label_configuration, entries=LABEL_CONFIG)
    return project


@pytest.fixture
def annotator(labeling_project: Project) -> Any:
    user: Any = UserFactory(username="annie")
    MembershipFactory(user=user, organization=labeling_project.organization, role="annotator")
    labeling_project.members.add(user)
    return user


def make_task(project: Project, name: str, width: int = IMAGE_WIDTH, height: int = IMAGE_HEIGHT) -> Task:
    dataset = Dataset.objects.filter(organization=project.organization).first()
    if dataset is None:
        dataset = Dataset.objects.create(organization=project.organization, name="Demo images")
        dataset.projects.add(project)
    media = MediaFactory(dataset=dataset, name=name, url=f"{IMAGE_HOST}/{name}", width=width, height=height)
    task: Any = TaskFactory(project=project, media=media)
    return task


def log_in(page: Page, live_server: Any, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def open_task(page: Page, live_server: Any, task: Task) -> None:
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    page.wait_for_selector("body[data-ready=true]")


def wait_until(page: Page, expression: str, timeout: float = 40.0) -> None:
    """Poll a JavaScript expression from the test until it is truthy.

    Playwright's ``wait_for_function`` re-evaluates a string predicate with ``eval`` when the first
    try is false, which the pages' Content-Security-Policy (no 'unsafe-eval') refuses: the test then
    passes or fails on timing alone. ``evaluate`` goes through the debugger protocol and is allowed.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"Still false after {timeout} s: {expression}")
        page.wait_for_timeout(50)


def wait_saved(page: Page) -> None:
    # Generous: CI shares two cores between the live server, Chromium and the database.
    try:
        page.wait_for_selector("#save-state[data-state=saved]", timeout=40000)
    except Exception as error:
        state = page.evaluate("document.querySelector('#save-state')?.dataset.state")
        raise AssertionError(f"The page never said saved; its save state is {state!r}") from error
    assert page.evaluate("window.labelsite.saver.hasUnsaved") is False
