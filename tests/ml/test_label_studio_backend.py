"""A real Label Studio ML backend (PyPI `label-studio-ml` 1.0.9) on loopback: connect, health,
pre-label, interactive, predictions through the API, accept in bulk.

The backend downloads each image through our `/api/ml/media/...` URL with the token /setup gave
it (the package's own `get_local_path`), so every prediction here proves the token path too.
"""

from __future__ import annotations

from typing import Any

import pytest

from labeling.models import Label, LabelSource
from ml.models import BackendState, JobStatus, MLBackend
from tests.ml.conftest import Backend, street_project

pytestmark = [pytest.mark.thirdparty, pytest.mark.django_db(transaction=True)]


def _iou(a: list[float], b: list[Any]) -> float:
    """IoU of two boxes [x, y, w, h]."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    h = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = w * h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _box(points: list[list[float]]) -> list[float]:
    (x1, y1), (x2, y2) = points
    return [x1, y1, x2 - x1, y2 - y1]


def _connect(street: Any, backend: Backend, **extra: Any) -> dict[str, Any]:
    response = street.client().post(
        f"/api/projects/{street.project.pk}/ml-backends",
        {"url": backend.url, "title": "Colour boxes", **extra},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_connecting_a_backend_shows_its_health_and_model_version(ml_site: str, ml_backend: Backend) -> None:
    street = street_project(count=1)
    connected = _connect(street, ml_backend)
    assert connected["state"] == BackendState.UP
    assert connected["model_version"] == "INITIAL"  # label-studio-ml 1.0.9's version before training
    assert "auth_header_value" not in connected
    # /setup got our configuration as Label Studio XML, with the demo's classes in it.
    listed = street.client().get(f"/api/projects/{street.project.pk}/ml-backends").json()
    assert [b["id"] for b in listed] == [connected["id"]]
    checked = street.client().post(f"/api/ml-backends/{connected['id']}/check").json()
    assert checked["state"] == BackendState.UP
    assert checked["checked_at"] >= connected["checked_at"]


def test_a_loopback_backend_is_refused_unless_the_allow_list_names_it(
    ml_site: str, ml_backend: Backend, settings: Any
) -> None:
    settings.LABELSITE_ML_HOST_ALLOWLIST = []
    street = street_project(count=1)
    response = street.client().post(
        f"/api/projects/{street.project.pk}/ml-backends", {"url": ml_backend.url}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "url_refused"
    assert "LABELSITE_ML_HOST_ALLOWLIST" in error["message"]
    assert error["details"][0]["path"] == "url"
    assert not MLBackend.objects.exists()


def test_prelabel_sends_the_tasks_without_labels_and_stores_its_boxes_as_predictions(
    ml_site: str, ml_backend: Backend
) -> None:
    street = street_project(count=4)
    labelled = street.tasks[3]
    bus_entry = street.project.label_configuration.entries.get(key="bus")
    Label.objects.create(task=labelled, entry=bus_entry, points=[[1, 1], [20, 20]])
    backend = _connect(street, ml_backend, batch_size=2, max_concurrency=2)

    response = street.client().post(
        f"/api/projects/{street.project.pk}/prelabel-jobs", {"backend_id": backend["id"]}, format="json"
    )
    assert response.status_code == 201, response.content
    job = street.client().get(f"/api/prelabel-jobs/{response.json()['id']}").json()
    assert job["status"] == JobStatus.SUCCEEDED, job
    assert (job["tasks_total"], job["tasks_done"], job["tasks_failed"]) == (3, 3, 0)
    assert job["predictions_written"] == 3
    assert job["progress"] == 1.0
    assert job["model_version"] == "INITIAL"
    # Two batches of at most 2 tasks went to /predict; the labelled task was not sent.
    assert sorted(call["tasks"] for call in ml_backend.calls()) == [1, 2]

    for task in street.tasks[:3]:
        annotation = street.client().get(f"/api/tasks/{task.pk}/annotation").json()
        (label,) = annotation["labels"]
        assert label["source"] == LabelSource.PREDICTION
        assert label["key"] == "bus"
        assert label["model_version"] == "INITIAL"
        assert 0.5 < label["score"] <= 1.0
        assert _iou(_box(label["points"]), street.buses[str(task.pk)]) > 0.9
    assert Label.objects.filter(task=labelled).count() == 1

    # Asked again, the same model version replaces its predictions instead of doubling them.
    again = street.client().post(
        f"/api/projects/{street.project.pk}/prelabel-jobs",
        {"backend_id": backend["id"], "scope": "tasks", "task_ids": [str(street.tasks[0].pk)]},
        format="json",
    )
    assert again.status_code == 201, again.content
    assert street.client().get(f"/api/prelabel-jobs/{again.json()['id']}").json()["status"] == JobStatus.SUCCEEDED
    assert Label.objects.filter(task=street.tasks[0], source=LabelSource.PREDICTION).count() == 1


def test_the_interactive_call_turns_a_click_into_a_box_that_is_not_stored(ml_site: str, ml_backend: Backend) -> None:
    street = street_project(count=1)
    backend = _connect(street, ml_backend, interactive=True)
    task = street.tasks[0]
    x, y, w, h = street.buses[str(task.pk)]
    listed = street.client("annotator").get(f"/api/projects/{street.project.pk}/ml-backends/interactive").json()
    assert [b["id"] for b in listed] == [backend["id"]]

    response = street.client("annotator").post(
        f"/api/ml-backends/{backend['id']}/interactive",
        {"task_id": str(task.pk), "shape": {"key": "poi", "type": "point", "points": [[x + w / 2, y + h / 2]]}},
        format="json",
    )
    assert response.status_code == 200, response.content
    (label,) = response.json()["labels"]
    assert (label["key"], label["type"], label["source"]) == ("bus", "rectangle", "prediction")
    assert _iou(_box(label["points"]), [x, y, w, h]) > 0.9
    # The backend got Label Studio's interactive context: one keypoint result in percent.
    (call,) = ml_backend.calls()
    (result,) = call["context"]["result"]
    assert result["type"] == "keypointlabels"
    assert result["value"]["keypointlabels"] == ["Point of interest"]
    assert result["value"]["x"] == pytest.approx((x + w / 2) / 960 * 100)
    assert result["is_positive"] is True
    assert not Label.objects.filter(task=task).exists()


def test_the_interactive_call_turns_a_box_into_the_box_of_the_object_inside(ml_site: str, ml_backend: Backend) -> None:
    street = street_project(count=1)
    backend = _connect(street, ml_backend, interactive=True)
    task = street.tasks[0]
    x, y, w, h = street.buses[str(task.pk)]
    loose = [[max(0, x - 30), max(0, y - 30)], [x + w + 30, y + h + 30]]  # a rough box around the bus
    response = street.client("annotator").post(
        f"/api/ml-backends/{backend['id']}/interactive",
        {"task_id": str(task.pk), "shape": {"key": "bus", "type": "rectangle", "points": loose}},
        format="json",
    )
    assert response.status_code == 200, response.content
    (label,) = response.json()["labels"]
    assert _iou(_box(label["points"]), [x, y, w, h]) > 0.9
    (call,) = ml_backend.calls()
    (result,) = call["context"]["result"]
    assert (result["type"], result["from_name"], result["value"]["rectanglelabels"]) == (
        "rectanglelabels",
        "rectangle",
        ["Bus"],
    )
    assert result["value"]["width"] == pytest.approx((w + 60) / 960 * 100)


def test_the_interactive_call_is_refused_for_a_backend_not_marked_interactive(
    ml_site: str, ml_backend: Backend
) -> None:
    street = street_project(count=1)
    backend = _connect(street, ml_backend)
    response = street.client("annotator").post(
        f"/api/ml-backends/{backend['id']}/interactive",
        {"task_id": str(street.tasks[0].pk), "shape": {"key": "poi", "type": "point", "points": [[5, 5]]}},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_interactive"


def test_predictions_above_a_score_are_accepted_as_labels_in_bulk(ml_site: str, ml_backend: Backend) -> None:
    street = street_project(count=3)
    backend = _connect(street, ml_backend)
    created = street.client().post(
        f"/api/projects/{street.project.pk}/prelabel-jobs", {"backend_id": backend["id"]}, format="json"
    )
    assert created.status_code == 201
    scores: list[float] = sorted(
        s for s in Label.objects.filter(source=LabelSource.PREDICTION).values_list("score", flat=True) if s is not None
    )
    threshold = (scores[0] + scores[1]) / 2  # the lowest-scored prediction stays a prediction
    versions = street.client().get(f"/api/projects/{street.project.pk}/prediction-versions").json()
    assert versions == [
        {
            "model_version": "INITIAL",
            "predictions": 3,
            "mean_score": pytest.approx(sum(scores) / 3),
            "accepted": 0,
            "edited": 0,
            "deleted": 0,
        }
    ]

    response = street.client().post(
        f"/api/projects/{street.project.pk}/prediction-accept-jobs",
        {"min_score": threshold, "model_version": "INITIAL"},
        format="json",
    )
    assert response.status_code == 201, response.content
    job = street.client().get(f"/api/prediction-accept-jobs/{response.json()['id']}").json()
    assert (job["status"], job["predictions_total"], job["accepted"]) == (JobStatus.SUCCEEDED, 2, 2)
    assert Label.objects.filter(source=LabelSource.MANUAL, model_version="INITIAL").count() == 2
    assert Label.objects.filter(source=LabelSource.PREDICTION).count() == 1
    versions = street.client().get(f"/api/projects/{street.project.pk}/prediction-versions").json()
    assert (versions[0]["predictions"], versions[0]["accepted"]) == (1, 2)
