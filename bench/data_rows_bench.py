"""Labelbox data-row import benchmark, in process: N rows validated, then created as media.

    .venv/bin/python bench/data_rows_bench.py --n 20000

Each row has a global key, an external id, the three reserved metadata fields and an
attachment (the seed's shape). The bench makes a throw-away test database (`test_<db>` of
DATABASE_URL, or SQLite when it is unset), a project with one connected dataset, runs
`import_job_validate` and `import_job_write` in this process, and prints per phase the wall
time, the CPU time of the process (less inflated by a busy machine) and the number of SQL
queries; it checks that N media and N tasks exist, and removes the database.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("LABELSITE_VAR_DIR", "/tmp/labelsite-bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
os.environ.setdefault("SECRET_KEY", "labelsite-bench-secret-key-0123456789abcdefghijklmnop")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rows(n: int) -> bytes:
    metadata = [
        {"name": "tag", "value": "north field"},
        {"name": "split", "value": "train"},
        {"name": "captureDateTime", "value": "2022-06-14T11:30:00+02:00"},
    ]
    lines = (
        json.dumps(
            {
                "row_data": f"https://cdn.example.com/field/{i:07d}.jpg",
                "global_key": f"field-{i:07d}.jpg",
                "external_id": f"survey/{i}",
                "media_type": "IMAGE",
                "metadata_fields": metadata,
                "attachments": [{"type": "IMAGE_OVERLAY", "value": f"https://cdn.example.com/rgb/{i:07d}.jpg"}],
            }
        )
        for i in range(n)
    )
    return "\n".join(lines).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from imports.services import import_job_create, import_job_validate, import_job_write
        from labeling.models import Task
        from projects.models import Media
        from projects.services import dataset_create, organization_get_or_create, project_create

        organization = organization_get_or_create(name="Bench")
        project = project_create(organization=organization, name="Field survey")
        dataset = dataset_create(organization=organization, name="Field")
        dataset.projects.add(project)
        body = rows(args.n)
        job = import_job_create(
            project=project, user=None, file=body, file_name="rows.ndjson", format="labelbox_data_rows"
        )
        figures = {}
        for phase, run in (("validate", import_job_validate), ("write", import_job_write)):
            with CaptureQueriesContext(connection) as queries:
                wall, cpu = time.perf_counter(), cpu_seconds()
                job = run(job_id=job.id)
                figures[phase] = (time.perf_counter() - wall, cpu_seconds() - cpu, len(queries))
        assert job.status == "succeeded", job.message
        assert Media.objects.filter(dataset=dataset).count() == args.n
        assert Task.objects.filter(project=project).count() == args.n
        print(f"{connection.vendor}, {args.n} rows, load {os.getloadavg()[0]:.2f}")
        for phase, (wall, cpu, count) in figures.items():
            print(f"  {phase}: wall {wall:.2f} s, CPU {cpu:.2f} s ({cpu / args.n * 1000:.3f} ms/row), {count} queries")
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
