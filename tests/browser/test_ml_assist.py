"""Model servers in real Chromium: a click on the labeling page goes to a real Label Studio ML
backend (PyPI `label-studio-ml` 1.0.9, tests/thirdparty/ml_colour_backend.py) and its box comes
back as a prediction to accept; the project page's "Model servers" card connects and pre-labels.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from labeling.models import Label, LabelSource
from ml import services
from ml.models import JobStatus, PrelabelJob
from tests.browser.conftest import log_in, open_task, wait_saved
from tests.browser.test_labeling_page import Screen
from tests.ml.conftest import Backend, ml_backend, ml_python, street_project

__all__ = ["ml_backend", "ml_python"]

pytestmark = [pytest.mark.thirdparty, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("LABELSITE_SHOTS", "/tmp/shots/ml"))


@pytest.fixture
def ml_settings(settings: Any, live_server: Any, media_storage: Any, eager_worker: None) -> None:
    settings.LABELSITE_ML_HOST_ALLOWLIST = ["127.0.0.1"]
    settings.LABELSITE_PUBLIC_URL = live_server.url
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)


def _iou(a: list[float], b: list[float]) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    h = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def test_a_click_becomes_the_models_box_which_the_annotator_accepts(
    page: Page, live_server: Any, ml_settings: None, ml_backend: Backend
) -> None:
    street = street_project(count=1)
    task = street.tasks[0]
    services.backend_create(project=street.project, url=ml_backend.url, title="Colour boxes", interactive=True)
    log_in(page, live_server, street.annotator.username)
    open_task(page, live_server, task)

    toggle = page.locator("#ml-assist-toggle")
    expect(toggle).to_be_visible()
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("5")  # Point of interest: a point class, the click the model is asked with
    x, y, w, h = street.buses[str(task.pk)]
    started = time.monotonic()
    page.mouse.click(*Screen(page).at(x + w / 2, y + h / 2))
    expect(page.locator("#predictions [data-prediction-count]")).to_have_text("1", timeout=20000)
    round_trip = time.monotonic() - started
    expect(page.locator("#ml-assist-status")).to_contain_text("accept (A) or dismiss (X)")
    # The click was a question, not a label: only the model's box is on the task.
    shapes = page.evaluate("[...window.labelsite.store.walk()].map(([s]) => [s.key, s.type, s.source])")
    assert shapes == [["bus", "rectangle", "prediction"]]
    _shoot(page, "labeling-model-assist")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.keyboard.press("a")  # accept the selected prediction
    wait_saved(page)
    label = Label.objects.get(task=task)
    assert (label.source, label.entry.key) == (LabelSource.MANUAL, "bus")
    (x1, y1), (x2, y2) = label.points
    assert _iou([x1, y1, x2 - x1, y2 - y1], [x, y, w, h]) > 0.9
    # Round trip of one click through the page, our server and the model (Python, pure-Pillow pixel
    # loop) on a shared machine; printed for docs/benchmarks.md, never a timed assertion.
    print(f"interactive round trip: {round_trip:.2f} s")


def test_the_project_page_connects_a_server_and_pre_labels(
    page: Page, live_server: Any, ml_settings: None, ml_backend: Backend
) -> None:
    street = street_project(count=2)
    log_in(page, live_server, street.admin.username)
    page.goto(f"{live_server.url}/projects/{street.project.pk}/settings")  # the Settings tab
    card = page.locator("#ml-backends")
    expect(card).to_contain_text("No model server connected.")
    page.fill("#ml-connect input[name=url]", ml_backend.url)
    page.fill("#ml-connect input[name=title]", "Colour boxes")
    page.check("#ml-connect input[name=interactive]")
    page.click("#ml-connect button[type=submit]")
    row = page.locator("#ml-backend-list tbody tr")
    # connecting asks the real server GET /health and POST /setup: generous on a busy CI machine
    expect(row).to_have_count(1, timeout=30000)
    # The page reloads after connecting: its buttons answer once the card's module has run
    # (clicked earlier, the press went nowhere and the test waited for a job that never started).
    page.wait_for_selector("#ml-backends[data-ready=true]")
    expect(row.locator('[data-field="state"]')).to_have_text("up", timeout=30000)
    expect(row.locator('[data-field="model-version"]')).to_have_text("INITIAL", timeout=30000)

    row.locator('button[data-action="prelabel"]').click()
    # The eager worker runs the job inside the POST (the real server predicts both tasks, fetching
    # their images through the live server); the page reloads when it answers. Minutes of slack
    # for a CI machine running two suites at once.
    expect(page.locator("#ml-job-list tbody tr").first.locator('[data-field="status"]')).to_have_text(
        "succeeded", timeout=120000
    )
    assert PrelabelJob.objects.get().status == JobStatus.SUCCEEDED
    expect(page.locator("#ml-versions")).to_contain_text("INITIAL")
    _shoot(page, "project-model-servers")

    page.wait_for_selector("#ml-backends[data-ready=true]")  # after the reload the job's end brought
    page.fill("#ml-accept input[name=min_score]", "0")
    page.click("#ml-accept button[type=submit]")
    expect(page.locator("#ml-message")).to_contain_text("2 predictions accepted", timeout=20000)
    assert Label.objects.filter(source=LabelSource.MANUAL, model_version="INITIAL").count() == 2
