"""The task browser on 100,000 tasks: p50/p95 of page loads with typical filters, sorts and searches.

    .venv/bin/python bench/task_browser_bench.py                 # SQLite under --var-dir
    DATABASE_URL=postgres://... .venv/bin/python bench/task_browser_bench.py

Sets up one project of `--tasks` tasks in bulk (media with global keys, external ids and
metadata; a third completed, assignees spread over five annotators, a fifth with a free-text
answer; two labels per task on average, one task in ten with a scored prediction), then asks
`GET /api/projects/{id}/tasks` (50 rows, what the page asks) `--repeat` times per scenario
in process through Django's test client (middleware, session authentication, DRF, the
selectors and the database: everything but the socket), and times a bulk job that assigns
every task round-robin. Prints the figures and appends a JSON line to
`<var>/bench/task-browser-results.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20, help="requests per scenario")
    parser.add_argument("--var-dir", default="/tmp/labelsite-browser-bench", help="emptied first (SQLite)")
    parser.add_argument("--skip-bulk", action="store_true", help="leave out the bulk job over every task")
    parser.add_argument("--reuse", action="store_true", help="time the last project set up again (the database kept)")
    return parser.parse_args()


ARGUMENTS = _arguments() if __name__ == "__main__" else None
if ARGUMENTS is not None:
    os.environ["LABELSITE_VAR_DIR"] = ARGUMENTS.var_dir
os.environ.setdefault("SECRET_KEY", "labelsite-bench-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,testserver")

BATCH = 5000
CONFIGURATION = [
    {"key": "car", "title": "Car", "type": "rectangle"},
    {"key": "person", "title": "Person", "type": "polygon"},
    {"key": "sign", "title": "Sign", "type": "point"},
    {"key": "notes", "title": "Notes", "type": "freetext"},
]
WORDS = ["blurry", "night", "rain", "crowded", "tunnel", "glare", "empty", "bridge"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def setup(count: int) -> dict[str, Any]:
    """The project, its users and `count` tasks, written in bulk."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from labeling.models import Label, LabelSource, Task, TaskState
    from projects.models import Dataset, Media, Membership, Organization
    from projects.services import dataset_connect, project_create

    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    user_model = get_user_model()
    organization = Organization.objects.create(name=f"Browser bench {stamp}")
    admin = user_model.objects.create_user(username=f"bench-admin-{stamp}", password="x")
    Membership.objects.create(user=admin, organization=organization, role="admin")
    annotators = []
    for index in range(5):
        user = user_model.objects.create_user(username=f"bench-annotator-{index}-{stamp}", password="x")
        Membership.objects.create(user=user, organization=organization, role="annotator")
        annotators.append(user)
    project = project_create(organization=organization, name=f"Browser {stamp}", label_configuration=CONFIGURATION)
    project.members.add(*annotators)
    dataset = Dataset.objects.create(organization=organization, name=f"Browser {stamp}")
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        Media.objects.bulk_create(
            [
                Media(
                    organization=organization,
                    dataset=dataset,
                    name=f"img-{number:06d}.jpg",
                    source="URL",
                    url=f"https://images.example.com/img-{number:06d}.jpg",
                    width=1920,
                    height=1080,
                    global_key=f"key-{stamp}-{number:06d}",
                    external_id=f"ext-{number:06d}",
                    metadata={"split": ["train", "valid", "test"][number % 3], "camera": f"cam-{number % 7}"},
                    probed_at=timezone.now(),
                )
                for number in range(start, min(count, start + BATCH))
            ],
            batch_size=BATCH,
        )
    dataset_connect(dataset=dataset, project=project)  # the tasks, in bulk (labeling/receivers.py)
    media_seconds = time.perf_counter() - started

    started = time.perf_counter()
    ids = list(Task.objects.filter(project=project).order_by("created_at", "id").values_list("pk", flat=True))
    entries = {entry.key: entry for entry in project.label_configuration.entries.all()}
    now = timezone.now()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        completed = [pk for i, pk in enumerate(chunk) if (start + i) % 3 == 0]
        Task.objects.filter(pk__in=completed).update(
            state=TaskState.COMPLETED, completed_by=annotators[start // BATCH % 5], completed_at=now
        )
        for offset, user in enumerate(annotators):
            mine = [pk for i, pk in enumerate(chunk) if (start + i) % 10 == offset]
            Task.objects.filter(pk__in=mine).update(assignee=user)
        for word_index, word in enumerate(WORDS[:2]):
            answered = [pk for i, pk in enumerate(chunk) if (start + i) % 10 == 7 + word_index]
            Task.objects.filter(pk__in=answered).update(answers={"notes": {"value": f"{word} scene {start}"}})
        labels = []
        for i, pk in enumerate(chunk):
            number = start + i
            for k in range(number % 4):  # 0..3 labels, 1.5 on average
                key = ("car", "person", "sign")[k]
                points = [[10, 10], [50, 40]] if key == "car" else [[10, 10], [50, 10], [30, 40]]
                if key == "sign":
                    points = [[10, 10]]
                labels.append(Label(task_id=pk, entry=entries[key], points=points))
            if number % 10 == 0:
                labels.append(
                    Label(
                        task_id=pk,
                        entry=entries["car"],
                        points=[[5, 5], [20, 20]],
                        source=LabelSource.PREDICTION,
                        score=(number % 100) / 100,
                        import_job_id=uuid.UUID(int=number // 20000 + 1),
                    )
                )
        Label.objects.bulk_create(labels, batch_size=BATCH)
    labels_seconds = time.perf_counter() - started
    if connection.vendor == "postgresql":
        # What the bulk writers of production ask for themselves (docs/architecture.md).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE labeling_task; ANALYZE labeling_label; ANALYZE projects_media")
    return {
        "project": project,
        "admin": admin,
        "annotators": annotators,
        "media_seconds": media_seconds,
        "labels_seconds": labels_seconds,
        "labels": Label.objects.filter(task__project=project).count(),
    }


def reused() -> dict[str, Any]:
    """The project of the last run, with its users (no new set-up)."""
    from labeling.models import Label
    from projects.models import Membership, Project

    project = Project.objects.filter(name__startswith="Browser ").order_by("-created_at").first()
    if project is None:
        sys.exit("No project of an earlier run to reuse.")
    members = Membership.objects.filter(organization=project.organization).select_related("user")
    return {
        "project": project,
        "admin": next(m.user for m in members if m.role == "admin"),
        "annotators": sorted((m.user for m in members if m.role == "annotator"), key=lambda user: user.username),
        "media_seconds": 0.0,
        "labels_seconds": 0.0,
        "labels": Label.objects.filter(task__project=project).count(),
    }


class DatabaseClock:
    """Time spent waiting for the database, summed over a request's queries."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        begun = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - begun


class BackendClock:
    """CPU seconds of this connection's PostgreSQL backend (its parallel workers apart), from /proc."""

    def __init__(self) -> None:
        from django.db import connection

        self.pid = 0
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
        self.ticks = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float | None:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None  # not PostgreSQL, or not on this machine
        return (int(fields[11]) + int(fields[12])) / self.ticks  # utime + stime


def scenarios(world: dict[str, Any], count: int, cursors: dict[str, str]) -> list[tuple[str, str, Any]]:
    """(name, query string, user) per scenario; the admin unless said."""
    admin = world["admin"]
    annotator = world["annotators"][2]
    last_page = max(0, (count - 1) // 50 * 50)
    return [
        ("first page", "", admin),
        ("last page (offset)", f"offset={last_page}", admin),
        ("middle page (offset)", f"offset={count // 2}", admin),
        ("next page by cursor, mid-list", f"offset={count // 2 + 50}&cursor={cursors['middle']}", admin),
        ("next page by cursor, sort by name", f"sort=-name&offset={count // 2 + 50}&cursor={cursors['name']}", admin),
        ("state=completed", "state=completed", admin),
        ("assignee", f"assignee={annotator.pk}", admin),
        ("nobody assigned, backlog", "assignee=none&state=backlog", admin),
        ("sort by name, descending", "sort=-name", admin),
        ("sort by updated", "sort=-updated", admin),
        ("sort by assignee", "sort=assignee", admin),
        ("search a name", "search=img-04242", admin),
        ("search a free-text answer", "search=blurry", admin),
        ("search, nothing found", "search=zebra-crossing", admin),
        ("class car, 1 or more", "label_class=car", admin),
        ("class person, at least 1, at most 1", "label_class=person&class_min=1&class_max=1", admin),
        ("class sign, at most 0 (none)", "label_class=sign&class_max=0", admin),
        ("class car, at most 1", "label_class=car&class_max=1", admin),
        ("class car, at least 2", "label_class=car&class_min=2", admin),
        ("predictions scored >= 0.9", "has_predictions=true&score_min=0.9", admin),
        ("import job", f"import_job={uuid.UUID(int=2)}", admin),
        ("metadata split=valid", "meta.split=valid", admin),
        ("completed by, by date", f"completed_by={annotator.pk}&sort=-completed_at", admin),
        ("global key contains", "global_key=-0999", admin),
        ("an annotator's own tasks", "", annotator),
    ]


def main(arguments: argparse.Namespace) -> None:
    var = Path(arguments.var_dir)
    if not os.environ.get("DATABASE_URL") and not arguments.reuse:
        shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True, exist_ok=True)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    # The page links its static files; without collectstatic there is no manifest to look them up in.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    world = reused() if arguments.reuse else setup(arguments.tasks)
    setup_seconds = time.perf_counter() - started
    print(
        f"set up {arguments.tasks} tasks and {world['labels']} labels in {setup_seconds:.1f} s "
        f"(media and tasks {world['media_seconds']:.1f} s, states and labels {world['labels_seconds']:.1f} s) "
        f"on {connection.vendor}"
    )
    project = world["project"]
    clients: dict[int, Client] = {}
    url = f"/api/projects/{project.pk}/tasks?limit=50"
    results: dict[str, dict[str, float | None]] = {}
    every: list[float] = []
    admin_client = clients[world["admin"].pk] = Client()
    admin_client.force_login(world["admin"])
    cursors = {
        "middle": admin_client.get(f"{url}&offset={arguments.tasks // 2}").json()["next_cursor"],
        "name": admin_client.get(f"{url}&sort=-name&offset={arguments.tasks // 2}").json()["next_cursor"],
    }
    backend = BackendClock()
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    backend_started = backend.seconds()
    print(f"{'scenario':40s} {'matched':>7s}        p50          p95     database p50   bench CPU  PostgreSQL CPU")
    for name, query, user in scenarios(world, arguments.tasks, cursors):
        client = clients.get(user.pk)
        if client is None:
            client = clients[user.pk] = Client()
            client.force_login(user)
        response = client.get(f"{url}&{query}")  # warm: the first request of a kind pays for imports
        assert response.status_code == 200, response.content[:300]
        matched = response.json()["count"]
        times = []
        database = []
        cpu_before, backend_before = time.process_time(), backend.seconds()
        for _ in range(arguments.repeat):
            clock = DatabaseClock()
            begun = time.perf_counter()
            with connection.execute_wrapper(clock):
                response = client.get(f"{url}&{query}")
            times.append((time.perf_counter() - begun) * 1000)
            database.append(clock.seconds * 1000)
            assert response.status_code == 200
        cpu = (time.process_time() - cpu_before) / arguments.repeat * 1000
        backend_after = backend.seconds()
        backend_cpu = (
            (backend_after - backend_before) / arguments.repeat * 1000
            if backend_after is not None and backend_before is not None
            else None
        )
        every.extend(times)
        results[name] = {
            "matched": matched,
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(percentile(times, 0.95), 1),
            "database_p50_ms": round(statistics.median(database), 1),
            "bench_cpu_ms": round(cpu, 1),
            "postgresql_cpu_ms": None if backend_cpu is None else round(backend_cpu, 1),
        }
        figures = results[name]
        print(
            f"{name:40s} {matched:>7d} tasks  p50 {figures['p50_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms"
            f"  (database p50 {figures['database_p50_ms']:6.1f} ms)  {cpu:6.1f} ms/request"
            + ("" if backend_cpu is None else f"  {backend_cpu:6.1f} ms/request")
        )
    page_times = []
    for _ in range(arguments.repeat):
        begun = time.perf_counter()
        response = admin_client.get(f"/projects/{project.pk}/tasks")
        page_times.append((time.perf_counter() - begun) * 1000)
        assert response.status_code == 200
    print(
        f"{'the HTML page (first page inside)':40s} {'':>7s}        p50 {statistics.median(page_times):7.1f} ms  "
        f"p95 {percentile(page_times, 0.95):7.1f} ms"
    )
    print(
        f"every API request: p50 {statistics.median(every):.1f} ms, p95 {percentile(every, 0.95):.1f} ms, "
        f"max {max(every):.1f} ms over {len(every)}"
    )
    backend_total = backend.seconds()
    load = os.getloadavg()
    totals: dict[str, Any] = {
        "wall_seconds": round(time.perf_counter() - wall_started, 1),
        "bench_cpu_seconds": round(time.process_time() - cpu_started, 1),
        "postgresql_cpu_seconds": None
        if backend_total is None or backend_started is None
        else round(backend_total - backend_started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average": [round(n, 2) for n in load],
    }
    print(
        f"requests: wall {totals['wall_seconds']} s, bench process CPU {totals['bench_cpu_seconds']} s "
        f"(Django, the test client; SQLite too), PostgreSQL backend CPU {totals['postgresql_cpu_seconds']} s, "
        f"peak RSS {totals['peak_rss_mb']} MB, load average {' '.join(f'{n:.2f}' for n in load)}"
    )

    bulk: dict[str, Any] = {}
    if not arguments.skip_bulk:
        from labeling.browser_services import task_bulk_job_run
        from labeling.models import TaskBulkJob

        user_ids = tuple(user.pk for user in world["annotators"])
        job = TaskBulkJob.objects.create(
            project=project, created_by=world["admin"], action="assign", params={"user_ids": list(user_ids)}, query={}
        )
        begun = time.perf_counter()
        job = task_bulk_job_run(job_id=job.pk)
        seconds = time.perf_counter() - begun
        bulk = {"action": "assign round-robin", "tasks": job.done, "seconds": round(seconds, 1), "status": job.status}
        print(f"bulk job: assign {job.done} tasks round-robin over 5 users in {seconds:.1f} s ({job.status})")

    record = {
        "at": datetime.now(UTC).isoformat(),
        "database": connection.vendor,
        "tasks": arguments.tasks,
        "labels": world["labels"],
        "setup_seconds": round(setup_seconds, 1),
        "repeat": arguments.repeat,
        "scenarios": results,
        "page_p95_ms": round(percentile(page_times, 0.95), 1),
        "api_p95_ms": round(percentile(every, 0.95), 1),
        "bulk": bulk,
        "totals": totals,
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
        "load_average": round(os.getloadavg()[0], 1),
    }
    out = var / "bench"
    out.mkdir(parents=True, exist_ok=True)
    with (out / "task-browser-results.jsonl").open("a") as stream:
        stream.write(json.dumps(record) + "\n")


if __name__ == "__main__" and ARGUMENTS is not None:
    main(ARGUMENTS)
