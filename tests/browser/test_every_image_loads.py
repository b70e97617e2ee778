"""Every image on the pages loads in real Chromium (issue 20, point 2), for an uploaded media, an
S3 media (moto on loopback, signed by the server) and a URL media (a local HTTP server):
the labeling page, the import job page's preview, the dataset's thumbnail grid and the task list.

An `<img>` counts as loaded when it is complete with `naturalWidth > 0`; an SVG `<image>` (the
preview draws its labels over one) when its `href`, loaded by the page as an image, has a
`naturalWidth > 0`. Each page must show the images this test expects, so that an empty page
cannot pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from imports.models import ImportStatus
from imports.preview import IMAGE_NOT_KNOWN
from imports.services import import_job_create, import_job_validate
from labeling.models import Task
from projects.media_probe import media_probe_run
from projects.models import Dataset
from tests.browser.conftest import log_in, wait_until
from tests.factories import MembershipFactory, UserFactory
from tests.media_sources import URL_IMAGE, ThreeMedia, image_http_server, three_media
from tests.realstack.conftest import s3_server

__all__ = ["s3_server"]

pytestmark = pytest.mark.django_db(transaction=True)

#: For each <img> and SVG <image> of the page: its address and whether it loaded as an image.
IMAGES_LOADED = """
async () => {
  const load = (src) => new Promise((resolve) => {
    const probe = new Image();
    probe.onload = () => resolve(probe.naturalWidth > 0);
    probe.onerror = () => resolve(false);
    probe.src = src;
  });
  const found = [];
  for (const img of document.querySelectorAll("img")) {
    img.loading = "eager";
    if (!img.complete) await new Promise((resolve) => { img.onload = img.onerror = resolve; });
    found.push([img.getAttribute("src"), img.complete && img.naturalWidth > 0]);
  }
  for (const image of document.querySelectorAll("svg image")) {
    const href = image.getAttribute("href") || image.getAttribute("xlink:href");
    found.push([href, await load(new URL(href, document.baseURI).href)]);
  }
  return found;
}
"""


#: The labeling page's image: its address and whether it loaded.
LABELING_IMAGE = """
() => {
  const image = window.labelsite.renderer.image;
  return [image.element.getAttribute("src"), image.loaded && image.element.naturalWidth > 0];
}
"""


def images_on(page: Page) -> dict[str, bool]:
    return dict(page.evaluate(IMAGES_LOADED))


@pytest.fixture
def world(
    labeling_project: Any, media_storage: Any, s3_server: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Dataset, ThreeMedia]]:
    admin: Any = UserFactory(username="ada")
    MembershipFactory(user=admin, organization=labeling_project.organization, role="admin")
    dataset = Dataset.objects.create(organization=labeling_project.organization, name="Three sources")
    dataset.projects.add(labeling_project)
    with image_http_server({"url.png": URL_IMAGE}) as image_base:
        media = three_media(
            dataset=dataset, s3_server=s3_server, image_base=image_base, settings=settings, monkeypatch=monkeypatch
        )
        yield admin, dataset, media


def expected_addresses(media: ThreeMedia) -> set[str]:
    return {f"/media/{media.uploaded.id}/file", f"/media/{media.s3.id}/file", media.url.url}


def test_every_image_on_the_labeling_page_the_import_preview_the_grid_and_the_task_list_loads(
    page: Page, live_server: Any, labeling_project: Any, world: tuple[Any, Dataset, ThreeMedia]
) -> None:
    admin, dataset, media = world
    tasks = [Task.objects.get(project=labeling_project, media=one) for one in media.all()]
    box = {"sign": [{"rectangle": [{"x": 4, "y": 4, "w": 20, "h": 12}], "classifications": {}}]}
    items = [{"internal_media_ID": str(task.media_id), "labels": box} for task in tasks]
    job = import_job_create(
        project=labeling_project,
        user=admin,
        file=json.dumps(items).encode(),
        file_name="labels.json",
        format="datagym",
        options={"skip_invalid": True},
    )
    job = import_job_validate(job_id=job.id)
    assert job.status == ImportStatus.VALIDATED, job.message
    media_probe_run(organization_id=dataset.organization_id)  # the worker's job; a placeholder is shown until then
    log_in(page, live_server, "ada")

    labeling_addresses: dict[str, bool] = {}
    for task in tasks:
        page.goto(f"{live_server.url}/tasks/{task.pk}/")
        page.wait_for_selector("body[data-ready=true]")
        # The labeling page draws its image on a canvas from an Image element of its own.
        wait_until(page, "window.labelsite.renderer.image.settled")
        src, loaded = page.evaluate(LABELING_IMAGE)
        labeling_addresses[src] = loaded
        assert images_on(page) == {}, "the labeling page shows no other image"
    assert labeling_addresses == dict.fromkeys(expected_addresses(media), True)

    page.goto(f"{live_server.url}/imports/{job.pk}/")
    wait_until(page, "document.querySelectorAll('#preview svg image').length === 3")
    preview = images_on(page)
    assert preview == dict.fromkeys(expected_addresses(media), True)

    page.goto(f"{live_server.url}/organization/datasets/{dataset.pk}/media")
    page.wait_for_selector("#media-grid img")
    grid = images_on(page)
    assert grid == dict.fromkeys({f"/media/{one.id}/thumbnail" for one in media.all()}, True)

    page.goto(f"{live_server.url}/projects/{labeling_project.pk}/tasks")
    page.wait_for_selector("table, main")
    assert all(images_on(page).values())


def test_a_preview_item_whose_image_cannot_be_shown_says_so_over_a_placeholder(
    page: Page, live_server: Any, labeling_project: Any, world: tuple[Any, Dataset, ThreeMedia], settings: Any
) -> None:
    admin, _, media = world
    task = Task.objects.get(project=labeling_project, media=media.uploaded)
    body = [{"internal_media_ID": str(task.media_id), "labels": {}}]
    job = import_job_create(
        project=labeling_project, user=admin, file=json.dumps(body).encode(), file_name="labels.json", format="datagym"
    )
    job = import_job_validate(job_id=job.id)
    # A media the import would create from a private address (allowed when the file was checked,
    # withdrawn since): the admin's browser is not sent there.
    settings.LABELSITE_URL_ALLOWLIST = []
    shape = {"key": "sign", "type": "rectangle", "color": "#4363d8", "points": [[10, 10], [200, 120]]}
    new = {"name": "private.png", "url": "http://10.0.0.8/private.png", "width": 400, "height": 300}
    preview = [{"item": 0, "task_id": "", "media_id": "", "new_media": new, "shape_count": 1, "truncated": False,
                "shapes": [shape]}]  # fmt: skip
    job.summary = {**job.summary, "preview": preview}
    job.save(update_fields=["summary"])
    log_in(page, live_server, "ada")

    page.goto(f"{live_server.url}/imports/{job.pk}/")
    page.wait_for_selector("#preview .preview__item")

    assert images_on(page) == {}
    assert page.locator("#preview .preview__note").text_content() == IMAGE_NOT_KNOWN
    assert page.locator("#preview rect.preview__placeholder").count() == 1
    assert (page.locator("#preview figcaption").text_content() or "").startswith("Item 0 · private.png (new)")
