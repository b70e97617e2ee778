"""An import stack for the real-stack tests: a project with N media, its import file, and
Celery worker processes on a queue of their own (`import_stack` fixture, registered in conftest).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connections

from formats import format_get
from imports.models import ImportJob
from imports.services import import_job_create
from labeling.models import Label, Task
from labelsite.celery import app
from projects.label_config import label_config_index, label_config_replace
from projects.models import Dataset, Media, Organization, Project
from tests.factories import OrganizationFactory, ProjectFactory
from tests.imports.conftest import DATAGYM_CONFIG
from tests.realstack.conftest import (
    REPO_ROOT,
    START_TIMEOUT_SECONDS,
    broker_folders_create,
    child_env,
    database_url,
    process_stop,
    wait_until,
)

JOB_TIMEOUT_SECONDS = 120
#: Seconds after which a silent chunk is taken over, for the workers of these tests.
STALE_SECONDS = 2


def labels_of(index: int) -> dict[str, Any]:
    """Five labels (car with a wheel, bus, street, poi) whose coordinates depend on the item."""
    x = index % 500
    return {
        "car": [
            {
                "polygon": [{"x": x, "y": 1}, {"x": x + 5, "y": 2}, {"x": x + 3, "y": 9}],
                "classifications": {"car_type": ["suv"]},
                "nested_geometries": {"wheel": [{"point": [{"x": x + 1, "y": 3}]}]},
            }
        ],
        "bus": [{"rectangle": [{"x": x, "y": 10, "w": 20, "h": 7}]}],
        "street": [{"line": [{"x": x, "y": 0}, {"x": str(x + 40), "y": "30"}]}],
        "poi": [{"point": [{"x": x + 2, "y": 2}]}],
    }


def points_checksum(points: Iterator[Any]) -> float:
    return round(sum(float(value) for shape in points for point in shape for value in point), 3)


class ImportStack:
    """A project with N media, the import file for them, and worker processes on a queue of their own."""

    def __init__(self, tmp_path: Path, items: int) -> None:
        self.tmp_path = tmp_path
        self.queue = f"import-test-{uuid.uuid4().hex[:8]}"
        self.media_root = tmp_path / "media"
        self.media_root.mkdir()
        self.workers: list[subprocess.Popen[bytes]] = []
        self.worker_envs: dict[int, dict[str, str]] = {}  # by pid: how each was started
        self.restarts = 0
        organization: Organization = OrganizationFactory.create()
        self.project: Project = ProjectFactory.create(organization=organization)
        label_config_replace(configuration=self.project.label_configuration, entries=DATAGYM_CONFIG)
        dataset = Dataset.objects.create(organization=organization, name="Street")
        dataset.projects.add(self.project)
        media = [Media(organization=organization, dataset=dataset, name=f"{i:05d}.jpg") for i in range(items)]
        Media.objects.bulk_create(media)
        Task.objects.bulk_create([Task(project=self.project, media=m) for m in media], ignore_conflicts=True)
        self.items = [
            {"internal_media_ID": str(m.id), "keepData": True, "labels": labels_of(i)} for i, m in enumerate(media)
        ]

    def file(self) -> bytes:
        return json.dumps(self.items).encode()

    def expected(self) -> tuple[Counter[str], float]:
        config = label_config_index(configuration=self.project.label_configuration)
        fmt = format_get(name="datagym")
        counts: Counter[str] = Counter()
        points = []
        for index, data in enumerate(self.items):
            converted = fmt.convert(data, config, index=index)
            assert converted.annotation is not None
            stack = list(converted.annotation.shapes)
            while stack:
                shape = stack.pop()
                counts[shape.key] += 1
                points.append(shape.points)
                stack.extend(shape.children)
        return counts, points_checksum(iter(points))

    def landed(self, job: ImportJob) -> tuple[Counter[str], float, int]:
        rows = list(Label.objects.filter(import_job_id=job.pk).values_list("entry__key", "points", "task_id"))
        distinct = len({(key, json.dumps(points), task) for key, points, task in rows})
        return Counter(key for key, _, _ in rows), points_checksum(p for _, p, _ in rows), distinct

    def worker_start(self, **env: str) -> subprocess.Popen[bytes]:
        number = len(self.workers)
        log_path = self.tmp_path / f"worker-{number}.log"
        environment = child_env(
            **{
                "DATABASE_URL": database_url(connections["default"].settings_dict),
                "CELERY_BROKER_URL": str(django_settings.CELERY_BROKER_URL),
                "CELERY_TASK_DEFAULT_QUEUE": self.queue,
                "CELERY_BROKER_VISIBILITY_TIMEOUT": "4",
                "LABELSITE_VAR_DIR": str(django_settings.VAR_DIR),
                "MEDIA_ROOT": str(self.media_root),
                "LABELSITE_IMPORT_STALE_SECONDS": str(STALE_SECONDS),
                **env,  # a test's own broker, batch sizes, ...
            }
        )
        command = [sys.executable, "-m", "celery", "-A", "labelsite", "worker", "--pool=prefork", "--concurrency=1"]
        command += ["-Q", self.queue, "--loglevel=INFO", "-n", f"{self.queue}-{number}@%h", "--without-mingle"]
        command += ["--without-gossip", "--without-heartbeat"]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.workers.append(process)
        self.worker_envs[process.pid] = env
        wait_until(
            lambda: " ready." in log_path.read_text(errors="replace") or process.poll() is not None,
            timeout=START_TIMEOUT_SECONDS,
            message=f"worker {number} did not start",
        )
        assert process.poll() is None, self.logs()
        return process

    def restart_exited(self) -> None:
        """What a supervisor (systemd's `Restart=always`) does: start again a worker that exited.

        Celery's worker can exit on a broker that vanishes at an unlucky moment (an error in
        kombu while it closes the lost connection: "Unrecoverable error"); a new worker then
        resumes the jobs (`import_jobs_resume`). Workers a test kills on purpose stay dead.
        """
        for process in list(self.workers):
            if process.poll() is not None and process.pid in self.worker_envs:
                self.restarts += 1
                self.worker_start(**self.worker_envs.pop(process.pid))

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """kill -9 the worker and its pool process: no warm shutdown, no acknowledgement."""
        self.worker_envs.pop(process.pid, None)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def logs(self, tail: int | None = 60) -> str:
        """The workers' logs: the last `tail` lines of each (all with None)."""
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-(tail or 0) :])
            for path in sorted(self.tmp_path.glob("worker-*.log"))
        )

    def wait_for(self, job: ImportJob, condition: Callable[[ImportJob], bool], message: str) -> ImportJob:
        def holds() -> bool:
            job.refresh_from_db()
            return condition(job)

        try:
            wait_until(holds, timeout=JOB_TIMEOUT_SECONDS, message=message, interval=0.02)
        except BaseException:
            print(self.logs())
            raise
        return job

    def stop(self) -> None:
        for process in self.workers:
            process_stop(process, sig=signal.SIGTERM)


@pytest.fixture
def import_stack(tmp_path: Path, settings: Any) -> Iterator[Callable[[int], ImportStack]]:
    stacks: list[ImportStack] = []
    broker_folders_create()
    default_queue = app.conf.task_default_queue

    def make(items: int) -> ImportStack:
        stack = ImportStack(tmp_path, items)
        settings.MEDIA_ROOT = stack.media_root
        settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
        app.conf.task_default_queue = stack.queue
        stacks.append(stack)
        return stack

    try:
        yield make
    finally:
        app.conf.task_default_queue = default_queue
        for stack in stacks:
            stack.stop()


def create_job(stack: ImportStack, **options: Any) -> ImportJob:
    return import_job_create(
        project=stack.project, user=None, file=stack.file(), file_name="labels.json", format="datagym", options=options
    )
