"""Media added in bulk leave the planner statistics that the next import's lookups plan with.

Without them (a table analyzed never, or when it was small) PostgreSQL guessed that a handful
of media were live and walked all of them for each batch of 250 references of an import: 400 ms
a batch instead of 2 ms at 100,000 media (docs/benchmarks.md). SQLite has no such statistics to
keep (its planner uses the indexes by rule), so there the write asks for nothing.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection, transaction

from labeling.models import Task
from labelsite.table_statistics import ANALYZE_MIN_ROWS, _Analyze, table_statistics_refresh_after_write
from projects.models import Media
from tests.api.conftest import World

ADDED = ANALYZE_MIN_ROWS + 200


def _believed_rows(model: Any) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [model._meta.db_table])
        return float(cursor.fetchone()[0])


def _add_urls(world: World, count: int) -> None:
    response = world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media/urls",
        {"urls": [f"https://img.example.com/fresh/{number}.jpg" for number in range(count)]},
        format="json",
    )
    assert response.status_code == 201


def test_media_added_by_url_in_bulk_are_known_to_the_planner_with_their_tasks(
    world: World, django_capture_on_commit_callbacks: Any
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _add_urls(world, ADDED)
    assert Task.objects.filter(project=world.project).count() == ADDED + 1
    if connection.vendor != "postgresql":
        # Nothing to refresh: SQLite keeps no such statistics (the worker's media probe is queued alone).
        assert not [callback for callback in callbacks if isinstance(callback, _Analyze)]
        return
    # ANALYZE counts every row of a table this small: the planner knows them all.
    assert _believed_rows(Media) == Media.objects.count()
    assert _believed_rows(Task) == Task.objects.count()


def test_the_planner_estimates_the_live_media_and_tasks_that_the_next_import_looks_up(
    world: World, django_capture_on_commit_callbacks: Any
):
    """The estimates the media lookup of an import is planned from (`imports.pipeline.MediaMatcher`:
    tasks of the project joined to live media). Without statistics PostgreSQL took 0.5 % of the
    rows for `deleted_at IS NULL` and planned a walk over every live media per batch; at this
    size the right plan may be any, so what is checked is what it is chosen from."""
    with django_capture_on_commit_callbacks(execute=True):
        _add_urls(world, ADDED)
    if connection.vendor != "postgresql":
        return  # SQLite plans by its indexes, without statistics
    live = Media.objects.filter(deleted_at__isnull=True)
    tasks = Task.objects.filter(project_id=world.project.id)
    for queryset in (live, tasks):
        estimated = int(re.search(r"rows=(\d+)", queryset.explain()).group(1))  # type: ignore[union-attr]
        assert estimated >= 0.9 * queryset.count()


@pytest.mark.django_db(transaction=True)  # the first ANALYZE runs as the request commits
def test_small_writes_and_small_parts_of_a_known_table_ask_for_no_analyze(world: World, monkeypatch: Any):
    _add_urls(world, ADDED)
    # The rule in small: a write is "a small part" below this fraction of the rows the planner
    # knows (a tenth in production, where tables hold millions).
    monkeypatch.setattr("labelsite.table_statistics.ANALYZE_FRACTION", 1.0)
    with transaction.atomic():
        too_few = table_statistics_refresh_after_write(table=Media._meta.db_table, rows=ANALYZE_MIN_ROWS - 1)
        small_part = table_statistics_refresh_after_write(table=Media._meta.db_table, rows=ANALYZE_MIN_ROWS)
        most_of_it = table_statistics_refresh_after_write(table=Media._meta.db_table, rows=ADDED + 1)
        pending = [entry[1] for entry in connection.run_on_commit if isinstance(entry[1], _Analyze)]
    assert not too_few
    assert not small_part  # 1,000 of the 1,201 rows known
    assert most_of_it == (connection.vendor == "postgresql")
    assert len(pending) == int(most_of_it)


def test_one_analyze_per_table_however_many_writes_of_a_transaction_ask(
    world: World, django_capture_on_commit_callbacks: Any
):
    with django_capture_on_commit_callbacks() as callbacks:
        first = table_statistics_refresh_after_write(table=Media._meta.db_table, rows=10 * ANALYZE_MIN_ROWS)
        second = table_statistics_refresh_after_write(table=Media._meta.db_table, rows=10 * ANALYZE_MIN_ROWS)
    assert first == second == (connection.vendor == "postgresql")
    assert len(callbacks) == int(first)
