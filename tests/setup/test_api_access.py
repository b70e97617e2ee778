"""Who may call the setup API: every route refuses anonymous callers and annotators may not change anything."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

ROUTES = [
    ("post", "/api/projects/{p}/label-configuration/validate", {"entries": []}),
    ("post", "/api/projects/{p}/label-configuration/impact", {"entries": []}),
    ("post", "/api/projects/{p}/label-configuration/save", {"entries": []}),
    ("post", "/api/projects/{p}/members", {"user_id": 1}),
    ("delete", "/api/projects/{p}/members/{u}", None),
    ("post", "/api/tokens", {"name": "x"}),
    ("get", "/api/tokens", None),
    ("delete", "/api/tokens/" + str(uuid.uuid4()), None),
]


@pytest.fixture
def world() -> dict[str, Any]:
    project: Any = ProjectFactory()
    annotator = UserFactory()
    MembershipFactory(user=annotator, organization=project.organization, role="annotator")
    project.members.add(annotator)
    return {"project": project, "annotator": annotator}


def call(client: Client, method: str, url: str, body: Any) -> Any:
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, content_type="application/json")


@pytest.mark.parametrize(("method", "url", "body"), ROUTES)
def test_setup_api_refuses_anonymous_callers(world: dict[str, Any], method: str, url: str, body: Any) -> None:
    url = url.format(p=world["project"].pk, u=world["annotator"].pk)

    assert call(Client(), method, url, body).status_code == 401


@pytest.mark.parametrize(("method", "url", "body"), ROUTES)
def test_setup_api_refuses_annotators(world: dict[str, Any], method: str, url: str, body: Any) -> None:
    client = Client()
    client.force_login(world["annotator"])
    url = url.format(p=world["project"].pk, u=world["annotator"].pk)

    response = call(client, method, url, body)

    assert response.status_code in {403, 404}
    assert set(response.json()["error"]) == {"code", "message", "details"}
