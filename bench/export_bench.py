"""Export benchmark: 100,000 tasks with 1,000,000 labels, exported in each bulk format.

    .venv/bin/python bench/export_bench.py                 # set up once, then DataGym JSON and COCO
    .venv/bin/python bench/export_bench.py --formats coco csv --tasks 10000
    .venv/bin/python bench/export_bench.py --api --all     # every format on the API path (issue 19)

`--api` measures an export as a user meets it: for each format an export job is created with
`POST /api/projects/<id>/exports` (an API token, Django's whole request stack, in this
process), runs in `--workers` real Celery worker processes (prefork, one pool process each,
on the broker of CELERY_BROKER_URL, Redis db 6 by default), is polled every 50 ms and then
downloaded (`GET /api/exports/<id>/download`) to its last byte: POST to last byte, the CPU of
the worker processes (their forked writers included), of PostgreSQL's backends, and the peak
RSS of any worker process or forked writer. Both modes set up the project (step 1); without
`--api`, step 2 runs each export in a process of its own:

`--stack sqlite` runs it all on the embedded default (SQLite + the filesystem broker, under
`<var>/sqlite`, see bench_stack.py); `--stack postgres` (the default) on PostgreSQL + Redis.

1. in its own database (`labelsite_exportbench` unless DATABASE_URL says otherwise), creates
   once an organisation, a project (rectangle `car` with a select `car_type`, polygon `road`
   with a nested point `marker`, point `poi`, line `lane`, global select `weather`), a
   dataset and N media with completed tasks, and 10 labels per task (4 cars, 2 roads with
   one marker nested in the first, 2 pois, 1 lane): rows by COPY (SQLite: prepared INSERTs),
   since setting up is not what is measured. A project of the size asked for is reused;
2. for each format, in a fresh process, runs the export as a job does (`export_write`: the
   reader and the format's writer into a temporary file; a format that can be split is
   written by `--processes` forked processes, default the machine's cores, and joined), and
   reports wall time, CPU time (the processes it forked included), PostgreSQL's CPU time
   (its backends serving the benchmark database, sampled from /proc), the file size and the
   peak RSS (VmHWM; the largest forked process's too), plus the RSS after 10 % and after
   100 % of the tasks (flat memory: the two are close). On a machine shared with other work
   the wall time grows; the two CPU figures do not much;
3. prints one JSON line per format and appends it to `<var>/bench/export_results.jsonl`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_stack import stack_argument, stack_choose, stack_environ  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/labelsite_exportbench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/6"
BENCH_SECRET_KEY = "labelsite-bench-secret-key-0123456789abcdefghijklmnop"
LABELS_PER_TASK = 10
SEED = 20261123
PROJECT_NAME = "Export benchmark"

os.environ.setdefault("LABELSITE_VAR_DIR", "/tmp/labelsite-exportbench")
STACK = stack_choose(sys.argv[1:], default="postgres")
stack_environ(
    STACK,
    database_url=DEFAULT_DATABASE_URL,
    broker_url=DEFAULT_BROKER_URL,
    var_dir=Path(os.environ["LABELSITE_VAR_DIR"]) / "sqlite",
)
os.environ.setdefault("SECRET_KEY", BENCH_SECRET_KEY)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
os.environ.setdefault("ALLOWED_HOSTS", "localhost")  # the API mode's requests
#: Every format that must meet the 10 s mark on the API path (issue 19, point 5).
ALL_FORMATS = ("datagym", "coco", "label_studio", "label_studio_min", "csv", "yolo", "yolo_seg", "pascal_voc", "masks")

CONFIG: list[dict[str, Any]] = [
    {
        "key": "car",
        "title": "Car",
        "type": "rectangle",
        "children": [
            {
                "key": "car_type",
                "title": "Type",
                "type": "select",
                "options": [{"key": "suv", "label": "SUV"}, {"key": "van", "label": "Van"}],
            }
        ],
    },
    {
        "key": "road",
        "title": "Road",
        "type": "polygon",
        "children": [{"key": "marker", "title": "Marker", "type": "point"}],
    },
    {"key": "poi", "title": "POI", "type": "point"},
    {"key": "lane", "title": "Lane", "type": "line"},
    {
        "key": "weather",
        "title": "Weather",
        "type": "select",
        "options": [{"key": "sunny", "label": "Sunny"}, {"key": "rainy", "label": "Rainy"}],
    },
]


def _database_ensure(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not found:
            connection.execute(f'CREATE DATABASE "{name}"')


def _setup() -> None:
    import django

    django.setup()
    if STACK == "sqlite":  # kombu's filesystem transport cannot create its folders (dev.py makes them)
        from django.conf import settings

        for name in ("queue", "control", "processed"):
            (Path(settings.VAR_DIR) / "broker" / name).mkdir(parents=True, exist_ok=True)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _copy(cursor: Any, table: str, columns: tuple[str, ...], rows: Any) -> None:
    """COPY on PostgreSQL; on SQLite prepared INSERTs of 10,000 rows a statement run, UUIDs as
    the hex text and datetimes as the text that Django's fields store there."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    adapted: dict[Any, Any] = {}

    def adapt(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return value.hex
        if isinstance(value, datetime):
            if value not in adapted:
                adapted[value] = connection.ops.adapt_datetimefield_value(value)
            return adapted[value]
        return value

    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['?'] * len(columns))})"  # noqa: S608
    batch: list[list[Any]] = []
    for row in rows:
        batch.append([adapt(value) for value in row])
        if len(batch) == 10_000:
            cursor.executemany(sql, batch)
            batch = []
    if batch:
        cursor.executemany(sql, batch)


