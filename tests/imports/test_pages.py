"""Import pages: the project page's upload form and history, the job page with progress and preview."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from imports.models import ImportJob, ImportStatus
from imports.services import import_job_create, import_job_validate
from labeling.models import Label
from labelsite.celery import app
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.imports.conftest import item
from tests.imports.test_datagym_inline import FULL_EXAMPLE_LABELS

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def job_for(project: Any, items: Any, *, user: Any = None, validate: bool = True) -> ImportJob:
    job = import_job_create(
        project=project, user=user, file=json.dumps(items).encode(), file_name="street.json", format="datagym"
    )
    return import_job_validate(job_id=job.id) if validate else job


def page_data(response: Any) -> dict[str, Any]:
    html = response.content.decode()
    start = html.index('<script id="import-job-data" type="application/json">') + len(
        '<script id="import-job-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_the_import_tab_shows_admins_the_upload_form_and_past_imports(
    admin_user, configured_project, media_storage, task
):
    job_for(configured_project, [item(task, labels=FULL_EXAMPLE_LABELS)], user=admin_user)

    html = logged_in(admin_user).get(f"/projects/{configured_project.pk}/import").content.decode()

    assert 'id="import-form"' in html
    assert 'enctype="multipart/form-data"' in html
    assert '<option value="datagym">DataGym JSON (.json)</option>' in html
    assert 'value="global_key"' in html
    assert 'value="skip_invalid"' in html
    assert "/api/import-formats/datagym/example" in html
    history = html[html.index('id="import-history"') :]
    assert "street.json" in history
    assert admin_user.username in history
    assert "Validated" in history


def test_an_annotator_has_no_import_tab(configured_project, organization):
    annotator = UserFactory()
    MembershipFactory(user=annotator, organization=organization, role="annotator")
    configured_project.members.add(annotator)

    client = logged_in(annotator)
    html = client.get(f"/projects/{configured_project.pk}/").content.decode()

    assert 'id="import-form"' not in html
    assert 'data-tab="import"' not in html
    assert client.get(f"/projects/{configured_project.pk}/import").status_code == 403


def test_uploading_on_the_page_queues_a_job_and_opens_its_page(admin_user, configured_project, media_storage, task):
    file = SimpleUploadedFile("labels.json", json.dumps([item(task)]).encode())

    response = logged_in(admin_user).post(
        f"/projects/{configured_project.pk}/imports",
        {"file": file, "format": "", "match_by": "name", "mode": "skip_invalid"},
    )

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/imports/{job.pk}/"
    assert (job.format, job.created_by, job.status) == ("datagym", admin_user, ImportStatus.QUEUED)
    assert job.options["match_by"] == "name"
    assert job.options["skip_invalid"] is True


def test_a_refused_upload_goes_back_to_the_import_tab_with_the_reason(
    admin_user, configured_project, media_storage, settings
):
    settings.LABELSITE_MAX_IMPORT_BYTES = 5
    client = logged_in(admin_user)

    response = client.post(
        f"/projects/{configured_project.pk}/imports",
        {"file": SimpleUploadedFile("labels.json", b"[1, 2, 3, 4]")},
        follow=True,
    )

    assert "LABELSITE_MAX_IMPORT_BYTES" in response.content.decode()
    assert response.redirect_chain[-1][0] == f"/projects/{configured_project.pk}/import"
    assert not ImportJob.objects.exists()


def test_the_job_page_shows_progress_report_preview_and_confirm(admin_user, configured_project, media_storage, task):
    job = job_for(configured_project, [item(task, labels=FULL_EXAMPLE_LABELS)])

    response = logged_in(admin_user).get(f"/imports/{job.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="phase-validation"' in html
    assert 'id="phase-writing"' in html
    assert 'id="confirm-form"' in html
    assert 'id="confirm-form" hidden' not in html
    assert "imports/job.js" in html
    data = page_data(response)
    assert data["apiUrl"] == f"/api/imports/{job.pk}"
    assert data["pollMs"] == 1000
    assert data["job"]["progress"]["validation"]["fraction"] == 1.0
    assert data["job"]["progress"]["writing"]["total"] == 5
    preview = data["job"]["summary"]["preview"]
    assert preview[0]["image_url"] == task.media.url
    assert {shape["key"] for shape in preview[0]["shapes"]} == {"car", "wheel", "bus", "street", "poi"}
    assert 'class="preview__item" data-item="0"' in html
    assert "<code>car</code>" in html


def test_the_job_page_lists_errors_in_pages_with_a_csv_link(admin_user, configured_project, media_storage, task):
    items = [item(task, labels={f"truck{n}": [{}]}) for n in range(60)]
    job = job_for(configured_project, items)
    client = logged_in(admin_user)

    first = client.get(f"/imports/{job.pk}/").content.decode()
    second = client.get(f"/imports/{job.pk}/?page=2").content.decode()

    assert 'id="confirm-form" hidden' in first
    assert f"/api/imports/{job.pk}/errors.csv" in first
    assert "truck0" in first
    assert "truck59" not in first
    assert "Page 1 of 2" in first
    assert "truck59" in second


def test_a_label_key_in_an_error_is_escaped_on_the_job_page(admin_user, configured_project, media_storage, task):
    job = job_for(configured_project, [item(task, labels={"<img src=x onerror=alert(1)>": [{}]})])

    html = logged_in(admin_user).get(f"/imports/{job.pk}/").content.decode()

    assert "<img src=x" not in html
    assert "&lt;img src=x" in html


def test_confirm_on_the_page_writes_the_labels(
    admin_user, configured_project, media_storage, task, django_capture_on_commit_callbacks, settings
):
    job = job_for(configured_project, [item(task, labels=FULL_EXAMPLE_LABELS)])
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = logged_in(admin_user).post(f"/imports/{job.pk}/confirm")
    finally:
        app.conf.task_always_eager = False

    assert response.status_code == 302
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.SUCCEEDED
    assert Label.objects.filter(task=task).count() == 5


def test_cancel_on_the_page_cancels_a_queued_job(admin_user, configured_project, media_storage, task):
    job = job_for(configured_project, [item(task)], validate=False)

    logged_in(admin_user).post(f"/imports/{job.pk}/cancel")

    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.CANCELLED


def test_the_job_page_is_403_for_an_annotator_and_404_for_another_organisation(
    configured_project, organization, media_storage, task
):
    job = job_for(configured_project, [item(task)])
    annotator = UserFactory()
    MembershipFactory(user=annotator, organization=organization, role="annotator")
    configured_project.members.add(annotator)
    stranger = UserFactory()
    MembershipFactory(user=stranger, organization=OrganizationFactory(), role="admin")

    assert logged_in(annotator).get(f"/imports/{job.pk}/").status_code == 403
    assert logged_in(stranger).get(f"/imports/{job.pk}/").status_code == 404
    assert logged_in(stranger).post(f"/projects/{configured_project.pk}/imports").status_code == 404
    assert Client().get(f"/imports/{job.pk}/").status_code == 302
