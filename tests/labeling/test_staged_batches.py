"""A batch staged now and written later (an import's chunks, on both databases): its label ids
stay its own, and a task deleted in between loses its rows, not the batch."""

from __future__ import annotations

import uuid

import pytest

from demo.management.commands.seed_demo import DEMO_CONFIGURATION
from labeling.annotation import Answer, MediaAnnotation, MediaRef, Shape
from labeling.models import Label, Task
from labeling.services import labels_batch_stage, labels_write_batch, labels_write_staged, tasks_answers_write_staged
from projects.label_config import label_config_index, label_config_replace
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks():
    first = TaskFactory()
    label_config_replace(configuration=first.project.label_configuration, entries=DEMO_CONFIGURATION)
    return [first, *(TaskFactory(project=first.project) for _ in range(2))]


def annotation(task: Task, boxes: int) -> MediaAnnotation:
    bus = label_config_index(configuration=task.project.label_configuration).root("bus")
    assert bus is not None
    shapes = [Shape(key="bus", type="rectangle", points=[[i, 2], [i + 10, 20]], entry_id=bus.id) for i in range(boxes)]
    return MediaAnnotation(media=MediaRef(), shapes=shapes)


def test_the_ids_a_staged_batch_reserved_are_never_given_to_a_write_in_between(tasks):
    job_id = uuid.uuid4()
    staged = labels_batch_stage(items=[(tasks[0].pk, annotation(tasks[0], 3))], import_job_id=job_id, import_batch=0)
    labels_write_batch(items=[(tasks[1].pk, annotation(tasks[1], 4))])  # another writer, before ours

    written = labels_write_staged(batch=staged, import_job_id=job_id, import_batch=0)

    assert written.labels == 3
    assert Label.objects.filter(task=tasks[0]).count() == 3
    assert Label.objects.filter(task=tasks[1]).count() == 4
    staged_ids = set(Label.objects.filter(import_job_id=job_id).values_list("id", flat=True))
    assert staged_ids.isdisjoint(Label.objects.filter(task=tasks[1]).values_list("id", flat=True))
    # A batch staged after both gets ids above every one given so far.
    later = labels_batch_stage(items=[(tasks[2].pk, annotation(tasks[2], 1))], import_job_id=job_id, import_batch=1)
    labels_write_staged(batch=later, import_job_id=job_id, import_batch=1)
    assert Label.objects.get(task=tasks[2]).pk > max(Label.objects.exclude(task=tasks[2]).values_list("id", flat=True))


def test_a_staged_batch_written_twice_is_written_once(tasks):
    job_id = uuid.uuid4()
    staged = labels_batch_stage(items=[(tasks[0].pk, annotation(tasks[0], 2))], import_job_id=job_id, import_batch=0)
    labels_write_staged(batch=staged, import_job_id=job_id, import_batch=0)
    labels_write_staged(batch=staged, import_job_id=job_id, import_batch=0)
    assert Label.objects.filter(task=tasks[0]).count() == 2


def test_the_rows_of_a_task_deleted_after_staging_are_left_out(tasks):
    job_id = uuid.uuid4()
    staged = labels_batch_stage(
        items=[(tasks[0].pk, annotation(tasks[0], 2)), (tasks[1].pk, annotation(tasks[1], 3))],
        import_job_id=job_id,
        import_batch=0,
    )
    Task.objects.filter(pk=tasks[1].pk).delete()

    written = labels_write_staged(batch=staged, import_job_id=job_id, import_batch=0)

    assert (written.labels, written.tasks) == (2, 1)
    assert list(Label.objects.values_list("task_id", flat=True).distinct()) == [tasks[0].pk]


def test_a_staged_batch_stores_each_tasks_answers_over_what_it_had(tasks):
    """Tasks with nothing stored (and replaced ones) get their tree in one statement on PostgreSQL;
    a task with answers stored gets the tree merged over them; a task deleted meanwhile is not
    counted (the caller then leaves its rows out, or a held import rolls back)."""
    fresh, stored, replaced = tasks
    gone = TaskFactory(project=fresh.project)
    weather = {"weather": {"value": "sunny", "answers": {"daytime": {"value": "day"}}}}
    Task.objects.filter(pk__in=[stored.pk, replaced.pk]).update(answers=weather)
    items = [
        (fresh.pk, MediaAnnotation(media=MediaRef(), answers=[Answer(key="comment", value="first")])),
        (stored.pk, MediaAnnotation(media=MediaRef(), answers=[Answer(key="weather", value=None)])),
        (stored.pk, MediaAnnotation(media=MediaRef(), answers=[Answer(key="comment", value="kept")])),
        (replaced.pk, MediaAnnotation(media=MediaRef(), answers=[Answer(key="comment", value="new")], keep_data=False)),
        (gone.pk, MediaAnnotation(media=MediaRef(), answers=[Answer(key="comment", value="lost")])),
    ]
    staged = labels_batch_stage(items=items, import_job_id=uuid.uuid4(), import_batch=0)
    gone.delete()

    assert tasks_answers_write_staged(tasks=staged.tasks) == 3

    answers = dict(Task.objects.filter(pk__in=[t.pk for t in tasks]).values_list("pk", "answers"))
    assert answers[fresh.pk] == {"comment": {"value": "first"}}
    assert answers[stored.pk] == {**weather, "comment": {"value": "kept"}}  # a value-less answer keeps the stored one
    assert answers[replaced.pk] == {"comment": {"value": "new"}}
    assert set(Task.objects.filter(pk__in=[t.pk for t in tasks]).values_list("has_import", "version")) == {(True, 1)}
