"""Files whose items create their media (Label Studio JSON, CSV, TXT; Labelbox data rows) split into
chunks like DataGym files: each chunk creates the media it needs, and the database's unique indexes
(URL per dataset, global key per organisation) keep one media per URL or key across chunks."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from imports import pipeline
from imports.models import ImportChunk, ImportJob, ImportJobError, ImportStatus
from imports.services import import_job_cancel, import_job_create, import_job_write
from labeling.models import Label, Task
from projects.config_converters import ls_config_to_entries
from projects.label_config import label_config_replace
from projects.models import Media
from tests.factories import DatasetFactory
from tests.formats.conftest import LS_CONFIG_XML
from tests.imports.test_chunked_jobs import eager_workers, staged_files

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chunks_of_three(settings):
    settings.LABELSITE_IMPORT_CHUNK_ITEMS = 3


@pytest.fixture
def ls_project(project):
    label_config_replace(configuration=project.label_configuration, entries=ls_config_to_entries(LS_CONFIG_XML).entries)
    dataset = DatasetFactory(organization=project.organization, name="Street")
    dataset.projects.add(project)
    project.target_dataset = dataset
    return project


def url(n: int) -> str:
    return f"https://cdn.example.com/street/{n:03d}.jpg"


def ls_task(n: int, image: str | None = None, **value: Any) -> dict[str, Any]:
    box = {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0, "rectanglelabels": ["Car"], **value}
    result = {"id": f"r{n}", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
              "original_width": 1000, "original_height": 500, "value": box}  # fmt: skip
    return {"data": {"image": image or url(n)}, "annotations": [{"result": [result]}]}


def url_media(project, **fields: Any) -> Media:
    return Media.objects.create(
        organization=project.organization, dataset=project.target_dataset, source="URL", **fields
    )


def job_errors(job: ImportJob, field: str) -> list[tuple[Any, ...]]:
    return list(job.errors.order_by("item_index").values_list("item_index", "location", field))


def run(project, body: bytes, settings, capture, *, name: str, format: str, **options: Any) -> ImportJob:
    with eager_workers(settings, capture):
        job = import_job_create(
            project=project, user=None, file=body, file_name=name, format=format,
            options={"write_when_valid": True, **options},
        )  # fmt: skip
    job.refresh_from_db()
    return job


def test_label_studio_json_is_validated_and_written_in_chunks_that_create_their_media(
    ls_project, media_storage, chunks_of_three, settings, django_capture_on_commit_callbacks
):
    body = json.dumps([ls_task(n) for n in range(8)]).encode()

    job = run(ls_project, body, settings, django_capture_on_commit_callbacks, name="t.json", format="label_studio")

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.summary["chunks"] == 3
    assert list(ImportChunk.objects.filter(job=job).values_list("item_count", "status")) == [
        (3, "written"), (3, "written"), (2, "written")
    ]  # fmt: skip
    assert (job.summary["media_created"], job.summary.get("media_reused", 0), job.labels_written) == (8, 0, 8)
    media = Media.objects.filter(dataset=ls_project.target_dataset)
    assert sorted(media.values_list("url", flat=True)) == [url(n) for n in range(8)]
    assert Task.objects.filter(project=ls_project).count() == 8
    assert Label.objects.filter(task__media__url=url(5)).get().points == [[100.0, 100.0], [400.0, 300.0]]
    assert not (media_storage / pipeline.staged_dir(job.pk)).exists()


def test_tasks_made_with_their_media_end_as_written_tasks_do(
    ls_project, media_storage, chunks_of_three, settings, django_capture_on_commit_callbacks
):
    # Items 0-4 create their media (on PostgreSQL their tasks are made with their answers); item 5's
    # media exists, so its task is updated by the batch: both end alike. Item 2 names item 1's image.
    existing = url_media(ls_project, name="005.jpg", url=url(5))
    tasks = [ls_task(n) for n in range(6)]
    tasks[2] = ls_task(2, image=url(1))
    for n, task in enumerate(tasks):
        task["annotations"][0]["result"].append(
            {"id": f"c{n}", "from_name": "weather", "to_name": "image", "type": "choices",
             "value": {"choices": ["Sunny" if n % 2 else "Rainy day"]}}
        )  # fmt: skip

    job = run(ls_project, json.dumps(tasks).encode(), settings, django_capture_on_commit_callbacks,
              name="t.json", format="label_studio")  # fmt: skip

    assert job.status == ImportStatus.SUCCEEDED, job.message
    rows = {
        media_url: (answers, has_import, version)
        for media_url, answers, has_import, version in Task.objects.filter(project=ls_project).values_list(
            "media__url", "answers", "has_import", "version"
        )
    }
    sunny, rainy = {"weather": {"value": "sunny"}}, {"weather": {"value": "rainy day"}}
    # The task of url(1) has the answers of items 1 and 2 merged in file order (the later wins).
    assert rows == {
        url(0): (rainy, True, 1), url(1): (rainy, True, 1), url(3): (sunny, True, 1), url(4): (rainy, True, 1),
        url(5): (sunny, True, 1),
    }  # fmt: skip
    assert Task.objects.get(media=existing).version == 1


def test_chunks_naming_the_same_new_url_share_one_media_and_write_in_file_order(
    ls_project, media_storage, chunks_of_three, settings, django_capture_on_commit_callbacks
):
    # Items 1 and 7 (chunks 0 and 2) name the same new image; with replace, the later one's box wins.
    tasks = [ls_task(n) for n in range(8)]
    tasks[7] = ls_task(7, image=url(1), x=50)

    job = run(
        ls_project, json.dumps(tasks).encode(), settings, django_capture_on_commit_callbacks,
        name="t.json", format="label_studio", replace=True,
    )  # fmt: skip

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.summary["write_in_order"] is True
    # Item 7's chunk is written after chunk 0 (file order): it finds the media by name, as a later
    # batch of a job without chunks does.
    assert job.summary["media_created"] == 7
    assert Media.objects.filter(url=url(1)).count() == 1
    assert list(Label.objects.filter(task__media__url=url(1)).values_list("points", flat=True)) == [
        [[500.0, 100.0], [800.0, 300.0]]
    ]
    assert Task.objects.filter(project=ls_project).count() == 7


def test_a_url_another_writer_created_after_our_look_is_found_not_created_again(ls_project, media_storage):
    from formats.media_rows import MediaRow
    from imports.media_create import _media_insert, _media_new, media_rows_create

    dataset = ls_project.target_dataset
    first = media_rows_create(project=ls_project, dataset=dataset, rows=[MediaRow(location="/0", url=url(1))])
    # A second writer that looked before the first committed: its planned media for the same URL
    # (another name) goes in with ON CONFLICT DO NOTHING, and the lookup finds the first one's.
    late = _media_new(dataset, MediaRow(location="/0", url=url(1), name="late.jpg"))
    fresh = _media_new(dataset, MediaRow(location="/1", url=url(2)))
    holding, inserted = _media_insert(dataset, {url(1): late, url(2): fresh})

    assert first[0].created
    assert holding == {url(1): first[0].media_id, url(2): fresh.id}
    assert inserted == {fresh.id}
    assert Media.objects.filter(url=url(1)).count() == 1
    assert Task.objects.filter(project=ls_project).count() == 2


def test_a_media_whose_name_another_writer_took_meanwhile_is_renamed_and_created(ls_project, media_storage):
    from formats.media_rows import MediaRow
    from imports.media_create import _media_insert, _media_new

    dataset = ls_project.target_dataset
    planned = _media_new(dataset, MediaRow(location="/0", url="https://other.example.com/a/001.jpg"))
    url_media(ls_project, name="001.jpg", url=url(1))
    # As if the other writer's media landed after our names were chosen: our first name is taken.
    from projects import services

    original = services._media_names_free
    services._media_names_free = lambda **kwargs: None
    try:
        holding, _ = _media_insert(dataset, {planned.url: planned})
    finally:
        services._media_names_free = original

    assert Media.objects.get(pk=holding[planned.url]).name == "001 (2).jpg"


def test_an_error_in_a_later_chunk_is_placed_at_its_item_and_the_job_writes_nothing(
    ls_project, media_storage, chunks_of_three, settings, django_capture_on_commit_callbacks
):
    tasks = [ls_task(n) for n in range(8)]
    tasks[4]["annotations"][0]["result"][0]["value"]["rectanglelabels"] = ["Bicycle"]
    tasks[7]["data"]["image"] = "/data/upload/3/ab12cd34-street.jpg"

    job = run(ls_project, json.dumps(tasks).encode(), settings, django_capture_on_commit_callbacks,
              name="t.json", format="label_studio")  # fmt: skip

    assert job.status == ImportStatus.FAILED, job.message
    assert job.summary["chunks"] == 3
    errors = job_errors(job, "code")
    assert [(index, code) for index, _, code in errors] == [(4, "label_not_in_config"), (7, "tool_path")]
    assert errors[0][1].startswith("/4/annotations/0/result/0")
    assert errors[1][1] == "/7/data/image"
    assert (Media.objects.count(), Label.objects.count()) == (0, 0)


def test_label_studio_txt_and_csv_split_by_lines_and_errors_name_the_files_lines(
    ls_project, media_storage, chunks_of_three, settings, django_capture_on_commit_callbacks
):
    lines = [url(n) for n in range(7)]
    lines[5] = "ftp://cdn.example.com/five.jpg"
    body = ("\n".join(lines[:3]) + "\n\n\n" + "\n".join(lines[3:]) + "\n").encode()  # blank lines 4 and 5

    txt = run(ls_project, body, settings, django_capture_on_commit_callbacks, name="t.txt", format="label_studio_txt")

    assert txt.status == ImportStatus.FAILED
    assert txt.summary["chunks"] == 3
    assert list(ImportJobError.objects.filter(job=txt).values_list("item_index", "location")) == [(5, "line 8")]

    rows = ["image,site", *(f"{url(n)},north" for n in range(10, 17))]
    rows[3] = f'{url(12)},"two\nlines"'  # a quoted cell over two lines: the split never cuts inside it
    rows[6] = "not a url,south"
    csv_job = run(ls_project, "\n".join(rows).encode(), settings, django_capture_on_commit_callbacks,
                  name="t.csv", format="label_studio_csv", skip_invalid=True)  # fmt: skip

    assert csv_job.status == ImportStatus.SUCCEEDED, csv_job.message
    assert csv_job.summary["chunks"] == 3
    assert list(ImportJobError.objects.filter(job=csv_job).values_list("item_index", "location")) == [(5, "line 8")]
    assert Media.objects.get(url=url(12)).metadata == {"site": "two\nlines"}
    assert Media.objects.filter(url__startswith="https://cdn.example.com/street/01").count() == 6


def data_row(n: int, key: str | None = None) -> dict[str, Any]:
    return {"row_data": url(100 + n), "global_key": key or f"field-{n:03d}"}


def test_labelbox_data_rows_in_chunks_keep_the_first_of_a_global_key_repeated_in_another_chunk(
    ls_project, media_storage, chunks_of_three, settings, django_capture_on_commit_callbacks
):
    rows = [data_row(n) for n in range(9)]
    rows[7]["global_key"] = "FIELD-001"  # chunk 2 repeats chunk 0's key: the later row fails alone
    rows[2]["global_key"] = "field-000"  # and one within chunk 0

    job = run(ls_project, json.dumps(rows).encode(), settings, django_capture_on_commit_callbacks,
              name="rows.json", format="labelbox_data_rows")  # fmt: skip

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.summary["chunks"] == 3
    assert job_errors(job, "message") == [
        (2, "/2/global_key", "Duplicate global key: 'field-000'"),
        (7, "/7/global_key", "Duplicate global key: 'FIELD-001'"),
    ]  # fmt: skip
    keys = Counter(Media.objects.values_list("global_key", flat=True))
    assert keys == Counter(f"field-{n:03d}" for n in (0, 1, 3, 4, 5, 6, 8))
    assert Media.objects.get(global_key="field-001").url == url(101)  # the first row's
    assert (job.summary["media_created"], job.items_skipped) == (7, 2)


def test_a_chunked_media_import_that_fails_while_writing_keeps_what_a_whole_file_import_keeps(
    ls_project, media_storage, chunks_of_three, settings, django_capture_on_commit_callbacks, monkeypatch
):
    """As without chunks: the batches written stay (the job says how many labels), the job can be
    uploaded again, and nothing is staged; the media the written batches created stay too."""
    calls = {"n": 0}

    def fails_on_the_second_batch(original):
        def write(**kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("disk on fire")
            return original(**kwargs)

        return write

    for name in ("labels_write_batch", "labels_write_staged"):  # read again, or staged (PostgreSQL)
        monkeypatch.setattr(pipeline, name, fails_on_the_second_batch(getattr(pipeline, name)))
    body = json.dumps([ls_task(n) for n in range(6)]).encode()

    job = run(ls_project, body, settings, django_capture_on_commit_callbacks, name="t.json", format="label_studio")

    assert job.status == ImportStatus.FAILED
    assert "after 3 labels were written" in job.message
    assert (Label.objects.count(), Media.objects.count()) == (3, 3)  # chunk 0's batch, its media
    assert not (media_storage / pipeline.staged_dir(job.pk)).exists()


def test_cancelling_a_validated_chunked_media_import_creates_no_media(
    ls_project, media_storage, chunks_of_three, settings, django_capture_on_commit_callbacks
):
    body = json.dumps([ls_task(n) for n in range(7)]).encode()
    job = run(ls_project, body, settings, django_capture_on_commit_callbacks, name="t.json", format="label_studio",
              write_when_valid=False)  # fmt: skip
    assert job.status == ImportStatus.VALIDATED
    assert job.summary["media_to_create"] == 7
    # On PostgreSQL the chunks' labels and media (with their planned ids) are staged.
    assert staged_files(media_storage, job) == ["000000.v2.stage", "000001.v2.stage", "000002.v2.stage"]

    job = import_job_cancel(job=job)
    with eager_workers(settings, django_capture_on_commit_callbacks):
        import_job_write(job_id=job.pk)
    job.refresh_from_db()

    assert job.status == ImportStatus.CANCELLED
    assert (Media.objects.count(), Label.objects.count()) == (0, 0)
    assert staged_files(media_storage, job) == []


def test_json_min_rows_of_one_task_across_a_chunk_boundary_make_the_job_read_the_file_whole(
    ls_project, media_storage, chunks_of_three, settings, django_capture_on_commit_callbacks
):
    def row(task_id: int, annotation: int) -> dict[str, Any]:
        return {"image": url(task_id), "id": task_id, "annotation_id": annotation,
                "label": [{"x": 10, "y": 10, "width": 5, "height": 5, "rectanglelabels": ["Car"],
                           "original_width": 1000, "original_height": 500}]}  # fmt: skip

    rows = [row(1, 1), row(2, 2), row(3, 3), row(3, 4), row(4, 5)]  # task 3's rows are items 2 and 3

    job = run(ls_project, json.dumps(rows).encode(), settings, django_capture_on_commit_callbacks,
              name="min.json", format="label_studio")  # fmt: skip

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.summary.get("whole_file") is True
    assert "chunks" not in job.summary
    assert not ImportChunk.objects.filter(job=job).exists()
    assert Media.objects.count() == 4


def test_the_unique_url_index_refuses_a_second_live_url_media_without_a_key(ls_project):
    from django.db import IntegrityError, transaction

    url_media(ls_project, name="a.jpg", url=url(1))
    with pytest.raises(IntegrityError), transaction.atomic():
        url_media(ls_project, name="b.jpg", url=url(1))
    url_media(ls_project, name="c.jpg", url=url(1), global_key="keyed")  # a data row's media: its key is its identity
    other = DatasetFactory(organization=ls_project.organization)
    Media.objects.create(organization=ls_project.organization, dataset=other, name="a.jpg", source="URL", url=url(1))


def test_a_url_media_made_outside_the_job_after_validation_is_found_when_the_chunk_is_written(
    ls_project, media_storage, chunks_of_three, settings, django_capture_on_commit_callbacks
):
    """On PostgreSQL the chunk's media ids were planned when it was validated: the media made since
    holds its URL, so the chunk is read again from the batch that names it, and finds that media."""
    body = json.dumps([ls_task(n) for n in range(7)]).encode()
    job = run(ls_project, body, settings, django_capture_on_commit_callbacks, name="t.json", format="label_studio",
              write_when_valid=False)  # fmt: skip
    assert job.status == ImportStatus.VALIDATED
    made = url_media(ls_project, name="uploaded-meanwhile.jpg", url=url(4))
    task = Task.objects.create(project=ls_project, media=made)

    with eager_workers(settings, django_capture_on_commit_callbacks):
        import_job_write(job_id=job.pk)
    job.refresh_from_db()

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert Media.objects.filter(url=url(4)).get() == made
    assert Label.objects.filter(task=task).count() == 1
    assert (Media.objects.count(), Label.objects.count(), job.labels_written) == (7, 7, 7)
    assert Task.objects.filter(project=ls_project).count() == 7


def test_the_media_of_a_chunked_import_get_tasks_in_every_connected_project(
    ls_project, project, media_storage, chunks_of_three, settings, django_capture_on_commit_callbacks
):
    from tests.factories import ProjectFactory

    other = ProjectFactory(organization=ls_project.organization)
    ls_project.target_dataset.projects.add(other)
    body = json.dumps([ls_task(n) for n in range(7)]).encode()

    job = run(ls_project, body, settings, django_capture_on_commit_callbacks, name="t.json", format="label_studio")

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert Task.objects.filter(project=other).count() == Task.objects.filter(project=ls_project).count() == 7
    assert Label.objects.filter(task__project=ls_project).count() == 7


def test_the_bulk_insert_refuses_a_column_the_model_does_not_have_before_it_writes():
    from labelsite.bulk_insert import rows_insert

    with pytest.raises(ValueError, match="no column"):
        rows_insert(Media, arrays={"id": ("uuid", []), "colour": ("text", [])})
    with pytest.raises(ValueError, match="same length"):
        rows_insert(Media, arrays={"id": ("uuid", [1]), "url": ("varchar", [])})
    assert Media.objects.count() == 0
