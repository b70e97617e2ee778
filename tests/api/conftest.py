"""A small world for the native API: two organisations, every role, tokens, a project with tasks."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image
from rest_framework.test import APIClient

from labeling.models import Label, Task
from projects.models import Dataset, Media, Organization, Project
from projects.services import api_token_create, api_token_revoke, dataset_connect, project_create
from tests.factories import DatasetFactory, MediaFactory, MembershipFactory, OrganizationFactory, UserFactory

CONFIGURATION: list[dict[str, Any]] = [
    {
        "key": "car",
        "title": "Car",
        "type": "rectangle",
        "children": [
            {
                "key": "color",
                "title": "Color",
                "type": "select",
                "options": [{"key": "red", "label": "Red"}, {"key": "blue", "label": "Blue"}],
            }
        ],
    },
    {
        "key": "weather",
        "title": "Weather",
        "type": "select",
        "options": [{"key": "sunny", "label": "Sunny"}, {"key": "rainy", "label": "Rainy"}],
    },
]


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def s3_sources_of(organization: Organization, bucket: str, prefix: str = "") -> dict[str, Any]:
    """A LABELSITE_S3_SOURCES that lets the organisation add media from one bucket (and prefix)."""
    return {bucket: {"bucket": bucket, "prefix": prefix, "organizations": [str(organization.id)]}}


@dataclass
class World:
    organization: Organization
    other_organization: Organization
    admin: Any
    reviewer: Any
    annotator: Any
    tokens: dict[str, str]
    project: Project
    other_project: Project
    dataset: Dataset
    spare_dataset: Dataset
    media: Media
    task: Task
    label: Label

    def client(self, actor: str) -> APIClient:
        """A client acting as `actor`: anonymous, revoked, other_org, annotator, reviewer, admin, org_token."""
        client = APIClient()
        if actor != "anonymous":
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.tokens[actor]}")
        return client


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """The world has four users; the real hasher would spend most of each test on their passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db: Any, fast_password_hashing: None) -> World:
    # Any: factory_boy's stubs type a factory call as the factory, not the model.
    organization: Any = OrganizationFactory()
    other_organization: Any = OrganizationFactory()
    users: dict[str, Any] = {}
    for role in ("admin", "reviewer", "annotator"):
        users[role] = UserFactory()
        MembershipFactory(user=users[role], organization=organization, role=role)
    other_admin: Any = UserFactory()
    MembershipFactory(user=other_admin, organization=other_organization, role="admin")
    tokens = {role: api_token_create(organization=organization, user=user)[1] for role, user in users.items()}
    tokens["other_org"] = api_token_create(organization=other_organization, user=other_admin)[1]
    tokens["org_token"] = api_token_create(organization=organization)[1]
    revoked, tokens["revoked"] = api_token_create(organization=organization, user=users["admin"])
    api_token_revoke(token=revoked)

    project = project_create(organization=organization, name="Streets", label_configuration=CONFIGURATION)
    project.members.add(users["reviewer"], users["annotator"])
    other_project = project_create(organization=organization, name="Fields")
    dataset: Any = DatasetFactory(organization=organization, name="Street photos")
    media: Any = MediaFactory(dataset=dataset, name="street.jpg")
    dataset_connect(dataset=dataset, project=project)
    task = Task.objects.get(project=project, media=media)
    car = project.label_configuration.entries.get(key="car")
    label = Label.objects.create(task=task, entry=car, points=[[1, 1], [5, 5]])
    return World(
        organization=organization,
        other_organization=other_organization,
        admin=users["admin"],
        reviewer=users["reviewer"],
        annotator=users["annotator"],
        tokens=tokens,
        project=project,
        other_project=other_project,
        dataset=dataset,
        spare_dataset=DatasetFactory(organization=organization, name="Spare"),  # type: ignore[arg-type]
        media=media,
        task=task,
        label=label,
    )
