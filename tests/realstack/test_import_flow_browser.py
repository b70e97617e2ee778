"""The import path as an admin walks it, in real Chromium against a live server and a real worker.

Upload a file with a mistake on the project page -> the job page reports the error at its
place and nothing is written -> upload the fixed file -> the job page follows the worker
live to `validated` and shows the preview -> confirm -> the labels are in the labeling page
with the right classes and pixel coordinates. Once in DataGym JSON, once in Label Studio
JSON (percent coordinates), once as a ZIP of two files.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from playwright.sync_api import FilePayload, Page, expect

from imports.models import ImportJob, ImportStatus
from labeling.models import Label, Task
from projects.label_config import label_config_replace
from tests.browser.conftest import IMAGE_HEIGHT, IMAGE_WIDTH, log_in, make_task, open_task
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory
from tests.imports.conftest import DATAGYM_CONFIG

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

JOB_TIMEOUT_MS = 60_000


@pytest.fixture
def import_project(transactional_db: None, celery_worker: Any) -> Any:
    organization = OrganizationFactory()
    project: Any = ProjectFactory(organization=organization, name="Imports")
    label_config_replace(configuration=project.label_configuration, entries=DATAGYM_CONFIG)
    admin: Any = UserFactory(username="ada")
    MembershipFactory(user=admin, organization=organization, role="admin")
    return project


def upload(page: Page, live_server: Any, project: Any, payload: FilePayload, *, format: str = "") -> ImportJob:
    before = set(ImportJob.objects.values_list("pk", flat=True))
    page.goto(f"{live_server.url}/projects/{project.pk}/import")
    page.set_input_files("#import-form input[name=file]", files=[payload])
    page.select_option("#import-format", format)
    page.click("#import-form button[type=submit]")
    page.wait_for_url("**/imports/*/")
    (job,) = ImportJob.objects.exclude(pk__in=before).order_by("created_at")[:1]
    return job


def json_file(name: str, data: Any) -> FilePayload:
    return {"name": name, "mimeType": "application/json", "buffer": json.dumps(data).encode()}


def wait_status(page: Page, status: str) -> None:
    """The job page updates itself (it polls the API): no reload here."""
    badge = page.locator("#job-status")
    badge.and_(page.locator(f"[data-status={status}], [data-status=failed]")).wait_for(timeout=JOB_TIMEOUT_MS)
    if status != "failed" and badge.get_attribute("data-status") == "failed":
        job = ImportJob.objects.order_by("-created_at").first()
        errors = list(job.errors.values_list("location", "message")[:5]) if job else []
        pytest.fail(f"The import failed: {job.message if job else ''} {errors}")
    expect(badge).to_have_attribute("data-status", status)


def stored_labels(page: Page) -> list[dict[str, Any]]:
    """The labeling page's own state: every label with its class key and points, nested ones too."""
    return page.evaluate(
        """() => {
          const out = [];
          const walk = (labels) => labels.forEach((l) => {
            out.push({key: l.key, type: l.type, points: l.points});
            walk(l.children || []);
          });
          walk(window.labelsite.store.labels);
          return out;
        }"""
    )


