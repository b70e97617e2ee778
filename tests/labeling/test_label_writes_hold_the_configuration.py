"""Labels name their class without a database constraint (docs/architecture.md): every writer of
labels holds the project's configuration, so a configuration change that deletes a class never
leaves a label of that class behind, and a read never fails on a label whose class is gone.

The races run on two real connections (one thread each): the configuration change stays open in
its transaction while the label write runs, and is committed once the write waits for it (or
has finished, which is what happened before the writers held the configuration)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from labeling.models import Label, Task
from labeling.services import label_create, label_update
from labelsite.errors import NotFound, ValidationFailed
from projects.label_config import label_config_clear, label_config_replace
from projects.models import LabelEntry
from tests.factories import MembershipFactory, ProjectFactory, TaskFactory, UserFactory

CAR = {"key": "car", "title": "Car", "type": "rectangle"}
BUS = {"key": "bus", "title": "Bus", "type": "rectangle"}
A_RECTANGLE = {"key": "car", "type": "rectangle", "points": [[1, 1], [5, 5]]}


def orphan_labels() -> list[int]:
    """Labels whose class is not an entry of any configuration."""
    return list(Label.objects.exclude(entry_id__in=LabelEntry.objects.values("id")).values_list("id", flat=True))


def wait_until_waiting_or_done(thread: threading.Thread, *, seconds: float = 5.0) -> None:
    """Until `thread` ended or (PostgreSQL) some connection waits for a lock. SQLite's writers
    wait at BEGIN for the one write lock, which nothing shows: there, a short while is enough."""
    deadline = time.monotonic() + (seconds if connection.vendor == "postgresql" else 1.0)
    while thread.is_alive() and time.monotonic() < deadline:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if cursor.fetchone()[0]:
                    return
        time.sleep(0.02)


def race(change: Callable[[], None], write: Callable[[], Any]) -> Any:
    """Run `change` in an open transaction, then `write` on another connection; commit the change
    once the write waits (or ended). Answers what `write` returned or raised."""
    changed, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def changer() -> None:
        try:
            with transaction.atomic():
                change()
                changed.set()
                release.wait(30)
        finally:
            connection.close()

    def writer() -> None:
        try:
            outcome["result"] = write()
        except Exception as exc:  # the answer under test
            outcome["result"] = exc
        finally:
            connection.close()

    changing = threading.Thread(target=changer)
    changing.start()
    assert changed.wait(30)
    writing = threading.Thread(target=writer)
    writing.start()
    wait_until_waiting_or_done(writing)
    release.set()
    changing.join(30)
    writing.join(30)
    return outcome["result"]


@pytest.fixture
def car_task(transactional_db: Any) -> Task:
    project: Any = ProjectFactory()
    label_config_replace(configuration=project.label_configuration, entries=[CAR, BUS])
    task: Any = TaskFactory(project=project)
    return task


def test_a_label_create_during_a_replace_that_deletes_its_class_is_refused_and_leaves_no_orphan(car_task):
    configuration = car_task.project.label_configuration

    outcome = race(
        lambda: label_config_replace(configuration=configuration, entries=[BUS]),
        lambda: label_create(task=Task.objects.get(pk=car_task.pk), label=dict(A_RECTANGLE)),
    )

    assert isinstance(outcome, ValidationFailed), outcome
    assert [detail.code for detail in outcome.details] == ["unknown_class"]
    assert orphan_labels() == []
    assert Label.objects.count() == 0


def test_a_label_update_during_a_replace_that_deletes_its_class_answers_not_found(car_task):
    car = LabelEntry.objects.get(configuration__project=car_task.project, key="car")
    label = Label.objects.create(task=car_task, entry=car, points=[[1, 1], [5, 5]])
    configuration = car_task.project.label_configuration

    outcome = race(
        lambda: label_config_replace(configuration=configuration, entries=[BUS]),
        lambda: label_update(label=Label.objects.get(pk=label.pk), changes={"points": [[2, 2], [6, 6]]}),
    )

    assert isinstance(outcome, NotFound), outcome
    assert "label configuration" in outcome.message
    assert not Label.objects.filter(pk=label.pk).exists()
    assert orphan_labels() == []


def change_during_write(write: Callable[[], Any], change: Callable[[], None]) -> dict[str, Any]:
    """Run `write` in an open transaction, then `change` on another connection; commit the write
    once the change waits (or ended). Answers what `write` returned ("written") and whether
    `change` ended ("changed")."""
    written, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def writer() -> None:
        try:
            with transaction.atomic():
                outcome["written"] = write()
                written.set()
                release.wait(30)
        finally:
            connection.close()

    def changer() -> None:
        try:
            change()
            outcome["changed"] = True
        finally:
            connection.close()

    writing = threading.Thread(target=writer)
    writing.start()
    assert written.wait(30)
    changing = threading.Thread(target=changer)
    changing.start()
    wait_until_waiting_or_done(changing)
    release.set()
    writing.join(30)
    changing.join(30)
    return outcome


@pytest.mark.parametrize("change", ["replace", "clear"])
def test_a_configuration_change_that_starts_while_a_label_is_created_waits_and_takes_the_label_with_its_class(
    car_task, change
):
    configuration = car_task.project.label_configuration

    def replace() -> None:
        if change == "replace":
            label_config_replace(configuration=configuration, entries=[BUS])
        else:
            label_config_clear(configuration=configuration)

    outcome = change_during_write(
        lambda: label_create(task=Task.objects.get(pk=car_task.pk), label=dict(A_RECTANGLE)), replace
    )

    assert "written" in outcome
    assert outcome.get("changed")
    assert orphan_labels() == []
    assert Label.objects.count() == 0  # deleted with its class, once it was committed


# --- a label whose class is gone (written before the writers held the configuration) -----------


@pytest.fixture
def orphan(db: Any) -> tuple[Task, Any]:
    project: Any = ProjectFactory()
    label_config_replace(configuration=project.label_configuration, entries=[CAR, BUS])
    task: Any = TaskFactory(project=project)
    car = LabelEntry.objects.get(configuration__project=project, key="car")
    Label.objects.create(task=task, entry=car, points=[[1, 1], [5, 5]])
    Label.objects.create(task=task, entry_id=uuid.uuid4(), points=[[2, 2], [6, 6]])
    user: Any = UserFactory()
    MembershipFactory(user=user, organization=project.organization, role="admin")
    return task, user


def test_the_annotation_of_a_task_with_a_label_of_a_deleted_class_reads_with_a_note(orphan):
    task, user = orphan
    client = Client()
    client.force_login(user)

    response = client.get(reverse("api-task-annotation", kwargs={"task_id": task.pk}))

    assert response.status_code == 200
    document = response.json()
    assert [label["key"] for label in document["labels"]] == ["car"]
    assert [note["code"] for note in document["notes"]] == ["unknown_class"]
    assert "1 label" in document["notes"][0]["message"]


def test_the_labeling_page_of_a_task_with_a_label_of_a_deleted_class_opens_and_shows_the_note(orphan):
    task, user = orphan
    client = Client()
    client.force_login(user)

    response = client.get(reverse("task-label", kwargs={"task_id": task.pk}))

    assert response.status_code == 200
    assert "no longer in the label configuration" in response.content.decode()


def test_a_label_nested_under_a_label_of_a_deleted_class_is_refused_at_parent_id(orphan):
    task, _ = orphan
    parent = Label.objects.filter(pk__in=orphan_labels()).get()

    with pytest.raises(ValidationFailed) as refused:
        label_create(task=task, label=dict(A_RECTANGLE), parent_id=parent.pk)

    assert [detail.path for detail in refused.value.details] == ["parent_id"]
