"""Every page of the demo flow runs under the Content-Security-Policy, in real Chromium (issue 15, hardening 1).

The policy (labelsite/settings.py, django-csp) allows scripts and styles from our own origin only,
no inline script, no inline style. Chromium reports each thing it blocks as a
`securitypolicyviolation` event and a console error; the test listens to both on every page of
the demo project (`manage.py seed_demo`: login, project list, project page with its export
panel, configuration editor, dataset page, members, tokens, labeling page, an import job's page)
and the pages around them, and checks that each page's script ran: something only the script
makes is there (the editor's and the labeling page's ready flag, an upload counted, a token
copied, the import preview drawn, an export downloaded).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, FilePayload, Page, expect

from demo.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERNAME
from imports.services import import_job_create, import_job_validate
from labeling.models import Task
from projects.models import Project
from tests.browser.conftest import png_bytes

pytestmark = pytest.mark.django_db(transaction=True)

#: Installed in every document before its own scripts: collects what the policy blocked.
LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} at ${where}`);
});
"""


class PolicyWatch:
    """A Chromium page whose every document is watched for CSP violations."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.console: list[str] = []
        page.add_init_script(LISTEN)
        page.on(
            "console",
            lambda message: self.console.append(message.text) if "Content Security Policy" in message.text else None,
        )

    def open(self, path: str) -> dict[str, str]:
        """Open a page; answer the response's headers after checking its policy forbids inline scripts."""
        response = self.page.goto(self.base_url + path)
        assert response is not None
        assert response.status == 200, (path, response.status)
        headers = response.all_headers()
        policy = _directives(headers["content-security-policy"])
        assert policy["script-src"] == ["'self'"], (path, policy)
        assert policy["default-src"] == ["'self'"], (path, policy)
        return headers

    def assert_clean(self, where: str) -> None:
        self.page.wait_for_load_state("load")
        blocked = self.page.evaluate("window.__cspViolations")
        assert blocked == [], f"{where}: the policy blocked {blocked}"
        assert self.console == [], f"{where}: Chromium reported {self.console}"


def _directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.fixture
def demo(transactional_db: None, media_storage: Any) -> Project:
    call_command("seed_demo", stdout=io.StringIO())
    return Project.objects.get(name="Street scenes")


@pytest.fixture
def watched(browser: Browser, live_server: Any) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield PolicyWatch(page, live_server.url)
    context.close()
    assert errors == [], f"JavaScript errors on the pages: {errors}"


def _validated_import(project: Project) -> Any:
    task = Task.objects.filter(project=project).order_by("media__name").first()
    assert task is not None
    bus = {"rectangle": [{"x": 10, "y": 20, "w": 80, "h": 60}]}
    items = [{"internal_media_ID": str(task.media_id), "labels": {"bus": [bus]}}]
    job = import_job_create(
        project=project, user=None, file=json.dumps(items).encode(), file_name="bus.json", format="datagym", options={}
    )
    return import_job_validate(job_id=job.id)


