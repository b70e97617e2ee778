"""Import jobs on a file: validate, then write in batches; all-or-nothing; idempotent; cancel."""

from __future__ import annotations

import pytest

from imports import pipeline
from imports.models import ImportJob, ImportJobError, ImportStatus
from imports.services import (
    import_job_cancel,
    import_job_create,
    import_job_validate,
    import_job_write,
)
from labeling.models import Label
from labelsite.errors import ValidationFailed
from tests.imports.conftest import item, json_file
from tests.imports.test_datagym_inline import FULL_EXAMPLE_LABELS

pytestmark = pytest.mark.django_db


def create_job(project, items, *, raw: bytes | None = None, **options) -> ImportJob:
    return import_job_create(
        project=project,
        user=None,
        file=raw if raw is not None else json_file(items),
        file_name="labels.json",
        format="datagym",
        options=options,
    )


def test_a_new_job_is_queued_with_its_file_stored(configured_project, media_storage, task):
    job = create_job(configured_project, [item(task)])

    assert job.status == ImportStatus.QUEUED
    assert job.file.name.startswith("imports/")
    assert job.file_size > 0


def test_a_job_is_refused_for_an_unknown_format_or_option(configured_project, media_storage):
    with pytest.raises(ValidationFailed) as unknown_format:
        import_job_create(
            project=configured_project, user=None, file=b"[]", file_name="x.json", format="tfrecord", options={}
        )
    with pytest.raises(ValidationFailed) as bad_option:
        create_job(configured_project, [], match_by="colour")

    assert unknown_format.value.code == "unknown_format"
    assert bad_option.value.details[0].path == "options.match_by"


def test_a_valid_file_validates_then_writes_every_label(configured_project, media_storage, make_task):
    tasks = [make_task() for _ in range(3)]
    job = create_job(configured_project, [item(t, labels=FULL_EXAMPLE_LABELS) for t in tasks] + [{"labels": {}}])

    job = import_job_validate(job_id=job.id)
    assert job.status == ImportStatus.VALIDATED
    assert (job.items_total, job.labels_total, job.error_count) == (4, 15, 0)
    assert job.summary["classes"] == {"car": 3, "wheel": 3, "bus": 3, "street": 3, "poi": 3}
    assert job.summary["items_without_media"] == 1
    assert Label.objects.count() == 0

    job = import_job_write(job_id=job.id)
    assert job.status == ImportStatus.SUCCEEDED
    assert (job.labels_written, job.items_written) == (15, 3)
    assert Label.objects.count() == 15
    assert Label.objects.filter(import_job_id=job.id).count() == 15


def test_a_file_with_errors_writes_nothing_and_stores_every_error(configured_project, media_storage, task):
    items = [
        item(task, labels={"car": [{"polygon": [{"x": 1, "y": 1}]}]}),
        item(task, labels=FULL_EXAMPLE_LABELS),
        item(task, labels={"truck": [{}]}),
        {"internal_media_ID": "no-such-media"},
    ]
    job = import_job_validate(job_id=create_job(configured_project, items).id)

    assert job.status == ImportStatus.FAILED
    assert (job.error_count, job.items_invalid) == (3, 3)
    errors = list(ImportJobError.objects.filter(job=job).values_list("item_index", "location", "code"))
    assert errors == [
        (0, "/0/labels/car/0/polygon", "schema_min_items"),
        (2, "/2/labels/truck", "unknown_entry"),
        (3, "/3/internal_media_ID", "media_not_found"),
    ]
    assert Label.objects.count() == 0
    assert import_job_write(job_id=job.id).status == ImportStatus.FAILED
    assert Label.objects.count() == 0


def test_skip_invalid_writes_the_valid_items_and_lists_the_skipped(configured_project, media_storage, task):
    items = [item(task, labels={"truck": [{}]}), item(task, labels=FULL_EXAMPLE_LABELS)]
    job = import_job_validate(job_id=create_job(configured_project, items, skip_invalid=True).id)
    assert job.status == ImportStatus.VALIDATED
    assert job.error_count == 1

    job = import_job_write(job_id=job.id)
    assert job.status == ImportStatus.SUCCEEDED
    assert (job.labels_written, job.items_written, job.items_skipped) == (5, 1, 1)


