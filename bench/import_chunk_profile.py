"""Profile the validate and the write of one chunk of the import bench's DataGym file, in process.

    DATABASE_URL=postgres://.../<bench db> .venv/bin/python bench/import_chunk_profile.py --n 10000

Run `bench/import_bench.py --n N` first (same database and var dir; on SQLite, its `--stack sqlite`
database: `DATABASE_URL=sqlite:///<var>/sqlite/labelsite.sqlite3`): it leaves the project, its
media and tasks, and the file with the media ids it created. This script then makes a new job
of that file (no worker, no broker), splits it into chunks as the workers would, and runs
chunk 0's validation (with staging) and then its write, each under cProfile
with the CPU clock. It prints the top functions by own and cumulative time, the process's
CPU time and the CPU time of its PostgreSQL backend for each phase. The job's labels are
removed at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("LABELSITE_VAR_DIR", "/tmp/labelsite-bench")
os.environ.setdefault("SECRET_KEY", "labelsite-bench-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
VAR_DIR = Path(os.environ["LABELSITE_VAR_DIR"])
os.environ.setdefault("MEDIA_ROOT", str(VAR_DIR / "media"))


def backend_cpu() -> float:
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0  # SQLite: the database's work is this process's
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profiled(title: str, run: object, top: int) -> None:
    if top == 0:  # timed only: cProfile's own cost is several times that of these small calls
        cpu0, pg0, wall0 = time.process_time(), backend_cpu(), time.perf_counter()
        run()  # type: ignore[operator]
        cpu, pg, wall = time.process_time() - cpu0, backend_cpu() - pg0, time.perf_counter() - wall0
        print(f"=== {title}: wall {wall:.2f} s, process CPU {cpu:.2f} s, PostgreSQL backend CPU {pg:.2f} s ===")
        return
    profile = cProfile.Profile(time.process_time)
    cpu0, pg0, wall0 = time.process_time(), backend_cpu(), time.perf_counter()
    profile.enable()
    run()  # type: ignore[operator]
    profile.disable()
    cpu, pg, wall = time.process_time() - cpu0, backend_cpu() - pg0, time.perf_counter() - wall0
    print(f"\n=== {title}: wall {wall:.2f} s, process CPU {cpu:.2f} s, PostgreSQL backend CPU {pg:.2f} s ===")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(top)
        print(out.getvalue().split("\n", 6)[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="images of the bench file (as import_bench.py --n)")
    parser.add_argument("--top", type=int, default=25, help="functions listed; 0 only times the two steps")
    arguments = parser.parse_args()
    import django

    django.setup()
    from django.core.files import File

    from formats import format_get
    from imports.models import ChunkStatus, ImportChunk, ImportJob, ImportStatus
    from imports.pipeline import chunk_validate_file, chunk_write_file, job_chunks_plan, staged_remove
    from labeling.services import labels_remove_for_import
    from projects.label_config import label_config_index
    from projects.models import Project

    path = VAR_DIR / "bench" / f"datagym-{arguments.n}-api.json"
    project = Project.objects.select_related("label_configuration").get(name="Bench")
    job = ImportJob(id=uuid.uuid4(), project=project, format="datagym", file_name=path.name, options={})
    with path.open("rb") as upload:
        job.file.save(f"{job.id}.json", File(upload), save=False)
    job.status = ImportStatus.VALIDATING
    job.save()
    fmt = format_get(name="datagym")
    config = label_config_index(configuration=project.label_configuration)
    storage = job.file.storage

    def open_file() -> object:
        return storage.open(str(job.file.name), "rb")

    try:
        job_chunks_plan(job=job, fmt=fmt, open_file=open_file, every=5000)
        chunk = ImportChunk.objects.get(job=job, number=0)
        profiled(
            f"validate + stage chunk 0 ({chunk.item_count} items)",
            lambda: chunk_validate_file(
                job=job, chunk=chunk, fmt=fmt, config=config, open_file=open_file, storage=storage
            ),
            arguments.top,
        )
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.WRITING, summary={"entries": {}, "config_updated_at": None}
        )
        job.refresh_from_db()
        ImportJob.objects.filter(pk=job.pk).update(
            summary={
                "entries": {},
                "config_updated_at": project.label_configuration.updated_at.isoformat(),
            }
        )
        job.refresh_from_db()
        ImportChunk.objects.filter(pk=chunk.pk).update(status=ChunkStatus.WRITING)
        chunk.refresh_from_db()
        profiled(
            "write chunk 0 (staged)",
            lambda: chunk_write_file(
                job=job, chunk=chunk, fmt=fmt, config=config, open_file=open_file, storage=storage
            ),
            arguments.top,
        )
    finally:
        labels_remove_for_import(import_job_id=job.pk)
        staged_remove(storage, job.pk)
        ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.CANCELLED)
        storage.delete(str(job.file.name))


if __name__ == "__main__":
    main()
