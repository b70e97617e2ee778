"""The main path of issue 8 in real headless Chromium: from an empty organisation to a project an
annotator can label and a script can reach, with no step outside the browser."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from playwright.sync_api import FilePayload, Page, expect

from projects.models import LabelEntry, Media, Project
from tests.browser.conftest import PASSWORD, log_in, png_bytes
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def new_admin(transactional_db: None, media_storage: Any) -> Any:
    organization = OrganizationFactory(name="Acme")
    user = UserFactory(username="ada")
    MembershipFactory(user=user, organization=organization, role="admin")
    return user


def fill_last(page: Page, selector: str, value: str) -> None:
    page.locator(selector).last.fill(value)


def test_admin_sets_up_a_project_end_to_end_in_the_browser(page: Page, live_server: Any, new_admin: Any) -> None:
    log_in(page, live_server, "ada")

    # 1. Create the project.
    page.click("#new-project")
    page.fill("#project-create-form input[name=name]", "Street scenes")
    page.click("#project-create-form button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")
    project = Project.objects.get(name="Street scenes")

    # 2. Build a nested configuration: a class with a question under it, one mistake shown and fixed.
    page.click("#add-root")
    fill_last(page, "input[name=key]", "car")
    fill_last(page, "input[name=title]", "Car")
    page.click(".node .add-child")
    fill_last(page, "input[name=key]", "colour!")
    fill_last(page, "input[name=title]", "Colour")
    problem = page.locator('[data-problem="entries[0].children[0].key"]')
    expect(problem).to_contain_text("letters", timeout=10000)
    expect(page.locator("#save-config")).to_be_disabled()
    fill_last(page, "input[name=key]", "colour")
    page.click(".node .node .add-option")
    fill_last(page, ".options-editor input[name=key]", "red")
    fill_last(page, ".options-editor input[name=label]", "Red")
    expect(problem).to_be_empty(timeout=10000)
    expect(page.locator("#save-config")).to_be_enabled(timeout=10000)
    page.click("#save-config")
    expect(page.locator("#editor-status")).to_have_text("Saved", timeout=10000)
    car = LabelEntry.objects.get(configuration__project=project, key="car", parent=None)
    assert car.children.get().options[0]["key"] == "red"

    # 3. A dataset connected to the project, with images uploaded by the page.
    page.goto(f"{live_server.url}/organization/datasets")
    page.fill("#dataset-create-form input[name=name]", "Street images")
    page.click("#dataset-create-form button[type=submit]")
    row = page.locator('tr[data-dataset="Street images"]')
    row.locator(".connect-form button").click()
    expect(page.locator('tr[data-dataset="Street images"]')).to_contain_text("Street scenes")
    page.locator('tr[data-dataset="Street images"]').get_by_text("Upload images").click()
    page.wait_for_url("**/datasets/*/")
    page.wait_for_load_state("load")  # the upload module listens from then on
    page.set_input_files(
        "#upload-input",
        [
            FilePayload(name="one.png", mimeType="image/png", buffer=png_bytes(64, 48)),
            FilePayload(name="two.png", mimeType="image/png", buffer=png_bytes(64, 48)),
        ],
    )
    expect(page.locator("#upload-done")).to_have_text("2", timeout=15000)
    assert Media.objects.filter(dataset__name="Street images").count() == 2
    assert project.tasks.count() == 2
    page.goto(f"{live_server.url}/organization/datasets")
    page.locator('tr[data-dataset="Street images"] a').first.click()
    expect(page.locator("#media-grid .thumb")).to_have_count(2)
    # Polled with evaluate, not wait_for_function, whose predicate is an eval the page's CSP refuses.
    deadline = time.monotonic() + 30
    while not page.evaluate(
        "[...document.querySelectorAll('#media-grid img')].every((img) => img.complete && img.naturalWidth > 0)"
    ):
        assert time.monotonic() < deadline, "the thumbnails never loaded"
        page.wait_for_timeout(100)

    # 4. An annotator, created with a password and assigned to the project.
    page.goto(f"{live_server.url}/organization/members")
    form = page.locator("#member-create-form")
    form.locator("input[name=username]").fill("annie")
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("select[name=role]").select_option("annotator")
    form.locator("select[name=project_id]").select_option(label="Street scenes")
    form.locator("button[type=submit]").click()
    expect(page.locator('#members tr[data-username="annie"]')).to_contain_text("Street scenes")
    assert project.members.filter(username="annie").exists()

    # 5. A token, shown once, used from a script.
    page.goto(f"{live_server.url}/organization/tokens")
    page.fill("#token-create-form input[name=name]", "nightly script")
    page.click("#token-create-form button[type=submit]")
    token = page.input_value("#token-value")
    expect(page.locator("#snippet-curl")).to_contain_text(f"{live_server.url}/api/projects")
    response = requests.get(f"{live_server.url}/api/projects", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200
    body = response.json()
    names = [p["name"] for p in (body["results"] if isinstance(body, dict) else body)]
    assert names == ["Street scenes"]
    page.goto(f"{live_server.url}/organization/tokens")
    expect(page.locator('tr[data-token="nightly script"] .last-used')).not_to_have_text("never")

    # 6. The Overview tab shows the tasks waiting.
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    expect(page.locator('#task-counts [data-state="backlog"] .num')).not_to_have_text("0")


def test_editor_asks_before_a_change_deletes_labels(page: Page, live_server: Any, new_admin: Any) -> None:
    from labeling.models import Label
    from projects.label_config import label_config_replace
    from tests.factories import LabelFactory, ProjectFactory, TaskFactory

    project: Any = ProjectFactory(organization=new_admin.memberships.get().organization, name="Labelled")
    label_config_replace(
        configuration=project.label_configuration,
        entries=[{"key": "car", "title": "Car", "type": "point"}, {"key": "tree", "title": "Tree", "type": "point"}],
    )
    LabelFactory(task=TaskFactory(project=project), entry=LabelEntry.objects.get(key="car"), points=[[1, 1]])
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/projects/{project.pk}/configuration")
    page.wait_for_selector("body[data-ready=true]")

    page.locator(".node").first.locator("button.remove").click()
    expect(page.locator("#save-config")).to_be_enabled(timeout=10000)
    page.click("#save-config")

    expect(page.locator("#impact-list")).to_contain_text("1 label is deleted")
    assert Label.objects.count() == 1
    page.click("#confirm-save")
    expect(page.locator("#editor-status")).to_have_text("Saved", timeout=10000)
    assert Label.objects.count() == 0


def test_the_job_page_offers_confirm_and_cancel_only_while_they_apply(
    page: Page, live_server: Any, new_admin: Any
) -> None:
    from imports.models import ImportJob, ImportStatus
    from tests.factories import ProjectFactory

    project: Any = ProjectFactory(organization=new_admin.memberships.get().organization, name="Imported")
    shown = {
        ImportStatus.VALIDATED: (True, True),
        ImportStatus.WRITING: (False, True),
        ImportStatus.SUCCEEDED: (False, False),
        ImportStatus.FAILED: (False, False),
    }
    jobs = {
        status: ImportJob.objects.create(
            project=project, format="datagym", file="imports/l.json", file_name="l.json", status=status
        )
        for status in shown
    }
    log_in(page, live_server, "ada")
    for status, (confirm, cancel) in shown.items():
        page.goto(f"{live_server.url}/imports/{jobs[status].pk}/")
        for button, visible in (("#confirm-button", confirm), ("#cancel-button", cancel)):
            if visible:
                expect(page.locator(button), f"{button} on a {status} job").to_be_visible()
            else:
                expect(page.locator(button), f"{button} on a {status} job").to_be_hidden()
