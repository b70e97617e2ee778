"""Jobs split into chunks: on PostgreSQL the validate phase stages each chunk's write batches
(label ids reserved, rows encoded for COPY) in storage, the write phase copies them without
reading the file again, and the staged files go once the job ends, whatever the outcome."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from imports import pipeline
from imports.models import ChunkStatus, ImportChunk, ImportJob, ImportStatus
from imports.services import import_chunk_write, import_job_cancel, import_job_create, import_job_write
from labeling.models import Label, Task
from tests.imports.conftest import item, json_file
from tests.imports.test_datagym_inline import FULL_EXAMPLE_LABELS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chunks_of_two(settings, monkeypatch):
    settings.LABELSITE_IMPORT_CHUNK_ITEMS = 2
    monkeypatch.setattr(pipeline, "WRITE_BATCH_LABELS", 5)  # one item (5 labels) per write batch


@contextmanager
def eager_workers(settings, capture) -> Iterator[None]:
    """Tasks run in the calling process as they are queued (after the commit that queues them)."""
    from labelsite.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    try:
        with capture(execute=True):
            yield
    finally:
        app.conf.task_always_eager = False


def run_job(project, items, settings, capture, **options) -> ImportJob:
    with eager_workers(settings, capture):
        job = import_job_create(
            project=project, user=None, file=json_file(items), file_name="l.json", format="datagym", options=options
        )
    job.refresh_from_db()
    return job


def run_tasks(count, project, make_task, settings, capture, **options) -> tuple[list, ImportJob]:
    """A job of `count` items, one per new task, each with the full example's five labels."""
    tasks = [make_task() for _ in range(count)]
    return tasks, run_job(project, [item(t, labels=FULL_EXAMPLE_LABELS) for t in tasks], settings, capture, **options)


def queued_job(project, items, capture, **options) -> ImportJob:
    """A job created with no worker to take its messages: each is as good as lost."""
    with capture(execute=False):
        return import_job_create(
            project=project, user=None, file=json_file(items), file_name="l.json", format="datagym", options=options
        )


def staged_files(media_root: Path, job: ImportJob) -> list[str]:
    folder = media_root / pipeline.staged_dir(job.pk)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_chunked_job_stages_its_batches_then_writes_them_and_removes_them(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    tasks, job = run_tasks(5, configured_project, make_task, settings, django_capture_on_commit_callbacks)

    assert job.status == ImportStatus.VALIDATED, job.message
    assert job.summary["chunks"] == 3
    assert Label.objects.count() == 0  # staged is not written
    assert staged_files(media_storage, job) == ["000000.v2.stage", "000001.v2.stage", "000002.v2.stage"]

    with eager_workers(settings, django_capture_on_commit_callbacks):
        import_job_write(job_id=job.pk)
    job.refresh_from_db()

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert (job.labels_written, job.items_written) == (25, 5)
    assert Counter(Label.objects.values_list("task_id", flat=True)) == {t.pk: 5 for t in tasks}
    assert Label.objects.filter(parent__isnull=False).count() == 5  # each wheel under its car
    assert set(Label.objects.values_list("import_batch", flat=True)) == {0, 1, 100_000, 100_001, 200_000}
    assert not (media_storage / pipeline.staged_dir(job.pk)).exists()
    if connection.vendor == "postgresql":  # the job's end ANALYZEd the label table, after committing it
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [Label._meta.db_table])
            assert cursor.fetchone()[0] == 25