def project_ensure(tasks: int) -> Any:
    """The benchmark project with `tasks` completed tasks and 10 labels each (made once)."""
    from django.db import connection, transaction

    from labeling.models import Label, Task
    from labelsite.ids import time_ordered_id
    from projects.label_config import label_config_replace
    from projects.models import Dataset, LabelEntry, Organization, Project

    project = Project.objects.filter(name=PROJECT_NAME).first()
    if project is not None and Task.objects.filter(project=project).count() == tasks:
        return project
    Organization.objects.filter(name="Export benchmark").delete()
    started = time.perf_counter()
    rng = random.Random(SEED)
    organization = Organization.objects.create(name="Export benchmark")
    from projects.services import project_create

    project = project_create(organization=organization, name=PROJECT_NAME, label_configuration=None)
    label_config_replace(configuration=project.label_configuration, entries=CONFIG)
    entries = {e.key: e.pk for e in LabelEntry.objects.filter(configuration__project=project)}
    dataset = Dataset.objects.create(organization=organization, name="Export benchmark images")
    dataset.projects.add(project)
    now = datetime.now(tz=UTC)
    # Time-ordered, as the application makes them (labelsite/ids.py).
    media_ids = [time_ordered_id() for _ in range(tasks)]
    task_ids = [time_ordered_id() for _ in range(tasks)]
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        _copy(
            raw,
            "projects_media",
            (
                "id",
                "organization_id",
                "dataset_id",
                "name",
                "source",
                "file",
                "url",
                "mime_type",
                "width",
                "height",
                "external_id",
                "metadata",
                "attachments",
                "created_at",
                "probed_at",
                "probe_attempts",
                "probe_error",
            ),
            (
                (
                    m,
                    organization.pk,
                    dataset.pk,
                    f"img_{i:06d}.jpg",
                    "URL",
                    "",
                    f"https://images.example.com/img_{i:06d}.jpg",
                    "image/jpeg",
                    1920,
                    1080,
                    "",
                    "{}",
                    "[]",
                    now,
                    now,
                    0,
                    "",
                )
                for i, m in enumerate(media_ids)
            ),
        )
        _copy(
            raw,
            Task._meta.db_table,
            (
                "id",
                "project_id",
                "media_id",
                "state",
                "answers",
                "has_import",
                "version",
                "review_comment",
                "active_seconds",
                "review_verdict",
                "created_at",
                "updated_at",
            ),
            (
                (
                    t,
                    project.pk,
                    m,
                    "completed",
                    json.dumps({"weather": {"value": rng.choice(["sunny", "rainy"])}}),
                    True,
                    1,
                    "",
                    0,
                    "",
                    now,
                    now,
                )
                for t, m in zip(task_ids, media_ids, strict=True)
            ),
        )
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{Label._meta.db_table}', 'id'))")
        else:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Label._meta.db_table}")  # noqa: S608
        next_id = cursor.fetchone()[0] + 1

        def labels() -> Any:
            label_id = next_id
            for task_id in task_ids:
                for _ in range(4):
                    x, y = rng.uniform(0, 1800), rng.uniform(0, 1000)
                    answers = json.dumps({"car_type": {"value": rng.choice(["suv", "van"])}})
                    yield (label_id, task_id, entries["car"], None, json.dumps([[x, y], [x + 80, y + 60]]), answers)
                    label_id += 1
                road_id = label_id
                for _ in range(2):
                    points = [[rng.uniform(0, 1900), rng.uniform(0, 1070)] for _ in range(6)]
                    yield (label_id, task_id, entries["road"], None, json.dumps(points), "{}")
                    label_id += 1
                yield (label_id, task_id, entries["marker"], road_id, json.dumps([[100.5, 200.5]]), "{}")
                label_id += 1
                for _ in range(2):
                    point = [[rng.uniform(0, 1900), rng.uniform(0, 1070)]]
                    yield (label_id, task_id, entries["poi"], None, json.dumps(point), "{}")
                    label_id += 1
                lane = [[rng.uniform(0, 1900), rng.uniform(0, 1070)] for _ in range(3)]
                yield (label_id, task_id, entries["lane"], None, json.dumps(lane), "{}")
                label_id += 1

        rows = (
            (label_id, task_id, entry_id, parent_id, points, answers, "manual", "", True, now, now)
            for label_id, task_id, entry_id, parent_id, points, answers in labels()
        )
        _copy(
            raw,
            Label._meta.db_table,
            (
                "id",
                "task_id",
                "entry_id",
                "parent_id",
                "points",
                "answers",
                "source",
                "model_version",
                "valid",
                "created_at",
                "updated_at",
            ),
            rows,
        )
        last = next_id + tasks * LABELS_PER_TASK
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{Label._meta.db_table}', 'id'), %s)", [last])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        if connection.vendor == "sqlite":  # the set-up's one transaction left a log as large as the tables
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(
        f"set up {tasks} tasks, {tasks * LABELS_PER_TASK} labels in {time.perf_counter() - started:.1f} s", flush=True
    )
    return project


