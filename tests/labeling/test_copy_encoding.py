"""The label rows carry their JSON columns in json's binary form, for psycopg's C bytes
dumper to pass through (`labeling.services._json_text`): exactly what psycopg's own json
dumper sends (the columns are `json`, `labeling.models.JSONTextField`). No database is needed,
so this runs in the SQLite suite too; the PostgreSQL suite reads every imported label back. A
staged batch's COPY data is encoded without psycopg's `write_row` (`_import_label_copy`): the
same bytes, held here against psycopg's encoding of the rows (PostgreSQL only: the encoding
needs its connection)."""

from __future__ import annotations

import random
import uuid

import orjson
import psycopg
import pytest
from django.db import connection
from psycopg.adapt import AdaptersMap, PyFormat, Transformer
from psycopg.types.json import Json, set_json_dumps

from labeling import services
from labeling.annotation import Answer, Shape
from labeling.services import _json_text


def test_json_values_are_the_bytes_psycopgs_json_dumper_sends():
    adapters = AdaptersMap(psycopg.adapters)
    set_json_dumps(orjson.dumps, context=adapters)
    transformer = Transformer(adapters)
    for value in (
        [[1.5, 2], [30, 4.25], [1e300, 0]],
        {"kind": {"value": "ünï €", "valid": False, "answers": {"n": {"value": None}}}},
        {},
        [],
    ):
        wrapped = Json(value)
        assert _json_text(value) == bytes(transformer.get_dumper(wrapped, PyFormat.BINARY).dump(wrapped))


def _rows_encoded_by_psycopg(shapes_by_task, **batch):
    """The label rows as `_import_label_rows` makes them, encoded by psycopg's `write_row`; with
    the ids and time they were given, for `_import_label_copy` to use the same."""
    rows = services._import_label_rows(shapes_by_task, **batch)
    return services._copy_encode(rows), [row[0] for row in rows], rows[0][14]


def _varied_shapes(entry_ids: list[str], rng: random.Random) -> dict[uuid.UUID, list[Shape]]:
    shared = [Answer(key="kind", value=["a"]), Answer(key="flags", value=[], valid=False)]
    shapes_by_task: dict[uuid.UUID, list[Shape]] = {}
    for _ in range(40):
        shapes = []
        for _ in range(rng.randint(0, 6)):
            answers = shared if rng.random() < 0.5 else [
                Answer(key="kind", value=[rng.choice(["a", "ü €", 'q"\\'])],
                       answers=[Answer(key="size", value=["big"])] if rng.random() < 0.3 else [])
            ]  # fmt: skip
            shape = Shape(
                key="k",
                type="polygon",
                points=[[rng.uniform(0, 5000), rng.randint(0, 1 << 40)] for _ in range(rng.randint(1, 9))],
                answers=answers,
                entry_id=rng.choice(entry_ids),
                rotation=rng.choice([0.0, -0.0, 33.25, 725.5, -190.0]),
                source=rng.choice(["import", "prediction"]),
                score=rng.choice([None, 0.5, 1.0]),
                model_version=rng.choice(["", "v1", "modèle 2"]),
                valid=rng.random() < 0.8,
            )
            if rng.random() < 0.3:
                shape.children = [
                    Shape(key="c", type="point", points=[[1.5, 2]], entry_id=entry_ids[0], answers=shared)
                    for _ in range(rng.randint(1, 3))
                ]
            shapes.append(shape)
        shapes_by_task[uuid.uuid4()] = shapes
    return shapes_by_task


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the binary COPY is PostgreSQL's path only")
@pytest.mark.parametrize(
    "batch",
    [
        {"import_job_id": uuid.UUID(int=7), "import_batch": 3, "author_id": None},
        {"import_job_id": None, "import_batch": None, "author_id": 12},
    ],
)
def test_the_staged_copy_data_is_what_psycopg_encodes_from_the_rows(batch):
    entry_ids = [str(uuid.uuid4()) for _ in range(3)]
    for seed in range(5):
        shapes_by_task = _varied_shapes(entry_ids, random.Random(seed))
        expected, ids, now = _rows_encoded_by_psycopg(shapes_by_task, **batch)
        assert services._import_label_copy(shapes_by_task, ids=ids, now=now, **batch) == expected, seed
