"""Media and tasks made in bulk get time-ordered ids (UUIDv7, `labelsite/ids.py`).

An import's label rows are keyed by task in the label indexes; with ids in the order the media
were added, a batch of them appends to those indexes instead of inserting all over them
(docs/architecture.md, "Data model decisions"). These tests hold each path that makes media and
tasks by the hundred to that: the URL list of the public API on both databases (PostgreSQL makes
the tasks by one array INSERT with ids of its own, SQLite through the ORM's default), and an upload.
"""

from __future__ import annotations

from uuid import UUID

from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Task
from projects.models import Media
from tests.api.conftest import World, png_bytes

URLS = 40


def _created_in_order(ids: list[UUID]) -> bool:
    return all(value.version == 7 for value in ids) and ids == sorted(ids)


def test_media_added_by_url_and_their_tasks_get_ids_in_the_order_they_were_added(world: World):
    urls = [f"https://img.example.com/ordered/{number:03}.jpg" for number in range(URLS)]
    response = world.client("admin").post(f"/api/datasets/{world.dataset.id}/media/urls", {"urls": urls}, format="json")
    assert response.status_code == 201

    media = list(Media.objects.filter(url__in=urls).order_by("url"))
    assert [item.url for item in media] == urls
    assert _created_in_order([item.id for item in media])
    by_media = dict(Task.objects.filter(media__in=media).values_list("media_id", "id"))
    assert _created_in_order([by_media[item.id] for item in media])


def test_a_second_batch_of_media_gets_ids_after_the_first(world: World):
    first, second = ([f"https://img.example.com/{batch}/{number}.jpg" for number in range(5)] for batch in "ab")
    for urls in (first, second):
        response = world.client("admin").post(
            f"/api/datasets/{world.dataset.id}/media/urls", {"urls": urls}, format="json"
        )
        assert response.status_code == 201
    newest_first = max(Media.objects.filter(url__in=first).values_list("id", flat=True))
    oldest_second = min(Media.objects.filter(url__in=second).values_list("id", flat=True))
    assert newest_first < oldest_second


def test_an_uploaded_image_and_its_task_get_time_ordered_ids(world: World, media_storage: object):
    upload = SimpleUploadedFile("ordered.png", png_bytes(), content_type="image/png")
    response = world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media", {"file": [upload]}, format="multipart"
    )
    assert response.status_code == 201, response.content
    media = Media.objects.get(dataset=world.dataset, name="ordered.png")
    assert media.id.version == 7
    assert Task.objects.get(media=media, project=world.project).id.version == 7
