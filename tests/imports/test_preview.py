"""The preview: the first valid items with the shapes they would write, small and stored once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo.management.commands.seed_demo import DEMO_CONFIGURATION
from imports.models import ImportJob
from imports.preview import PREVIEW_ITEMS, preview_for_display, preview_get
from imports.services import import_job_create, import_job_validate
from projects.label_config import label_config_replace
from tests.factories import DatasetFactory, MediaFactory, ProjectFactory, TaskFactory
from tests.imports.conftest import item
from tests.imports.test_datagym_inline import FULL_EXAMPLE_LABELS

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "formats" / "examples" / "datagym.json"


def validated(project, items, **options) -> ImportJob:
    job = import_job_create(
        project=project,
        user=None,
        file=json.dumps(items).encode(),
        file_name="labels.json",
        format="datagym",
        options=options,
    )
    return import_job_validate(job_id=job.id)


def test_preview_shows_the_first_valid_items_with_their_shapes_in_pixels(configured_project, media_storage, make_task):
    tasks = [make_task() for _ in range(3)]
    items = [
        item(tasks[0], labels={"truck": [{}]}),  # invalid: not in the preview
        item(tasks[1], labels=FULL_EXAMPLE_LABELS),
        {"labels": {}},  # no media: skipped
        item(tasks[2], labels={"bus": [{"rectangle": [{"x": 10, "y": "20", "w": 30, "h": 40}]}]}),
    ]
    job = validated(configured_project, items, skip_invalid=True)

    preview = preview_get(job=job)

    assert [p["item"] for p in preview] == [1, 3]
    assert preview[0]["media_id"] == str(tasks[1].media_id)
    assert preview[0]["shape_count"] == 5
    by_key = {shape["key"]: shape for shape in preview[0]["shapes"]}
    assert set(by_key) == {"car", "wheel", "bus", "street", "poi"}
    assert by_key["wheel"]["type"] == "point"
    assert by_key["wheel"]["points"] == [[60, 500]]
    assert by_key["bus"]["color"].startswith("#")
    assert preview[1]["shapes"] == [
        {"key": "bus", "type": "rectangle", "color": preview[1]["shapes"][0]["color"], "points": [[10, 20], [40, 60]]}
    ]


def test_preview_is_stored_in_the_summary_without_losing_the_report(configured_project, media_storage, task):
    job = validated(configured_project, [item(task, labels=FULL_EXAMPLE_LABELS)])

    preview_get(job=job)

    stored = ImportJob.objects.get(pk=job.pk).summary
    assert stored["preview"][0]["item"] == 0
    assert stored["classes"]["car"] == 1
    assert "config_updated_at" in stored


def test_preview_holds_at_most_a_few_items(configured_project, media_storage, make_task):
    tasks = [make_task() for _ in range(PREVIEW_ITEMS + 3)]
    job = validated(configured_project, [item(t, labels=FULL_EXAMPLE_LABELS) for t in tasks])

    assert len(preview_get(job=job)) == PREVIEW_ITEMS


def test_preview_is_empty_while_the_job_is_queued(configured_project, media_storage, task):
    job = import_job_create(
        project=configured_project,
        user=None,
        file=json.dumps([item(task, labels=FULL_EXAMPLE_LABELS)]).encode(),
        file_name="labels.json",
        format="datagym",
    )

    assert preview_get(job=job) == []
    assert "preview" not in ImportJob.objects.get(pk=job.pk).summary


def test_preview_for_display_adds_the_image_and_its_size(configured_project, media_storage, task):
    job = validated(configured_project, [item(task, labels=FULL_EXAMPLE_LABELS)])

    shown = preview_for_display(preview=preview_get(job=job))

    # A URL media's own URL (projects/media_urls.py; tests/imports/test_preview_images.py for the others).
    assert shown[0]["image_url"] == task.media.url
    assert shown[0]["image_note"] == ""
    assert (shown[0]["width"], shown[0]["height"]) == (640, 480)
    assert shown[0]["media_name"] == task.media.name


def test_the_datagym_example_file_validates_against_the_demo_configuration(media_storage):
    project = ProjectFactory()
    label_config_replace(configuration=project.label_configuration, entries=DEMO_CONFIGURATION)
    dataset = DatasetFactory(organization=project.organization)
    for name in ("street_07.jpg", "street_08.jpg"):
        TaskFactory(project=project, media=MediaFactory(dataset=dataset, name=name))

    job = validated(project, json.loads(EXAMPLE.read_text()), match_by="name")

    assert (job.status, job.error_count, job.items_total) == ("validated", 0, 2)
    assert [p["shape_count"] for p in preview_get(job=job)] == [5, 2]
