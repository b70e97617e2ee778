"""The project's Data tab against a real Celery worker, in real Chromium: images uploaded on the
tab join its grid at once as placeholders, and each placeholder turns into the thumbnail the
worker makes (projects/media_probe.py), with no reload."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import FilePayload, Page, expect

from projects.models import Dataset, Media
from tests.browser.conftest import log_in, png_bytes
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

WORKER_TIMEOUT_MS = 60_000


@pytest.fixture
def data_project(transactional_db: None, celery_worker: Any) -> Any:
    organization: Any = OrganizationFactory()
    project: Any = ProjectFactory(organization=organization, name="Streets")
    dataset = Dataset.objects.create(organization=organization, name="Street images")
    dataset.projects.add(project)
    admin: Any = UserFactory(username="ada")
    MembershipFactory(user=admin, organization=organization, role="admin")
    return project


def test_uploads_on_the_data_tab_turn_from_placeholders_into_the_workers_thumbnails(
    page: Page, live_server: Any, data_project: Any
) -> None:
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/projects/{data_project.pk}/data")
    page.wait_for_load_state("load")

    page.set_input_files(
        "#upload-input",
        [FilePayload(name=f"street-{n}.png", mimeType="image/png", buffer=png_bytes(80, 60)) for n in range(3)],
    )

    expect(page.locator("#media-grid .thumb")).to_have_count(3, timeout=15000)
    # The worker probes the uploads and stores their thumbnails; the grid notices by itself.
    expect(page.locator("#media-grid img[data-pending]")).to_have_count(0, timeout=WORKER_TIMEOUT_MS)
    deadline = time.monotonic() + 30
    while page.evaluate("[...document.querySelectorAll('#media-grid img')].map((img) => img.naturalWidth)") != [
        80,
        80,
        80,
    ]:
        assert time.monotonic() < deadline, "the thumbnails never replaced the placeholders"
        page.wait_for_timeout(200)
    assert all(media.probed_at is not None for media in Media.objects.filter(dataset__projects=data_project))
