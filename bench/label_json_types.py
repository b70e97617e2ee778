"""The label table's `points` and `answers` as `json` instead of `jsonb`: measured, not changed.

    DATABASE_URL=postgres://.../<bench db> .venv/bin/python bench/label_json_types.py

Run `bench/import_bench.py` first (same database): its labels are the sample. For each type,
three times: a binary COPY of every label's two JSON values (as the import's COPY sends them:
jsonb's version byte and the text, or the text alone) into an unlogged scratch table without
indexes, then a SELECT of them parsed by psycopg (an export reads them so), then a SELECT as
text. Prints the PostgreSQL backend CPU of each (best of three) and the client CPU of the read;
the scratch tables are dropped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg

URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/labelsite_bench")
TICK = os.sysconf("SC_CLK_TCK")


def main() -> None:
    conn = psycopg.connect(URL, autocommit=True)
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]

    def pg_cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    sample = conn.execute("SELECT points::text, answers::text FROM labeling_label").fetchall()
    rows = [(points.encode(), answers.encode()) for points, answers in sample]
    print(f"{len(rows)} labels, {sum(len(p) + len(a) for p, a in rows) / 1e6:.1f} MB of JSON text")
    results: dict[str, list[tuple[float, float, float, float]]] = {}
    for _ in range(3):
        for kind in ("jsonb", "json"):
            table = f"bench_json_scratch_{kind}"
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE UNLOGGED TABLE {table} (id serial, points {kind}, answers {kind})")
            prefix = b"\x01" if kind == "jsonb" else b""  # jsonb's binary form: a version byte, then text
            data = [(prefix + p, prefix + a) for p, a in rows]
            start = pg_cpu()
            with (
                conn.cursor() as cursor,
                cursor.copy(f"COPY {table} (points, answers) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(["bytea", "bytea"])
                for row in data:
                    copy.write_row(row)
            copy_pg = pg_cpu() - start
            start, client = pg_cpu(), time.process_time()
            with conn.cursor() as cursor:
                cursor.execute(f"SELECT points, answers FROM {table}")  # noqa: S608 - our scratch table
                cursor.fetchall()
            read_pg, read_client = pg_cpu() - start, time.process_time() - client
            start = pg_cpu()
            with conn.cursor() as cursor:
                cursor.execute(f"SELECT points::text, answers::text FROM {table}")  # noqa: S608 - our scratch table
                cursor.fetchall()
            read_text_pg = pg_cpu() - start
            results.setdefault(kind, []).append((copy_pg, read_pg, read_client, read_text_pg))
            conn.execute(f"DROP TABLE {table}")
    for kind, runs in results.items():
        best = [min(run[i] for run in runs) for i in range(4)]
        print(
            f"{kind}: COPY PostgreSQL CPU {best[0]:.2f} s; SELECT parsed by psycopg: PostgreSQL {best[1]:.2f} s, "
            f"client {best[2]:.2f} s; SELECT as text: PostgreSQL {best[3]:.2f} s (best of 3)"
        )
    print("load average", Path("/proc/loadavg").read_text().strip())


if __name__ == "__main__":
    main()
