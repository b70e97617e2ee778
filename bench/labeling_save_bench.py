"""Labeling-page saves on a task with 1,000 polygons: one vertex moved per save, p50/p95 of `--saves`.

    .venv/bin/python bench/labeling_save_bench.py                 # SQLite under --var-dir
    DATABASE_URL=postgres://... .venv/bin/python bench/labeling_save_bench.py

In process, through Django's test client (the whole stack but the socket: middleware, session
authentication, DRF, the service, the database): an annotator's PATCH
/api/tasks/{id}/annotation with one changed label, as the page sends after a vertex drag,
each naming the version the previous one answered. Also times the whole-document PUT the page
sent before, for comparison. Prints the figures and appends a JSON line to
`<var>/bench/save-results.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1000, help="polygons on the task")
    parser.add_argument("--vertices", type=int, default=12, help="vertices per polygon")
    parser.add_argument("--saves", type=int, default=300)
    parser.add_argument("--var-dir", default="/tmp/labelsite-save-bench", help="emptied first (SQLite)")
    return parser.parse_args()


ARGUMENTS = _arguments() if __name__ == "__main__" else None
if ARGUMENTS is not None:
    os.environ["LABELSITE_VAR_DIR"] = ARGUMENTS.var_dir
os.environ.setdefault("SECRET_KEY", "labelsite-bench-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,testserver")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def polygon(index: int, vertices: int) -> list[list[float]]:
    import math

    cx, cy = 50 + (index % 40) * 45, 50 + (index // 40) * 45
    return [
        [
            round(cx + 20 * math.cos(2 * math.pi * k / vertices), 2),
            round(cy + 20 * math.sin(2 * math.pi * k / vertices), 2),
        ]
        for k in range(vertices)
    ]


def main(arguments: argparse.Namespace) -> None:
    var = Path(arguments.var_dir)
    if not os.environ.get("DATABASE_URL"):
        shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True, exist_ok=True)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    from labeling.models import Task
    from labeling.services import task_annotation_replace
    from projects.models import Membership
    from projects.services import dataset_connect, project_create
    from tests.factories import DatasetFactory, MediaFactory, OrganizationFactory, UserFactory

    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    organization: Any = OrganizationFactory(name=f"Save bench {stamp}")
    user: Any = UserFactory(username=f"save-bench-{stamp}")
    Membership.objects.create(user=user, organization=organization, role="annotator")
    configuration = [{"key": "car", "title": "Car", "type": "polygon"}]
    project = project_create(organization=organization, name=f"Saves {stamp}", label_configuration=configuration)
    project.members.add(user)
    dataset: Any = DatasetFactory(organization=organization, name=f"Saves {stamp}")
    media: Any = MediaFactory(dataset=dataset, name="big.jpg", width=2000, height=2000)
    dataset_connect(dataset=dataset, project=project)
    task = Task.objects.get(project=project, media=media)
    labels = [
        {"key": "car", "type": "polygon", "points": polygon(i, arguments.vertices)} for i in range(arguments.labels)
    ]
    document = task_annotation_replace(task=task, document={"labels": labels}, user=user, expected_version=0)

    client = Client()
    client.force_login(user)
    url = f"/api/tasks/{task.pk}/annotation"
    version = document["version"]
    stored = document["labels"]
    patch_ms: list[float] = []
    body_bytes = 0
    for save in range(arguments.saves):
        label = stored[(save * 37) % len(stored)]
        label["points"][0] = [label["points"][0][0] + 0.5, label["points"][0][1]]
        body = json.dumps(
            {
                "version": version,
                "added": [],
                "changed": [{"id": label["id"], "points": label["points"]}],
                "deleted": [],
            }
        )
        body_bytes = len(body)
        started = time.perf_counter()
        response = client.patch(url, body, content_type="application/json")
        patch_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:500]
        version = response.json()["version"]

    put_ms: list[float] = []
    put_bytes = 0
    for _ in range(max(10, arguments.saves // 20)):
        current = client.get(url).json()
        current["labels"][0]["points"][0][0] += 0.5
        body = json.dumps({"version": current["version"], "answers": current["answers"], "labels": current["labels"]})
        put_bytes = len(body)
        started = time.perf_counter()
        response = client.put(url, body, content_type="application/json")
        put_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:500]

    from django.db import connection

    result = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": connection.vendor,
        "machine": platform.node(),
        "cpus": os.cpu_count(),
        "load": os.getloadavg(),
        "labels": arguments.labels,
        "vertices": arguments.vertices,
        "saves": arguments.saves,
        "patch_body_bytes": body_bytes,
        "patch_ms": {"p50": round(statistics.median(patch_ms), 1), "p95": round(percentile(patch_ms, 0.95), 1)},
        "put_body_bytes": put_bytes,
        "put_ms": {"p50": round(statistics.median(put_ms), 1), "p95": round(percentile(put_ms, 0.95), 1)},
    }
    print(json.dumps(result, indent=2))
    (var / "bench").mkdir(parents=True, exist_ok=True)
    with (var / "bench" / "save-results.jsonl").open("a") as out:
        out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    assert ARGUMENTS is not None
    main(ARGUMENTS)