def _cpu_s(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of a process (Linux); with `children`, of its waited-for children too."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / os.sysconf("SC_CLK_TCK")


def watch_database(database: str) -> None:
    """Until stdin closes: every 0.1 s, the CPU time of every PostgreSQL backend connected to
    `database`; then print their sum. Only the export connects to the benchmark database, so
    this is PostgreSQL's share of an export (a backend's last 0.1 s before it ends may be missed)."""
    import select

    import psycopg

    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    seen: dict[int, float] = {}
    with psycopg.connect(url, autocommit=True) as connection:
        while True:
            for (pid,) in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
            ).fetchall():
                with contextlib.suppress(OSError, IndexError, ValueError):  # the backend just ended
                    seen[pid] = _cpu_s(pid)
            if select.select([sys.stdin], [], [], 0.1)[0] and not sys.stdin.read(1):
                break
    print(json.dumps({"database_cpu_s": round(sum(seen.values()), 2), "backends": len(seen)}), flush=True)


def run_one(fmt: str, processes: int | None) -> dict[str, Any]:
    """Export the benchmark project in `fmt` (in this process and those it forks) and measure it."""
    _setup()
    from exports.driver import export_processes, export_write
    from exports.reader import ExportFilters, ExportReader
    from formats import export_format_get
    from labeling.models import Label, Task
    from projects.models import Project

    project = Project.objects.get(name=PROJECT_NAME)
    total = Task.objects.filter(project=project).count()
    labels = Label.objects.filter(task__project=project).count()
    samples: dict[str, int] = {}

    def progress(done: int) -> None:
        if "rss_at_10pct_kib" not in samples and done >= total // 10:
            samples["rss_at_10pct_kib"] = _rss_kib("VmRSS")

    reader = ExportReader(project=project, filters=ExportFilters(), on_chunk=progress)
    used = export_processes(reader=reader, fmt=export_format_get(name=fmt), processes=processes)
    from django.db import connection, connections

    database = str(connection.settings_dict["NAME"])
    connections.close_all()  # the watcher counts every backend of the benchmark database from here on
    watcher = None
    if STACK == "postgres":  # SQLite has no server: its work is in this process's CPU
        watcher = subprocess.Popen(
            [sys.executable, __file__, "--stack", STACK, "--watch-database", database],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)
    rss_before = _rss_kib("VmRSS")
    started = time.perf_counter()
    cpu_started = time.process_time()
    with tempfile.TemporaryFile() as out:
        export_write(reader=reader, format=fmt, out=out, processes=processes)
        size = out.tell()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    # The forked processes have been waited for, the watcher (a child too) not yet: only they count here.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    connections.close_all()
    time.sleep(0.2)
    database_cpu = None
    if watcher is not None:
        watched, _ = watcher.communicate("")
        database_cpu = json.loads(watched.strip().splitlines()[-1])["database_cpu_s"]
    return {
        "format": fmt,
        "tasks": total,
        "labels": labels,
        "processes": used,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu + children.ru_utime + children.ru_stime, 2),
        "database_cpu_s": database_cpu,
        "tasks_per_s": round(total / wall),
        "bytes": size,
        "rss_before_kib": rss_before,
        **samples,
        "rss_at_end_kib": _rss_kib("VmRSS"),
        "peak_rss_kib": _rss_kib("VmHWM"),
        "peak_rss_forked_kib": children.ru_maxrss,
        "load_average": os.getloadavg()[0],
    }


