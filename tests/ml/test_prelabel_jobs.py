"""Pre-label jobs against a model server on loopback (tests/ml/protocol_server.py): batches,
retries with backoff, the concurrency limit, timeouts, cancel, answers that do not fit."""

from __future__ import annotations

from typing import Any

import pytest

from labeling.models import Label, LabelSource
from ml import services
from ml.models import JobStatus, MLBackend, PrelabelJob
from tests.factories import MediaFactory, TaskFactory
from tests.ml.conftest import street_project
from tests.ml.protocol_server import Behaviour, ProtocolServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def loopback_allowed(settings: Any) -> None:
    settings.LABELSITE_ML_HOST_ALLOWLIST = ["127.0.0.1"]
    settings.LABELSITE_PUBLIC_URL = "http://labels.example.com"


def _project_with_tasks(count: int) -> Any:
    street = street_project(count=0)
    dataset = street.project.datasets.get()
    for index in range(count):
        media = MediaFactory(dataset=dataset, name=f"m{index}.jpg", width=200, height=100)
        TaskFactory(project=street.project, media=media)
    return street


def _backend(street: Any, server: ProtocolServer, **fields: Any) -> MLBackend:
    return MLBackend.objects.create(project=street.project, title="Stub", url=server.url, **fields)


def _run(backend: MLBackend, **create: Any) -> PrelabelJob:
    job = services.prelabel_job_create(backend=backend, **create)
    return services.prelabel_job_run(job_id=job.pk)


def test_tasks_go_in_batches_and_come_back_as_predictions_in_pixels() -> None:
    street = _project_with_tasks(5)
    with ProtocolServer() as server:
        job = _run(_backend(street, server, batch_size=2))
    assert (job.status, job.tasks_total, job.tasks_done, job.predictions_written) == (JobStatus.SUCCEEDED, 5, 5, 5)
    assert sorted(len(c["body"]["tasks"]) for c in server.predict_calls()) == [1, 2, 2]  # 2 in flight at once
    call = server.predict_calls()[0]["body"]
    # Label Studio's shapes: `project` a string "<id>.<seconds>", params an object, absolute image URLs.
    assert call["project"].startswith(f"{street.project.pk}.")
    assert call["params"] == {"login": None, "password": None, "context": None}
    assert call["tasks"][0]["data"]["image"].startswith("http://labels.example.com/api/ml/media/")
    assert '<RectangleLabels name="rectangle" toName="image">' in call["label_config"]
    setup = next(c for c in server.behaviour.calls if c["path"] == "/setup")["body"]
    assert setup["hostname"] == "http://labels.example.com"
    assert setup["access_token"].startswith("lsml")
    assert "." not in setup["access_token"]
    label = Label.objects.filter(source=LabelSource.PREDICTION).first()
    assert label is not None
    assert label.points == [[20.0, 20.0], [80.0, 60.0]]  # 10 %, 20 %, 30 %, 40 % of 200 x 100
    assert (label.score, label.model_version, label.entry.key) == (0.8, "stub-1", "bus")


def test_transient_failures_are_retried_with_backoff(monkeypatch: Any) -> None:
    monkeypatch.setattr(services, "BACKOFF_SECONDS", 0.01)
    street = _project_with_tasks(2)
    with ProtocolServer(Behaviour(fail_first=2)) as server:
        job = _run(_backend(street, server, batch_size=10))
    assert job.status == JobStatus.SUCCEEDED
    assert (job.tasks_failed, job.predictions_written) == (0, 2)
    assert len(server.predict_calls()) == 3  # two 500s, then the answer


def test_a_failure_that_stays_is_recorded_on_the_tasks_and_the_job_goes_on(monkeypatch: Any) -> None:
    monkeypatch.setattr(services, "BACKOFF_SECONDS", 0.01)
    street = _project_with_tasks(4)
    # A 400 is not transient: no retry; its batch's tasks fail, the next batch is written.
    with ProtocolServer(Behaviour(fail_first=1, fail_status=400)) as server:
        job = _run(_backend(street, server, batch_size=2, max_concurrency=1))
    assert job.status == JobStatus.SUCCEEDED
    assert (job.tasks_failed, job.predictions_written) == (2, 2)
    assert job.errors[0]["code"] == "backend_failed"
    assert "answered 400: RuntimeError: the model is warming up" in job.errors[0]["message"]
    assert "2 tasks without predictions" in job.message


