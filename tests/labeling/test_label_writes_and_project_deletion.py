"""Labels have no foreign key to their task (docs/architecture.md, "Data model decisions"): what
the constraint guarded, that no label is left behind on a task that is gone, holds by the
configuration's lock. A project's deletion (the service, and the admin's deletes of a project,
an organisation, a dataset or a media) locks its configuration before Django collects what to
delete: a label write in progress finishes first and its labels go with the project; a write
that comes during the deletion waits, then finds the task gone and writes nothing.

The races run on two real connections (one thread each), as in
test_label_writes_hold_the_configuration.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.test import RequestFactory

from labeling.models import Label, Task
from labeling.services import label_create
from labelsite.errors import NotFound
from projects.label_config import label_config_replace
from projects.models import Dataset, Media, Organization, Project
from projects.services import project_delete
from tests.factories import ProjectFactory, TaskFactory, UserFactory
from tests.labeling.test_label_writes_hold_the_configuration import change_during_write, race

CAR = {"key": "car", "title": "Car", "type": "rectangle"}
A_RECTANGLE = {"key": "car", "type": "rectangle", "points": [[1, 1], [5, 5]]}


def labels_without_task() -> list[int]:
    return list(Label.objects.exclude(task_id__in=Task.objects.values("id")).values_list("id", flat=True))


def admin_delete(model: type[Any], pk: Any) -> None:
    """What the admin's delete action does with the selected objects."""
    request = RequestFactory().post("/admin/")
    staff: Any = UserFactory(is_staff=True, is_superuser=True)
    request.user = staff
    admin.site._registry[model].delete_queryset(request, model.objects.filter(pk=pk))


@pytest.fixture
def car_task(transactional_db: Any) -> Task:
    project: Any = ProjectFactory()
    label_config_replace(configuration=project.label_configuration, entries=[CAR])
    task: Any = TaskFactory(project=project)
    return task


def deleters(task: Task) -> dict[str, Callable[[], None]]:
    media = Media.objects.get(pk=task.media_id)
    return {
        "project_delete": lambda: project_delete(project=Project.objects.get(pk=task.project_id)),
        "admin: project": lambda: admin_delete(Project, task.project_id),
        "admin: organisation": lambda: admin_delete(Organization, task.project.organization_id),
        "admin: dataset": lambda: admin_delete(Dataset, media.dataset_id),
        "admin: media": lambda: admin_delete(Media, media.pk),
    }


DELETERS = ["project_delete", "admin: project", "admin: organisation", "admin: dataset", "admin: media"]


@pytest.mark.parametrize("deleter", DELETERS)
def test_a_deletion_that_starts_while_a_label_is_written_waits_and_takes_the_label_with_the_task(car_task, deleter):
    outcome = change_during_write(
        lambda: label_create(task=Task.objects.get(pk=car_task.pk), label=dict(A_RECTANGLE)),
        deleters(car_task)[deleter],
    )

    assert "written" in outcome
    assert outcome.get("changed")
    assert not Task.objects.filter(pk=car_task.pk).exists()
    assert labels_without_task() == []
    assert Label.objects.count() == 0  # deleted with its task, once it was committed


@pytest.mark.parametrize("deleter", DELETERS)
def test_a_label_written_during_a_deletion_waits_then_answers_not_found_and_writes_nothing(car_task, deleter):
    delete = deleters(car_task)[deleter]
    task = Task.objects.get(pk=car_task.pk)

    outcome = race(delete, lambda: label_create(task=task, label=dict(A_RECTANGLE)))

    assert isinstance(outcome, NotFound), outcome
    assert "task is gone" in outcome.message
    assert labels_without_task() == []
    assert Label.objects.count() == 0


def test_a_label_written_to_a_task_whose_project_is_gone_answers_not_found(car_task):
    task = Task.objects.get(pk=car_task.pk)  # as a request read it, before the deletion
    project_delete(project=Project.objects.get(pk=car_task.project_id))

    with pytest.raises(NotFound):
        label_create(task=task, label=dict(A_RECTANGLE))

    assert Label.objects.count() == 0
