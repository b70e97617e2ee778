"""Many rows of one model in one statement on PostgreSQL: `INSERT ... SELECT ... FROM unnest(arrays)
ON CONFLICT DO NOTHING RETURNING ...`, its parameters bound on the server.

Django's `bulk_create` prepares every value of every row through its field (0.2 ms per media row of
13 columns, measured: most of the time an import spent creating its media and their tasks) and quotes
each array element in Python; with `ignore_conflicts` it cannot say which rows went in. Here only
the columns that vary from row to row travel, each as one JSON array (orjson writes it in C; psycopg's
array dumper, a Python call per element, cost 12 ms per 5,000 rows of 3 columns, a quarter of the
write phase's Python work when an import creates its media) that PostgreSQL unpacks; every other
column takes its field's default, prepared once by the field itself; the statement answers the rows
it inserted.

On SQLite (no arrays, no COPY, and its driver cannot return rows from `executemany`): one prepared
`INSERT ... ON CONFLICT DO NOTHING` run for every row, the values in the driver's types; the rows
inserted are the ids found after it that were not there before (the transaction holds SQLite's one
write lock, so nothing else came in between).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from django.db import connection, models
from django.utils import timezone


def rows_insert(
    model: type[models.Model],
    *,
    arrays: Mapping[str, tuple[str, Sequence[Any]]],
    constants: Mapping[str, Any] | None = None,
    returning: Sequence[str] = ("id",),
) -> list[tuple[Any, ...]]:
    """Insert one row per element of the `arrays` (attname -> (SQL type, values), all as long as
    each other); `constants` (attname -> value) and field defaults fill the other columns. Rows a
    unique index refuses are left out, without an error. Answers the `returning` columns of the
    rows inserted."""
    constants = dict(constants or {})
    fields = model._meta.concrete_fields
    names = {field.attname for field in fields}
    unknown = (set(arrays) | set(constants) | set(returning)) - names
    if unknown:
        raise ValueError(f"{model.__name__} has no column {sorted(unknown)}")
    lengths = {len(values) for _, values in arrays.values()}
    if len(lengths) != 1:
        raise ValueError("every array needs the same length")
    if not lengths.pop():
        return []
    if connection.vendor != "postgresql":
        return _rows_insert_prepared(model, arrays=arrays, constants=constants, returning=returning)
    import psycopg

    columns: list[str] = []
    selected: list[str] = []
    params: list[Any] = []
    for field in fields:
        columns.append(connection.ops.quote_name(str(field.column)))
        if field.attname in arrays:
            kind = arrays[field.attname][0]
            selected.append(f"u.{connection.ops.quote_name(field.attname)}::{kind}")
            continue
        value = _column_value(field, constants)
        # Typed: a parameter in a SELECT list is text to PostgreSQL, which no other column takes.
        selected.append(f"%s::{field.cast_db_type(connection)}")
        params.append(field.get_db_prep_save(value, connection))
    # Each array as JSON text, unpacked in its order (`WITH ORDINALITY`) and cast to its column's type.
    unnest = ", ".join(
        f"ARRAY(SELECT e FROM json_array_elements_text(%s::json) WITH ORDINALITY AS a(e, n) ORDER BY n)::{kind}[]"  # noqa: S608
        for kind, _ in _text_json(arrays).values()
    )
    aliases = ", ".join(connection.ops.quote_name(name) for name in arrays)
    table = connection.ops.quote_name(model._meta.db_table)
    by_attname = {field.attname: str(field.column) for field in fields}
    back = ", ".join(connection.ops.quote_name(by_attname[name]) for name in returning)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(selected)} "  # noqa: S608 - names are the model's
        f"FROM unnest({unnest}) AS u({aliases}) ON CONFLICT DO NOTHING RETURNING {back}"
    )
    params.extend(_json_array(values) for _, values in _text_json(arrays).values())
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _column_value(field: Any, constants: Mapping[str, Any]) -> Any:
    """The value a column not sent per row takes in every row: the constant given, now for an
    `auto_now` field, else the field's default ("" or None where it has none, as Django inserts)."""
    if field.attname in constants:
        return constants[field.attname]
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return timezone.now()
    return field.get_default()


def _json_array(values: Sequence[Any]) -> str:
    """A column's values as one JSON array (UUIDs and datetimes as their text, which their casts read)."""
    return orjson.dumps(list(values), default=str).decode()


def _text_json(arrays: Mapping[str, tuple[str, Sequence[Any]]]) -> dict[str, tuple[str, Sequence[Any]]]:
    """JSON columns travel as text (one JSON document per element) and are cast in the SELECT."""
    return {name: ("text" if kind == "jsonb" else kind, values) for name, (kind, values) in arrays.items()}


def json_values_sql(cast: str = "") -> str:
    """A subquery of the elements of one JSON array parameter (text; on PostgreSQL cast to `cast`):
    `column IN (<this>)` checks a batch's values with one parameter, on either database."""
    if connection.vendor == "postgresql":
        return f"SELECT e{'::' + cast if cast else ''} FROM json_array_elements_text(%s::json) AS a(e)"  # noqa: S608
    return "SELECT value FROM json_each(%s)"


def db_uuid(value: Any) -> Any:
    """A UUID (or its text) as the database's column holds it: itself on PostgreSQL, its hex on SQLite."""
    if value is None or connection.vendor == "postgresql":
        return value
    return _uuid_hex(value if isinstance(value, uuid.UUID) else str(value))


def _uuid_hex(value: Any) -> Any:
    """`db_uuid` on SQLite, per value of a batch: a UUID's hex, hex text as it is (planned ids)."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if value is None or (len(value) == 32 and "-" not in value):
        return value
    return uuid.UUID(value).hex


def _rows_insert_prepared(
    model: type[models.Model],
    *,
    arrays: Mapping[str, tuple[str, Sequence[Any]]],
    constants: Mapping[str, Any],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """`rows_insert` on SQLite (see the module): the rows inserted are told by their `id`."""
    if "id" not in arrays or tuple(returning) != ("id",):
        raise ValueError("on SQLite, rows_insert needs the ids in `arrays` and returns only them")
    fields = model._meta.concrete_fields
    columns: list[str] = []
    fixed: list[Any] = []
    varying: list[list[Any]] = []
    for field in fields:
        if field.attname in arrays:
            continue
        value = _column_value(field, constants)
        columns.append(connection.ops.quote_name(str(field.column)))
        fixed.append(field.get_db_prep_save(value, connection))
    by_attname = {field.attname: field for field in fields}
    for name, (kind, values) in arrays.items():
        columns.append(connection.ops.quote_name(str(by_attname[name].column)))
        # JSON arrives as its text already (as SQLite stores it); UUIDs as their hex.
        varying.append([_uuid_hex(value) for value in values] if kind == "uuid" else list(values))
    ids = varying[list(arrays).index("id")]
    table = connection.ops.quote_name(model._meta.db_table)
    present = f"SELECT id FROM {table} WHERE id IN ({json_values_sql()})"  # noqa: S608 - our names
    with connection.cursor() as cursor:
        cursor.execute(present, [orjson.dumps(ids).decode()])
        before = {row[0] for row in cursor.fetchall()}
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "  # noqa: S608
            "ON CONFLICT DO NOTHING",
            [[*fixed, *row] for row in zip(*varying, strict=True)],
        )
        cursor.execute(present, [orjson.dumps(ids).decode()])
        after = {row[0] for row in cursor.fetchall()}
    pk = model._meta.pk
    convert = (lambda value: uuid.UUID(value)) if isinstance(pk, models.UUIDField) else (lambda value: value)
    return [(convert(value),) for value in after - before]
