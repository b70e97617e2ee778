"""POST /api/tasks/{id}/brush: the stroke traced for whoever may label the task, bad input
answered with its place, sizes bounded. (Every kind of caller: tests/api/test_authorization_matrix.py.)"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from rest_framework.test import APIClient

from formats.codecs.mask_polygons import mask_segmentation
from projects.models import Role
from tests.brush.test_strokes import disc, encode
from tests.factories import MembershipFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def task() -> Any:
    return TaskFactory()  # its media is 640 x 480


def admin_client(task: Any) -> APIClient:
    user: Any = UserFactory()
    MembershipFactory(user=user, organization=task.project.organization, role=Role.ADMIN)
    client = APIClient()
    client.force_authenticate(user)
    return client


def stroke_body(mask: np.ndarray, x: int = 0, y: int = 0, **more: Any) -> dict[str, Any]:
    stroke = encode(mask, x, y)
    body = {"stroke": {"x": x, "y": y, "width": stroke.width, "height": stroke.height, "counts": stroke.counts}}
    return {**body, **more}


def test_a_stroke_comes_back_as_the_rings_the_importers_trace(task: Any) -> None:
    client = admin_client(task)
    whole = disc(100, 80, 20, 640, 480)
    response = client.post(f"/api/tasks/{task.id}/brush", stroke_body(whole[50:110, 70:130], 70, 50), format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"rings": mask_segmentation(whole)}

    hole = disc(100, 80, 6, 640, 480)
    erased = client.post(
        f"/api/tasks/{task.id}/brush",
        stroke_body(hole[70:90, 90:110], 90, 70, rings=response.json()["rings"], erase=True),
        format="json",
    )
    assert erased.json() == {"rings": mask_segmentation(whole & ~hole)}
    assert len(erased.json()["rings"]) == 2


def test_bad_strokes_answer_400_with_the_place_and_the_fix(task: Any) -> None:
    client = admin_client(task)
    url = f"/api/tasks/{task.id}/brush"
    outside = client.post(
        url, {"stroke": {"x": 630, "y": 0, "width": 20, "height": 1, "counts": [0, 20]}}, format="json"
    )
    assert outside.status_code == 400
    assert outside.json()["error"]["details"][0]["path"] == "stroke"
    short = client.post(url, {"stroke": {"x": 0, "y": 0, "width": 4, "height": 4, "counts": [3, 4]}}, format="json")
    assert short.status_code == 400
    assert short.json()["error"]["details"][0]["path"] == "stroke.counts"
    words = client.post(url, {"stroke": {"x": 0, "y": 0, "width": 1, "height": 1, "counts": ["one"]}}, format="json")
    assert words.status_code == 400
    assert words.json()["error"]["details"][0]["path"] == "stroke.counts"
    missing = client.post(url, {"rings": []}, format="json")
    assert missing.status_code == 400
    assert missing.json()["error"]["details"][0]["path"] == "stroke"


def test_a_media_of_unknown_size_takes_no_stroke(task: Any) -> None:
    task.media.width = None
    task.media.save(update_fields=["width"])
    response = admin_client(task).post(
        f"/api/tasks/{task.id}/brush", stroke_body(np.ones((2, 2), dtype=bool)), format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "image_size_unknown"


def test_another_organisation_does_not_see_the_task(task: Any) -> None:
    stranger: Any = UserFactory()
    MembershipFactory(user=stranger, role=Role.ADMIN)
    client = APIClient()
    client.force_authenticate(stranger)
    response = client.post(f"/api/tasks/{task.id}/brush", stroke_body(np.ones((2, 2), dtype=bool)), format="json")
    assert response.status_code == 404
