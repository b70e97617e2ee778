"""A project with DataGym's example configuration (plus a segmentation class), labelled by import."""

from __future__ import annotations

import io
from typing import Any

import pytest

from exports.driver import export_write
from exports.reader import ExportFilters, ExportReader
from imports.services import import_items_inline
from labeling.models import Task, TaskState
from projects.label_config import label_config_replace
from tests.factories import DatasetFactory, MediaFactory, MembershipFactory, UserFactory
from tests.imports.conftest import DATAGYM_CONFIG

#: DataGym's example configuration and a segmentation class `road`.
EXPORT_CONFIG: list[dict[str, Any]] = [
    *DATAGYM_CONFIG,
    {"entryKey": "road", "entryValue": "Road", "type": "segmentation", "children": []},
]


def item(task: Task, **fields: Any) -> dict[str, Any]:
    return {"internal_media_ID": str(task.media_id), **fields}


#: Everything DataGym's example says about one image (reference/datagym.md 4.5), and more.
FULL_LABELS: dict[str, Any] = {
    "global_classifications": {"weather": ["sunny", {"daytime": ["day"]}], "tags": ["a", "b"], "comment": ["hi"]},
    "labels": {
        "car": [
            {
                "polygon": [{"x": 57, "y": 412}, {"x": 54, "y": 463}, {"x": 130, "y": 524}],
                "classifications": {"car_type": ["suv"]},
                "nested_geometries": {"wheel": [{"point": [{"x": 60, "y": 500}], "classifications": {}}]},
            }
        ],
        "bus": [{"rectangle": [{"x": 272, "y": 302, "w": 324, "h": 169}], "classifications": {}}],
        "street": [{"line": [{"x": 57, "y": 412}, {"x": 54, "y": 463}]}],
        "poi": [{"point": [{"x": 57, "y": 412}], "classifications": {}}],
    },
}


@pytest.fixture
def export_project(project):
    label_config_replace(configuration=project.label_configuration, entries=EXPORT_CONFIG)
    return project


@pytest.fixture
def export_dataset(export_project):
    dataset = DatasetFactory(organization=export_project.organization)
    dataset.projects.add(export_project)
    return dataset


@pytest.fixture
def make_task(export_project, export_dataset):
    def make(state=TaskState.COMPLETED, dataset=None, **media_fields):
        media = MediaFactory(dataset=dataset or export_dataset, width=800, height=600, **media_fields)
        return Task.objects.create(project=export_project, media=media, state=state)

    return make


def label(project, task: Task, labels: dict[str, Any] | None = None, state: str = TaskState.COMPLETED) -> Task:
    """Import labels onto the task (DataGym JSON), then put it in `state` (an import leaves the state)."""
    import_items_inline(project=project, items=[item(task, keepData=False, **(labels or FULL_LABELS))])
    Task.objects.filter(pk=task.pk).update(state=state)
    task.refresh_from_db()
    return task


@pytest.fixture
def labelled_task(export_project, make_task):
    return label(export_project, make_task())


def export_bytes(project, format: str, chunk_size: int = 500, **filters: Any) -> bytes:
    reader = ExportReader(project=project, filters=ExportFilters(**filters), chunk_size=chunk_size)
    out = io.BytesIO()
    export_write(reader=reader, format=format, out=out)
    return out.getvalue()


@pytest.fixture
def member(organization):
    def make(role: str, project=None):
        user = UserFactory()
        MembershipFactory(user=user, organization=organization, role=role)
        if project is not None:
            project.members.add(user)
        return user

    return make
