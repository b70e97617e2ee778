"""The label rows carry their JSON columns in jsonb's binary form, for psycopg's C bytes
dumper to pass through (`labeling.services._jsonb`): exactly what psycopg's own jsonb
dumper sends. No database is needed, so this runs in the SQLite suite too; the PostgreSQL
suite reads every imported label back."""

from __future__ import annotations

import orjson
import psycopg
from psycopg.adapt import AdaptersMap, PyFormat, Transformer
from psycopg.types.json import Jsonb, set_json_dumps

from labeling.services import _jsonb


def test_jsonb_values_are_the_bytes_psycopgs_jsonb_dumper_sends():
    adapters = AdaptersMap(psycopg.adapters)
    set_json_dumps(orjson.dumps, context=adapters)
    transformer = Transformer(adapters)
    for value in (
        [[1.5, 2], [30, 4.25], [1e300, 0]],
        {"kind": {"value": "ünï €", "valid": False, "answers": {"n": {"value": None}}}},
        {},
        [],
    ):
        wrapped = Jsonb(value)
        assert _jsonb(value) == bytes(transformer.get_dumper(wrapped, PyFormat.BINARY).dump(wrapped))
