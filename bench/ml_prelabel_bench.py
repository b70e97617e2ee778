"""Pre-label benchmark: 10,000 tasks against a local model server that answers each /predict in 20 ms.

    .venv/bin/python bench/ml_prelabel_bench.py                       # SQLite in /tmp, 10,000 tasks
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ls_ml_bench .venv/bin/python bench/ml_prelabel_bench.py
    .venv/bin/python bench/ml_prelabel_bench.py --tasks 2000 --batch-size 64 --concurrency 2 --delay 0.02

What it does:
1. migrates its database (a fresh SQLite file unless DATABASE_URL names one; the PostgreSQL
   database must exist), creates a project (rectangle `bus`, point `poi`, select `weather`), a
   dataset and N media with tasks in bulk (setting up is not what is measured);
2. starts the protocol server of tests/ml/protocol_server.py on loopback, answering every
   /predict after `--delay` seconds with one box per task (percent, original size given);
3. runs a pre-label job as the worker does (`ml.services.prelabel_job_run`: /health, /setup,
   batches of `--batch-size` tasks with at most `--concurrency` calls in flight, each answer
   read by the Label Studio reader and written as predictions), and prints the wall time, the
   CPU time of this process, the number of /predict calls and predictions, as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("SECRET_KEY", "labelsite-bench-secret-key-0123456789abcdefghijklmnop")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
os.environ.setdefault("DEBUG", "1")
if "DATABASE_URL" not in os.environ:
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='ml-bench-')}/bench.sqlite3"

CONFIG: list[dict[str, Any]] = [
    {"key": "bus", "title": "Bus", "type": "rectangle"},
    {"key": "poi", "title": "Point of interest", "type": "point"},
    {
        "key": "weather",
        "title": "Weather",
        "type": "select",
        "options": [{"key": "sunny", "label": "Sunny"}, {"key": "rainy", "label": "Rainy"}],
    },
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds the model server takes per /predict")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from labeling.models import Label, Task
    from ml import services
    from ml.models import MLBackend
    from projects.label_config import label_config_replace
    from projects.models import Dataset, Media, Organization, Project
    from tests.factories import LabelConfigurationFactory
    from tests.ml.protocol_server import Behaviour, ProtocolServer

    settings.LABELSITE_ML_HOST_ALLOWLIST = ["127.0.0.1"]
    settings.LABELSITE_PUBLIC_URL = "http://labels.example.com"
    organization = Organization.objects.create(name=f"ML bench {uuid.uuid4().hex[:8]}")
    project = Project.objects.create(organization=organization, name="ML bench")
    configuration: Any = LabelConfigurationFactory(project=project)
    label_config_replace(configuration=configuration, entries=CONFIG)
    dataset = Dataset.objects.create(organization=organization, name="ML bench")
    dataset.projects.add(project)
    media = [
        Media(
            organization=organization,
            dataset=dataset,
            name=f"img_{i:06d}.jpg",
            source="URL",
            url=f"https://images.example.com/img_{i:06d}.jpg",
            width=640,
            height=480,
        )
        for i in range(args.tasks)
    ]
    Media.objects.bulk_create(media, batch_size=2000)
    Task.objects.bulk_create([Task(project=project, media=m) for m in media], batch_size=2000)

    with ProtocolServer(Behaviour(delay=args.delay)) as server:
        backend = MLBackend.objects.create(
            project=project,
            title="Stub",
            url=server.url,
            batch_size=args.batch_size,
            max_concurrency=args.concurrency,
        )
        job = services.prelabel_job_create(backend=backend)
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        job = services.prelabel_job_run(job_id=job.pk)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        calls = len(server.predict_calls())
    result = {
        "bench": "ml_prelabel",
        "database": connection.vendor,
        "tasks": args.tasks,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "delay_s": args.delay,
        "status": job.status,
        "predict_calls": calls,
        "predictions": Label.objects.filter(task__project=project).count(),
        "tasks_failed": job.tasks_failed,
        "wall_s": round(wall, 2),
        "cpu_s": round((after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime), 2),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