def test_a_json_syntax_error_is_reported_with_line_and_column(configured_project, media_storage, task):
    raw = b'[\n  {"internal_media_ID": "x"},\n  {"labels": {"car": [}\n]'
    job = import_job_validate(job_id=create_job(configured_project, None, raw=raw).id)

    assert job.status == ImportStatus.FAILED
    error = ImportJobError.objects.get(job=job)
    assert error.code == "json_syntax"
    assert error.location == "line 3, column 23"


def test_a_file_that_is_not_an_array_fails_validation(configured_project, media_storage):
    job = import_job_validate(job_id=create_job(configured_project, {"internal_media_ID": "x"}).id)

    assert job.status == ImportStatus.FAILED
    assert ImportJobError.objects.get(job=job).code == "not_an_array"


def test_an_empty_array_fails_validation(configured_project, media_storage):
    job = import_job_validate(job_id=create_job(configured_project, []).id)

    assert job.status == ImportStatus.FAILED
    assert ImportJobError.objects.get(job=job).code == "schema_min_items"


def test_write_when_valid_enqueues_the_write_phase(
    configured_project, media_storage, task, django_capture_on_commit_callbacks, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from labelsite.celery import app

    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            job = create_job(configured_project, [item(task, labels=FULL_EXAMPLE_LABELS)], write_when_valid=True)
        job.refresh_from_db()
    finally:
        app.conf.task_always_eager = False
    assert job.status == ImportStatus.SUCCEEDED
    assert Label.objects.filter(task=task).count() == 5


@pytest.fixture
def eager_tasks(settings):
    """Queued tasks run at once in this process (Celery's eager mode): what a message starts is seen."""
    from labelsite.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def lost_write_message(project, task) -> ImportJob:
    """A job validated with write_when_valid whose write message the broker lost (it restarted)."""
    job = create_job(project, [item(task, labels=FULL_EXAMPLE_LABELS)], write_when_valid=True)
    ImportJob.objects.filter(pk=job.pk).update(options={**job.options, "write_when_valid": False})
    job = import_job_validate(job_id=job.id)  # validated; no write queued
    ImportJob.objects.filter(pk=job.pk).update(options={**job.options, "write_when_valid": True})
    assert job.status == ImportStatus.VALIDATED
    return job


def test_a_validation_message_delivered_again_queues_the_lost_write(
    configured_project, media_storage, task, django_capture_on_commit_callbacks, eager_tasks
):
    job = lost_write_message(configured_project, task)

    with django_capture_on_commit_callbacks(execute=True):
        import_job_validate(job_id=job.id)  # the broker delivers the validation again

    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED
    assert Label.objects.filter(task=task).count() == 5


def test_the_resume_sweep_queues_the_write_of_a_valid_job_whose_message_was_lost(
    configured_project, media_storage, task, django_capture_on_commit_callbacks, eager_tasks
):
    from datetime import timedelta

    from django.utils import timezone

    from imports.services import STALE_AFTER, import_jobs_resume

    job = lost_write_message(configured_project, task)
    waiting = create_job(configured_project, [item(task)])  # validated, waits for the admin's confirm
    import_job_validate(job_id=waiting.id)
    long_ago = timezone.now() - STALE_AFTER - timedelta(seconds=1)
    ImportJob.objects.update(heartbeat_at=long_ago)

    with django_capture_on_commit_callbacks(execute=True):
        queued = import_jobs_resume()

    job.refresh_from_db()
    waiting.refresh_from_db()
    assert queued == 1
    assert job.status == ImportStatus.SUCCEEDED
    assert waiting.status == ImportStatus.VALIDATED
    assert Label.objects.filter(task=task).count() == 5


# --- batches, idempotency, resuming -------------------------------------------------------------


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(pipeline, "WRITE_BATCH_LABELS", 5)
    monkeypatch.setattr(pipeline, "CHECK_CHUNK", 2)


def validated_job(project, tasks) -> ImportJob:
    job = create_job(project, [item(t, labels=FULL_EXAMPLE_LABELS) for t in tasks])
    return import_job_validate(job_id=job.id)


def test_a_job_writes_in_batches_with_a_checkpoint_after_each(
    configured_project, media_storage, make_task, small_batches
):
    tasks = [make_task() for _ in range(4)]
    job = import_job_write(job_id=validated_job(configured_project, tasks).id)

    assert job.checkpoint == 3
    batches = sorted(set(Label.objects.values_list("import_batch", flat=True)))
    assert batches == [0, 1, 2, 3]


def test_writing_a_job_twice_writes_its_labels_once(configured_project, media_storage, make_task, small_batches):
    tasks = [make_task() for _ in range(3)]
    job = import_job_write(job_id=validated_job(configured_project, tasks).id)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.WRITING, heartbeat_at=None)

    job = import_job_write(job_id=job.id)

    assert job.status == ImportStatus.SUCCEEDED
    assert Label.objects.count() == 15