def test_a_datagym_file_with_a_mistake_is_reported_then_fixed_imported_and_shown(
    page: Page, live_server: Any, import_project: Any
) -> None:
    task = make_task(import_project, "street.png")
    labels = {
        "bus": [{"rectangle": [{"x": 100, "y": 120, "w": 200, "h": 80}], "classifications": {}}],
        "car": [
            {
                "polygon": [{"x": 10, "y": 10}, {"x": 60, "y": 10}, {"x": 35, "y": "50"}],
                "classifications": {"car_type": ["suv"]},
                "nested_geometries": {"wheel": [{"point": [{"x": 20, "y": 30}]}]},
            }
        ],
    }
    item = {"internal_media_ID": str(task.media_id), "keepData": False, "labels": labels}
    log_in(page, live_server, "ada")

    # 1. A class the project does not have: failed, located, nothing written.
    wrong = {**item, "labels": {**labels, "truck": [{"rectangle": [{"x": 1, "y": 1, "w": 2, "h": 2}]}]}}
    job = upload(page, live_server, import_project, json_file("labels.json", [wrong]))
    wait_status(page, "failed")
    errors = page.locator("#errors")
    expect(errors).to_contain_text("/0/labels/truck")
    expect(errors).to_contain_text("truck")
    assert Label.objects.filter(task__project=import_project).count() == 0

    # 2. Fixed: validated live by the worker, with the preview and the counts per class.
    job = upload(page, live_server, import_project, json_file("labels.json", [item]))
    wait_status(page, "validated")
    expect(page.locator("#preview .preview__item")).to_have_count(1)
    expect(page.locator("#job-counts [data-count=labels_total]")).to_have_text("3")
    assert Label.objects.filter(task__project=import_project).count() == 0

    # 3. Confirmed: written, and the labeling page shows the labels at their pixels.
    page.click("#confirm-button")
    wait_status(page, "succeeded")
    job.refresh_from_db()
    assert (job.status, job.labels_written) == (ImportStatus.SUCCEEDED, 3)
    open_task(page, live_server, task)
    expect(page.locator("#label-count")).to_have_text("3")
    shown = {label["key"]: label for label in stored_labels(page)}
    assert shown["bus"]["type"] == "rectangle"
    assert shown["bus"]["points"] == [[100, 120], [300, 200]]
    assert shown["car"]["points"] == [[10, 10], [60, 10], [35, 50]]
    assert shown["wheel"]["points"] == [[20, 30]]


def test_label_studio_percent_coordinates_arrive_as_pixels_in_the_labeling_page(
    page: Page, live_server: Any, import_project: Any
) -> None:
    task = make_task(import_project, "ls.png")
    result = {
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": IMAGE_WIDTH,
        "original_height": IMAGE_HEIGHT,
        "value": {"x": 10, "y": 20, "width": 25, "height": 50, "rectanglelabels": ["Bus"]},
    }
    tasks = [{"data": {"image": task.media.url}, "annotations": [{"result": [result]}]}]
    log_in(page, live_server, "ada")

    # The image is matched by its name (the task's URL ends with it), the class by its title.
    job = upload(page, live_server, import_project, json_file("tasks.json", tasks), format="label_studio")
    wait_status(page, "validated")
    page.click("#confirm-button")
    wait_status(page, "succeeded")
    job.refresh_from_db()
    assert job.labels_written == 1

    open_task(page, live_server, task)
    (bus,) = stored_labels(page)
    assert bus["key"] == "bus"
    assert bus["points"] == [[0.10 * IMAGE_WIDTH, 0.20 * IMAGE_HEIGHT], [0.35 * IMAGE_WIDTH, 0.70 * IMAGE_HEIGHT]]


def test_a_zip_of_two_label_files_gives_two_linked_imports(page: Page, live_server: Any, import_project: Any) -> None:
    first, second = make_task(import_project, "a.png"), make_task(import_project, "b.png")

    def item(task: Task, x: int) -> dict[str, Any]:
        rectangle = {"rectangle": [{"x": x, "y": 5, "w": 10, "h": 10}]}
        return {"internal_media_ID": str(task.media_id), "labels": {"bus": [rectangle]}}

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("part-1.json", json.dumps([item(first, 1)]))
        archive.writestr("part-2.json", json.dumps([item(second, 2)]))
    log_in(page, live_server, "ada")

    upload(
        page,
        live_server,
        import_project,
        {"name": "batch.zip", "mimeType": "application/zip", "buffer": buffer.getvalue()},
    )
    wait_status(page, "validated")
    page.reload()  # the list of the archive's jobs is drawn by the server once the worker has unpacked it
    expect(page.locator("#archive-jobs")).to_contain_text("2 label files")
    page.click("#confirm-button")
    wait_status(page, "succeeded")
    page.reload()
    page.locator("#archive-jobs a", has_text="batch.zip/part-2.json").click()
    wait_status(page, "validated")
    page.click("#confirm-button")
    wait_status(page, "succeeded")

    assert sorted(Label.objects.filter(task__in=[first, second]).values_list("task__media__name", "points")) == [
        ("a.png", [[1, 5], [11, 15]]),
        ("b.png", [[2, 5], [12, 15]]),
    ]