def test_no_more_calls_are_in_flight_than_the_connection_allows() -> None:
    street = _project_with_tasks(12)
    with ProtocolServer(Behaviour(delay=0.1)) as server:
        job = _run(_backend(street, server, batch_size=1, max_concurrency=3))
    assert job.status == JobStatus.SUCCEEDED
    assert server.behaviour.most_in_flight == 3


def test_a_slow_answer_times_out(monkeypatch: Any) -> None:
    monkeypatch.setattr(services, "CALL_ATTEMPTS", 1)
    street = _project_with_tasks(1)
    with ProtocolServer(Behaviour(delay=1.5)) as server:
        job = _run(_backend(street, server, timeout_seconds=1.0))
    assert job.tasks_failed == 1
    assert "did not answer within 1 s" in job.errors[0]["message"]


def test_an_answer_that_does_not_fit_the_configuration_is_a_located_error() -> None:
    street = _project_with_tasks(3)
    tasks = sorted(street.project.tasks.all(), key=lambda t: (t.created_at, t.pk))

    def answer(sent: list[dict[str, Any]], body: dict[str, Any]) -> list[Any]:
        good: dict[str, Any] = {"from_name": "rectangle", "to_name": "image", "type": "rectanglelabels"}
        good["original_width"] = 200
        good |= {"original_height": 100, "value": {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["Bus"]}}
        zebra = {**good, "value": {**good["value"], "rectanglelabels": ["Zebra"]}}
        return [{"result": [good]}, [{"result": [zebra], "model_version": "v9"}], {"result": "not a list"}]

    with ProtocolServer(Behaviour(answer=answer)) as server:
        job = _run(_backend(street, server, batch_size=3))
    assert job.status == JobStatus.SUCCEEDED
    assert (job.tasks_failed, job.predictions_written) == (2, 1)
    by_code = {e["code"]: e for e in job.errors}
    assert by_code["label_not_in_config"]["path"] == (
        f"task {tasks[1].pk}: predictions/0/result/0/value/rectanglelabels/0"
    )
    assert "'Zebra'" in by_code["label_not_in_config"]["message"]
    assert by_code["invalid_prediction"]["path"] == f"task {tasks[2].pk}: predictions/0"
    assert Label.objects.get().task_id == tasks[0].pk


def test_a_wrong_count_of_results_stores_nothing_for_the_batch() -> None:
    street = _project_with_tasks(3)
    with ProtocolServer(Behaviour(answer=lambda tasks, body: [{"result": []}, {"result": []}])) as server:
        job = _run(_backend(street, server, batch_size=3))
    assert job.tasks_failed == 3
    assert job.errors[0]["code"] == "result_count"


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_job_after_the_batches_in_flight() -> None:
    street = _project_with_tasks(6)
    holder: dict[str, Any] = {}

    def answer(tasks: list[dict[str, Any]], body: dict[str, Any]) -> list[Any]:
        # The admin cancels while the first batch is at the model server.
        PrelabelJob.objects.filter(pk=holder["job"]).update(cancel_requested=True)
        return [{"result": []} for _ in tasks]

    with ProtocolServer(Behaviour(answer=answer)) as server:
        backend = _backend(street, server, batch_size=1, max_concurrency=1)
        job = services.prelabel_job_create(backend=backend)
        holder["job"] = job.pk
        job = services.prelabel_job_run(job_id=job.pk)
    assert job.status == JobStatus.CANCELLED
    assert job.tasks_done == 1
    assert len(server.predict_calls()) == 1


def test_a_queued_job_cancelled_never_calls_the_server() -> None:
    street = _project_with_tasks(2)
    with ProtocolServer() as server:
        job = services.prelabel_job_create(backend=_backend(street, server))
        services.prelabel_job_cancel(job=job)
        job = services.prelabel_job_run(job_id=job.pk)
    assert job.status == JobStatus.CANCELLED
    assert server.behaviour.calls == []


