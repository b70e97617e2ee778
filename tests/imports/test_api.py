"""The native API of imports: create, status, errors (paged and CSV), confirm, cancel, formats."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from imports.models import ImportJob, ImportJobError, ImportStatus
from imports.services import import_job_create, import_job_validate
from labeling.models import Label
from tests.celery_broker import publishing_to
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.imports.conftest import item
from tests.imports.test_datagym_inline import FULL_EXAMPLE_LABELS

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def upload(items: Any, name: str = "labels.json") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, json.dumps(items).encode(), content_type="application/json")


def create(client: APIClient, project: Any, items: Any, **fields: Any) -> Any:
    body: dict[str, Any] = {"file": upload(items, fields.pop("name", "labels.json")), **fields}
    if isinstance(body.get("options"), dict):
        body["options"] = json.dumps(body["options"])
    return client.post(f"/api/projects/{project.pk}/imports", body, format="multipart")


def _quoted(cell: str) -> str:
    return f'"{cell.replace(chr(34), chr(34) * 2)}"' if any(c in cell for c in ',"\n') else cell


def failed_job(project: Any, task: Any, *, errors: int) -> ImportJob:
    """A validated-and-failed job with one unknown-class error per item."""
    items = [item(task, labels={f"truck{n}": [{}]}) for n in range(errors)]
    job = import_job_create(
        project=project, user=None, file=json.dumps(items).encode(), file_name="bad.json", format="datagym"
    )
    return import_job_validate(job_id=job.id)


# --- create ---------------------------------------------------------------------------------


def test_create_answers_201_with_the_queued_job(admin_client, configured_project, media_storage, task):
    response = create(admin_client, configured_project, [item(task)], format="datagym")

    assert response.status_code == 201, response.json()
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert response.json()["status"] == "queued"
    assert job.status == ImportStatus.QUEUED
    assert job.file_name == "labels.json"
    assert job.file.storage.exists(job.file.name)


def test_create_with_a_worker_validates_and_reports_counts_classes_and_preview(
    admin_client, configured_project, media_storage, make_task, eager_worker, django_capture_on_commit_callbacks
):
    tasks = [make_task() for _ in range(2)]
    items = [item(t, labels=FULL_EXAMPLE_LABELS) for t in tasks] + [item(tasks[0], labels={"truck": [{}]})]
    with django_capture_on_commit_callbacks(execute=True):
        response = create(admin_client, configured_project, items, options={"skip_invalid": True})

    body = admin_client.get(f"/api/imports/{response.json()['id']}").json()
    assert body["status"] == "validated"
    assert body["counts"]["items_total"] == 3
    assert body["counts"]["items_invalid"] == 1
    assert body["counts"]["labels_total"] == 10
    assert body["counts"]["error_count"] == 1
    assert {row["key"]: row["count"] for row in body["summary"]["classes"]} == {
        "car": 2,
        "wheel": 2,
        "bus": 2,
        "street": 2,
        "poi": 2,
    }
    assert body["progress"]["validation"] == {
        "done": 3,
        "total": 3,
        "fraction": 1.0,
        "rate": None,
        "eta_seconds": None,
    }
    assert body["progress"]["writing"]["done"] == 0
    assert body["progress"]["writing"]["total"] == 10
    assert [p["item"] for p in body["summary"]["preview"]] == [0, 1]
    assert "nothing" not in body["message"]
    assert Label.objects.count() == 0


def test_create_with_write_when_valid_writes_every_label(
    admin_client, configured_project, media_storage, task, eager_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = create(
            admin_client,
            configured_project,
            [item(task, labels=FULL_EXAMPLE_LABELS)],
            options={"write_when_valid": True},
        )

    body = admin_client.get(f"/api/imports/{response.json()['id']}").json()
    assert body["status"] == "succeeded"
    assert body["counts"]["labels_written"] == 5
    assert body["progress"]["writing"]["fraction"] == 1.0
    assert Label.objects.filter(task=task).count() == 5


def test_create_detects_the_format_from_the_file_kind(admin_client, configured_project, media_storage, task):
    response = create(admin_client, configured_project, [item(task)])

    assert response.status_code == 201
    assert ImportJob.objects.get(pk=response.json()["id"]).format == "datagym"


def test_create_refuses_a_file_whose_format_cannot_be_told(admin_client, configured_project, media_storage):
    response = create(admin_client, configured_project, [], name="labels.yaml")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "format_not_detected"
    assert "datagym" in response.json()["error"]["message"]
    assert not ImportJob.objects.exists()


def test_create_refuses_a_file_over_the_size_limit(admin_client, configured_project, media_storage, task, settings):
    settings.LABELSITE_MAX_IMPORT_BYTES = 20

    response = create(admin_client, configured_project, [item(task, labels=FULL_EXAMPLE_LABELS)])

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert "LABELSITE_MAX_IMPORT_BYTES" in response.json()["error"]["message"]
    assert not ImportJob.objects.exists()


def test_create_refuses_options_that_are_not_json_or_unknown(admin_client, configured_project, media_storage, task):
    not_json = create(admin_client, configured_project, [item(task)], options="{match_by")
    unknown = create(admin_client, configured_project, [item(task)], options='{"colour": "red"}')
    bad_choice = create(admin_client, configured_project, [item(task)], options='{"match_by": "colour"}')

    assert not_json.status_code == 400
    assert not_json.json()["error"]["details"][0]["path"] == "options"
    assert unknown.json()["error"]["code"] == "invalid_options"
    assert unknown.json()["error"]["details"][0]["path"] == "options.colour"
    assert bad_choice.json()["error"]["details"][0]["path"] == "options.match_by"
    assert not ImportJob.objects.exists()


def test_create_refuses_options_nested_too_deep_with_a_located_400(
    admin_client, configured_project, media_storage, task
):
    # Security review (issue 15, item 13): json.loads recursed into this and the upload answered 500.
    response = create(admin_client, configured_project, [item(task)], options="[" * 100_000)

    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "options"
    assert "nested deeper than 64 levels" in response.json()["error"]["details"][0]["message"]
    assert not ImportJob.objects.exists()


# --- errors ---------------------------------------------------------------------------------


def test_errors_are_paged_in_file_order(admin_client, configured_project, media_storage, task):
    job = failed_job(configured_project, task, errors=5)

    first = admin_client.get(f"/api/imports/{job.pk}/errors?limit=2").json()
    last = admin_client.get(f"/api/imports/{job.pk}/errors?limit=2&offset=4").json()

    assert job.status == ImportStatus.FAILED
    assert first["count"] == 5
    assert first["error_count"] == 5
    assert [e["item"] for e in first["results"]] == [0, 1]
    assert first["results"][0]["code"] == "unknown_entry"
    assert first["results"][0]["location"].startswith("/0/labels")
    assert "truck0" in first["results"][0]["message"]
    assert first["next"] is not None
    assert [e["item"] for e in last["results"]] == [4]
    assert last["next"] is None


def test_errors_as_csv_neutralise_formula_cells(admin_client, configured_project, media_storage, task):
    job = failed_job(configured_project, task, errors=1)
    ImportJobError.objects.create(job=job, item_index=7, location="-1+2", code="x", message='=HYPERLINK("http://x")')
    ImportJobError.objects.create(job=job, item_index=8, location="@SUM(A1)", code="y", message="+cmd|' /C calc'!A0")

    by_query = admin_client.get(f"/api/imports/{job.pk}/errors?format=csv")
    by_path = admin_client.get(f"/api/imports/{job.pk}/errors.csv")

    assert by_query.status_code == 200
    assert by_query["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(by_query.streaming_content).decode())))
    assert rows[0] == ["item", "location", "code", "message"]
    assert rows[1][0] == "0"
    assert rows[2] == ["7", "'-1+2", "x", '\'=HYPERLINK("http://x")']
    assert rows[3] == ["8", "'@SUM(A1)", "y", "'+cmd|' /C calc'!A0"]
    assert (
        b"".join(by_path.streaming_content).decode()
        == "\r\n".join(",".join(_quoted(c) for c in r) for r in rows) + "\r\n"
    )
    assert by_path.status_code == 200
    assert "attachment" in by_path["Content-Disposition"]


def test_errors_csv_of_another_organisation_is_json_404(configured_project, media_storage, task):
    job = failed_job(configured_project, task, errors=1)
    stranger = UserFactory()
    MembershipFactory(user=stranger, organization=OrganizationFactory(), role="admin")

    response = client_for(stranger).get(f"/api/imports/{job.pk}/errors?format=csv")

    assert response.status_code == 404
    assert json.loads(response.content)["error"]["code"] == "not_found"


# --- confirm and cancel ---------------------------------------------------------------------


def test_confirm_writes_a_validated_job(
    admin_client, configured_project, media_storage, task, eager_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = create(admin_client, configured_project, [item(task, labels=FULL_EXAMPLE_LABELS)]).json()["id"]
    assert ImportJob.objects.get(pk=job_id).status == ImportStatus.VALIDATED

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/api/imports/{job_id}/confirm")

    assert response.status_code == 202
    assert ImportJob.objects.get(pk=job_id).status == ImportStatus.SUCCEEDED
    assert Label.objects.filter(task=task).count() == 5


def test_confirm_of_a_job_that_is_not_validated_is_a_conflict(admin_client, configured_project, media_storage, task):
    job_id = create(admin_client, configured_project, [item(task)]).json()["id"]

    response = admin_client.post(f"/api/imports/{job_id}/confirm")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "import_not_validated"


#: A broker nobody listens on: every publish is refused (after Celery's default retries, ~1 s).
DEAD_BROKER = "redis://127.0.0.1:1/0"


# As in production, no transaction around the request: the job commits and its message is
# sent inside the request, so the answer can say that the queue refused it.
@pytest.mark.django_db(transaction=True)
def test_create_with_the_job_queue_down_answers_503_and_the_job_says_so(
    admin_client, configured_project, media_storage, task
):
    with publishing_to(DEAD_BROKER):
        response = create(admin_client, configured_project, [item(task)])

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "queue_unavailable"
    assert "Upload the file again" in response.json()["error"]["message"]
    job = ImportJob.objects.get(project=configured_project)
    assert job.status == ImportStatus.FAILED  # not queued for ever with no message on its way
    assert "nothing was read" in job.message


@pytest.mark.django_db(transaction=True)
def test_confirm_with_the_job_queue_down_answers_503_and_the_job_stays_validated(
    admin_client, configured_project, media_storage, task, eager_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = create(admin_client, configured_project, [item(task, labels=FULL_EXAMPLE_LABELS)]).json()["id"]
    assert ImportJob.objects.get(pk=job_id).status == ImportStatus.VALIDATED

    with publishing_to(DEAD_BROKER):
        from labelsite.celery import app

        app.conf.task_always_eager = False  # the write goes through the (dead) broker
        response = admin_client.post(f"/api/imports/{job_id}/confirm")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "queue_unavailable"
    assert ImportJob.objects.get(pk=job_id).status == ImportStatus.VALIDATED
    assert Label.objects.filter(task=task).count() == 0


def test_cancel_stops_a_queued_job_and_a_second_cancel_is_a_conflict(
    admin_client, configured_project, media_storage, task
):
    job_id = create(admin_client, configured_project, [item(task)]).json()["id"]

    response = admin_client.post(f"/api/imports/{job_id}/cancel")
    again = admin_client.post(f"/api/imports/{job_id}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert "nothing was written" in response.json()["message"]
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "import_finished"


# --- who may ----------------------------------------------------------------------------------


def test_an_annotator_of_the_project_is_refused_with_403(configured_project, organization, media_storage, task):
    annotator = UserFactory()
    MembershipFactory(user=annotator, organization=organization, role="annotator")
    configured_project.members.add(annotator)
    job = failed_job(configured_project, task, errors=1)
    client = client_for(annotator)

    assert create(client, configured_project, [item(task)]).status_code == 403
    assert client.get(f"/api/imports/{job.pk}").status_code == 403
    assert client.get(f"/api/imports/{job.pk}/errors").status_code == 403
    assert client.post(f"/api/imports/{job.pk}/cancel").json()["error"]["code"] == "permission_denied"


def test_an_admin_of_another_organisation_gets_404(configured_project, media_storage, task):
    job = failed_job(configured_project, task, errors=1)
    stranger = UserFactory()
    MembershipFactory(user=stranger, organization=OrganizationFactory(), role="admin")
    client = client_for(stranger)

    assert create(client, configured_project, [item(task)]).status_code == 404
    assert client.get(f"/api/imports/{job.pk}").status_code == 404
    assert client.post(f"/api/imports/{job.pk}/confirm").status_code == 404
    assert client.get(f"/api/imports/{job.pk}/errors.csv").status_code == 404


def test_anonymous_requests_are_401(configured_project, media_storage, task):
    job = failed_job(configured_project, task, errors=1)
    client = APIClient()

    assert create(client, configured_project, [item(task)]).status_code == 401
    assert client.get(f"/api/imports/{job.pk}").status_code == 401
    assert client.get("/api/import-formats").status_code == 401


def test_an_organisation_token_creates_a_job_without_an_author(configured_project, organization, media_storage, task):
    from projects.services import api_token_create

    _, token = api_token_create(organization=organization)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    response = create(client, configured_project, [item(task)])

    assert response.status_code == 201
    assert ImportJob.objects.get(pk=response.json()["id"]).created_by is None


# --- formats and the schema -----------------------------------------------------------------


def test_the_format_list_describes_each_format_with_an_example(admin_client):
    formats = admin_client.get("/api/import-formats").json()

    datagym = next(fmt for fmt in formats if fmt["name"] == "datagym")
    assert datagym["label"] == "DataGym JSON"
    assert datagym["file_kinds"] == ["json"]
    assert datagym["description"]
    example = admin_client.get(datagym["example_url"])
    assert example.status_code == 200
    assert len(json.loads(b"".join(example.streaming_content))) == 2


def test_an_unknown_format_has_no_example(admin_client):
    assert admin_client.get("/api/import-formats/nope/example").status_code == 404


def test_the_openapi_schema_documents_the_import_endpoints(admin_client):
    schema = admin_client.get("/api/schema?format=json").json()

    paths = schema["paths"]
    assert "post" in paths["/api/projects/{project_id}/imports"]
    assert "get" in paths["/api/imports/{job_id}"]
    assert "get" in paths["/api/imports/{job_id}/errors"]
    assert "post" in paths["/api/imports/{job_id}/confirm"]
    assert "post" in paths["/api/imports/{job_id}/cancel"]
    assert "get" in paths["/api/import-formats"]
    assert "ImportJobOutput" in schema["components"]["schemas"]
