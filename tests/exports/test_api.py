"""The exports API and page: jobs, progress, downloads from storage, direct downloads, who may do what."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from rest_framework.test import APIClient

from exports.models import ExportJob, ExportStatus
from exports.services import export_job_run
from tests.exports.conftest import label
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def admin_client(admin_user) -> APIClient:
    return client_for(admin_user)


def test_export_job_runs_in_the_worker_and_its_file_downloads_from_storage(
    admin_client, export_project, make_task, media_storage, eager_worker, django_capture_on_commit_callbacks
):
    for _ in range(3):
        label(export_project, make_task())
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/api/projects/{export_project.pk}/exports", {"format": "coco", "filters": {}}, format="json"
        )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    job = admin_client.get(f"/api/exports/{response.json()['id']}").json()
    assert (job["status"], job["progress"], job["tasks_total"], job["tasks_done"]) == ("succeeded", 1.0, 3, 3)
    assert job["file_name"].endswith(".json")
    assert (media_storage / ExportJob.objects.get().file.name).exists()
    download = admin_client.get(job["download_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    coco = json.loads(b"".join(download.streaming_content))
    assert len(coco["images"]) == 3
    assert int(download["Content-Length"]) == job["file_size"]


def test_export_job_create_rejects_an_unknown_format_and_bad_filters(admin_client, export_project):
    unknown = admin_client.post(f"/api/projects/{export_project.pk}/exports", {"format": "tfrecord"}, format="json")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "unknown_format")
    bad = admin_client.post(
        f"/api/projects/{export_project.pk}/exports",
        {"format": "coco", "filters": {"states": ["done"]}},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["path"] == "states"
    assert not ExportJob.objects.exists()


def test_export_job_download_before_it_finishes_is_a_conflict(admin_client, export_project):
    job = ExportJob.objects.create(project=export_project, format="csv")
    assert admin_client.get(f"/api/exports/{job.pk}").json()["download_url"] is None
    response = admin_client.get(f"/api/exports/{job.pk}/download")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "export_not_ready")


def test_export_job_run_twice_runs_once(export_project, make_task, media_storage):
    label(export_project, make_task())
    job = ExportJob.objects.create(project=export_project, format="datagym", filters={})
    first = export_job_run(job_id=job.pk)
    name = first.file.name
    second = export_job_run(job_id=job.pk)
    assert (first.status, second.status, second.file.name) == ("succeeded", "succeeded", name)


def test_export_job_that_fails_records_why(export_project, make_task, media_storage):
    job = ExportJob.objects.create(project=export_project, format="no_such_format", filters={})
    job = export_job_run(job_id=job.pk)
    assert job.status == ExportStatus.FAILED
    assert "no_such_format" in job.message


def test_direct_export_streams_a_small_project(admin_client, export_project, make_task):
    for _ in range(2):
        label(export_project, make_task())
    response = admin_client.get(
        f"/api/projects/{export_project.pk}/export", {"format": "yolo", "states": "completed,reviewed"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert "classes.txt" in archive.namelist()
    assert len([n for n in archive.namelist() if n.startswith("labels/")]) == 2


def test_direct_export_refuses_a_project_too_large_to_stream(admin_client, export_project, make_task, monkeypatch):
    monkeypatch.setattr("exports.driver.STREAM_MAX_TASKS", 1)
    for _ in range(2):
        label(export_project, make_task())
    response = admin_client.get(f"/api/projects/{export_project.pk}/export", {"format": "csv"})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "export_too_large")


def test_export_formats_are_listed(admin_client):
    names = [fmt["name"] for fmt in admin_client.get("/api/export-formats").json()]
    assert {"datagym", "coco", "pascal_voc", "yolo", "yolo_seg", "csv", "masks", "label_studio"} <= set(names)


@pytest.mark.parametrize(
    ("role", "expected"), [("admin", 200), ("reviewer", 200), ("annotator", 403), ("other_org", 404), (None, 401)]
)
def test_only_admins_and_reviewers_may_export(export_project, make_task, member, role, expected):
    label(export_project, make_task())
    job = ExportJob.objects.create(project=export_project, format="csv")
    if role is None:
        client = APIClient()
    elif role == "other_org":
        stranger = UserFactory()
        MembershipFactory(user=stranger, organization=OrganizationFactory(), role="admin")
        client = client_for(stranger)
    else:
        client = client_for(member(role, project=export_project))
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("get", f"/api/projects/{export_project.pk}/exports", {}),
        ("get", f"/api/projects/{export_project.pk}/export?format=csv", {}),
        ("get", f"/api/exports/{job.pk}", {}),
    ]
    for method, url, body in calls:
        response = getattr(client, method)(url, body)
        assert response.status_code == expected, (url, response.content)
    create = client.post(f"/api/projects/{export_project.pk}/exports", {"format": "csv"}, format="json")
    assert create.status_code == (201 if expected == 200 else expected)


def test_export_tab_shows_the_export_form_and_history_to_reviewers(client, export_project, member, media_storage):
    reviewer = member("reviewer", project=export_project)
    ExportJob.objects.create(project=export_project, format="coco", status=ExportStatus.SUCCEEDED)
    client.force_login(reviewer)
    page = client.get(f"/projects/{export_project.pk}/export").content.decode()
    assert 'id="export-form"' in page
    assert 'id="export-history"' in page


def test_exports_are_hidden_from_annotators(client, export_project, member):
    client.force_login(member("annotator", project=export_project))
    page = client.get(f"/projects/{export_project.pk}/").content.decode()
    assert 'id="export-form"' not in page
    assert 'data-tab="export"' not in page
    assert client.get(f"/projects/{export_project.pk}/export").status_code == 403


def test_export_form_starts_a_job_and_returns_to_the_project(
    client, admin_user, export_project, make_task, media_storage, eager_worker, django_capture_on_commit_callbacks
):
    label(export_project, make_task())
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/projects/{export_project.pk}/exports",
            {"format": "csv", "states": ["completed"], "include_predictions": "on"},
        )
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{export_project.pk}/export"
    job = ExportJob.objects.get()
    assert (job.status, job.filters["states"], job.filters["include_predictions"]) == ("succeeded", ["completed"], True)
