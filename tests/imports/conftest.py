"""The configuration of DataGym's docs (reference/datagym.md 4.5), media and tasks to import into."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.label_config import label_config_replace
from tests.factories import DatasetFactory, MediaFactory, TaskFactory

#: bus rectangle; car polygon with the question car_type and the nested point wheel; street
#: line; poi point; the global questions weather (with daytime), tags and comment.
DATAGYM_CONFIG: list[dict[str, Any]] = [
    {"entryKey": "bus", "entryValue": "Bus", "type": "rectangle", "children": []},
    {
        "entryKey": "car",
        "entryValue": "Car",
        "type": "polygon",
        "children": [
            {"entryKey": "car_type", "entryValue": "Type", "type": "select", "options": {"suv": "SUV", "van": "Van"}},
            {"entryKey": "wheel", "entryValue": "Wheel", "type": "point", "children": []},
        ],
    },
    {"entryKey": "street", "entryValue": "Street", "type": "line", "children": []},
    {"entryKey": "poi", "entryValue": "POI", "type": "point", "children": []},
    {
        "entryKey": "weather",
        "entryValue": "Weather",
        "type": "select",
        "required": True,
        "options": {"sunny": "Sunny", "rainy": "Rainy"},
        "children": [
            {
                "entryKey": "daytime",
                "entryValue": "Daytime",
                "type": "select",
                "options": {"day": "Day", "night": "Night"},
            }
        ],
    },
    {"entryKey": "tags", "entryValue": "Tags", "type": "checklist", "options": {"a": "A", "b": "B"}},
    {"entryKey": "comment", "entryValue": "Comment", "type": "freetext", "maxLength": 10},
]


@pytest.fixture
def configured_project(project):
    label_config_replace(configuration=project.label_configuration, entries=DATAGYM_CONFIG)
    return project


@pytest.fixture
def dataset(configured_project):
    dataset = DatasetFactory(organization=configured_project.organization)
    dataset.projects.add(configured_project)
    return dataset


@pytest.fixture
def make_task(configured_project, dataset):
    def make(**media_fields: Any):
        media = MediaFactory(dataset=dataset, **media_fields)
        return TaskFactory(project=configured_project, media=media)

    return make


@pytest.fixture
def task(make_task):
    return make_task()


def item(task, **fields: Any) -> dict[str, Any]:
    """An import item for the task's media."""
    return {"internal_media_ID": str(task.media_id), **fields}


def json_file(items: Any) -> io.BytesIO:
    return io.BytesIO(json.dumps(items).encode())


@pytest.fixture
def admin_client(admin_user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client
