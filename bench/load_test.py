"""Load test: annotators open tasks and save labels through gunicorn while a big import runs.

    .venv/bin/python bench/load_test.py --annotators 50 --n 100000 --workers 2

What it does, in order:
1. sets up the bench database with `import_bench`'s functions (the same seeded DataGym file of
   N images x 10 geometries, the same project, media and tasks by COPY), and adds to the same
   project `--tasks-each` tasks for each of `--annotators` annotators (users with the annotator
   role, each task assigned to its annotator), so that annotators and the import share the
   tables, indexes and project but never edit the same task (a save over a task the import
   has just written would rightly answer 409, which is not what is measured here);
2. logs every annotator in by creating its session server-side (`Client.force_login`): the
   labeling page works with the session cookie and the CSRF token, not an API token, and
   a password login per annotator would only measure PBKDF2;
3. collects the static files and starts gunicorn (`--gunicorn-workers`, `--gunicorn-threads`)
   and `--workers` Celery worker processes;
4. runs the annotators, one thread each with its own `requests.Session`: open a task (GET of
   the labeling page, which carries the whole annotation and the CSRF token, as a browser
   gets it), then `--saves-per-task` saves of a fresh annotation document (PUT
   /api/tasks/<id>/annotation with the version it opened or last saved, as the page's
   autosave does), each after a think time of `--think` seconds +-50 % (the page autosaves
   one second after the last change); first `--baseline` seconds without an import, then
   while the N-image import runs, until it has succeeded;
5. counts as an error every answer that is not 200 (or not the expected document), every
   connection failure and every timeout, and afterwards checks that each task holds exactly
   the labels of its last successful save (a lost save is an error too);
6. prints p50/p95/p99 of save and open latency per phase, the error count by kind, the CPU
   seconds of gunicorn, the Celery workers, PostgreSQL and this client, the load average,
   and how many PostgreSQL backends were waiting on a lock (sampled twice a second), and
   appends the result as one JSON line to `<var>/bench/load-results.jsonl`.

Why threads and `requests` rather than locust: 50 annotators with think time are 50 mostly
sleeping threads, which one process drives easily; `requests` is already pinned for the tests,
and locust would add gevent, Flask and a web UI to measure what 150 lines measure here.
Latency is measured in the client around each request, so it includes the client's own
overhead on a busy machine (an upper bound of what a browser would see).
`--invalid-saves K` makes each annotator's first K saves name a class that does not exist,
so that a test can check that refused saves are counted (tests/realstack/test_load_script.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import import_bench as bench  # sets the bench environment defaults first

# A queue of this run's own: its workers take only its import, and whatever an earlier run
# left on the broker stays where no worker of this run looks.
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"load-{os.getpid()}")

REPO_ROOT = bench.REPO_ROOT
PAGE_DATA = re.compile(r'<script id="labeling-data" type="application/json">(.*?)</script>', re.S)
REQUEST_TIMEOUT_SECONDS = 30


# --- setting up -----------------------------------------------------------------------------------


@dataclass
class Annotator:
    username: str
    session_key: str
    task_ids: list[str]


def annotators_prepare(*, project: Any, annotators: int, tasks_each: int) -> list[Annotator]:
    """Users with the annotator role, each with its own tasks in `project` and a session."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import Client

    from labeling.models import Task
    from projects.models import Dataset, Media, Membership, Role

    user_model = get_user_model()
    prepared = []
    with transaction.atomic():
        dataset = Dataset.objects.create(organization=project.organization, name="Annotators' images")
        dataset.projects.add(project)
        for number in range(annotators):
            user = user_model.objects.create_user(username=f"annotator-{number:03d}", password=None)
            Membership.objects.create(user=user, organization=project.organization, role=Role.ANNOTATOR)
            project.members.add(user)  # annotators see only the projects they are members of
            media = Media.objects.bulk_create(
                Media(
                    organization=project.organization,
                    dataset=dataset,
                    name=f"annotator-{number:03d}-{i:03d}.jpg",
                    width=1920,
                    height=1080,
                )
                for i in range(tasks_each)
            )
            tasks = Task.objects.bulk_create(Task(project=project, media=m, assignee=user) for m in media)
            prepared.append((user, [str(t.pk) for t in tasks]))
    result = []
    for user, task_ids in prepared:
        client = Client()
        client.force_login(user)
        result.append(Annotator(user.username, client.cookies["sessionid"].value, task_ids))
    return result


