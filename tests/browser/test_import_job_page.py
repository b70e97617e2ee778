"""The import job page in real headless Chromium: a file that holds no label is said so loudly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate
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
