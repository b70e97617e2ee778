"""Label Studio 1.23.2 and Labelsite side by side: the same file of Label Studio tasks, imported by each.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/labelsite_bench CELERY_BROKER_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/label_studio_side_by_side.py --tasks 100000

In one run:
1. writes the seeded file of `--tasks` tasks of `label_studio_tasks.py` (each: a new image URL, one
   annotation of 3 rectangles and 1 choice) under the var dir;
2. Label Studio: installs `label-studio==1.23.2` from PyPI into its own virtual environment
   (`--ls-venv`, under /tmp; kept for the next run), starts it on loopback (`label-studio start`,
   SQLite in a fresh data directory, legacy API tokens on, a user and token of the bench's), creates
   a project with the label configuration, and times `POST /api/projects/<id>/import` of the file
   (synchronous in Label Studio's Community edition: the answer comes when every task is stored),
   then stops it;
3. Labelsite: empties its bench database (`--stack postgres`, the default: PostgreSQL, its own
   database unless DATABASE_URL says otherwise; `--stack sqlite`: the embedded default, SQLite and
   the filesystem broker in a fresh var dir under `--var-dir`, see bench_stack.py), creates a
   project with the same configuration (from the XML), a connected dataset and an API token, starts
   `--workers` Celery worker processes (one pool process each) on the broker, POSTs the file to
   `/api/projects/<id>/imports` with `write_when_valid` (Django's whole request stack in this
   process, the token's authentication), and polls the job until it succeeded: the media are created
   by the import; the clock runs from before the POST to the poll that sees `succeeded`;
4. checks both imported every task (Label Studio's `task_count`; Labelsite's media and 3 labels per
   task), prints both times and the ratio, and for Labelsite the CPU of its worker pool processes
   and of PostgreSQL's backends of the bench database (each also before the write phase began),
   the workers' peak RSS and the 1-minute load before and after, and appends one JSON line to
   `<var>/results.jsonl`.

`--skip-label-studio` measures Labelsite alone (and prints the ratio to `--label-studio-seconds`
when given). Both share the machine's cores with whatever else runs: see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(BENCH_DIR))

from bench_stack import stack_argument, stack_choose, stack_environ  # noqa: E402

LABEL_STUDIO_VERSION = "1.23.2"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="Labelsite worker processes")
    parser.add_argument("--var-dir", default="/tmp/labelsite-ls-side-by-side")
    parser.add_argument("--ls-venv", default=f"/tmp/label-studio-{LABEL_STUDIO_VERSION}")
    parser.add_argument("--ls-port", type=int, default=18080)
    parser.add_argument("--skip-label-studio", action="store_true")
    parser.add_argument("--label-studio-seconds", type=float, default=None, help="with --skip-label-studio")
    stack_argument(parser, default=stack_choose(sys.argv[1:], default="postgres"))
    return parser.parse_args()


ARGUMENTS = _arguments() if __name__ == "__main__" else None
if ARGUMENTS is not None:
    stack_environ(
        ARGUMENTS.stack,
        database_url="postgres://postgres@127.0.0.1:5432/labelsite_bench",
        broker_url="redis://127.0.0.1:6379/5",
        var_dir=Path(ARGUMENTS.var_dir) / "labelsite",
    )
os.environ.setdefault("SECRET_KEY", "labelsite-bench-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
os.environ.setdefault("ALLOWED_HOSTS", "localhost")
if ARGUMENTS is not None:
    os.environ["LABELSITE_VAR_DIR"] = str(Path(ARGUMENTS.var_dir) / "labelsite")
    os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"ls-side-by-side-{os.getpid()}")


def tasks_file(count: int, var_dir: Path) -> Path:
    import random

    from label_studio_tasks import label_studio_task  # beside this script

    path = var_dir / f"label-studio-tasks-{count}.json"
    if path.exists():
        return path
    rng = random.Random(1)
    with path.open("w") as out:  # streamed, one task at a time
        out.write("[")
        for number in range(count):
            out.write(("," if number else "") + json.dumps(label_studio_task(rng, number), separators=(",", ":")))
        out.write("]")
    return path


# --- Label Studio ------------------------------------------------------------------------------------


def label_studio_install(venv: Path) -> Path:
    """The `label-studio` command of a virtual environment holding label-studio==1.23.2 (made once)."""
    command = venv / "bin" / "label-studio"
    if command.exists():
        return command
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    # sentry-sdk 3 (2026) dropped the `send_default_pii` option Label Studio 1.23.2 passes at start:
    # without the bound, a fresh install does not start.
    subprocess.run([*pip, f"label-studio=={LABEL_STUDIO_VERSION}", "sentry-sdk<3"], check=True)
    return command


def _request(url: str, token: str, *, body: bytes | None = None, timeout: float = 3600) -> Any:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"not Label Studio on loopback: {url}")
    request = urllib.request.Request(  # noqa: S310 - loopback http only (above)
        url,
        data=body,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
        return json.loads(response.read() or b"null")


def label_studio_run(path: Path, *, var_dir: Path, venv: Path, port: int) -> dict[str, Any]:
    from label_studio_tasks import LABEL_CONFIG_XML

    command = label_studio_install(venv)
    data_dir = var_dir / "label-studio-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    token = secrets.token_hex(20)
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "DJANGO_DB": "sqlite",
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "ALLOWED_HOSTS"):
        env.pop(name, None)
    log = (var_dir / "label-studio.log").open("wb")
    server = subprocess.Popen(
        [str(command), "start", "--no-browser", "--internal-host", "127.0.0.1",
         "--port", str(port), "--data-dir", str(data_dir), "--username", "bench@example.com",
         "--password", "bench-password-1", "--user-token", token, "--enable-legacy-api-token"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                _request(f"{base}/api/projects", token, timeout=5)
                break
            except OSError as exc:
                if server.poll() is not None or time.monotonic() > deadline:
                    log_tail = (var_dir / "label-studio.log").read_text()[-3000:]
                    raise SystemExit(f"Label Studio did not start: {log_tail}") from exc
                time.sleep(1)
        project = _request(
            f"{base}/api/projects",
            token,
            body=json.dumps({"title": "Bench", "label_config": LABEL_CONFIG_XML}).encode(),
        )
        body = path.read_bytes()
        started = time.perf_counter()
        answer = _request(f"{base}/api/projects/{project['id']}/import", token, body=body)
        elapsed = time.perf_counter() - started
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have stopped on its own (a failed start)
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    return {"seconds": round(elapsed, 2), "task_count": answer.get("task_count"),
            "annotation_count": answer.get("annotation_count"), "server_duration": answer.get("duration")}  # fmt: skip


# --- Labelsite -------------------------------------------------------------------------------------


def labelsite_run(path: Path, *, var_dir: Path, workers: int, tasks: int) -> dict[str, Any]:
    from import_bench import (  # beside this script
        children_of,
        cpu_seconds,
        database_backends_cpu,
        database_prepare,
        memory_kib,
        workers_start,
        workers_stop,
    )

    database_prepare()  # django.setup(), migrate, flush
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection
    from label_studio_tasks import LABEL_CONFIG_XML
    from rest_framework.test import APIClient

    from imports.models import ImportJob
    from labeling.models import Label
    from projects.config_converters import ls_config_to_entries
    from projects.models import Media
    from projects.services import (
        api_token_create,
        dataset_connect,
        dataset_create,
        organization_get_or_create,
        project_create,
    )

    organization = organization_get_or_create(name="Side by side")
    project = project_create(
        organization=organization, name="Bench", label_configuration=ls_config_to_entries(LABEL_CONFIG_XML).entries
    )
    dataset = dataset_create(organization=organization, name="Images")
    dataset_connect(dataset=dataset, project=project)
    _, token = api_token_create(organization=organization)
    client = APIClient(SERVER_NAME="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.get(f"/api/projects/{project.pk}")  # the web process's first-request costs are not the import's
    log_dir = var_dir / "labelsite-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    postgres = connection.vendor == "postgresql"
    own_backend = 0
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            own_backend = cursor.fetchone()[0]
    database = str(settings.DATABASES["default"]["NAME"])
    processes = workers_start(workers, log_dir)
    try:
        pool = [child for process in processes for child in children_of(process.pid)]
        idle = {pid: cpu_seconds(pid) for pid in pool}
        # PostgreSQL's side: the CPU of every backend of the bench database but this process's own
        # (the workers' connections), sampled while the job runs (a backend that exits between two
        # samples loses at most its last half second).
        backend_start = database_backends_cpu(database, own_backend) if postgres else {}
        backend_cpu: dict[int, float] = {}

        def backend_sample() -> float:
            for pid, spent in database_backends_cpu(database, own_backend).items():
                backend_cpu[pid] = max(backend_cpu.get(pid, 0.0), spent - backend_start.get(pid, 0.0))
            return sum(backend_cpu.values())

        seen: dict[str, float] = {}
        at_write: dict[str, float] = {}
        load_before = os.getloadavg()[0]
        with path.open("rb") as upload:
            started = time.perf_counter()
            web_cpu = time.process_time()
            response = client.post(
                f"/api/projects/{project.pk}/imports",
                {
                    "file": SimpleUploadedFile(path.name, upload.read(), content_type="application/json"),
                    "options": json.dumps({"write_when_valid": True}),
                },
                format="multipart",
            )
            web_cpu = time.process_time() - web_cpu
        if response.status_code != 201:
            raise SystemExit(f"upload refused: {response.status_code} {response.content[:500]!r}")
        seen["uploaded"] = time.perf_counter() - started
        job_id = response.json()["id"]
        status = "queued"
        last_sample = 0.0
        while status not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.05)
            status = ImportJob.objects.values_list("status", flat=True).get(pk=job_id)
            if status == "writing" and "writing" not in seen:
                at_write["postgres"] = backend_sample() if postgres else 0.0
                at_write["workers"] = sum(cpu_seconds(pid) - idle[pid] for pid in pool)
            seen.setdefault(status, time.perf_counter() - started)
            if postgres and time.perf_counter() - last_sample > 0.5:
                backend_sample()
                last_sample = time.perf_counter()
            if time.perf_counter() - started > 3600:
                raise SystemExit("the import did not finish in an hour")
        elapsed = time.perf_counter() - started
        postgres_cpu = backend_sample() if postgres else 0.0
        worker_cpu = sum(cpu_seconds(pid) - idle[pid] for pid in pool)
        peaks = [memory_kib(pid, "VmHWM") for pid in pool]
        load_after = os.getloadavg()[0]
    finally:
        workers_stop(processes)
    job = ImportJob.objects.get(pk=job_id)
    labels = Label.objects.filter(import_job_id=job_id).count()
    media = Media.objects.filter(dataset=dataset).count()
    if job.status != "succeeded" or labels != 3 * tasks or media != tasks:
        raise SystemExit(f"Labelsite: job {job.status} ({job.message}); {labels} labels, {media} media")
    return {
        "seconds": round(elapsed, 2),
        "phases_s": {k: round(v, 2) for k, v in seen.items()},
        "chunks": job.summary.get("chunks"),
        "labels": labels,
        "media": media,
        "worker_cpu_s": round(worker_cpu, 1),
        "worker_cpu_validate_s": round(at_write.get("workers", worker_cpu), 1),
        "postgres_cpu_s": round(postgres_cpu, 1) if postgres else None,
        "postgres_cpu_validate_s": round(at_write.get("postgres", postgres_cpu), 1) if postgres else None,
        "total_cpu_s": round(worker_cpu + postgres_cpu, 1),
        "upload_cpu_s": round(web_cpu, 1),
        "worker_peak_rss_mib": round(max(peaks, default=0) / 1024, 1),
        "load_1min_before_after": [round(load_before, 2), round(load_after, 2)],
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "broker": str(settings.CELERY_BROKER_URL).split(":", 1)[0],
    }


def main() -> None:
    assert ARGUMENTS is not None
    var_dir = Path(ARGUMENTS.var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(var_dir / "labelsite", ignore_errors=True)
    path = tasks_file(ARGUMENTS.tasks, var_dir)
    print(f"{ARGUMENTS.tasks} tasks: {path} ({path.stat().st_size / 1e6:.1f} MB)", flush=True)
    label_studio: dict[str, Any] | None = None
    if not ARGUMENTS.skip_label_studio:
        load_before = os.getloadavg()[0]
        label_studio = label_studio_run(path, var_dir=var_dir, venv=Path(ARGUMENTS.ls_venv), port=ARGUMENTS.ls_port)
        label_studio["load_1min_before"] = round(load_before, 2)
        print(f"Label Studio {LABEL_STUDIO_VERSION}: {label_studio}", flush=True)
        if label_studio["task_count"] != ARGUMENTS.tasks:
            raise SystemExit(f"Label Studio imported {label_studio['task_count']} tasks of {ARGUMENTS.tasks}")
    labelsite = labelsite_run(path, var_dir=var_dir, workers=ARGUMENTS.workers, tasks=ARGUMENTS.tasks)
    print(f"Labelsite: {labelsite}", flush=True)
    reference = label_studio["seconds"] if label_studio else ARGUMENTS.label_studio_seconds
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPU",
        "tasks": ARGUMENTS.tasks,
        "workers": ARGUMENTS.workers,
        "label_studio": label_studio,
        "labelsite": labelsite,
        "ratio": round(reference / labelsite["seconds"], 1) if reference else None,
    }
    print(json.dumps(result, indent=2))
    with (var_dir / "results.jsonl").open("a") as out:
        out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