def test_chunks_staged_before_the_label_json_change_are_read_from_the_file_again(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    tasks, job = run_tasks(5, configured_project, make_task, settings, django_capture_on_commit_callbacks)
    folder = media_storage / pipeline.staged_dir(job.pk)
    for staged in folder.iterdir():  # under the name a worker gave them before labeling 0016
        staged.unlink()
        (folder / staged.name.replace(".v2.stage", ".stage")).write_bytes(b"jsonb-era rows, not to be copied")

    with eager_workers(settings, django_capture_on_commit_callbacks):
        import_job_write(job_id=job.pk)
    job.refresh_from_db()

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert Counter(Label.objects.values_list("task_id", flat=True)) == {t.pk: 5 for t in tasks}
    assert all(isinstance(points, list) for points in Label.objects.values_list("points", flat=True))
    assert not folder.exists()  # the old files went with the job's staging


def test_a_chunk_resumed_after_its_checkpoint_rewrites_the_half_written_batch_exactly(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    tasks, job = run_tasks(
        4, configured_project, make_task, settings, django_capture_on_commit_callbacks, write_when_valid=False
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.WRITING)
    import_chunk_write(job_id=job.pk, number=0)
    first_ids = set(Label.objects.values_list("id", flat=True))
    # As if the worker died after batch 0 of chunk 0: the checkpoint says 0, and batch 1 is
    # there only in part (a stray copy, which the rewrite replaces).
    half = list(Label.objects.filter(import_batch=1).order_by("id").values_list("id", flat=True))[:2]
    Label.objects.filter(id__in=half).delete()
    ImportChunk.objects.filter(job=job, number=0).update(status=ChunkStatus.WRITING, checkpoint=0, heartbeat_at=None)

    with eager_workers(settings, django_capture_on_commit_callbacks):
        import_chunk_write(job_id=job.pk, number=0)
        import_chunk_write(job_id=job.pk, number=1)
    job.refresh_from_db()

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert Counter(Label.objects.values_list("task_id", flat=True)) == {t.pk: 5 for t in tasks}
    # The staged rows keep the ids reserved when they were staged.
    assert first_ids <= set(Label.objects.values_list("id", flat=True))
    assert not (media_storage / pipeline.staged_dir(job.pk)).exists()


def test_chunks_naming_the_same_task_are_written_in_file_order_so_keepdata_holds(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    shared, other = make_task(), make_task()
    items = [
        item(shared, keepData=True, labels=FULL_EXAMPLE_LABELS),  # chunk 0
        item(other, labels=FULL_EXAMPLE_LABELS),
        item(  # chunk 1: wipes what chunk 0 gave the shared task
            shared,
            keepData=False,
            global_classifications={"weather": ["sunny", {"daytime": ["day"]}]},
            labels={"poi": [{"point": [{"x": 1, "y": 2}], "classifications": {}}]},
        ),
        item(other, labels={"street": [{"line": [{"x": 1, "y": 1}, {"x": 2, "y": 2}]}]}),
        item(shared, keepData=True, labels={"street": [{"line": [{"x": 3, "y": 3}, {"x": 4, "y": 4}]}]}),  # chunk 2
    ]
    job = run_job(configured_project, items, settings, django_capture_on_commit_callbacks, write_when_valid=True)

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.summary["write_in_order"] is True
    shared_labels = Counter(Label.objects.filter(task=shared).values_list("entry__key", flat=True))
    assert shared_labels == {"poi": 1, "street": 1}
    assert Label.objects.filter(task=other).count() == 6
    assert Task.objects.get(pk=shared.pk).answers["weather"]["value"] == "sunny"
    assert not (media_storage / pipeline.staged_dir(job.pk)).exists()


def test_a_chunked_file_with_an_error_fails_and_leaves_nothing_staged(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    tasks = [make_task() for _ in range(4)]
    items = [item(t, labels=FULL_EXAMPLE_LABELS) for t in tasks]
    items.append(item(tasks[0], labels={"truck": [{}]}))
    job = run_job(configured_project, items, settings, django_capture_on_commit_callbacks, write_when_valid=True)

    assert job.status == ImportStatus.FAILED
    assert job.error_count == 1
    assert Label.objects.count() == 0
    assert not (media_storage / pipeline.staged_dir(job.pk)).exists()


def test_cancelling_a_validated_chunked_job_removes_what_it_staged(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    _tasks, job = run_tasks(4, configured_project, make_task, settings, django_capture_on_commit_callbacks)
    assert job.status == ImportStatus.VALIDATED
    assert len(staged_files(media_storage, job)) == 2

    job = import_job_cancel(job=job)

    assert job.status == ImportStatus.CANCELLED
    assert not (media_storage / pipeline.staged_dir(job.pk)).exists()
    assert Label.objects.count() == 0


def test_a_file_nested_too_deep_is_not_split_and_fails_with_the_place_of_the_nesting(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    import io

    from formats.jsonsplit import json_array_split

    tasks = [make_task() for _ in range(4)]
    items = [item(t, labels=FULL_EXAMPLE_LABELS) for t in tasks]
    raw = json_file(items).getvalue()
    deep = b'{"a":' * 100 + b"1" + b"}" * 100
    raw = raw[:-1] + b", " + deep + b"]"  # a fifth item, in the last chunk, nested 101 levels deep
    assert json_array_split(io.BytesIO(raw), every=2) is None  # spans are never deeper than the limit

    with eager_workers(settings, django_capture_on_commit_callbacks):
        job = import_job_create(project=configured_project, user=None, file=raw, file_name="l.json", format="datagym")
    job.refresh_from_db()

    assert job.status == ImportStatus.FAILED
    assert "chunks" not in job.summary
    error = job.errors.get()
    # The array is level 1: the 64th `{"a":` of the item passes the limit of 64 levels.
    assert (error.code, error.location) == ("json_too_deep", f"byte {raw.index(deep) + 63 * 5}")
    assert Label.objects.count() == 0


def test_a_task_deleted_between_validation_and_writing_gets_no_labels_and_the_rest_lands(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    tasks, job = run_tasks(4, configured_project, make_task, settings, django_capture_on_commit_callbacks)
    assert job.status == ImportStatus.VALIDATED
    Task.objects.filter(pk=tasks[1].pk).delete()  # its media left the project meanwhile

    with eager_workers(settings, django_capture_on_commit_callbacks):
        import_job_write(job_id=job.pk)
    job.refresh_from_db()

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert Counter(Label.objects.values_list("task_id", flat=True)) == {tasks[i].pk: 5 for i in (0, 2, 3)}
    assert job.labels_written == 15


def test_a_configuration_replaced_between_two_chunks_stops_the_job_with_what_landed_named(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    from projects.label_config import label_config_replace
    from tests.imports.conftest import DATAGYM_CONFIG

    _tasks, job = run_tasks(
        4, configured_project, make_task, settings, django_capture_on_commit_callbacks, write_when_valid=False
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.WRITING)
    import_chunk_write(job_id=job.pk, number=0)
    assert Label.objects.count() == 10
    # The same classes again, as new entries: the labels of the old ones go with them, and the
    # rest of the file, resolved against the old ones, must not be written.
    label_config_replace(configuration=configured_project.label_configuration, entries=DATAGYM_CONFIG)

    import_chunk_write(job_id=job.pk, number=1)
    job.refresh_from_db()

    assert job.status == ImportStatus.FAILED
    assert "label configuration changed during the import" in job.message
    assert "What it had written (10 labels) was removed" in job.message
    assert Label.objects.count() == 0
    assert not (media_storage / pipeline.staged_dir(job.pk)).exists()


def test_a_write_that_fails_on_an_internal_error_fails_the_job_and_removes_what_was_staged(
    configured_project,
    media_storage,
    make_task,
    chunks_of_two,
    settings,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    _tasks, job = run_tasks(4, configured_project, make_task, settings, django_capture_on_commit_callbacks)
    assert job.status == ImportStatus.VALIDATED

    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "labels_write_staged", broken)
    monkeypatch.setattr(pipeline, "labels_write_batch", broken)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.WRITING)
    with pytest.raises(RuntimeError):
        import_chunk_write(job_id=job.pk, number=0)
    job.refresh_from_db()

    assert job.status == ImportStatus.FAILED
    assert "after 0 labels" in job.message
    assert not (media_storage / pipeline.staged_dir(job.pk)).exists()
    assert Label.objects.count() == 0


def lost_long_ago(job: ImportJob, number: int) -> None:
    """The chunk's message went with the broker `STALE_AFTER` ago: nobody will deliver it."""
    from django.utils import timezone

    from imports.services import STALE_AFTER

    ImportChunk.objects.filter(job=job, number=number).update(heartbeat_at=timezone.now() - STALE_AFTER * 2)


def test_a_chunk_whose_message_was_lost_is_queued_again_by_the_watch_and_the_job_ends_exactly(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    from imports.services import import_chunk_validate, import_job_validate, import_job_watch

    tasks = [make_task() for _ in range(6)]
    items = [item(t, labels=FULL_EXAMPLE_LABELS) for t in tasks]
    job = queued_job(configured_project, items, django_capture_on_commit_callbacks, write_when_valid=True)
    import_job_validate(job_id=job.pk)
    import_chunk_validate(job_id=job.pk, number=1)
    import_chunk_validate(job_id=job.pk, number=2)
    assert ImportChunk.objects.get(job=job, number=0).status == ChunkStatus.PENDING

    assert import_job_watch(job_id=job.pk) is True
    job.refresh_from_db()
    assert job.status == ImportStatus.VALIDATING  # queued less than STALE_AFTER ago: still waits
    lost_long_ago(job, 0)
    with eager_workers(settings, django_capture_on_commit_callbacks):
        import_job_watch(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert Label.objects.count() == 6 * 5
    assert import_job_watch(job_id=job.pk) is False  # the watch ends with the job


def test_the_watch_queues_a_lost_write_of_chunks_in_file_order_only_when_none_is_being_written(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    from imports.services import import_chunk_validate, import_job_validate, import_jobs_resume

    shared = make_task()
    items = [item(shared, keepData=True, labels=FULL_EXAMPLE_LABELS) for _ in range(4)]
    job = queued_job(configured_project, items, django_capture_on_commit_callbacks)
    import_job_validate(job_id=job.pk)
    for number in (0, 1):
        import_chunk_validate(job_id=job.pk, number=number)
    job.refresh_from_db()
    assert job.status == ImportStatus.VALIDATED
    assert job.summary["write_in_order"] is True
    import_job_write(job_id=job.pk)  # queues chunk 0 only; its message is lost
    ImportChunk.objects.filter(job=job, number=0).update(status=ChunkStatus.WRITING)
    lost_long_ago(job, 1)
    with django_capture_on_commit_callbacks(execute=False):
        assert import_jobs_resume(job_id=job.pk) == 0  # chunk 0 is being written, with a fresh heartbeat

    ImportChunk.objects.filter(job=job, number=0).update(status=ChunkStatus.VALIDATED)
    lost_long_ago(job, 0)
    with eager_workers(settings, django_capture_on_commit_callbacks):
        import_jobs_resume(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert Label.objects.filter(task=shared).count() == 4 * 5


def test_a_running_job_pauses_its_organisations_media_probing_and_its_end_resumes_it(
    configured_project, media_storage, make_task, chunks_of_two, settings, django_capture_on_commit_callbacks
):
    """Media added just before an import are still being probed when it starts: the probe would
    hold one of the worker slots its chunks run in (projects/media_probe.py)."""
    from django.utils import timezone

    from imports.services import import_chunk_validate, import_job_validate, import_job_watch
    from projects.models import Organization

    def paused_until() -> Any:
        return Organization.objects.filter(pk=configured_project.organization_id).values_list(
            "media_probe_paused_until", flat=True
        )[0]

    items = [item(make_task(), labels=FULL_EXAMPLE_LABELS) for _ in range(6)]
    job = queued_job(configured_project, items, django_capture_on_commit_callbacks, write_when_valid=True)
    assert paused_until() is None

    import_job_validate(job_id=job.pk)
    assert paused_until() > timezone.now()

    Organization.objects.filter(pk=configured_project.organization_id).update(media_probe_paused_until=None)
    assert import_job_watch(job_id=job.pk) is True
    assert paused_until() > timezone.now()  # each look of the watch renews it

    import_chunk_validate(job_id=job.pk, number=1)
    import_chunk_validate(job_id=job.pk, number=2)
    with eager_workers(settings, django_capture_on_commit_callbacks):
        import_chunk_validate(job_id=job.pk, number=0)

    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert paused_until() is None
