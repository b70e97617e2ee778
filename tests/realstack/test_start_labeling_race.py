"""Twenty annotators press "Start labeling" at the same instant against a real server (gunicorn
with several worker processes, on the configured database: run it on PostgreSQL and on SQLite):
each gets a different task, reserved for them, and nobody gets an error."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client, override_settings

from labeling.models import Task
from projects.services import dataset_connect
from tests.factories import (
    DatasetFactory,
    MediaFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    UserFactory,
)
from tests.realstack.conftest import CHILD_SECRET_KEY
from tests.realstack.webserver import web_server_running

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

ANNOTATORS = 20
TASKS = 30
REQUEST_TIMEOUT_SECONDS = 120


def test_twenty_annotators_pressing_start_at_once_each_get_a_different_task(tmp_path: Path) -> None:
    organization: Any = OrganizationFactory()
    project: Any = ProjectFactory(organization=organization, name="Race")
    dataset: Any = DatasetFactory(organization=organization, name="Race images")
    for index in range(TASKS):
        MediaFactory(dataset=dataset, name=f"race-{index:02d}.png", url=f"https://images.example.com/{index}.png")
    dataset_connect(dataset=dataset, project=project)
    assert Task.objects.filter(project=project).count() == TASKS
    sessions: dict[int, str] = {}
    for index in range(ANNOTATORS):
        user: Any = UserFactory(username=f"racer{index:02d}")
        MembershipFactory(user=user, organization=organization, role="annotator")
        project.members.add(user)
        client = Client()
        with override_settings(SECRET_KEY=CHILD_SECRET_KEY):  # the server's key signs its sessions
            client.force_login(user)
        sessions[user.pk] = client.cookies["sessionid"].value

    with web_server_running(media_root=tmp_path / "media", log_path=tmp_path / "gunicorn.log", workers=4) as server:
        start = f"{server.url}/projects/{project.pk}/label"
        barrier = threading.Barrier(ANNOTATORS)
        answers: dict[int, requests.Response] = {}
        failures: list[BaseException] = []

        def press_start(user_id: int, session_id: str) -> None:
            try:
                with requests.Session() as browser:
                    browser.cookies.set("sessionid", session_id)
                    barrier.wait(timeout=REQUEST_TIMEOUT_SECONDS)
                    answers[user_id] = browser.get(start, allow_redirects=False, timeout=REQUEST_TIMEOUT_SECONDS)
            except BaseException as error:  # reported below, with the server's log
                failures.append(error)

        threads = [threading.Thread(target=press_start, args=item) for item in sessions.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT_SECONDS * 2)
        log = server.log()

    assert not failures, f"{failures}\n{log}"
    assert sorted(response.status_code for response in answers.values()) == [302] * ANNOTATORS, log
    handed = {
        user_id: response.headers["Location"].rstrip("/").rsplit("/", 1)[-1] for user_id, response in answers.items()
    }
    assert len(set(handed.values())) == ANNOTATORS, handed
    reserved = dict(Task.objects.filter(project=project, reserved_by__isnull=False).values_list("pk", "reserved_by_id"))
    assert {str(task_id): user_id for task_id, user_id in reserved.items()} == {
        task_id: user_id for user_id, task_id in handed.items()
    }
