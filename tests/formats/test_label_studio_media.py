"""Label Studio tasks whose image is not a media yet: the import creates it, in a dataset of the project."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from labeling.models import Label, Task
from projects.models import Media
from tests.factories import DatasetFactory
from tests.formats.test_label_studio import box, task

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(ls_project):
    dataset = DatasetFactory(organization=ls_project.organization, name="Street")
    dataset.projects.add(ls_project)
    return dataset


def run(project, content: Any, *, format: str = "label_studio", name: str = "tasks.json", **options: Any):
    body = content if isinstance(content, bytes) else json.dumps(content).encode()
    job = import_job_create(project=project, user=None, file=body, file_name=name, format=format, options=options)
    job = import_job_validate(job_id=job.id)
    if job.status == ImportStatus.VALIDATED:
        job = import_job_write(job_id=job.id)
    return job


def test_tasks_with_new_image_urls_create_the_media_and_their_labels_in_pixels(ls_project, dataset, media_storage):
    tasks = [
        task(annotations=[{"result": [box("Car", 10, 20, 50, 25)]}]),
        task(annotations=[{"result": [box("Traffic light", 0, 0, 10, 10, id="r2")]}]),
        task("https://cdn.example.com/street/img_002.jpg"),
    ]

    job = run(ls_project, tasks)

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert (job.summary["media_created"], job.summary["media_reused"]) == (2, 1)
    first = Media.objects.get(dataset=dataset, url="https://cdn.example.com/street/img_001.jpg")
    assert (first.name, first.source, first.width, first.height) == ("img_001.jpg", "URL", 800, 600)
    assert Media.objects.get(dataset=dataset, name="img_002.jpg").width is None
    labels = {label.entry.key: label.points for label in Label.objects.filter(task__media=first)}
    assert labels == {"car": [[80.0, 120.0], [480.0, 270.0]], "traffic light": [[0.0, 0.0], [80.0, 60.0]]}
    assert Task.objects.filter(project=ls_project, media__dataset=dataset).count() == 2


def test_a_known_image_is_matched_not_created_again(ls_project, dataset, make_task, media_storage):
    existing = make_task(ls_project, name="img_001.jpg").media

    job = run(ls_project, [task(annotations=[{"result": [box("Car", 0, 0, 1, 1)]}])])

    assert job.status == ImportStatus.SUCCEEDED
    assert "media_created" not in job.summary
    assert Media.objects.filter(organization=ls_project.organization).count() == 1
    assert Label.objects.get().task.media_id == existing.id


def test_with_create_media_off_an_unknown_image_is_an_error(ls_project, dataset, media_storage):
    job = run(ls_project, [task()], create_media=False)

    assert job.status == ImportStatus.FAILED
    assert [(e.location, e.code) for e in job.errors.all()] == [("/0/data/image", "media_not_found")]
    assert not Media.objects.exists()


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("s3://bucket/street/img_001.jpg", "s3_url"),
        ("http://127.0.0.1:8080/img_001.jpg", "invalid_url"),
        ("http://localhost/img_001.jpg", "invalid_url"),
        ("/data/upload/3/1a2b3c4d-img_001.jpg", "tool_path"),
    ],
    ids=["s3", "loopback", "localhost", "label-studio-upload-path"],
)
def test_an_image_url_that_cannot_be_a_media_is_an_error_at_the_data_field(
    ls_project, dataset, media_storage, url, code
):
    job = run(ls_project, [task(url)])

    assert job.status == ImportStatus.FAILED
    assert [(e.location, e.code) for e in job.errors.all()] == [("/0/data/image", code)]
    assert not Media.objects.exists()


def test_percentages_without_the_original_size_on_a_new_image_are_an_error(ls_project, dataset, media_storage):
    result = {k: v for k, v in box("Car", 10, 20, 50, 25).items() if not k.startswith("original_")}

    job = run(ls_project, [task(annotations=[{"result": [result]}])])

    assert job.status == ImportStatus.FAILED
    error = job.errors.get()
    assert (error.location, error.code) == ("/0/annotations/0/result/0", "missing_original_size")
    assert "does not fetch images" in error.message


def test_the_dataset_option_chooses_where_new_media_go(ls_project, dataset, media_storage):
    other = DatasetFactory(organization=ls_project.organization, name="Other")
    other.projects.add(ls_project)

    job = run(ls_project, [task()], dataset_id=str(other.id))

    assert job.status == ImportStatus.SUCCEEDED
    assert Media.objects.get().dataset_id == other.id


def test_csv_rows_and_txt_lines_create_media_with_their_columns_as_metadata(ls_project, dataset, media_storage):
    csv_job = run(
        ls_project,
        b"image;site\nhttps://cdn.example.com/a.jpg;north\nhttps://cdn.example.com/b.png;south\n",
        format="label_studio_csv",
        name="tasks.csv",
    )
    txt_job = run(
        ls_project, b"https://cdn.example.com/c.jpg\nhttps://cdn.example.com/a.jpg\n", format="label_studio_txt",
        name="tasks.txt",
    )  # fmt: skip

    assert (csv_job.status, txt_job.status) == (ImportStatus.SUCCEEDED, ImportStatus.SUCCEEDED)
    media = {m.name: m for m in Media.objects.filter(dataset=dataset)}
    assert set(media) == {"a.jpg", "b.png", "c.jpg"}
    assert media["b.png"].metadata == {"site": "south"}
    assert media["b.png"].mime_type == "image/png"
    assert txt_job.summary["media_created"] == 1  # a.jpg was matched by name, before any creation
    assert Task.objects.filter(project=ls_project).count() == 3


def test_a_file_with_a_bad_row_names_its_line_then_imports_once_fixed(ls_project, dataset, media_storage):
    broken = run(ls_project, b"image\nhttps://cdn.example.com/a.jpg\nftp://cdn.example.com/b.jpg\n",
                 format="label_studio_csv", name="tasks.csv")  # fmt: skip

    assert broken.status == ImportStatus.FAILED
    assert [(e.item_index, e.location, e.code) for e in broken.errors.all()] == [(1, "line 3", "invalid_url")]
    assert not Media.objects.exists()
    fixed = run(ls_project, b"image\nhttps://cdn.example.com/a.jpg\nhttps://cdn.example.com/b.jpg\n",
                format="label_studio_csv", name="tasks.csv")  # fmt: skip
    assert fixed.status == ImportStatus.SUCCEEDED
    assert Task.objects.filter(project=ls_project, media__dataset=dataset).count() == 2


def test_the_preview_shows_a_media_to_create_from_its_url_and_size(ls_project, dataset, media_storage):
    from imports.preview import preview_for_display, preview_get

    body = json.dumps([task(annotations=[{"result": [box("Car", 10, 20, 50, 25)]}])]).encode()
    job = import_job_create(project=ls_project, user=None, file=body, file_name="tasks.json", format="label_studio")
    job = import_job_validate(job_id=job.id)

    [item] = preview_for_display(preview=preview_get(job=job))

    assert (item["media_name"], item["image_url"]) == (
        "img_001.jpg (new)",
        "https://cdn.example.com/street/img_001.jpg",
    )
    assert (item["width"], item["height"], item["shape_count"]) == (800, 600, 1)
    assert not Media.objects.exists()