def test_a_resumed_job_writes_the_missing_batches_and_replaces_a_half_written_one(
    configured_project, media_storage, make_task, small_batches
):
    tasks = [make_task() for _ in range(4)]
    job = import_job_write(job_id=validated_job(configured_project, tasks).id)
    # As if the worker died after batch 1: batches 2 and 3 are gone, and the checkpoint says 1.
    Label.objects.filter(import_batch__gte=2).delete()
    # A stray copy of batch 1 (as a crashed, non-transactional writer might leave) is replaced.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.WRITING, checkpoint=0, heartbeat_at=None)

    job = import_job_write(job_id=job.id)

    assert job.status == ImportStatus.SUCCEEDED
    assert Label.objects.count() == 20
    for number in range(4):
        assert Label.objects.filter(import_job_id=job.id, import_batch=number).count() == 5


def test_a_write_phase_with_a_live_worker_is_not_claimed_twice(configured_project, media_storage, task):
    from django.utils import timezone

    job = validated_job(configured_project, [task])
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.WRITING, heartbeat_at=timezone.now())

    from labelsite.errors import Conflict

    with pytest.raises(Conflict) as caught:
        import_job_write(job_id=job.id)
    assert caught.value.code == "import_busy"
    assert Label.objects.count() == 0


def test_a_job_validated_before_the_configuration_changed_is_not_written(configured_project, media_storage, task):
    from projects.label_config import label_config_replace
    from tests.imports.conftest import DATAGYM_CONFIG

    job = validated_job(configured_project, [task])
    label_config_replace(configuration=configured_project.label_configuration, entries=DATAGYM_CONFIG[:2])

    job = import_job_write(job_id=job.id)

    assert job.status == ImportStatus.FAILED
    assert Label.objects.count() == 0


# --- cancel -------------------------------------------------------------------------------------


def test_cancel_of_a_validated_job_writes_nothing(configured_project, media_storage, task):
    job = validated_job(configured_project, [task])
    job = import_job_cancel(job=job)

    assert job.status == ImportStatus.CANCELLED
    assert import_job_write(job_id=job.id).status == ImportStatus.CANCELLED
    assert Label.objects.count() == 0


def test_cancel_during_writing_stops_after_the_current_batch_and_says_what_landed(
    configured_project, media_storage, make_task, small_batches, monkeypatch
):
    tasks = [make_task() for _ in range(4)]
    job = validated_job(configured_project, tasks)
    original = pipeline.labels_write_batch

    def write_then_cancel(**kwargs):
        result = original(**kwargs)
        ImportJob.objects.filter(pk=job.pk).update(cancel_requested=True)
        return result

    monkeypatch.setattr(pipeline, "labels_write_batch", write_then_cancel)
    job = import_job_write(job_id=job.id)

    assert job.status == ImportStatus.CANCELLED
    assert Label.objects.count() == 5
    assert "5 of 20 labels" in job.message