def test_every_page_of_the_demo_flow_runs_its_scripts_with_no_policy_violation(demo: Project, watched: Any) -> None:
    page: Page = watched.page
    dataset = demo.datasets.get()
    task = Task.objects.filter(project=demo).order_by("media__name").first()
    assert task is not None
    job = _validated_import(demo)

    # Login (no script of its own) and the headers every page carries.
    headers = watched.open("/login/")
    policy = _directives(headers["content-security-policy"])
    assert "'unsafe-inline'" not in policy["style-src"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    watched.assert_clean("login")
    page.fill("input[name=username]", DEMO_USERNAME)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{watched.base_url}/")
    watched.assert_clean("project list")

    # The project's Overview, and its Export tab, whose script builds the direct download.
    watched.open(f"/projects/{demo.pk}/")
    watched.assert_clean("project overview")
    watched.open(f"/projects/{demo.pk}/export")
    with page.expect_download(timeout=30000) as download:
        page.click("#export-direct")
    assert download.value.suggested_filename
    watched.assert_clean("project export tab")

    # The Data tab: an upload joins the thumbnail grid through the grid's script.
    watched.open(f"/projects/{demo.pk}/data")
    upload = FilePayload(name="tab.png", mimeType="image/png", buffer=png_bytes(64, 48))
    page.set_input_files("#upload-input", [upload])
    expect(page.locator('#media-grid [data-name="tab.png"]')).to_have_count(1, timeout=15000)
    watched.assert_clean("project data tab")

    # The Import tab's script names the chosen file's format.
    watched.open(f"/projects/{demo.pk}/import")
    page.set_input_files("#import-file", [FilePayload(name="t.txt", mimeType="text/plain", buffer=b"a.jpg")])
    expect(page.locator("#import-detected")).to_have_text("Detected format: Label Studio TXT.")
    watched.assert_clean("project import tab")

    # The configuration editor draws the tree and says it is ready.
    watched.open(f"/projects/{demo.pk}/configuration")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("input[name=key]").first).to_have_value("bus")
    watched.assert_clean("configuration editor")

    # The dataset page uploads with its script.
    watched.open(f"/datasets/{dataset.pk}/")
    extra = FilePayload(name="extra.png", mimeType="image/png", buffer=png_bytes(64, 48))
    page.set_input_files("#upload-input", [extra])
    expect(page.locator("#upload-done")).to_have_text("1", timeout=15000)
    watched.assert_clean("dataset page")

    # Members (no script), and API tokens, whose copy button is a script's listener.
    watched.open("/organization/members")
    expect(page.locator('tr[data-username="demo"]')).to_be_visible()
    watched.assert_clean("members")
    watched.open("/organization/tokens")
    page.fill("#token-create-form input[name=name]", "CSP check")
    page.click("#token-create-form button[type=submit]")
    copy = page.locator('[data-copy="#token-value"]')
    copy.click()
    expect(copy).to_have_text("Copied")
    watched.assert_clean("tokens")

    # The labeling page: its modules load the image and draw the labels.
    watched.open(f"/tasks/{task.pk}/")
    page.wait_for_selector("body[data-ready=true]", timeout=30000)
    assert page.evaluate("document.getElementById('stage').width") > 0
    watched.assert_clean("labeling page")

    # The import job's page draws the preview over the image with its script.
    watched.open(f"/imports/{job.pk}/")
    expect(page.locator("#preview svg.preview__svg")).to_have_count(1, timeout=15000)
    watched.assert_clean("import job page")

    # The pages around the flow, none of which may be blocked either.
    for path in [
        f"/projects/{demo.pk}/settings",
        f"/projects/{demo.pk}/overview",
        f"/projects/{demo.pk}/tasks",
        "/organization/datasets",
        f"/organization/datasets/{dataset.pk}/media",
        "/invitations/",
        "/password/change/",
    ]:
        watched.open(path)
        watched.assert_clean(path)


def test_the_api_documentation_renders_under_its_policy(demo: Project, watched: Any) -> None:
    """Swagger UI is third-party: its page loads its set-up script from a URL (no inline script);
    only it and Redoc may use inline styles, which their libraries inject."""
    headers = watched.open("/api/docs")
    expect(watched.page.locator(".swagger-ui .info .title")).to_contain_text("Labelsite API", timeout=30000)
    watched.assert_clean("/api/docs")
    assert "'unsafe-inline'" in _directives(headers["content-security-policy"])["style-src"]
    watched.open("/api/redoc")
    expect(watched.page.locator("h1").first).to_contain_text("Labelsite API", timeout=30000)
    watched.assert_clean("/api/redoc")


def test_no_browser_test_waits_with_a_string_predicate_the_policy_refuses() -> None:
    """Playwright's ``wait_for_function`` polls its string with ``eval`` once the first try is false;
    under our policy (no 'unsafe-eval') that throws, so such a test passes or fails on timing alone
    (it failed CI once). Tests poll with ``conftest.wait_until`` instead. Needs no browser."""
    root = Path(__file__).resolve().parent.parent
    callers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path != Path(__file__).resolve() and ".wait_for_function(" in path.read_text(encoding="utf-8")
    )
    assert callers == [], f"use tests.browser.conftest.wait_until instead of page.wait_for_function in {callers}"