def test_one_job_at_a_time_per_connection() -> None:
    street = _project_with_tasks(1)
    with ProtocolServer() as server:
        backend = _backend(street, server)
        services.prelabel_job_create(backend=backend)
        with pytest.raises(services.Conflict) as raised:
            services.prelabel_job_create(backend=backend)
    assert raised.value.code == "job_running"


def test_task_ids_of_another_project_are_refused_with_their_place() -> None:
    street = _project_with_tasks(1)
    stranger: Any = TaskFactory()
    with ProtocolServer() as server:
        backend = _backend(street, server)
        own = str(street.project.tasks.get().pk)
        with pytest.raises(services.ValidationFailed) as raised:
            services.prelabel_job_create(backend=backend, scope="tasks", task_ids=[own, str(stranger.pk), "x"])
    assert [d.path for d in raised.value.details] == ["task_ids/2"]
    with ProtocolServer() as server:
        backend = MLBackend.objects.get()
        with pytest.raises(services.ValidationFailed) as raised:
            services.prelabel_job_create(backend=backend, scope="tasks", task_ids=[own, str(stranger.pk)])
    assert [d.path for d in raised.value.details] == ["task_ids/1"]


def test_the_auth_header_goes_with_every_call() -> None:
    street = _project_with_tasks(1)
    with ProtocolServer() as server:
        backend = services.backend_create(
            project=street.project, url=server.url, auth_header_value="Basic dXNlcjpwYXNz", batch_size=5
        )
        assert backend.state == "up"
        assert backend.model_version == "stub-1"
        services.prelabel_job_run(job_id=services.prelabel_job_create(backend=backend).pk)
    assert {c["path"] for c in server.behaviour.calls} == {"/setup", "/predict"}
    assert all(c["headers"]["Authorization"] == "Basic dXNlcjpwYXNz" for c in server.behaviour.calls)


def test_a_number_as_model_version_is_kept_as_text() -> None:
    street = _project_with_tasks(1)
    with ProtocolServer(Behaviour(model_version=1796551668)) as server:
        backend = services.backend_create(project=street.project, url=server.url)
    assert backend.model_version == "1796551668"


def test_each_prediction_accepted_edited_or_deleted_on_the_page_is_recorded() -> None:
    from labeling.services import task_annotation_patch
    from ml.selectors import prediction_versions

    street = _project_with_tasks(3)
    with ProtocolServer() as server:
        _run(_backend(street, server))
    labels = list(Label.objects.filter(source=LabelSource.PREDICTION).select_related("task").order_by("pk"))
    accept, edit, dismiss = labels
    for label, change in (
        (accept, {"changed": [{"id": accept.pk, "source": "manual", "score": None}]}),
        (edit, {"changed": [{"id": edit.pk, "source": "manual", "score": None, "points": [[0, 0], [9, 9]]}]}),
        (dismiss, {"deleted": [dismiss.pk]}),
    ):
        task_annotation_patch(task=label.task, patch=change, user=street.admin)
    (version,) = prediction_versions(project=street.project)
    assert (version["model_version"], version["predictions"]) == ("stub-1", 0)
    assert (version["accepted"], version["edited"], version["deleted"]) == (1, 1, 1)
    from labeling.models import PredictionOutcome

    recorded = {o.label_id: (o.outcome, o.score, o.user_id) for o in PredictionOutcome.objects.all()}
    assert recorded == {
        accept.pk: ("accepted", 0.8, street.admin.pk),
        edit.pk: ("edited", 0.8, street.admin.pk),
        dismiss.pk: ("deleted", 0.8, street.admin.pk),
    }


