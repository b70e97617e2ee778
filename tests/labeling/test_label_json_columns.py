"""A label's `points` and `answers` (`labeling.models.JSONTextField`): PostgreSQL stores them as
`json`, the text as written (no jsonb parse of every number on a bulk import); SQLite as text. The
ORM writes, reads and updates them as any JSONField, raw readers get their text, and objects
keep their keys in the order written."""

from __future__ import annotations

import uuid

import orjson
import pytest
from django.db import connection

from labeling.models import Label
from tests.factories import LabelFactory

pytestmark = pytest.mark.django_db

POINTS = [[1, 2.5], [1e-7, 1920], [0.30000000000000004, 0]]
ANSWERS = {"zeta": {"value": "ünï €", "valid": False}, "a": {"value": ["x", "y"], "answers": {"n": {"value": None}}}}


def test_the_columns_are_json_text_in_the_database():
    expected = "json" if connection.vendor == "postgresql" else "text"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'labeling_label' AND column_name IN ('points', 'answers')"
            )
        else:
            cursor.execute(
                "SELECT name, lower(type) FROM pragma_table_info('labeling_label') WHERE name IN ('points', 'answers')"
            )
        assert dict(cursor.fetchall()) == {"points": expected, "answers": expected}


def test_the_orm_writes_reads_and_updates_them_as_json_values():
    label = LabelFactory(entry_id=uuid.uuid4(), points=POINTS, answers=ANSWERS)

    stored = Label.objects.get(pk=label.pk)
    assert (stored.points, stored.answers) == (POINTS, ANSWERS)
    assert list(stored.answers) == ["zeta", "a"]  # in the order written (jsonb sorted them by length)
    Label.objects.filter(pk=label.pk).update(points=[[3, 4]], answers={})
    assert Label.objects.values_list("points", "answers").get(pk=label.pk) == ([[3, 4]], {})


def test_raw_readers_get_the_text_as_written():
    label = LabelFactory(entry_id=uuid.uuid4(), points=POINTS, answers=ANSWERS)

    with connection.cursor() as cursor:
        cursor.execute("SELECT points, answers FROM labeling_label WHERE id = %s", [label.pk])
        points, answers = cursor.fetchone()

    assert isinstance(points, str)
    assert isinstance(answers, str)
    assert orjson.loads(points) == POINTS
    assert list(orjson.loads(answers)) == ["zeta", "a"]