# --- the API path: an export job through the public API, downloaded to the last byte -----------


def run_api(formats: list[str], workers: int) -> list[dict[str, Any]]:
    """Each format as a user meets it: `POST /api/projects/<id>/exports` with an API token, polled
    (`GET /api/exports/<id>`, every 50 ms) until it succeeded, then `GET .../download` read to its
    last byte, all through Django's whole request stack in this process; the job runs in `workers`
    real Celery worker processes (prefork, one pool process each) on the broker. Measured: POST to
    last byte; the time to `succeeded`; the CPU of the worker pool processes (their forked writers
    included) and of PostgreSQL's backends; the peak RSS of any worker process or forked writer
    (sampled every 0.1 s: flat memory is a peak that does not grow with the export)."""
    import threading

    sys.path.insert(0, str(REPO_ROOT / "bench"))
    import import_bench
    from django.db import connection
    from rest_framework.test import APIClient

    from projects.models import Project
    from projects.services import api_token_create

    project = Project.objects.get(name=PROJECT_NAME)
    _, token = api_token_create(organization=project.organization, name="export bench")
    client = APIClient(SERVER_NAME="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    database = connection.settings_dict["NAME"]
    log_dir = Path(os.environ["LABELSITE_VAR_DIR"]) / "bench" / "export-workers"
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = import_bench.workers_start(workers, log_dir)
    results = []
    try:
        pools = [pid for process in processes for pid in import_bench.children_of(process.pid)]
        for fmt in formats:
            peak = {"rss_kib": 0}
            stop = threading.Event()
            backends_before = import_bench.database_backends_cpu(database, exclude=-1)
            backends: dict[int, float] = dict(backends_before)

            def sample(
                peak: dict[str, int] = peak, stop: threading.Event = stop, seen: dict[int, float] = backends
            ) -> None:
                # The forked writers' backends end with them: their CPU is read while they run.
                while not stop.wait(0.1):
                    family = [*pools, *(child for pid in pools for child in import_bench.children_of(pid))]
                    for pid in family:
                        with contextlib.suppress(OSError):
                            peak["rss_kib"] = max(peak["rss_kib"], import_bench.memory_kib(pid, "VmRSS"))
                    seen.update(import_bench.database_backends_cpu(database, exclude=-1))

            cpu_before = sum(_cpu_s(pid, children=True) for pid in pools)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            load = os.getloadavg()[0]
            started = time.perf_counter()
            response = client.post(f"/api/projects/{project.pk}/exports", {"format": fmt}, format="json")
            if response.status_code != 201:
                raise SystemExit(f"the export API answered {response.status_code}: {response.content[:500]!r}")
            job_id = response.json()["id"]
            while True:
                job = client.get(f"/api/exports/{job_id}").json()
                if job["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.05)
            if job["status"] != "succeeded":
                raise SystemExit(f"the {fmt} export failed: {job['message']}")
            finished = time.perf_counter()
            download: Any = client.get(f"/api/exports/{job_id}/download")
            blocks = download.streaming_content if download.streaming else [download.content]
            size = sum(len(block) for block in blocks)
            wall = time.perf_counter() - started
            stop.set()
            sampler.join()
            backends.update(import_bench.database_backends_cpu(database, exclude=-1))
            if size != job["file_size"]:
                raise SystemExit(f"the {fmt} download had {size} bytes, the job says {job['file_size']}")
            results.append(
                {
                    "mode": "api",
                    "format": fmt,
                    "workers": workers,
                    "wall_s": round(wall, 2),
                    "job_s": round(finished - started, 2),
                    "download_s": round(wall - (finished - started), 2),
                    "worker_cpu_s": round(sum(_cpu_s(pid, children=True) for pid in pools) - cpu_before, 2),
                    "database_cpu_s": round(
                        sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends.items()), 2
                    )
                    if STACK == "postgres"
                    else None,
                    "bytes": size,
                    "peak_rss_kib": peak["rss_kib"],
                    "load_average": load,
                }
            )
            print(json.dumps(results[-1]), flush=True)
    finally:
        import_bench.workers_stop(processes)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--formats", nargs="+", default=["datagym", "coco"])
    parser.add_argument("--processes", type=int, help="processes per export (default: the machine's cores)")
    parser.add_argument("--all", action="store_true", help="every format of issue 19's point 5")
    parser.add_argument(
        "--api",
        action="store_true",
        help="the API path: export jobs through the public API on real Celery workers, downloaded to the last byte",
    )
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes of the API path")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--watch-database", help=argparse.SUPPRESS)
    stack_argument(parser, default=STACK)
    args = parser.parse_args()
    if args.watch_database:
        watch_database(args.watch_database)
        return
    if args.run:
        print(json.dumps(run_one(args.run, args.processes)), flush=True)
        return
    formats = list(ALL_FORMATS) if args.all else args.formats
    if STACK == "postgres":
        _database_ensure(os.environ["DATABASE_URL"])
    _setup()
    project_ensure(args.tasks)
    from django.conf import settings

    results_dir = Path(settings.VAR_DIR) / "bench"
    results_dir.mkdir(parents=True, exist_ok=True)
    if args.api:
        for result in run_api(formats, args.workers):
            result.update(
                {
                    "when": datetime.now(tz=UTC).isoformat(timespec="seconds"),
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                    "database": STACK,
                }
            )
            with (results_dir / "export_results.jsonl").open("a") as log:
                log.write(json.dumps(result) + "\n")
        return
    for fmt in formats:
        command = [sys.executable, __file__, "--stack", STACK, "--run", fmt]
        if args.processes is not None:
            command += ["--processes", str(args.processes)]
        finished = subprocess.run(command, check=False, capture_output=True, text=True)
        if finished.returncode != 0:
            raise SystemExit(f"the {fmt} export failed:\n{finished.stderr[-3000:]}")
        output = finished.stdout
        result = json.loads(output.strip().splitlines()[-1])
        result.update(
            {
                "when": datetime.now(tz=UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "database": STACK,
            }
        )
        print(json.dumps(result), flush=True)
        with (results_dir / "export_results.jsonl").open("a") as log:
            log.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
