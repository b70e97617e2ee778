"""Fresh planner statistics for a table that a bulk write just grew (PostgreSQL only).

PostgreSQL plans from `pg_class.reltuples` and the column statistics that ANALYZE gathers.
A table that was empty when 100,000 media arrived through the API has none: the planner
then guesses that `deleted_at IS NULL` keeps 0.5 % of the rows and a project's tasks are a
handful, and the next import's media lookup walks every live media for each batch of 250
references (400 ms instead of 2 ms per batch, measured). Autovacuum would analyze the
table a minute later, or never where it is off. So the code that writes many rows at once
asks for ANALYZE itself, after its transaction commits, when the rows it wrote are a
sizeable part of what the planner believes the table holds (autovacuum's own rule, 10 %).
ANALYZE samples a bounded number of rows (a fraction of a second at any size) and takes a
lock that blocks no read or write.
"""

from __future__ import annotations

from django.db import connection, transaction

#: Fewer rows than this never trigger an ANALYZE (a single upload, a small import).
ANALYZE_MIN_ROWS = 1_000
#: Rows written, as a part of the rows the planner believes the table has, that make its
#: statistics stale (autovacuum's `autovacuum_analyze_scale_factor`).
ANALYZE_FRACTION = 0.1


def table_statistics_refresh_after_write(*, table: str, rows: int) -> bool:
    """ANALYZE `table` once the current transaction commits, if `rows` just written there
    outgrow its statistics; returns whether it was asked for."""
    if connection.vendor != "postgresql" or rows < ANALYZE_MIN_ROWS:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
        found = cursor.fetchone()
    believed = float(found[0]) if found else -1.0
    if believed >= 0 and rows < believed * ANALYZE_FRACTION:
        return False
    # One ANALYZE per table and transaction, however many writes ask (Django's list of
    # callbacks drops those of a rolled-back savepoint, so a write that was undone asks none).
    if not any(isinstance(entry[1], _Analyze) and entry[1].table == table for entry in connection.run_on_commit):
        transaction.on_commit(_Analyze(table), robust=True)
    return True


class _Analyze:
    def __init__(self, table: str) -> None:
        self.table = table

    def __call__(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(self.table)}")


def table_statistics_refresh_if_stale(*, tables: list[str]) -> list[str]:
    """ANALYZE those of `tables` that changed much since their last ANALYZE (autovacuum's rule,
    from PostgreSQL's own counts of rows written); answers the tables analyzed.

    The backstop for rows that came a few at a time, which no single write asks to analyze:
    100,000 images uploaded through the dataset page one request after another. Run before work
    that plans many queries over those tables (an import's media lookups)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.relname, s.n_mod_since_analyze, c.reltuples FROM pg_stat_user_tables s "
            "JOIN pg_class c ON c.oid = s.relid WHERE s.relname = ANY(%s)",
            [list(tables)],
        )
        stale = [
            table
            for table, changed, believed in cursor.fetchall()
            if changed >= ANALYZE_MIN_ROWS and (believed < 0 or changed >= believed * ANALYZE_FRACTION)
        ]
        for table in stale:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    return stale
