"""The import job page in real headless Chromium: a file that holds no label is said so loudly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from tests.browser.conftest import log_in, make_task
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_job_page_shows_the_warning_of_a_file_without_labels_before_the_admin_confirms(
    page: Page, live_server: Any, labeling_project: Any, media_storage: Any, tmp_path: Any
) -> None:
    admin: Any = UserFactory(username="ada")
    MembershipFactory(user=admin, organization=labeling_project.organization, role="admin")
    task = make_task(labeling_project, "street.png")
    cancelled = {"was_cancelled": True, "result": []}
    body = [{"data": {"image": f"https://images.example.com/{task.media.name}"}, "annotations": [cancelled]}]
    job = import_job_create(
        project=labeling_project,
        user=admin,
        file=json.dumps(body).encode(),
        file_name="tasks.json",
        format="label_studio",
        options={"match_by": "name"},
    )
    job = import_job_validate(job_id=job.id)
    assert job.status == ImportStatus.VALIDATED

    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/imports/{job.pk}/")

    warning = page.locator("#job-warnings .message--warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("The file holds no labels")
    expect(warning).to_contain_text("cancelled annotations")
    expect(page.locator("#confirm-button")).to_be_visible()
    page.screenshot(path=str(tmp_path / "import-job-warning.png"))  # looked at when the box was made


def test_the_job_page_shows_a_small_import_succeeded_without_a_reload(
    page: Page, live_server: Any, labeling_project: Any, media_storage: Any
) -> None:
    """Opened while the job waits for a worker; the worker's phases then run, and the page that
    polls shows the end with its counts (no navigation happens: the page is the one loaded)."""
    admin: Any = UserFactory(username="ada")
    MembershipFactory(user=admin, organization=labeling_project.organization, role="admin")
    task = make_task(labeling_project, "street.png")
    box = {
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": 64,
        "original_height": 48,
        "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["Traffic sign"]},
    }
    body = [{"data": {"image": f"https://images.example.com/{task.media.name}"}, "annotations": [{"result": [box]}]}]
    job = import_job_create(
        project=labeling_project,
        user=admin,
        file=json.dumps(body).encode(),
        file_name="tasks.json",
        format="label_studio",
        options={"match_by": "name", "write_when_valid": True},
    )
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/imports/{job.pk}/")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "queued")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    assert import_job_validate(job_id=job.id).status == ImportStatus.VALIDATED
    assert import_job_write(job_id=job.id).status == ImportStatus.SUCCEEDED

    expect(page.locator("#job-status")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#job-counts")).to_contain_text("1")
    assert navigations == []
