"""Ids of the rows made by the hundred thousand: media and their tasks.

Their ids are UUIDv7 (RFC 9562): a millisecond timestamp first, then random bits, and in one
process strictly increasing. Rows made together get neighbouring ids, so the indexes keyed by
them (the tasks' and media's primary keys, and the label indexes that start with a task or end
with one after a class) take a bulk write as appends to a few pages instead of inserts all over
the tree. An import usually lists its media in the order they were added, so its labels then go
to the end of `label_task` and `label_entry_task` too: on SQLite the write of a million imported
labels took half the time it took with random ids (docs/benchmarks.md, "Time-ordered ids"). A
UUIDv7 tells when its row was made, which the API shows anyway (`created_at`).
"""

from __future__ import annotations

from uuid import UUID

from uuid_utils.compat import uuid7


def time_ordered_id() -> UUID:
    """A new UUIDv7, as the standard library's `UUID` (psycopg, orjson and Django take it as any other)."""
    return uuid7()
