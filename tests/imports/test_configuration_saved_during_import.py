"""A configuration saved while an import is being written: the import compares the classes it
uses, not the configuration's time stamp. A save that keeps them (a class added, a title
changed) does not stop it; one that deletes a class it uses fails it, removes what it had
written, and the upload done again afterwards leaves every label once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from imports import pipeline
from imports.models import ImportJob, ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from labeling.models import Label
from projects.label_config import label_config_tree
from projects.models import LabelEntry
from projects.services import label_config_save
from tests.imports.conftest import item, json_file
from tests.imports.test_chunked_jobs import chunks_of_two, run_job
from tests.imports.test_datagym_inline import FULL_EXAMPLE_LABELS

__all__ = ["chunks_of_two"]

TRUCK = {"key": "truck", "title": "Truck", "type": "rectangle"}


@pytest.fixture
def small_batches(monkeypatch: Any) -> None:
    monkeypatch.setattr(pipeline, "WRITE_BATCH_LABELS", 5)  # one item (5 labels) per write batch
    monkeypatch.setattr(pipeline, "CHECK_CHUNK", 2)


def configuration_saved(project: Any, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Save the project's configuration as the editor does (entries that come back keep their ids)."""
    tree = label_config_tree(configuration=project.label_configuration)
    label_config_save(configuration=project.label_configuration, entries=change(tree), confirm_loss=True)


def with_a_truck_and_a_new_title(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**entry, "title": "Big bus"} if entry["key"] == "bus" else entry for entry in tree] + [TRUCK]


def without_poi(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in tree if entry["key"] != "poi"]


def with_poi_again(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [*tree, {"key": "poi", "title": "POI", "type": "point"}]


def after_the_first_write_batch(monkeypatch: Any, change: Callable[[], None]) -> None:
    """Run `change` once the first write batch has committed, before the second starts."""
    original = pipeline._write_batch
    batches: list[int] = []

    def write_then_change(*args: Any, **kwargs: Any) -> tuple[int, int]:
        written = original(*args, **kwargs)
        batches.append(1)
        if len(batches) == 1:
            change()
        return written

    monkeypatch.setattr(pipeline, "_write_batch", write_then_change)


def orphan_labels() -> int:
    return Label.objects.exclude(entry_id__in=LabelEntry.objects.values("id")).count()


def labels_per_task() -> Counter[Any]:
    return Counter(Label.objects.values_list("task_id", flat=True))


def upload(project: Any, tasks: list[Any]) -> ImportJob:
    """A job of one item per task, each adding the full example's five labels (keepData)."""
    return import_job_create(
        project=project,
        user=None,
        file=json_file([item(task, labels=FULL_EXAMPLE_LABELS) for task in tasks]),
        file_name="labels.json",
        format="datagym",
        options={},
    )


@pytest.mark.django_db
def test_a_class_added_and_a_title_changed_between_two_write_batches_do_not_stop_the_import(
    configured_project, media_storage, make_task, small_batches, monkeypatch
):
    tasks = [make_task() for _ in range(4)]
    job = import_job_validate(job_id=upload(configured_project, tasks).id)
    after_the_first_write_batch(
        monkeypatch, lambda: configuration_saved(configured_project, with_a_truck_and_a_new_title)
    )

    job = import_job_write(job_id=job.id)

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert labels_per_task() == {task.pk: 5 for task in tasks}
    assert LabelEntry.objects.filter(configuration__project=configured_project, key="truck").exists()


@pytest.mark.django_db
def test_a_class_added_after_validation_does_not_stop_the_write(configured_project, media_storage, make_task):
    tasks = [make_task() for _ in range(2)]
    job = import_job_validate(job_id=upload(configured_project, tasks).id)
    configuration_saved(configured_project, with_a_truck_and_a_new_title)

    job = import_job_write(job_id=job.id)

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert labels_per_task() == {task.pk: 5 for task in tasks}


@pytest.mark.django_db
def test_a_class_the_import_uses_deleted_between_two_batches_fails_it_and_removes_what_it_wrote(
    configured_project, media_storage, make_task, small_batches, monkeypatch
):
    tasks = [make_task() for _ in range(4)]
    job = import_job_validate(job_id=upload(configured_project, tasks).id)
    after_the_first_write_batch(monkeypatch, lambda: configuration_saved(configured_project, without_poi))

    job = import_job_write(job_id=job.id)

    assert job.status == ImportStatus.FAILED
    assert "poi" in job.message
    assert "What it had written (5 labels) was removed" in job.message
    assert "upload the file again" in job.message
    assert Label.objects.filter(import_job_id=job.pk).count() == 0
    assert orphan_labels() == 0

    monkeypatch.undo()
    configuration_saved(configured_project, with_poi_again)
    retry = import_job_write(job_id=import_job_validate(job_id=upload(configured_project, tasks).id).id)

    assert retry.status == ImportStatus.SUCCEEDED, retry.message
    assert labels_per_task() == {task.pk: 5 for task in tasks}  # once each, not twice
    assert orphan_labels() == 0


@pytest.mark.django_db(transaction=True)
def test_a_chunked_import_goes_on_after_a_class_is_added_and_fails_cleanly_when_one_it_uses_goes(
    configured_project,
    media_storage,
    make_task,
    chunks_of_two,
    settings,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    tasks = [make_task() for _ in range(5)]
    items = [item(task, labels=FULL_EXAMPLE_LABELS) for task in tasks]
    after_the_first_write_batch(
        monkeypatch, lambda: configuration_saved(configured_project, with_a_truck_and_a_new_title)
    )
    job = run_job(configured_project, items, settings, django_capture_on_commit_callbacks, write_when_valid=True)

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert labels_per_task() == {task.pk: 5 for task in tasks}

    monkeypatch.undo()
    monkeypatch.setattr(pipeline, "WRITE_BATCH_LABELS", 5)
    Label.objects.all().delete()
    after_the_first_write_batch(monkeypatch, lambda: configuration_saved(configured_project, without_poi))
    job = run_job(configured_project, items, settings, django_capture_on_commit_callbacks, write_when_valid=True)

    assert job.status == ImportStatus.FAILED
    assert "poi" in job.message
    assert Label.objects.count() == 0
