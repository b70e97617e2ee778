"""Import benchmark: a DataGym file of N images x 10 geometries through real Celery workers.

    .venv/bin/python bench/import_bench.py --n 100000 --workers 2

What it does, in order:
1. generates (once, cached under the var dir) a seeded DataGym import file: every image has
   exactly 10 geometries of 8 root classes (2 rectangle, 2 polygon of 5-20 points, 2 line of
   2-8 points, 2 point), nested geometries under ~30 % of cars (they count towards the 10),
   classifications on most geometries (some nested), global classifications on every image
   and a free-text note on 20 % of them; compact JSON, streamed out item by item;
2. empties the bench database (`--stack postgres`, the default: its own, `labelsite_bench`
   unless DATABASE_URL says otherwise; `--stack sqlite`: the embedded default, a fresh SQLite
   file under `<var>/sqlite`, see bench_stack.py), creates an organisation, a project with that
   configuration and a dataset;
3. starts `--workers` Celery worker processes (prefork, one pool process each) on the
   broker (Redis db 5 unless CELERY_BROKER_URL says otherwise; on SQLite the filesystem broker
   under `<var>/sqlite/broker`);
   then the N media and their tasks, as `--setup` says:
   - `api` (the default, as a user meets it): through the public API, `POST
     /api/datasets/<id>/media/urls` with 10,000 URLs a request (in this process, through
     Django's whole request stack and an API token), immediately before the import, with no
     ANALYZE of our own; the file's media ids are then replaced by the created ones (the
     items stay the same);
   - `copy`: by COPY before the workers start, then `ANALYZE` of the whole database (the
     rows as a long-lived database has them);
4. creates the import job with `write_when_valid` (the upload: the file is copied into
   storage) and polls the job until it is `succeeded`, noting when each phase began;
5. prints wall time per phase, items/s, labels/s, the CPU time of the worker pool processes
   and of the PostgreSQL backends (each also for the write phase alone; on SQLite the database's
   work is inside the workers' CPU), the peak RSS
   (VmHWM) of every worker pool process, checks that exactly the expected labels landed,
   and appends the figures as one JSON line to `<var>/bench/results.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_stack import sqlite_var_dir_reset, stack_argument, stack_choose, stack_environ  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/labelsite_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/5"
BENCH_SECRET_KEY = "labelsite-bench-secret-key-0123456789abcdefghijklmnop"
GEOMETRIES_PER_IMAGE = 10
SEED = 20261123

os.environ.setdefault("LABELSITE_VAR_DIR", "/tmp/labelsite-bench")
#: The generated import files, shared by both stacks (generating 100,000 items takes a minute).
FILES_DIR = Path(os.environ["LABELSITE_VAR_DIR"]) / "bench"
if __name__ == "__main__":
    STACK = stack_choose(sys.argv[1:], default="postgres")
    stack_environ(
        STACK,
        database_url=DEFAULT_DATABASE_URL,
        broker_url=DEFAULT_BROKER_URL,
        var_dir=Path(os.environ["LABELSITE_VAR_DIR"]) / "sqlite",
    )
else:  # imported by another bench, which has set the environment
    STACK = "postgres" if os.environ.get("DATABASE_URL") else "sqlite"
os.environ.setdefault("SECRET_KEY", BENCH_SECRET_KEY)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
os.environ.setdefault("ALLOWED_HOSTS", "localhost")  # the API setup's requests
VAR_DIR = Path(os.environ["LABELSITE_VAR_DIR"])
os.environ.setdefault("MEDIA_ROOT", str(VAR_DIR / "media"))

# --- the label configuration -----------------------------------------------------------------


def _select(key: str, options: list[str], children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "entryKey": key,
        "entryValue": key.title(),
        "type": "select",
        "options": {o: o.title() for o in options},
        "children": children or [],
    }


def _checklist(key: str, options: list[str]) -> dict[str, Any]:
    return {"entryKey": key, "entryValue": key.title(), "type": "checklist", "options": {o: o.title() for o in options}}


def _freetext(key: str) -> dict[str, Any]:
    return {"entryKey": key, "entryValue": key.title(), "type": "freetext", "maxLength": 200}


def _geometry(key: str, kind: str, children: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entryKey": key, "entryValue": key.title(), "type": kind, "children": children}


#: 8 root geometry classes, 2 nested-only classes (under car), 17 classifications.
CONFIG: list[dict[str, Any]] = [
    _geometry("bus", "rectangle", [_select("bus_line", ["l1", "l2", "l3"]), _checklist("bus_flags", ["full", "ad"])]),
    _geometry("sign", "rectangle", [_select("sign_kind", ["stop", "yield", "speed"])]),
    _geometry(
        "car",
        "polygon",
        [
            _select("car_type", ["suv", "van", "sedan"], [_select("car_size", ["small", "big"])]),
            _checklist("car_flags", ["parked", "occluded", "damaged"]),
            _geometry("wheel", "point", [_select("wheel_state", ["ok", "flat"])]),
            _geometry("plate", "rectangle", [_freetext("plate_text")]),
        ],
    ),
    _geometry("building", "polygon", [_select("floors", ["one", "two", "many"])]),
    _geometry("lane", "line", [_select("lane_type", ["solid", "dashed"])]),
    _geometry("curb", "line", []),
    _geometry("person", "point", [_select("pose", ["stand", "sit", "walk"], [_select("age", ["child", "adult"])])]),
    _geometry("pole", "point", [_select("material", ["wood", "metal"])]),
    _select("weather", ["sunny", "rainy", "foggy"], [_select("daytime", ["day", "night"])]),
    _checklist("tags", ["city", "highway", "rural", "night"]),
    _freetext("note"),
]
ROOT_CLASSES = [("bus", "rectangle"), ("sign", "rectangle"), ("car", "polygon"), ("building", "polygon")]
ROOT_CLASSES += [("lane", "line"), ("curb", "line"), ("person", "point"), ("pole", "point")]
WORDS = ["red", "blue", "left", "right", "near", "far", "old", "new", "wet", "dry", "busy", "calm"]


# --- the import file ---------------------------------------------------------------------------


def _coordinate(rng: random.Random, limit: int) -> float | int | str:
    value = rng.random() * limit
    roll = rng.random()
    if roll < 0.01:
        return str(int(value))  # DataGym accepts digit strings
    if roll < 0.3:
        return int(value)
    return round(value, 2)


def _points(rng: random.Random, count: int) -> list[dict[str, Any]]:
    return [{"x": _coordinate(rng, 1920), "y": _coordinate(rng, 1080)} for _ in range(count)]


def _box(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "x": _coordinate(rng, 1500),
            "y": _coordinate(rng, 800),
            "w": round(rng.random() * 300 + 1, 2),
            "h": round(rng.random() * 200 + 1, 2),
        }
    ]


def _geometry_object(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "rectangle":
        return {"rectangle": _box(rng)}
    if kind == "polygon":
        return {"polygon": _points(rng, rng.randint(5, 20))}
    if kind == "line":
        return {"line": _points(rng, rng.randint(2, 8))}
    return {"point": _points(rng, 1)}


def _classifications(rng: random.Random, key: str) -> dict[str, Any] | None:
    if rng.random() < 0.15:
        return None
    pick = rng.choice
    answers: dict[str, dict[str, Any]] = {
        "bus": {"bus_line": [pick(["l1", "l2", "l3"])], "bus_flags": rng.sample(["full", "ad"], rng.randint(0, 2))},
        "sign": {"sign_kind": [pick(["stop", "yield", "speed"])]},
        "car": {
            "car_type": [pick(["suv", "van", "sedan"]), {"car_size": [pick(["small", "big"])]}],
            "car_flags": rng.sample(["parked", "occluded", "damaged"], rng.randint(0, 2)),
        },
        "building": {"floors": [pick(["one", "two", "many"])]},
        "lane": {"lane_type": [pick(["solid", "dashed"])]},
        "person": {"pose": [pick(["stand", "sit", "walk"]), {"age": [pick(["child", "adult"])]}]},
        "pole": {"material": [pick(["wood", "metal"])]},
        "wheel": {"wheel_state": [pick(["ok", "flat"])]},
        "plate": {"plate_text": [f"B-{rng.randint(100, 999)}"]},
    }
    return answers.get(key)


def import_item(rng: random.Random, media_id: str) -> dict[str, Any]:
    """One image: exactly 10 geometries (nested ones count), global answers, maybe a note."""
    labels: dict[str, list[dict[str, Any]]] = {}
    left = GEOMETRIES_PER_IMAGE
    while left > 0:
        key, kind = rng.choice(ROOT_CLASSES)
        obj = _geometry_object(rng, kind)
        left -= 1
        answers = _classifications(rng, key)
        if answers:
            obj["classifications"] = answers
        if key == "car" and left > 0 and rng.random() < 0.3:
            nested: dict[str, list[dict[str, Any]]] = {}
            for _ in range(min(left, rng.randint(1, 3))):
                child, child_kind = rng.choice([("wheel", "point"), ("plate", "rectangle")])
                child_obj = _geometry_object(rng, child_kind)
                child_answers = _classifications(rng, child)
                if child_answers:
                    child_obj["classifications"] = child_answers
                nested.setdefault(child, []).append(child_obj)
                left -= 1
            obj["nested_geometries"] = nested
        labels.setdefault(key, []).append(obj)
    global_answers: dict[str, Any] = {
        "weather": [rng.choice(["sunny", "rainy", "foggy"]), {"daytime": [rng.choice(["day", "night"])]}],
        "tags": rng.sample(["city", "highway", "rural", "night"], rng.randint(0, 3)),
    }
    if rng.random() < 0.2:
        global_answers["note"] = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))]
    return {"internal_media_ID": media_id, "keepData": True, "global_classifications": global_answers, "labels": labels}


def media_ids(n: int) -> Iterator[uuid.UUID]:
    rng = random.Random(SEED)
    for _ in range(n):
        yield uuid.UUID(int=rng.getrandbits(128), version=4)


def file_generate(n: int, path: Path) -> None:
    """Stream the file out item by item (compact JSON), so that memory stays flat."""
    import orjson

    rng = random.Random(SEED + n)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        out.write(b"[")
        for position, media_id in enumerate(media_ids(n)):
            if position:
                out.write(b",")
            out.write(orjson.dumps(import_item(rng, str(media_id))))
        out.write(b"]")
    partial.rename(path)


# --- the database --------------------------------------------------------------------------------


def database_prepare() -> None:
    """Create the bench database if it is missing, migrate it, empty it (on SQLite: a new file
    and empty broker folders, as a fresh machine has them)."""
    import django
    import psycopg
    from django.conf import settings

    django.setup()
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        sqlite_var_dir_reset(Path(settings.VAR_DIR))
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return
    if db["ENGINE"].startswith("django.db.backends.postgresql"):
        admin = psycopg.connect(
            host=db.get("HOST") or "127.0.0.1",
            port=db.get("PORT") or 5432,
            user=db.get("USER") or "postgres",
            password=db.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
        )
        with admin:
            found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
            if not found:
                admin.execute(f'CREATE DATABASE "{db["NAME"]}"')
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)


def _copy_rows(model: Any, rows: Iterator[dict[str, Any]], template: Any) -> None:
    """COPY model rows: every concrete column from `template`, with the fields in each row changed."""
    from django.db import connection

    fields = list(model._meta.concrete_fields)
    base = {f.attname: f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields}
    columns = ", ".join(f.column for f in fields)
    if connection.vendor != "postgresql":  # SQLite (the load test's small runs): plain INSERTs

        def prepared() -> Iterator[list[Any]]:
            for changes in rows:
                values = {
                    **base,
                    **{k: model._meta.get_field(k).get_db_prep_save(v, connection) for k, v in changes.items()},
                }
                yield [values[f.attname] for f in fields]

        marks = ", ".join(["%s"] * len(fields))
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({marks})", list(prepared()))  # noqa: S608
        return
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for changes in rows:
            values = {**base, **changes}
            copy.write_row([values[f.attname] for f in fields])


def project_prepare_empty() -> tuple[Any, Any]:
    """An organisation, a project with CONFIG and a dataset connected to it, nothing analyzed."""
    from projects.services import dataset_connect, dataset_create, organization_get_or_create, project_create

    organization = organization_get_or_create(name="Bench")
    project = project_create(organization=organization, name="Bench", label_configuration=CONFIG)
    dataset = dataset_create(organization=organization, name="Bench images")
    dataset_connect(dataset=dataset, project=project)
    return project, dataset


#: URLs per request of the API setup (the most the endpoint takes).
API_URLS_PER_REQUEST = 10_000


def media_create_through_api(*, dataset: Any, n: int) -> list[str]:
    """N URL media through `POST /api/datasets/<id>/media/urls` (10,000 a request), as a script of
    a user adds them; their ids in order. The tasks come with them (the dataset is connected)."""
    from rest_framework.test import APIClient

    from projects.services import api_token_create

    _, token = api_token_create(organization=dataset.organization, name="bench")
    client = APIClient(SERVER_NAME="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    ids: list[str] = []
    for start in range(0, n, API_URLS_PER_REQUEST):
        urls = [
            f"https://images.example.com/bench/img-{i:07d}.jpg"
            for i in range(start, min(n, start + API_URLS_PER_REQUEST))
        ]
        response = client.post(f"/api/datasets/{dataset.id}/media/urls", {"urls": urls}, format="json")
        if response.status_code != 201:
            raise SystemExit(f"the media API answered {response.status_code}: {response.content[:500]!r}")
        results = response.json()
        if [r["status"] for r in results] != ["SUCCESS"] * len(urls):
            raise SystemExit(f"the media API refused some URLs: {results[:3]}")
        ids.extend(r["media"]["id"] for r in results)
    return ids


def file_with_media_ids(source: Path, target: Path, ids: list[str]) -> None:
    """`source` with the seeded media ids replaced, item by item, by `ids` (same length: 36 bytes)."""
    import re

    seeded = {str(media_id).encode(): new.encode() for media_id, new in zip(media_ids(len(ids)), ids, strict=True)}
    pattern = re.compile(rb'"internal_media_ID":"([0-9a-f-]{36})"')
    data = source.read_bytes()
    target.write_bytes(pattern.sub(lambda m: b'"internal_media_ID":"' + seeded[m.group(1)] + b'"', data))


def project_prepare(n: int) -> Any:
    """An organisation, a project with CONFIG, a dataset connected to it, N media and N tasks."""
    from django.db import transaction
    from django.utils import timezone

    from labeling.models import Task
    from projects.models import Dataset, Media
    from projects.services import organization_get_or_create, project_create

    now = timezone.now()
    with transaction.atomic():
        organization = organization_get_or_create(name="Bench")
        project = project_create(organization=organization, name="Bench", label_configuration=CONFIG)
        dataset = Dataset.objects.create(organization=organization, name="Bench images")
        dataset.projects.add(project)  # no signal receivers for an empty dataset matter here
        media_template = Media(organization=organization, dataset=dataset, name="x", created_at=now)
        _copy_rows(
            Media,
            ({"id": media_id, "name": f"img-{i:07d}.jpg"} for i, media_id in enumerate(media_ids(n))),
            media_template,
        )
        task_template = Task(project=project, media_id=uuid.uuid4(), created_at=now, updated_at=now)
        _copy_rows(Task, ({"id": uuid.uuid4(), "media_id": media_id} for media_id in media_ids(n)), task_template)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return project


# --- the workers ----------------------------------------------------------------------------------


def workers_start(count: int, log_dir: Path, *, nice: int = 0, idle: bool = False) -> list[subprocess.Popen[bytes]]:
    """`count` worker processes; `nice` > 0 runs them at a lower CPU priority than the web server,
    `idle` in Linux's SCHED_IDLE class (`chrt --idle 0`): only on CPU time nothing else wants."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    processes = []
    for number in range(count):
        log = (log_dir / f"worker-{number}.log").open("wb")
        command = ["chrt", "--idle", "0"] if idle else []
        command += ["nice", "-n", str(nice)] if nice else []
        command += [sys.executable, "-m", "celery", "-A", "labelsite", "worker", "--pool=prefork", "--concurrency=1"]
        command += ["--loglevel=INFO", "-n", f"bench-{number}-{os.getpid()}@%h", "--without-mingle"]
        command += ["--without-gossip", "--without-heartbeat"]
        processes.append(
            subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
    deadline = time.monotonic() + 60
    for number, process in enumerate(processes):
        log_path = log_dir / f"worker-{number}.log"
        while " ready." not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker {number} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
    return processes


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (a figure that a busy machine inflates less than wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_backends_cpu(database: str, exclude: int) -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL backend serving `database` (the workers' connections);
    none on SQLite, whose work is done in the processes that query it."""
    found: dict[int, float] = {}
    if STACK == "sqlite":
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == exclude:
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            if not command.startswith(b"postgres: ") or f" {database} ".encode() not in command:
                continue
            found[int(entry.name)] = cpu_seconds(int(entry.name))
        except OSError:
            continue
    return found


def workers_stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- the run -------------------------------------------------------------------------------------


def import_file(n: int) -> Path:
    """The seeded import file of N images, generated once and cached under the var dir."""
    path = FILES_DIR / f"datagym-{n}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        started = time.perf_counter()
        file_generate(n, path)
        print(f"generated {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
    return path


def import_start(*, project: Any, path: Path) -> Any:
    """Upload the file as an import job that writes when valid (the workers take it from there)."""
    from django.db import transaction

    from imports.services import import_job_create

    with transaction.atomic(), path.open("rb") as upload:
        return import_job_create(
            project=project,
            user=None,
            file=upload,
            file_name=path.name,
            format="datagym",
            options={"write_when_valid": True},
        )


def import_wait(
    job: Any,
    *,
    started: float,
    seen: dict[str, float],
    timeout: float = 1800,
    on_poll: Callable[[str], None] | None = None,
) -> str:
    """Poll the job until it ends; `seen` gets the time (since `started`) each status was first
    seen; `on_poll(status)` runs after each poll, before the status is recorded."""
    from imports.models import ImportJob, ImportStatus

    status = str(job.status)
    while status not in (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.CANCELLED):
        # Ten polls a second: each poll is a query, and at 50 a second the bench itself took
        # a few percent of a core from the job it measures (the job page polls once a second).
        time.sleep(0.1)
        status = ImportJob.objects.values_list("status", flat=True).get(pk=job.pk)
        if on_poll is not None:
            on_poll(status)
        seen.setdefault(status, time.perf_counter() - started)
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"the import did not finish in {timeout:.0f} s")
    return status


def run(n: int, workers: int, setup: str = "api") -> dict[str, Any]:
    path = import_file(n)
    database_prepare()
    started = time.perf_counter()
    if setup == "copy":
        project = project_prepare(n)
        setup_s = time.perf_counter() - started
        print(f"created {n} media and tasks by COPY in {setup_s:.1f} s")
    else:
        project, dataset = project_prepare_empty()

    import redis
    from django.conf import settings

    from imports.models import ImportStatus
    from labeling.models import Label

    if str(settings.CELERY_BROKER_URL).startswith("redis"):
        redis.Redis.from_url(str(settings.CELERY_BROKER_URL)).flushdb()
    log_dir = VAR_DIR / "bench" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = workers_start(workers, log_dir)
    if setup == "api":
        try:
            started = time.perf_counter()
            created = media_create_through_api(dataset=dataset, n=n)
            setup_s = time.perf_counter() - started
            print(f"created {n} media and tasks through the API in {setup_s:.1f} s")
            api_path = path.with_name(f"{path.stem}-api.json")
            file_with_media_ids(path, api_path, created)
            path = api_path
        except BaseException:
            workers_stop(processes)
            raise
    pool = [child for process in processes for child in children_of(process.pid)]
    idle_rss = {pid: memory_kib(pid, "VmRSS") for pid in pool}
    idle_cpu = {pid: cpu_seconds(pid) for pid in pool}
    load_before = os.getloadavg()[0]
    from django.db import connection

    own_backend = -1
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            own_backend = cursor.fetchone()[0]
    database = str(settings.DATABASES["default"]["NAME"])
    backend_start = database_backends_cpu(database, own_backend)
    backend_cpu: dict[int, float] = {}
    backend_at_write = 0.0
    worker_at_write = 0.0
    last_sample = 0.0

    def backend_sample() -> None:
        for pid, spent in database_backends_cpu(database, own_backend).items():
            backend_cpu[pid] = max(backend_cpu.get(pid, 0.0), spent - backend_start.get(pid, 0.0))

    try:
        t0 = time.perf_counter()
        job = import_start(project=project, path=path)
        uploaded = time.perf_counter() - t0
        seen: dict[str, float] = {"uploaded": uploaded}

        def on_poll(status: str) -> None:
            nonlocal backend_at_write, worker_at_write, last_sample
            if status == ImportStatus.WRITING and ImportStatus.WRITING not in seen:
                backend_sample()
                backend_at_write = sum(backend_cpu.values())
                worker_at_write = sum(cpu_seconds(pid) - idle_cpu[pid] for pid in pool)
            if time.perf_counter() - last_sample > 0.5:
                backend_sample()
                last_sample = time.perf_counter()

        import_wait(job, started=t0, seen=seen, on_poll=on_poll)
        total = time.perf_counter() - t0
        backend_sample()
        peaks = {pid: memory_kib(pid, "VmHWM") for pid in pool}
        cpu = {pid: cpu_seconds(pid) - idle_cpu[pid] for pid in pool}
        load_after = os.getloadavg()[0]
        mains = {process.pid: memory_kib(process.pid, "VmHWM") for process in processes}
    finally:
        workers_stop(processes)
    job.refresh_from_db()
    labels = Label.objects.filter(import_job_id=job.pk).count()
    expected = n * GEOMETRIES_PER_IMAGE
    validating = seen.get(ImportStatus.VALIDATING, uploaded)
    writing = seen.get(ImportStatus.WRITING, seen.get(ImportStatus.VALIDATED, total))
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPU",
        "python": platform.python_version(),
        "n": n,
        "workers": workers,
        "stack": STACK,
        "database": connection.vendor,
        "broker": str(settings.CELERY_BROKER_URL).split(":", 1)[0],
        "setup": setup,
        "setup_s": round(setup_s, 1),
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "status": job.status,
        "total_s": round(total, 2),
        "upload_s": round(uploaded, 2),
        "queued_s": round(validating - uploaded, 2),
        "validate_s": round(writing - validating, 2),
        "write_s": round(total - writing, 2),
        "items_per_s": round(n / total),
        "labels_per_s": round(labels / total),
        "labels": labels,
        "labels_expected": expected,
        "worker_idle_rss_mib": round(max(idle_rss.values(), default=0) / 1024, 1),
        "worker_peak_rss_mib": round(max(peaks.values(), default=0) / 1024, 1),
        "worker_peak_rss_each_mib": [round(v / 1024, 1) for v in peaks.values()],
        "worker_main_peak_rss_mib": round(max(mains.values(), default=0) / 1024, 1),
        "worker_cpu_s": round(sum(cpu.values()), 1),
        "worker_cpu_write_s": round(sum(cpu.values()) - worker_at_write, 1),
        "worker_cpu_ms_per_item": round(1000 * sum(cpu.values()) / n, 3),
        # Sampled every 0.5 s from /proc: a backend that exits loses its last half second.
        # None on SQLite: its work is in the workers' CPU.
        "postgres_cpu_s": round(sum(backend_cpu.values()), 1) if STACK == "postgres" else None,
        "postgres_cpu_write_s": round(sum(backend_cpu.values()) - backend_at_write, 1) if STACK == "postgres" else None,
        "load_1min_before_after": [round(load_before, 2), round(load_after, 2)],
        "chunks": job.summary.get("chunks"),
    }
    print(json.dumps(result, indent=2))
    with (VAR_DIR / "bench" / "results.jsonl").open("a") as out:
        out.write(json.dumps(result) + "\n")
    if job.status != ImportStatus.SUCCEEDED or labels != expected:
        raise SystemExit(f"FAILED: job {job.status} ({job.message}); {labels} labels, expected {expected}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="images in the import file (10 geometries each)")
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes to run the import")
    parser.add_argument(
        "--setup",
        choices=["api", "copy"],
        default="api",
        help="media created through the public API just before the import (default), or by COPY + ANALYZE",
    )
    parser.add_argument("--generate-only", action="store_true", help="write the import file and stop")
    stack_argument(parser, default=STACK)
    arguments = parser.parse_args()
    if arguments.generate_only:
        path = FILES_DIR / f"datagym-{arguments.n}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        file_generate(arguments.n, path)
        return
    run(arguments.n, arguments.workers, arguments.setup)


if __name__ == "__main__":
    main()