def test_a_whole_document_save_through_the_api_records_what_became_of_each_prediction() -> None:
    """A script that PUTs the whole document counts in the model's figures as the page does: a
    prediction sent back as a label is accepted (as drawn) or edited, one left out is deleted, one
    sent back still a prediction is nothing yet."""
    from rest_framework.test import APIClient

    from labeling.models import PredictionOutcome
    from ml.selectors import prediction_versions

    street = _project_with_tasks(4)
    with ProtocolServer() as server:
        _run(_backend(street, server))
    labels = list(Label.objects.filter(source=LabelSource.PREDICTION).select_related("task").order_by("pk"))
    accept, edit, dismiss, keep = labels
    client = APIClient()
    client.force_authenticate(street.annotator)

    def put(label: Label, change: Any) -> None:
        document = client.get(f"/api/tasks/{label.task_id}/annotation").json()
        (stored,) = document["labels"]
        document["labels"] = change(stored)
        response = client.put(f"/api/tasks/{label.task_id}/annotation", document, format="json")
        assert response.status_code == 200, response.json()

    put(accept, lambda stored: [{**stored, "source": "manual", "score": None}])
    put(edit, lambda stored: [{**stored, "source": "manual", "points": [[1, 1], [20, 20]]}])
    put(dismiss, lambda stored: [])
    put(keep, lambda stored: [stored])

    recorded = {o.label_id: (o.outcome, o.score, o.model_version, o.user_id) for o in PredictionOutcome.objects.all()}
    assert recorded == {
        accept.pk: ("accepted", 0.8, "stub-1", street.annotator.pk),
        edit.pk: ("edited", 0.8, "stub-1", street.annotator.pk),
        dismiss.pk: ("deleted", 0.8, "stub-1", street.annotator.pk),
    }
    assert Label.objects.filter(pk=keep.pk, source=LabelSource.PREDICTION).exists()
    (version,) = prediction_versions(project=street.project)
    assert (version["predictions"], version["accepted"], version["edited"], version["deleted"]) == (1, 1, 1, 1)


def test_a_retry_sends_only_the_tasks_that_got_no_predictions(monkeypatch: Any) -> None:
    monkeypatch.setattr(services, "BACKOFF_SECONDS", 0.01)
    street = _project_with_tasks(4)
    with ProtocolServer(Behaviour(fail_first=1, fail_status=400)) as server:
        backend = _backend(street, server, batch_size=2, max_concurrency=1)
        first = _run(backend)
        assert len(first.failed_task_ids) == 2
        retry = services.prelabel_job_retry(job=first)
        assert (retry.scope, retry.task_ids) == ("tasks", first.failed_task_ids)
        retry = services.prelabel_job_run(job_id=retry.pk)
        with pytest.raises(services.Conflict) as raised:
            services.prelabel_job_retry(job=retry)
    assert (retry.status, retry.tasks_failed, retry.predictions_written) == (JobStatus.SUCCEEDED, 0, 2)
    assert raised.value.code == "nothing_to_retry"
    sent = [task["id"] for task in server.predict_calls()[-1]["body"]["tasks"]]
    assert sorted(sent) == sorted(first.failed_task_ids)
    assert Label.objects.filter(source=LabelSource.PREDICTION).count() == 4


def test_the_overview_shows_every_member_what_became_of_each_model_versions_predictions() -> None:
    """Issue 21 point 6: per model version, how often annotators accepted, edited or deleted."""
    from django.test import Client

    from labeling.services import task_annotation_patch

    street = _project_with_tasks(3)
    with ProtocolServer() as server:
        _run(_backend(street, server))
    accept, edit, dismiss = Label.objects.filter(source=LabelSource.PREDICTION).select_related("task").order_by("pk")
    for label, change in (
        (accept, {"changed": [{"id": accept.pk, "source": "manual", "score": None}]}),
        (edit, {"changed": [{"id": edit.pk, "source": "manual", "score": None, "points": [[0, 0], [9, 9]]}]}),
        (dismiss, {"deleted": [dismiss.pk]}),
    ):
        task_annotation_patch(task=label.task, patch=change, user=street.admin)
    browser = Client()
    browser.force_login(street.annotator)
    page = browser.get(f"/projects/{street.project.pk}/").content.decode()
    row = page.split('data-version="stub-1"', 1)[1].split("</tr>", 1)[0]
    cells = [cell.split(">", 1)[1].split("<", 1)[0] for cell in row.split("<td")[1:]]
    assert cells == ["stub-1", "0", "1", "1", "1", "33 %"]
