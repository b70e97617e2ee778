"""The labeling page's keys are kept per person through /api/me/labeling-keys."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from labeling.models import LabelingPreference
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/me/labeling-keys"


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_keys_are_kept_per_person_and_replace_the_ones_kept_before() -> None:
    annie: Any = UserFactory(username="annie")
    ben: Any = UserFactory(username="ben")
    sign = f"class:{uuid.uuid4()}"

    assert client_for(annie).get(URL).json() == {"keys": {}}
    response = client_for(annie).put(URL, {"keys": {"task.next": "k", sign: "t"}}, format="json")
    assert response.status_code == 200
    assert response.json() == {"keys": {"task.next": "k", sign: "t"}}
    client_for(annie).put(URL, {"keys": {"task.previous": "shift+j"}}, format="json")

    assert client_for(annie).get(URL).json() == {"keys": {"task.previous": "shift+j"}}
    assert client_for(ben).get(URL).json() == {"keys": {}}
    assert LabelingPreference.objects.count() == 1


def test_classes_of_two_projects_may_share_a_key_but_two_page_actions_may_not() -> None:
    annie: Any = UserFactory(username="annie")
    car_of_one_project, car_of_another = (f"class:{uuid.uuid4()}" for _ in range(2))
    classes = {car_of_one_project: "t", car_of_another: "t"}
    assert client_for(annie).put(URL, {"keys": classes}, format="json").status_code == 200
    assert client_for(annie).get(URL).json() == {"keys": classes}

    response = client_for(annie).put(URL, {"keys": {"task.next": "k", "task.previous": "k"}}, format="json")
    assert response.status_code == 400
    (detail,) = response.json()["error"]["details"]
    assert detail["path"] == "keys.task.previous"
    assert detail["code"] == "duplicate_key"
    assert "task.next" in detail["message"]


@pytest.mark.parametrize(
    ("keys", "path", "code"),
    [
        ({"Next task": "k"}, "keys.Next task", "unknown_action"),
        ({"class:car": "k"}, "keys.class:car", "unknown_action"),
        ({"task.next": "ctrl+alt+shift+meta+k"}, "keys.task.next", "invalid_key"),
        ({"task.next": 7}, "keys.task.next", "invalid_key"),
        (["task.next", "k"], "keys", "invalid"),
        ({"task.next": "two words"}, "keys.task.next", "invalid_key"),
    ],
)
def test_a_bad_key_is_refused_naming_its_place_and_nothing_is_kept(keys: Any, path: str, code: str) -> None:
    annie: Any = UserFactory(username="annie")
    response = client_for(annie).put(URL, {"keys": keys}, format="json")
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert (details[0]["path"], details[0]["code"]) == (path, code)
    assert not LabelingPreference.objects.exists()


def test_an_empty_key_removes_an_actions_key() -> None:
    annie: Any = UserFactory(username="annie")
    response = client_for(annie).put(URL, {"keys": {"view.hideAll": ""}}, format="json")
    assert response.status_code == 200
    assert LabelingPreference.objects.get(user=annie).keys == {"view.hideAll": ""}
