"""A project with the demo's street scenes, and a real Label Studio ML backend on loopback.

The backend is `tests/thirdparty/ml_colour_backend.py`, a model written with PyPI's
`label-studio-ml` 1.0.9 in its own virtual environment (with `rq`, which 1.0.9 imports but does
not declare; docs/ml-backends.md). It downloads every image through the task's URL with the
token /setup gave it, so our server must be reachable: the tests run against `live_server`.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from demo.management.commands.seed_demo import DEMO_CONFIGURATION, _scene
from labeling.models import Task
from projects.label_config import label_config_replace
from projects.models import Dataset, MediaSource, Project
from tests.factories import MediaFactory, MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory
from tests.thirdparty import HERE, free_port, tool_env, tool_venv

#: label-studio-ml 1.0.9 installs on Python 3.11 but imports `rq` without declaring it.
ML_REQUIREMENTS = ["label-studio-ml==1.0.9", "rq==2.6.1", "Pillow==13.0.0"]


@pytest.fixture(autouse=True)
def quick_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Backend:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def calls(self, kind: str = "predict") -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [e for e in entries if e.get("kind") == kind]


@pytest.fixture(scope="session")
def ml_python() -> Path:
    return tool_venv("label-studio-ml", ML_REQUIREMENTS)


@pytest.fixture
def ml_backend(ml_python: Path, tmp_path: Path) -> Iterator[Backend]:
    """The colour-box backend, started for the test and stopped after it."""
    port = free_port()
    log = tmp_path / "backend.jsonl"
    env = tool_env({"XDG_CACHE_HOME": str(tmp_path / "cache")})
    process = subprocess.Popen(
        [str(ml_python), str(HERE / "ml_colour_backend.py"), str(port), str(log)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "backend.stderr", "wb"),  # noqa: SIM115 - closed with the process
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "backend.stderr").read_text()[-3000:]) from None
            time.sleep(0.2)
    try:
        yield Backend(url=url, log=log, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class StreetProject:
    project: Project
    admin: Any
    annotator: Any
    tasks: list[Task]
    buses: dict[str, list[int]]  # task id -> [x, y, w, h] of the bus drawn

    def client(self, who: str = "admin") -> APIClient:
        client = APIClient()
        client.force_authenticate(self.admin if who == "admin" else self.annotator)
        return client


def street_project(count: int = 3) -> StreetProject:
    organization: Any = OrganizationFactory()
    admin: Any = UserFactory()
    annotator: Any = UserFactory()
    MembershipFactory(user=admin, organization=organization, role="admin")
    MembershipFactory(user=annotator, organization=organization, role="annotator")
    project: Any = ProjectFactory(organization=organization, name="Streets")
    project.members.add(annotator)
    label_config_replace(configuration=project.label_configuration, entries=DEMO_CONFIGURATION)
    dataset = Dataset.objects.create(organization=organization, name="Streets")
    project.datasets.add(dataset)
    rng = random.Random(7)
    tasks: list[Task] = []
    buses: dict[str, list[int]] = {}
    for index in range(count):
        jpeg, truth = _scene(rng, index)
        media: Any = MediaFactory(
            dataset=dataset, name=f"street_{index}.jpg", source=MediaSource.LOCAL, url="", width=960, height=640
        )
        media.file.save(media.name, ContentFile(jpeg), save=True)
        task = Task.objects.get_or_create(project=project, media=media)[0]
        tasks.append(task)
        buses[str(task.pk)] = truth["bus"]
    return StreetProject(project=project, admin=admin, annotator=annotator, tasks=tasks, buses=buses)


@pytest.fixture
def ml_site(settings: Any, live_server: Any, media_storage: Any, eager_worker: None) -> str:
    """Model servers on loopback are allowed, and they reach us at the live server's address."""
    settings.LABELSITE_ML_HOST_ALLOWLIST = ["127.0.0.1"]
    settings.LABELSITE_PUBLIC_URL = live_server.url
    return str(live_server.url)
