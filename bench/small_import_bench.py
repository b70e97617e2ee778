"""Small imports, upload to done: 300 Label Studio tasks that create their media, median of 10.

    .venv/bin/python bench/small_import_bench.py                 # the embedded default
    .venv/bin/python bench/small_import_bench.py --stack postgres   # PostgreSQL + Redis
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... .venv/bin/python bench/small_import_bench.py

The configuration a fresh machine runs unless DATABASE_URL / CELERY_BROKER_URL say otherwise:
SQLite and kombu's filesystem broker under `--var-dir` (its own, emptied first), and one
worker started as `dev.py up` starts it (`celery worker --concurrency=2`). The bench creates a
project configured from the Label Studio XML of `label_studio_tasks.py` with a connected
dataset and an API token, then `--runs` times: POSTs a file of `--tasks` tasks (new image URLs
each run, so each import creates its media) to `/api/projects/<id>/imports` with
`write_when_valid`, as a script or the upload page does, and polls `GET /api/imports/<id>`
reads the job's status every 20 ms until it has succeeded. Upload to done is from before the
POST to the look that sees `succeeded`. It checks that each job wrote 3 boxes per task and created its media,
prints every run, the median, the worker's CPU over all runs and its peak RSS, and appends one
JSON line to `<var>/bench/small-results.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_stack import stack_argument, stack_choose, stack_environ  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300, help="Label Studio tasks per import")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--var-dir", default="/tmp/labelsite-small-bench", help="emptied first (SQLite, broker)")
    stack_argument(parser, default=stack_choose(sys.argv[1:], default="sqlite"))
    return parser.parse_args()


ARGUMENTS = _arguments() if __name__ == "__main__" else None
if ARGUMENTS is not None:
    os.environ["LABELSITE_VAR_DIR"] = ARGUMENTS.var_dir
    stack_environ(
        ARGUMENTS.stack,
        database_url="postgres://postgres@127.0.0.1:5432/labelsite_bench",
        broker_url="redis://127.0.0.1:6379/5",
        var_dir=Path(ARGUMENTS.var_dir),
    )
os.environ.setdefault("SECRET_KEY", "labelsite-bench-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
os.environ.setdefault("ALLOWED_HOSTS", "localhost")
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"small-bench-{os.getpid()}")


def worker_start(log: Path) -> subprocess.Popen[bytes]:
    """One worker as `dev.py up` runs it."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "celery", "-A", "labelsite", "worker", "--loglevel=INFO", "--concurrency=2"]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return process


def worker_stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> None:
    assert ARGUMENTS is not None
    var_dir = Path(ARGUMENTS.var_dir)
    shutil.rmtree(var_dir, ignore_errors=True)
    (var_dir / "bench").mkdir(parents=True)

    import django

    django.setup()
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from label_studio_tasks import LABEL_CONFIG_XML, label_studio_tasks  # beside this script
    from rest_framework.test import APIClient

    from imports.models import ImportJob
    from labeling.models import Label
    from projects.config_converters import ls_config_to_entries
    from projects.services import (
        api_token_create,
        dataset_connect,
        dataset_create,
        organization_get_or_create,
        project_create,
    )

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    organization = organization_get_or_create(name="Small bench")
    project = project_create(
        organization=organization, name="Small", label_configuration=ls_config_to_entries(LABEL_CONFIG_XML).entries
    )
    dataset_connect(dataset=dataset_create(organization=organization, name="Images"), project=project)
    _, token = api_token_create(organization=organization)
    client = APIClient(SERVER_NAME="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    broker = str(settings.CELERY_BROKER_URL).split(":", 1)[0]

    from import_bench import children_of, cpu_seconds, memory_kib  # beside this script

    worker = worker_start(var_dir / "bench" / "worker.log")
    family = [worker.pid, *children_of(worker.pid)]
    cpu_before = sum(cpu_seconds(pid) for pid in family)
    times: list[float] = []
    uploads: list[float] = []
    # The web process has served pages before a user uploads (the upload page, the project):
    # its first request's one-time costs (imports, URL resolver) are not the import's.
    client.get(f"/api/projects/{project.pk}")
    client.get("/api/import-formats")
    try:
        for run in range(ARGUMENTS.runs):
            body = json.dumps(label_studio_tasks(ARGUMENTS.tasks, run=f"run{run}/")).encode()
            started = time.perf_counter()
            response = client.post(
                f"/api/projects/{project.pk}/imports",
                {
                    "file": SimpleUploadedFile("tasks.json", body, content_type="application/json"),
                    "options": json.dumps({"write_when_valid": True}),
                },
                format="multipart",
            )
            if response.status_code != 201:
                raise SystemExit(f"upload refused: {response.status_code} {response.content[:500]!r}")
            uploaded = time.perf_counter() - started
            job: dict[str, Any] = response.json()
            status = job["status"]
            while status not in ("succeeded", "failed", "cancelled"):
                # A cheap look at the row every 20 ms: the API's answer, with its counts and
                # preview, 50 times a second would take the worker's CPU on this 2-core machine.
                time.sleep(0.02)
                status = ImportJob.objects.values_list("status", flat=True).get(pk=job["id"])
                if time.perf_counter() - started > max(120.0, ARGUMENTS.tasks / 100):
                    raise SystemExit("the import did not finish in time")
            elapsed = time.perf_counter() - started
            job = client.get(f"/api/imports/{job['id']}").json()
            labels = Label.objects.filter(import_job_id=job["id"]).count()
            if job["status"] != "succeeded" or labels != 3 * ARGUMENTS.tasks:
                raise SystemExit(f"run {run}: job {job['status']} ({job.get('message')}); {labels} labels")
            times.append(elapsed)
            uploads.append(uploaded)
            print(f"run {run}: {elapsed:.3f} s, of it the upload request {uploaded:.3f} s ({labels} labels)")
        worker_cpu = sum(cpu_seconds(pid) for pid in family) - cpu_before
        worker_peak_kib = max(memory_kib(pid, "VmHWM") for pid in family)
    finally:
        worker_stop(worker)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPU",
        "database": database,
        "broker": broker,
        "tasks": ARGUMENTS.tasks,
        "runs_s": [round(t, 3) for t in times],
        "upload_request_s": [round(t, 3) for t in uploads],
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        # The worker's main process and its pool, over all the runs (on SQLite the database's work too).
        "worker_cpu_s": round(worker_cpu, 2),
        "worker_peak_rss_mib": round(worker_peak_kib / 1024, 1),
        "load_1min_after": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))
    with (var_dir.parent / "small-import-results.jsonl").open("a") as out:
        out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
