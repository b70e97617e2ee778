"""Where a Label Studio import's time goes: the side-by-side file's tasks, imported in this process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/labelsite_bench \\
        .venv/bin/python bench/label_studio_profile.py --tasks 10000 [--clock cpu|wall] [--top 40]

Empties the bench database, makes the project of `label_studio_side_by_side.py` (its configuration,
a connected dataset), then runs one import job of `--tasks` seeded tasks (each a new image URL, 3
rectangles, 1 choice) with `write_when_valid` in this process: the job's Celery tasks run eagerly,
one after the other, in chunks of 5,000 as the workers take them. Prints, for the validate phase
and the write phase apart, the process's CPU time, the PostgreSQL backend's CPU time, and the
cProfile of the phase (`--clock cpu`: Python's own work, the default; `--clock wall`: what waits
for PostgreSQL shows too, by its caller). No timing is asserted: it is a tool to look with.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(BENCH_DIR))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/labelsite_bench")
os.environ.setdefault("SECRET_KEY", "labelsite-bench-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
os.environ.setdefault("LABELSITE_VAR_DIR", "/tmp/labelsite-ls-profile")
os.environ.setdefault("CELERY_BROKER_URL", "memory://")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument(
        "--statements", action="store_true", help="instead of cProfile: PostgreSQL's CPU per kind of statement"
    )
    arguments = parser.parse_args()

    from import_bench import cpu_seconds, database_prepare  # beside this script
    from label_studio_side_by_side import tasks_file

    var_dir = Path(os.environ["LABELSITE_VAR_DIR"])
    var_dir.mkdir(parents=True, exist_ok=True)
    path = tasks_file(arguments.tasks, var_dir)
    database_prepare()
    from django.conf import settings
    from django.db import connection
    from label_studio_tasks import LABEL_CONFIG_XML

    from imports import services
    from imports.models import ImportJob, ImportStatus
    from labeling.models import Label
    from labelsite.celery import app
    from projects.config_converters import ls_config_to_entries
    from projects.services import dataset_connect, dataset_create, organization_get_or_create, project_create

    organization = organization_get_or_create(name="Profile")
    project = project_create(
        organization=organization, name="Profile", label_configuration=ls_config_to_entries(LABEL_CONFIG_XML).entries
    )
    dataset = dataset_create(organization=organization, name="Images")
    dataset_connect(dataset=dataset, project=project)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    postgres = connection.vendor == "postgresql"
    backend = 0
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]

    # The phases apart: the write is queued by the validation's end; hold it back to profile it alone.
    queued: list[tuple[Any, Any]] = []
    original = services._enqueue_write

    def hold(*args: object, **kwargs: object) -> None:
        queued.append((args, kwargs))

    services._enqueue_write = hold
    # The media's probe (fetching each new URL once the import ended) is no part of the import.
    services.media_probe_queue = lambda **kwargs: None
    timer = time.process_time if arguments.clock == "cpu" else time.perf_counter
    spent: dict[str, list[float]] = {}
    if arguments.statements and postgres:
        statements_watch(backend, spent)
    results = {}
    body = path.read_bytes()
    for phase in ("validate", "write"):
        profile = cProfile.Profile(timer)
        spent.clear()
        cpu, db, wall = time.process_time(), cpu_seconds(backend) if postgres else 0.0, time.perf_counter()
        if not arguments.statements:
            profile.enable()
        if phase == "validate":
            job = services.import_job_create(
                project=project, user=None, file=body, file_name=path.name, format="label_studio",
                options={"write_when_valid": True},
            )  # fmt: skip
        else:
            services._enqueue_write = original
            for args, kwargs in queued:
                original(*args, **kwargs)
        profile.disable()
        results[phase] = (
            time.perf_counter() - wall,
            time.process_time() - cpu,
            (cpu_seconds(backend) - db) if postgres else 0.0,
        )
        if arguments.statements:
            print(f"===== {phase}: PostgreSQL backend CPU by statement (s, calls, wall s) =====")
            for sql, (db_cpu, calls, db_wall) in sorted(spent.items(), key=lambda kv: -kv[1][0])[: arguments.top]:
                print(f"{db_cpu:7.2f} {int(calls):6d} {db_wall:7.2f}  {sql}")
            continue
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(arguments.sort).print_stats(arguments.top)
        print(f"===== {phase}: cProfile ({arguments.clock} clock) =====")
        print(out.getvalue())
    job = ImportJob.objects.get(pk=job.pk)
    labels = Label.objects.filter(import_job_id=job.pk).count()
    for phase, (wall, cpu, db) in results.items():
        print(f"{phase}: wall {wall:.2f} s, this process's CPU {cpu:.2f} s, PostgreSQL backend CPU {db:.2f} s")
    print(f"job {job.status} ({job.message}); {labels} labels; chunks {job.summary.get('chunks')}")
    if job.status != ImportStatus.SUCCEEDED:
        raise SystemExit(1)


def statements_watch(backend: int, spent: dict[str, list[float]]) -> None:
    """Add to `spent` the backend's CPU (from /proc, 10 ms ticks), calls and wall time of every
    statement this process runs, by the statement's first words (Django's cursors and ours)."""
    import re

    import psycopg
    from import_bench import cpu_seconds

    def key(query: object) -> str:
        text = query.decode() if isinstance(query, bytes) else str(query)
        return re.sub(r"\s+", " ", text)[:110]

    def timed(method: object, name: str) -> None:
        def wrapper(self: object, query: object, *args: object, **kwargs: object) -> object:
            cpu, wall = cpu_seconds(backend), time.perf_counter()
            try:
                return method(self, query, *args, **kwargs)  # type: ignore[operator]
            finally:
                row = spent.setdefault(key(query), [0.0, 0, 0.0])
                row[0] += cpu_seconds(backend) - cpu
                row[1] += 1
                row[2] += time.perf_counter() - wall

        setattr(psycopg.Cursor, name, wrapper)

    timed(psycopg.Cursor.execute, "execute")
    timed(psycopg.Cursor.executemany, "executemany")
    from contextlib import contextmanager

    copy = psycopg.Cursor.copy

    @contextmanager
    def copy_timed(self: object, statement: object, *args: object, **kwargs: object) -> Iterator[Any]:
        cpu, wall = cpu_seconds(backend), time.perf_counter()
        try:
            with copy(self, statement, *args, **kwargs) as inner:  # type: ignore[arg-type]
                yield inner
        finally:
            row = spent.setdefault(key(statement), [0.0, 0, 0.0])
            row[0] += cpu_seconds(backend) - cpu
            row[1] += 1
            row[2] += time.perf_counter() - wall

    psycopg.Cursor.copy = copy_timed  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
