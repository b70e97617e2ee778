"""Issue 20, point 1, in headless Chromium: the project's tabs at 1024 and 1440 px for an admin
and an annotator (screenshots to $LABELSITE_SHOTS_DIR, /tmp/shots-polish by default), the Data
tab's grid growing with uploads and swapping placeholders for thumbnails without a reload, and
the Import tab naming the format of the chosen file."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from playwright.sync_api import FilePayload, Page, expect

from demo.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERNAME
from projects.media_probe import media_probe_run
from projects.models import Dataset, Project
from projects.services import media_create_from_file
from tests.browser.conftest import PASSWORD, log_in, png_bytes
from tests.browser.test_setup_layout import BROKEN_CARDS, SHOTS, SQUEEZED, WIDTHS
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

TABS = {
    "admin": ["overview", "tasks", "data", "import", "export", "settings"],
    "annotator": ["overview", "tasks", "data"],
}
TAB_PATHS = {
    "overview": "",
    "tasks": "tasks",
    "data": "data",
    "import": "import",
    "export": "export",
    "settings": "settings",
}
#: Whether the page is wider than the window (a horizontal scroll bar).
OVERFLOWS = "() => document.documentElement.scrollWidth > window.innerWidth + 1"


def _log_in_as(page: Page, live_server: Any, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("role", ["admin", "annotator"])
def test_every_tab_of_the_demo_project_looks_finished_for_each_role(
    page: Page, live_server: Any, media_storage: Any, width: int, role: str
) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    project = Project.objects.get(name="Street scenes")
    username, password = DEMO_USERNAME, DEMO_PASSWORD
    if role == "annotator":
        user: Any = UserFactory(username="annie")
        MembershipFactory(user=user, organization=project.organization, role="annotator")
        project.members.add(user)
        username, password = "annie", PASSWORD
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    _log_in_as(page, live_server, username, password)

    problems: dict[str, list[str]] = {}
    for tab in TABS[role]:
        response = page.goto(f"{live_server.url}/projects/{project.pk}/{TAB_PATHS[tab]}")
        assert response is not None, tab
        assert response.status == 200, tab
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SHOTS / f"tab-{tab}-{role}-{width}.png"), full_page=True)
        expect(page.locator("#project-tabs a")).to_have_text([t.capitalize() for t in TABS[role]])
        expect(page.locator(f'#project-tabs a[data-tab="{tab}"]')).to_have_attribute("aria-current", "page")
        found = page.evaluate(SQUEEZED) + [f"broken card {card}" for card in page.evaluate(BROKEN_CARDS)]
        if page.evaluate(OVERFLOWS):
            found.append("wider than the window")
        if found:
            problems[tab] = found
        # The tab bar sits at the same place on every tab.
        box = page.locator("#project-tabs").bounding_box()
        assert box is not None
        problems.setdefault("_tab_bar_tops", []).append(str(round(box["y"])))

    tops = set(problems.pop("_tab_bar_tops"))
    assert len(tops) == 1, f"the tab bar moves between tabs: {tops}"
    assert problems == {}


@pytest.fixture
def data_project(transactional_db: None, media_storage: Any) -> Project:
    organization: Any = OrganizationFactory(name="Acme")
    user = UserFactory(username="ada")
    MembershipFactory(user=user, organization=organization, role="admin")
    project: Any = ProjectFactory(organization=organization, name="Street scenes")
    dataset = Dataset.objects.create(organization=organization, name="Street images")
    dataset.projects.add(project)
    return project


def test_uploads_join_the_data_tabs_grid_and_their_thumbnails_replace_the_placeholders(
    page: Page, live_server: Any, data_project: Project
) -> None:
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/projects/{data_project.pk}/data")
    page.wait_for_load_state("load")  # the modules listen from then on
    expect(page.locator("#media-empty")).to_be_visible()

    page.set_input_files(
        "#upload-input",
        [
            FilePayload(name="one.png", mimeType="image/png", buffer=png_bytes(64, 48)),
            FilePayload(name="two.png", mimeType="image/png", buffer=png_bytes(64, 48)),
        ],
    )

    # In the grid at once, no reload: placeholders while the worker has not made the thumbnails.
    expect(page.locator("#media-grid .thumb")).to_have_count(2, timeout=15000)
    expect(page.locator("#media-count")).to_have_text("2")
    expect(page.locator("#media-empty")).to_be_hidden()
    assert data_project.tasks.count() == 2
    expect(page.locator("#media-grid img[data-pending]")).to_have_count(2)

    # An image that arrives another way (a script, another tab) joins the grid too, no reload.
    dataset = Dataset.objects.get(projects=data_project)
    media_create_from_file(dataset=dataset, name="from-a-script.png", content=ContentFile(png_bytes(64, 48)))
    expect(page.locator('#media-grid [data-name="from-a-script.png"]')).to_have_count(1, timeout=20000)
    expect(page.locator("#media-grid .thumb")).to_have_count(3)
    expect(page.locator("#media-count")).to_have_text("3")

    # The worker's job, run here: the grid notices on its own and shows the 64 x 48 thumbnails.
    media_probe_run(organization_id=data_project.organization_id)
    expect(page.locator("#media-grid img[data-pending]")).to_have_count(0, timeout=20000)
    deadline = time.monotonic() + 20
    # Polled with evaluate: wait_for_function's predicate is an eval the page's CSP refuses.
    while page.evaluate("[...document.querySelectorAll('#media-grid img')].map((img) => img.naturalWidth)") != [
        64,
        64,
        64,
    ]:
        assert time.monotonic() < deadline, "the thumbnails never replaced the placeholders"
        page.wait_for_timeout(100)


def test_the_import_tab_names_the_format_of_the_chosen_file(
    page: Page, live_server: Any, data_project: Project
) -> None:
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/projects/{data_project.pk}/import")
    page.wait_for_load_state("load")
    detected = page.locator("#import-detected")
    expect(page.locator("#import-advanced")).not_to_have_attribute("open", "")
    expect(page.locator("#import-advanced select[name=match_by]")).to_be_hidden()

    page.set_input_files("#import-file", [FilePayload(name="tasks.txt", mimeType="text/plain", buffer=b"a.jpg\n")])
    expect(detected).to_have_text("Detected format: Label Studio TXT.")

    page.set_input_files("#import-file", [FilePayload(name="labels.xml", mimeType="text/xml", buffer=b"<a/>")])
    expect(detected).to_contain_text("CVAT for images 1.1 (XML), Pascal VOC XML")
    expect(detected).to_contain_text("Its contents tell which when it is uploaded")

    page.select_option("#import-format", "pascal_voc")
    expect(detected).to_have_text("“labels.xml” is imported as Pascal VOC XML (chosen above).")

    page.set_input_files("#import-file", [FilePayload(name="notes.doc", mimeType="text/plain", buffer=b"x")])
    expect(detected).to_contain_text("may not be one")

    page.click("#import-advanced summary")
    expect(page.locator("#import-advanced select[name=match_by]")).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS)
def test_an_empty_projects_overview_walks_its_admin_through_the_setup(
    page: Page, live_server: Any, transactional_db: None, width: int
) -> None:
    organization: Any = OrganizationFactory(name="Acme")
    MembershipFactory(user=UserFactory(username="ada"), organization=organization, role="admin")
    project: Any = ProjectFactory(organization=organization, name="Night shots")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, "ada")

    page.goto(f"{live_server.url}/projects/{project.pk}/")

    steps = page.locator("#setup-checklist .checklist__step")
    expect(steps).to_have_count(4)
    expect(steps.locator(".checklist__state")).to_have_text(["To do"] * 4)
    page.screenshot(path=str(SHOTS / f"tab-overview-empty-admin-{width}.png"), full_page=True)
    assert not page.evaluate(OVERFLOWS)
    steps.first.locator("a").click()
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/configuration")
    expect(page.locator('#project-tabs a[data-tab="settings"]')).to_have_attribute("aria-current", "page")

    page.goto(f"{live_server.url}/projects/{project.pk}/import")
    page.click("#imports details.imports__formats-list summary")
    page.screenshot(path=str(SHOTS / f"tab-import-examples-admin-{width}.png"), full_page=True)
    assert not page.evaluate(OVERFLOWS)