def static_collect() -> None:
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


def gunicorn_start(*, port: int, workers: int, threads: int, log_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "ALLOWED_HOSTS": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
    # Production mode over plain HTTP on loopback (README, Production): cookies without Secure.
    env.update(SECURE_COOKIES="0", SECURE_HSTS_SECONDS="0")
    env.pop("DEBUG", None)
    command = [sys.executable, "-m", "gunicorn", "labelsite.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--threads", str(threads), "--timeout", "60"]
    log = (log_dir / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    import requests

    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/login/", timeout=2)
            return process
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start:\n{(log_dir / 'gunicorn.log').read_text()[-3000:]}") from None
            time.sleep(0.2)


# --- the annotators -------------------------------------------------------------------------------


@dataclass
class Sample:
    phase: str
    kind: str  # "open" or "save"
    seconds: float
    error: str | None  # None when the request did what it should
    at: float = 0.0  # perf_counter() when the request began


@dataclass
class Run:
    base_url: str
    think: float
    saves_per_task: int
    invalid_saves: int
    phase: str = "baseline"
    stop: threading.Event = field(default_factory=threading.Event)
    samples: list[Sample] = field(default_factory=list)
    #: task id -> the number of root and nested labels of its last successful save.
    saved_labels: dict[str, int] = field(default_factory=dict)
    #: annotator -> saves sent so far (answered or not).
    saves_sent: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)


def annotation_document(rng: random.Random, version: int, *, invalid: bool) -> tuple[dict[str, Any], int]:
    """A plausible annotation of the bench configuration: 3-12 shapes, some nested, with answers."""

    def xy() -> list[float]:
        return [round(rng.uniform(0, 1800), 1), round(rng.uniform(0, 1000), 1)]

    labels: list[dict[str, Any]] = []
    count = 0
    for _ in range(rng.randint(3, 12)):
        kind = rng.choice(["bus", "car", "lane", "person"])
        shape: dict[str, Any]
        if kind == "bus":
            x, y = xy()
            shape = {"key": "bus", "type": "rectangle", "points": [[x, y], [x + 80, y + 50]]}
            shape["answers"] = {"bus_line": {"value": rng.choice(["l1", "l2"])}, "bus_flags": {"value": ["ad"]}}
        elif kind == "car":
            shape = {"key": "car", "type": "polygon", "points": [xy() for _ in range(rng.randint(5, 12))]}
            shape["answers"] = {"car_type": {"value": "suv", "answers": {"car_size": {"value": "big"}}}}
            shape["children"] = [{"key": "wheel", "type": "point", "points": [xy()]} for _ in range(rng.randint(0, 2))]
            count += len(shape["children"])  # nested labels are rows too
        elif kind == "lane":
            shape = {"key": "lane", "type": "line", "points": [xy() for _ in range(rng.randint(2, 6))]}
        else:
            shape = {"key": "person", "type": "point", "points": [xy()], "answers": {"pose": {"value": "walk"}}}
        labels.append(shape)
        count += 1
    if invalid:
        labels.append({"key": "no_such_class", "type": "rectangle", "points": [[1, 1], [5, 5]]})
    answers = {"weather": {"value": rng.choice(["sunny", "rainy"]), "answers": {"daytime": {"value": "day"}}}}
    return {"version": version, "answers": answers, "labels": labels}, count


def annotator_run(run: Run, annotator: Annotator, seed: int) -> None:
    import requests

    rng = random.Random(seed)
    session = requests.Session()
    session.cookies.set("sessionid", annotator.session_key, domain="127.0.0.1", path="/")
    invalid_left = run.invalid_saves
    time.sleep(rng.uniform(0, run.think))  # not all at once
    position = 0
    while not run.stop.is_set():
        task_id = annotator.task_ids[position % len(annotator.task_ids)]
        position += 1
        phase, started = run.phase, time.perf_counter()
        try:
            response = session.get(f"{run.base_url}/tasks/{task_id}/", timeout=REQUEST_TIMEOUT_SECONDS)
            found = PAGE_DATA.search(response.text) if response.status_code == 200 else None
            page = json.loads(found.group(1)) if found else None
            error = None if page else f"open {response.status_code}"
        except requests.RequestException as failure:
            page, error = None, f"open {type(failure).__name__}"
        run.record(Sample(phase, "open", time.perf_counter() - started, error, started))
        if page is None:
            run.stop.wait(run.think)
            continue
        version, csrf = page["document"]["version"], page["csrfToken"]
        for _ in range(run.saves_per_task):
            if run.stop.wait(run.think * rng.uniform(0.5, 1.5)):
                return
            document, count = annotation_document(rng, version, invalid=invalid_left > 0)
            invalid_left -= 1
            phase, started = run.phase, time.perf_counter()
            try:
                response = session.put(
                    f"{run.base_url}/api/tasks/{task_id}/annotation",
                    json=document,
                    headers={"X-CSRFToken": csrf, "Accept": "application/json"},
                    timeout=REQUEST_TIMEOUT_SECONDS,
                )
                stored = response.json() if response.status_code == 200 else None
                if stored is not None and stored.get("version") == version + 1:
                    error = None
                    version = stored["version"]
                    with run.lock:
                        run.saved_labels[task_id] = count
                else:
                    error = f"save {response.status_code}"
            except (requests.RequestException, ValueError) as failure:
                error = f"save {type(failure).__name__}"
            run.record(Sample(phase, "save", time.perf_counter() - started, error, started))
            with run.lock:
                run.saves_sent[annotator.username] += 1
        run.stop.wait(run.think * rng.uniform(0.5, 1.5))


def saves_verify(run: Run) -> int:
    """Tasks whose stored labels are not those of their last successful save."""
    from django.db.models import Count

    from labeling.models import Label

    stored = dict(
        Label.objects.filter(task_id__in=list(run.saved_labels))
        .values_list("task_id")
        .annotate(n=Count("id"))
        .values_list("task_id", "n")
    )
    return sum(1 for task_id, count in run.saved_labels.items() if stored.get(uuid.UUID(task_id), 0) != count)


# --- measuring ------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[rank] * 1000, 1)


def summary(samples: list[Sample], seconds: float) -> dict[str, Any]:
    result: dict[str, Any] = {"seconds": round(seconds, 1)}
    for kind in ("save", "open"):
        ok = [s.seconds for s in samples if s.kind == kind and s.error is None]
        result[kind] = {
            "count": sum(1 for s in samples if s.kind == kind),
            "per_s": round(sum(1 for s in samples if s.kind == kind) / seconds, 1) if seconds else None,
            "p50_ms": percentile(ok, 50),
            "p95_ms": percentile(ok, 95),
            "p99_ms": percentile(ok, 99),
            "max_ms": percentile(ok, 100),
        }
    result["errors"] = dict(Counter(s.error for s in samples if s.error))
    return result


def postgres_backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of each live PostgreSQL backend connected to `database`.

    Other databases' backends (other benchmarks or test runs on the same server) are left out."""
    found = {}
    marker = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres" or marker not in (entry / "cmdline").read_bytes():
                continue
            found[int(entry.name)] = bench.cpu_seconds(int(entry.name))
        except OSError:
            continue
    return found


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += bench.cpu_seconds(pid)
        except OSError:
            continue  # gone (a PostgreSQL backend that closed)
    return total


class LockMonitor(threading.Thread):
    """Samples, twice a second, how many backends of the bench database wait on a lock."""

    def __init__(self, run: Run) -> None:
        super().__init__(daemon=True)
        self.run_state = run
        self.samples: dict[str, list[tuple[int, int]]] = {}
        self.waits: dict[str, Counter[str]] = {}
        #: CPU seconds of the bench database's PostgreSQL backends since the run began.
        self.postgres_cpu = 0.0

    def run(self) -> None:
        from django.db import connection

        if connection.vendor != "postgresql":
            return
        import psycopg

        settings = connection.settings_dict
        with psycopg.connect(
            host=settings["HOST"] or "127.0.0.1",
            port=settings["PORT"] or 5432,
            user=settings["USER"] or "postgres",
            password=settings["PASSWORD"] or None,
            dbname=settings["NAME"],
            autocommit=True,
        ) as watch:
            database = str(settings["NAME"])
            baseline = postgres_backends_cpu(database)  # what the backends used before the run
            while not self.run_state.stop.wait(0.5):
                # Backends come and go (CONN_MAX_AGE): add up each one's growth between samples;
                # one that appears later started during the run, so all its time counts.
                for pid, seconds in postgres_backends_cpu(database).items():
                    if pid == watch.info.backend_pid:
                        continue  # this monitor's own queries
                    self.postgres_cpu += seconds - baseline.get(pid, 0.0)
                    baseline[pid] = seconds
                rows = watch.execute(
                    "SELECT wait_event_type, wait_event, left(query, 70) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
                waiting = [row for row in rows if row[0] == "Lock"]
                self.samples.setdefault(self.run_state.phase, []).append((len(waiting), len(rows)))
                for _, event, query in waiting:
                    self.waits.setdefault(self.run_state.phase, Counter())[f"{event}: {query}"] += 1

    def figures(self, phase: str) -> dict[str, Any]:
        samples = self.samples.get(phase, [])
        if not samples:
            return {}
        return {
            "lock_waiting_max": max(w for w, _ in samples),
            "lock_waiting_samples": sum(1 for w, _ in samples if w),
            "samples": len(samples),
            "connections_max": max(c for _, c in samples),
            "lock_waits_by_query": dict(self.waits.get(phase, Counter()).most_common(5)),
        }


# --- the run --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--tasks-each", type=int, default=20, help="tasks assigned to each annotator")
    parser.add_argument("--n", type=int, default=100_000, help="images in the import running meanwhile")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes running the import")
    parser.add_argument("--worker-nice", type=int, default=0, help="run the Celery workers under `nice -n` this")
    parser.add_argument(
        "--worker-idle", action="store_true", help="run the Celery workers in SCHED_IDLE (`chrt --idle 0`)"
    )
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--gunicorn-threads", type=int, default=1)
    parser.add_argument("--think", type=float, default=2.0, help="mean seconds between an annotator's requests")
    parser.add_argument("--saves-per-task", type=int, default=3)
    parser.add_argument("--baseline", type=float, default=20.0, help="seconds of load before the import starts")
    parser.add_argument("--invalid-saves", type=int, default=0, help="refused saves each annotator sends first")
    parser.add_argument(
        "--min-saves-each", type=int, default=0, help="after the import, go on until every annotator sent this many"
    )
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port (default: a free one)")
    parser.add_argument("--json-out", type=Path, help="also write the result to this file")
    arguments = parser.parse_args()

    path = bench.import_file(arguments.n)
    bench.database_prepare()
    project = bench.project_prepare(arguments.n)
    annotators = annotators_prepare(project=project, annotators=arguments.annotators, tasks_each=arguments.tasks_each)
    static_collect()

    from django.conf import settings
    from django.db import connections

    from imports.models import ImportStatus
    from labeling.models import Label

    log_dir = bench.VAR_DIR / "bench" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    port = arguments.port or bench_free_port()
    connections.close_all()  # no connection of ours held open across the run but the ones we use
    web = gunicorn_start(
        port=port, workers=arguments.gunicorn_workers, threads=arguments.gunicorn_threads, log_dir=log_dir
    )
    workers = bench.workers_start(arguments.workers, log_dir, nice=arguments.worker_nice, idle=arguments.worker_idle)
    run = Run(
        base_url=f"http://127.0.0.1:{port}",
        think=arguments.think,
        saves_per_task=arguments.saves_per_task,
        invalid_saves=arguments.invalid_saves,
    )
    monitor = LockMonitor(run)
    threads = [
        threading.Thread(target=annotator_run, args=(run, annotator, bench.SEED + number), daemon=True)
        for number, annotator in enumerate(annotators)
    ]

    def cpu_now() -> dict[str, float]:
        web_pids = [web.pid, *bench.children_of(web.pid)]
        pool = [child for process in workers for child in bench.children_of(process.pid)]
        return {
            "gunicorn": cpu_of(web_pids),
            "celery": cpu_of(pool),
            "postgresql": monitor.postgres_cpu,
            "client": sum(os.times()[:2]),
        }

    phases: dict[str, Any] = {}
    try:
        monitor.start()
        for thread in threads:
            thread.start()
        cpu_start, load_start, t0 = cpu_now(), os.getloadavg(), time.perf_counter()
        time.sleep(arguments.baseline)
        cpu_mid, load_mid, t1 = cpu_now(), os.getloadavg(), time.perf_counter()
        run.phase = "import"
        job = bench.import_start(project=project, path=path)
        seen: dict[str, float] = {}
        status = bench.import_wait(job, started=t1, seen=seen)
        deadline = time.monotonic() + 300
        while any(run.saves_sent[a.username] < arguments.min_saves_each for a in annotators):
            if time.monotonic() > deadline:
                raise SystemExit(f"the annotators did not send {arguments.min_saves_each} saves each in 300 s")
            time.sleep(0.1)
        cpu_end, load_end, t2 = cpu_now(), os.getloadavg(), time.perf_counter()
        run.stop.set()
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 5)
        for name, (before, after, start, end, loads) in {
            "baseline": (cpu_start, cpu_mid, t0, t1, (load_start, load_mid)),
            "import": (cpu_mid, cpu_end, t1, t2, (load_mid, load_end)),
        }.items():
            samples = [s for s in run.samples if s.phase == name]
            phases[name] = summary(samples, end - start)
            phases[name]["cpu_s"] = {key: round(after[key] - before[key], 1) for key in after}
            phases[name]["load_1min_start_end"] = [round(loads[0][0], 2), round(loads[1][0], 2)]
            phases[name]["postgresql_backends"] = monitor.figures(name)
        # The import's two phases load the machine differently: validating is the workers'
        # CPU, writing mostly PostgreSQL's (COPY, index and foreign-key upkeep).
        write_at = t1 + seen.get(ImportStatus.WRITING, t2 - t1)
        for name, chosen in {
            "import: validating": lambda s: s.at < write_at,
            "import: writing": lambda s: s.at >= write_at,
        }.items():
            samples = [s for s in run.samples if s.phase == "import" and chosen(s)]
            phases[name] = summary(samples, (write_at - t1) if "validating" in name else (t2 - write_at))
    finally:
        run.stop.set()
        bench.workers_stop(workers)
        bench.workers_stop([web])
    lost = saves_verify(run)
    job.refresh_from_db()
    labels = Label.objects.filter(import_job_id=job.pk).count()
    errors = Counter(s.error for s in run.samples if s.error)
    if lost:
        errors["lost save"] = lost
    if status != ImportStatus.SUCCEEDED or labels != arguments.n * bench.GEOMETRIES_PER_IMAGE:
        errors["import"] = 1
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPU",
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "annotators": arguments.annotators,
        "think_s": arguments.think,
        "n": arguments.n,
        "workers": arguments.workers,
        "worker_nice": arguments.worker_nice,
        "worker_idle": arguments.worker_idle,
        "gunicorn": f"{arguments.gunicorn_workers} workers x {arguments.gunicorn_threads} threads",
        "import": {"status": status, "seconds": round(t2 - t1, 1), "labels": labels, "phases": seen},
        "phases": phases,
        "tasks_saved": len(run.saved_labels),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
    }
    print(json.dumps(result, indent=2))
    with (bench.VAR_DIR / "bench" / "load-results.jsonl").open("a") as out:
        out.write(json.dumps(result) + "\n")
    if arguments.json_out:
        arguments.json_out.write_text(json.dumps(result))


def bench_free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    main()
