"""ExportJob moved from the imports app to exports: existing export jobs survive the move."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from exports.models import ExportJob

BEFORE = [("imports", "0005_importchunk_part_starts"), ("exports", None)]


def _migrate(targets: Sequence[tuple[str, str | None]]) -> Any:
    """Migrate to `targets` and return the apps of the migrations then applied."""
    MigrationExecutor(connection).migrate(list(targets))
    loader = MigrationExecutor(connection).loader  # a new loader: the one above saw the old plan
    applied = [key for key in loader.applied_migrations or {} if key in loader.graph.nodes]
    return loader.project_state(applied, at_end=True).apps


def _leaves() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def before_the_move(transactional_db: Any) -> Iterator[Any]:
    """The database as it was before exports had an app of its own; migrated forward after."""
    leaves = _leaves()
    yield _migrate(BEFORE)
    _migrate(leaves)


def _table_names() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def test_migration_moves_existing_export_jobs_to_the_exports_app(before_the_move):
    old_apps = before_the_move
    assert "imports_exportjob" in _table_names()
    organization = old_apps.get_model("projects", "Organization").objects.create(name="Lab")
    project = old_apps.get_model("projects", "Project").objects.create(organization=organization, name="Streets")
    old_job = old_apps.get_model("imports", "ExportJob")
    kept = [
        old_job.objects.create(id=uuid.uuid4(), project=project, format="coco", status="succeeded", file_size=1234),
        old_job.objects.create(id=uuid.uuid4(), project=project, format="datagym", status="queued", tasks_done=7),
    ]
    content_types = old_apps.get_model("contenttypes", "ContentType")
    content_types.objects.get_or_create(app_label="imports", model="exportjob")

    _migrate(_leaves())

    assert "exports_exportjob" in _table_names()
    assert "imports_exportjob" not in _table_names()
    moved = {job.id: job for job in ExportJob.objects.all()}
    assert set(moved) == {job.id for job in kept}
    assert (moved[kept[0].id].format, moved[kept[0].id].status, moved[kept[0].id].file_size) == (
        "coco",
        "succeeded",
        1234,
    )
    assert (moved[kept[1].id].format, moved[kept[1].id].tasks_done) == ("datagym", 7)
    assert moved[kept[0].id].project_id == project.id
    from django.contrib.contenttypes.models import ContentType

    assert ContentType.objects.filter(app_label="exports", model="exportjob").count() == 1
    assert not ContentType.objects.filter(app_label="imports", model="exportjob").exists()


def test_migration_back_returns_export_jobs_to_the_imports_table(before_the_move):
    _migrate(_leaves())
    project_model = before_the_move.get_model("projects", "Project")
    organization = before_the_move.get_model("projects", "Organization").objects.create(name="Lab")
    project = project_model.objects.create(organization=organization, name="Streets")
    job = ExportJob.objects.create(project_id=project.id, format="yolo")

    old_apps = _migrate(BEFORE)

    assert "imports_exportjob" in _table_names()
    assert old_apps.get_model("imports", "ExportJob").objects.get(id=job.id).format == "yolo"
