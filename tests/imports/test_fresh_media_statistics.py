"""An import right after many media arrived a few at a time plans its media lookups with statistics.

Media uploaded one request after another (the dataset page) each ask for no ANALYZE (a single
write of a few rows never does); the import's validation looks at PostgreSQL's own counts of
rows written since the last ANALYZE and refreshes the media and task tables that changed much,
before its first lookup. SQLite keeps no statistics: there nothing is done.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate
from labeling.models import Task
from labelsite.table_statistics import ANALYZE_MIN_ROWS, table_statistics_refresh_if_stale
from projects.models import Media

pytestmark = pytest.mark.django_db(transaction=True)  # PostgreSQL counts committed rows only

ADDED = ANALYZE_MIN_ROWS + 200
TABLES = [Media._meta.db_table, Task._meta.db_table]


def _believed_rows(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
        return float(cursor.fetchone()[0])


def _media_arrived_without_analyze(project: Any, dataset: Any) -> None:
    """Rows as many small uploads leave them: written, committed, counted, never analyzed."""
    media = [Media(organization=project.organization, dataset=dataset, name=f"upload-{n}.jpg") for n in range(ADDED)]
    Media.objects.bulk_create(media, batch_size=500)
    Task.objects.bulk_create([Task(project=project, media=item) for item in media], batch_size=500)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # This backend's counts reach the shared statistics when it next goes idle.
            cursor.execute("SELECT pg_stat_force_next_flush()")


def test_tables_that_grew_without_analyze_are_refreshed_once(configured_project: Any, dataset: Any):
    _media_arrived_without_analyze(configured_project, dataset)

    refreshed = table_statistics_refresh_if_stale(tables=TABLES)

    if connection.vendor != "postgresql":
        assert refreshed == []
        return
    assert sorted(refreshed) == sorted(TABLES)
    assert _believed_rows(Media._meta.db_table) == Media.objects.count()
    assert _believed_rows(Task._meta.db_table) == Task.objects.count()
    assert table_statistics_refresh_if_stale(tables=TABLES) == []  # fresh now: nothing to do


def test_an_import_refreshes_them_before_its_media_lookups(configured_project: Any, dataset: Any):
    _media_arrived_without_analyze(configured_project, dataset)
    task = Task.objects.filter(project=configured_project).select_related("media").first()
    assert task is not None
    body = [
        {
            "internal_media_ID": str(task.media_id),
            "keepData": True,
            "labels": {"bus": [{"rectangle": [{"x": 1, "y": 2, "w": 3, "h": 4}]}]},
        }
    ]
    job = import_job_create(
        project=configured_project,
        user=None,
        file=json.dumps(body).encode(),
        file_name="labels.json",
        format="datagym",
    )

    assert import_job_validate(job_id=job.id).status == ImportStatus.VALIDATED

    if connection.vendor == "postgresql":
        assert _believed_rows(Media._meta.db_table) == Media.objects.count()
        assert _believed_rows(Task._meta.db_table) == Task.objects.count()
