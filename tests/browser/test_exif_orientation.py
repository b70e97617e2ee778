"""A phone's portrait photo on the labeling page (labelsite/images.py): Chromium draws it turned
by its EXIF orientation, and the size Labelsite records is that turned size, so a box drawn on
the photo's lower half is saved there, in the frame exports and the other tools use."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from labeling.models import Task
from projects.models import Dataset
from projects.services import dataset_connect, media_create_from_file
from tests.browser.conftest import log_in, open_task, wait_until
from tests.browser.test_labeling_everyday_moves import close, drag, saved_document
from tests.browser.test_labeling_page import Screen, press
from tests.projects.test_exif_orientation import photo

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_portrait_photo_is_drawn_and_labeled_upright(
    page: Page, live_server: Any, labeling_project: Any, annotator: Any, media_storage: Any
) -> None:
    dataset = Dataset.objects.create(organization=labeling_project.organization, name="Phone photos")
    dataset_connect(dataset=dataset, project=labeling_project)
    # Stored as 400 x 200 pixels (red left, blue right) with orientation 6: a 200 x 400 portrait.
    media = media_create_from_file(dataset=dataset, name="phone.jpg", content=photo(6))
    task = Task.objects.get(project=labeling_project, media=media)
    log_in(page, live_server, "annie")
    open_task(page, live_server, task)
    wait_until(page, "() => window.labelsite.renderer.image.loaded")
    seen = page.evaluate(
        """() => { const i = window.labelsite.renderer.image;
                   return [i.width, i.height, i.element.naturalWidth, i.element.naturalHeight]; }"""
    )
    assert seen == [200, 400, 200, 400]

    screen = Screen(page)
    press(page, "2")
    drag(page, screen, (40, 260), (160, 380))  # the lower (blue) half of the upright photo
    expect(page.locator("#label-count")).to_have_text("1")
    [label] = saved_document(page, task)["labels"]
    assert close(label["points"], [[40, 260], [160, 380]])
