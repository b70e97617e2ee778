"""The labeling page shows what a Labelbox data row brought with its image, in real Chromium: an
attachments and metadata panel in the side panel (issue 16, point 7).

The row is imported as a user imports it (the `labelbox_data_rows` format, through an import job);
its image and its IMAGE attachment are served from memory by the page fixture's image host.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from labeling.models import Task
from projects.models import Dataset
from tests.browser.conftest import IMAGE_HOST, log_in, open_task, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

ROW: dict[str, Any] = {
    "row_data": f"{IMAGE_HOST}/field-7.png",
    "global_key": "field-7",
    "media_type": "IMAGE",
    "metadata_fields": [{"name": "tag", "value": "north field"}, {"name": "split", "value": "train"}],
    "attachments": [
        {"type": "IMAGE_OVERLAY", "value": f"{IMAGE_HOST}/field-7-infrared.png", "name": "infrared"},
        {"type": "RAW_TEXT", "value": "IOWA, Zone 2232, June 2022"},
        {"type": "TEXT_URL", "value": "https://docs.example.com/field-7.txt"},
    ],
}


def _imported_task(project: Any) -> Task:
    dataset = Dataset.objects.create(organization=project.organization, name="Fields")
    dataset.projects.add(project)
    job = import_job_create(
        project=project,
        user=None,
        file=json.dumps([ROW]).encode(),
        file_name="rows.json",
        format="labelbox_data_rows",
        options={},
    )
    job = import_job_validate(job_id=job.id)
    job = import_job_write(job_id=job.id)
    assert job.status == ImportStatus.SUCCEEDED, job.message
    return Task.objects.get(project=project, media__global_key="field-7")


def test_the_panel_shows_an_imported_labelbox_rows_attachments_and_metadata(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any
) -> None:
    task = _imported_task(labeling_project)
    log_in(page, live_server, annotator.username)
    open_task(page, live_server, task)

    panel = page.locator("#media-context")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("heading")).to_have_text("Attachments and metadata")
    # The IMAGE_OVERLAY as a thumbnail that loaded, inside a link to the image.
    thumbnail = panel.locator("[data-type=IMAGE_OVERLAY] a img")
    expect(thumbnail).to_have_attribute("alt", "infrared")
    wait_until(
        page,
        "() => { const i = document.querySelector('#media-context img'); return i.complete && i.naturalWidth > 0; }",
    )
    assert panel.locator("[data-type=IMAGE_OVERLAY] a").get_attribute("href") == f"{IMAGE_HOST}/field-7-infrared.png"
    # Raw text as text, a text URL as a link that opens apart from the page.
    expect(panel.locator("[data-type=RAW_TEXT]")).to_contain_text("IOWA, Zone 2232, June 2022")
    assert panel.locator("[data-type=RAW_TEXT] a").count() == 0
    link = panel.get_by_role("link", name="https://docs.example.com/field-7.txt")
    assert (link.get_attribute("target"), link.get_attribute("rel")) == ("_blank", "noopener noreferrer")
    # The metadata by field name.
    metadata = panel.locator("[data-metadata]")
    expect(metadata.locator("dt")).to_have_text(["tag", "split"])
    expect(metadata.locator("dd")).to_have_text(["north field", "train"])
    # The panel is context only: the page is ready to label as always.
    assert page.evaluate("document.body.dataset.ready") == "true"
