"""The job page tells the truth: its words and bars match the job's state, its error places wrap
between their parts, never mid-word."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from imports.models import ImportJob, ImportStatus
from imports.selectors import import_job_progress
from imports.services import import_job_cancel, import_job_write
from imports.templatetags.imports_tags import location_breaks
from labelsite.celery import app
from tests.imports.conftest import item
from tests.imports.test_datagym_inline import FULL_EXAMPLE_LABELS
from tests.imports.test_pages import job_for, logged_in, page_data

pytestmark = pytest.mark.django_db


def phase_html(html: str, name: str) -> str:
    start = html.index(f'id="phase-{name}"')
    return html[start : html.index("</progress>", start)]


def test_a_succeeded_upload_is_not_said_to_be_validated_still(
    admin_user, configured_project, media_storage, task, django_capture_on_commit_callbacks
):
    file = SimpleUploadedFile("labels.json", json.dumps([item(task, labels=FULL_EXAMPLE_LABELS)]).encode())
    client = logged_in(admin_user)
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/projects/{configured_project.pk}/imports",
                {"file": file, "format": "datagym", "options": json.dumps({"write_when_valid": True})},
            )
    finally:
        app.conf.task_always_eager = False

    # The job ended before its page opens, as a small file's does with a quick worker.
    html = client.get(response["Location"]).content.decode()
    assert ImportJob.objects.get().status == ImportStatus.SUCCEEDED
    assert 'data-status="succeeded"' in html
    assert "being validated" not in html
    assert "being written" not in html
    assert "is uploaded" in html


def test_zero_of_zero_labels_is_an_empty_bar_not_a_full_one(admin_user, configured_project, media_storage, task):
    job = import_job_write(job_id=job_for(configured_project, [item(task)]).id)
    assert (job.status, job.labels_total) == (ImportStatus.SUCCEEDED, 0)

    response = logged_in(admin_user).get(f"/imports/{job.pk}/")

    writing = page_data(response)["job"]["progress"]["writing"]
    assert (writing["done"], writing["total"], writing["fraction"]) == (0, 0, 0.0)
    assert 'value="0.000000"' in phase_html(response.content.decode(), "writing")


def test_a_job_cancelled_before_validation_shows_no_running_bar_and_no_total_to_come(
    admin_user, configured_project, media_storage, task
):
    job = import_job_cancel(job=job_for(configured_project, [item(task)], validate=False))
    assert (job.status, job.labels_total) == (ImportStatus.CANCELLED, None)

    response = logged_in(admin_user).get(f"/imports/{job.pk}/")

    writing_html = phase_html(response.content.decode(), "writing")
    assert page_data(response)["job"]["progress"]["writing"]["fraction"] == 0.0
    assert page_data(response)["job"]["progress"]["validation"]["fraction"] == 0.0
    assert 'value="0.000000"' in writing_html  # no value would be the indeterminate, moving bar
    assert "…" not in writing_html
    assert 'data-field="total">\u2013<' in writing_html


def test_a_running_phase_with_its_total_to_come_is_indeterminate(configured_project, media_storage, task):
    job = job_for(configured_project, [item(task)], validate=False)

    progress = import_job_progress(job=job)

    assert progress["validation"]["total"] is None
    assert progress["validation"]["fraction"] is None


def test_an_error_place_breaks_after_its_slashes_and_is_escaped():
    assert location_breaks("/0/labels/car/0") == "/<wbr>0/<wbr>labels/<wbr>car/<wbr>0"
    assert location_breaks("labels/a.txt, line 2") == "labels/<wbr>a.txt, <wbr>line 2"
    assert location_breaks("/<b>") == "/<wbr>&lt;b&gt;"


def test_error_places_on_the_page_wrap_between_parts_not_mid_word(admin_user, configured_project, media_storage, task):
    job = job_for(configured_project, [item(task, labels={"truck": [{}]})])

    html = logged_in(admin_user).get(f"/imports/{job.pk}/").content.decode()

    assert '<td class="location"><code>/<wbr>0/<wbr>labels/<wbr>truck</code></td>' in html
    assert 'class="break"><code>' not in html
