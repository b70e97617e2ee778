"""Team figures of a project with 100,000 completed tasks: the time `team_figures_get` takes.

    .venv/bin/python bench/team_figures_bench.py                    # SQLite under --var-dir
    DATABASE_URL=postgres://.../labelsite_figuresbench .venv/bin/python bench/team_figures_bench.py

Builds (once per database and `--history-days`; a second run reuses it) a project of `--members`
annotators and reviewers with `--tasks` tasks, every one completed by an annotator on one of the
last `--history-days` days (30: every task is in the default range; 365: a year's work, of which
the default range holds a twelfth) with an active time, 60 % of them reviewed (4 in 5 accepted),
and `--labels` labels per task authored by its annotator when the task was completed, in bulk.
Then times the selector the API and the project page call, over the default 30 days and over one
week, for the whole team and for one member; prints the median of `--repeat` runs and the number
of queries. On a shared machine the wall time grows; the figures say the load average they were
taken under.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=5, help="authored labels per task")
    parser.add_argument("--members", type=int, default=20, help="annotators (and a quarter as many reviewers)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--history-days", type=int, default=30, help="the tasks' completions spread over this many days up to today"
    )
    parser.add_argument("--var-dir", default="/tmp/labelsite-figures-bench", help="SQLite only")
    return parser.parse_args()


ARGUMENTS = _arguments() if __name__ == "__main__" else None
if ARGUMENTS is not None:
    os.environ["LABELSITE_VAR_DIR"] = ARGUMENTS.var_dir
os.environ.setdefault("SECRET_KEY", "labelsite-bench-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")

PROJECT_NAME = "Team figures bench"
BATCH = 5000


def build(arguments: argparse.Namespace, today: date) -> Any:
    from django.contrib.auth import get_user_model
    from django.db.models import OuterRef, Subquery

    from labeling.models import Label, ReviewVerdict, Task, TaskState
    from projects.models import Dataset, Media, MediaSource, Membership, Organization, Project
    from projects.services import project_create

    name = f"{PROJECT_NAME} ({arguments.history_days} days)"
    existing = Project.objects.filter(name__in=[name, PROJECT_NAME] if arguments.history_days == 30 else [name]).first()
    if existing is not None and Task.objects.filter(project=existing).count() == arguments.tasks:
        return existing
    organization = Organization.objects.create(name=f"Bench {time.time_ns()}")
    project = project_create(
        organization=organization,
        name=name,
        label_configuration=[{"key": "car", "title": "Car", "type": "rectangle"}],
    )
    entry = project.label_configuration.entries.get()
    users = get_user_model()
    annotators = [users.objects.create(username=f"bench-{organization.pk}-a{n}") for n in range(arguments.members)]
    reviewers = [
        users.objects.create(username=f"bench-{organization.pk}-r{n}") for n in range(max(1, arguments.members // 4))
    ]
    for user in annotators + reviewers:
        Membership.objects.create(user=user, organization=organization, role="annotator")
    project.members.add(*annotators, *reviewers)
    dataset = Dataset.objects.create(organization=organization, name="Bench images")
    rng = random.Random(7)
    started = time.perf_counter()
    for first in range(0, arguments.tasks, BATCH):
        count = min(BATCH, arguments.tasks - first)
        media = Media.objects.bulk_create(
            [
                Media(
                    dataset=dataset,
                    organization=organization,
                    name=f"image-{first + n:06d}.jpg",
                    source=MediaSource.URL,
                    url=f"https://images.example.com/{first + n}.jpg",
                    mime_type="image/jpeg",
                    width=640,
                    height=480,
                )
                for n in range(count)
            ]
        )
        tasks = []
        for item in media:
            day = today - timedelta(days=rng.randrange(arguments.history_days))
            completed_at = datetime.combine(day, datetime.min.time(), UTC)
            completed_at += timedelta(seconds=rng.randrange(86_400))
            reviewed = rng.random() < 0.6
            tasks.append(
                Task(
                    project=project,
                    media=item,
                    state=TaskState.REVIEWED if reviewed else TaskState.COMPLETED,
                    completed_by=rng.choice(annotators),
                    completed_at=completed_at,
                    active_seconds=rng.randrange(5, 600),
                    reviewed_by=rng.choice(reviewers) if reviewed else None,
                    reviewed_at=completed_at + timedelta(hours=1) if reviewed else None,
                    review_verdict=(ReviewVerdict.ACCEPTED if rng.random() < 0.8 else ReviewVerdict.REJECTED)
                    if reviewed
                    else "",
                )
            )
        Task.objects.bulk_create(tasks)
        Label.objects.bulk_create(
            [
                Label(task=task, entry=entry, points=[[1, 1], [9, 9]], author_id=task.completed_by_id)
                for task in tasks
                for _ in range(arguments.labels)
            ],
            batch_size=BATCH,
        )
        # made when their task was completed (bulk_create stamps them now)
        made_at = Task.objects.filter(pk=OuterRef("task_id")).values("completed_at")[:1]
        Label.objects.filter(task_id__in=[task.pk for task in tasks]).update(created_at=Subquery(made_at))
    print(f"built {arguments.tasks} tasks and {arguments.tasks * arguments.labels} labels in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE labeling_task; ANALYZE labeling_label")
    return project


def main(arguments: argparse.Namespace) -> None:
    if not os.environ.get("DATABASE_URL"):
        var = Path(arguments.var_dir)
        if not (var / "labelsite.sqlite3").exists():
            shutil.rmtree(var, ignore_errors=True)
        var.mkdir(parents=True, exist_ok=True)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from labeling.selectors import team_figures_get

    call_command("migrate", verbosity=0)
    today = datetime.now(UTC).date()
    project = build(arguments, today)
    one_member = project.members.order_by("username").values_list("pk", flat=True).first()
    cases: dict[str, dict[str, Any]] = {
        "30 days, whole team": {"date_from": today - timedelta(days=29), "date_to": today},
        "7 days, whole team": {"date_from": today - timedelta(days=6), "date_to": today},
        "30 days, one member": {"date_from": today - timedelta(days=29), "date_to": today, "member_ids": [one_member]},
    }
    print(f"database: {connection.vendor}, load average {os.getloadavg()[0]:.1f}")
    for name, options in cases.items():
        timings = []
        for _ in range(arguments.repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                figures = team_figures_get(project=project, **options)
                timings.append(time.perf_counter() - started)
        completed = sum(member.totals.tasks_completed for member in figures.members)
        print(
            f"{name}: median {statistics.median(timings) * 1000:.0f} ms (min {min(timings) * 1000:.0f}, "
            f"max {max(timings) * 1000:.0f}), {len(queries)} queries, {len(figures.members)} members, "
            f"{completed} tasks counted"
        )


if __name__ == "__main__":
    assert ARGUMENTS is not None
    main(ARGUMENTS)
