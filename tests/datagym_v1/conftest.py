"""Fixtures of the DataGym v1 API tests: an organisation token and a client that sends it."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from rest_framework.test import APIClient

from projects.services import api_token_create
from tests.factories import DatasetFactory, OrganizationFactory, ProjectFactory

ERROR_KEYS = {"key", "params", "msg", "code", "details"}


@pytest.fixture
def token(organization) -> str:
    _, raw = api_token_create(organization=organization)
    return raw


@pytest.fixture
def api(token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def other_organization():
    return OrganizationFactory()


@pytest.fixture
def dataset(organization):
    return DatasetFactory(organization=organization, name="Dataset_One")


@pytest.fixture
def connected(project, dataset):
    dataset.projects.add(project)
    return dataset


@pytest.fixture
def foreign_project(other_organization):
    return ProjectFactory(organization=other_organization)


def image_bytes(image_format: str = "PNG", size: tuple[int, int] = (4, 3)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, format=image_format)
    return buffer.getvalue()


def assert_error(response: Any, status: int, key: str, params: list[str] | None = None) -> dict[str, Any]:
    """The response is DataGym's error body, with exactly its five keys."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["key"] == key
    if params is not None:
        assert body["params"] == params
    assert isinstance(body["msg"], str)
    assert body["msg"]
    return body
