"""Datasets and media through the native API."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Task
from projects.models import Media, MediaSource
from tests.api.conftest import World, png_bytes, s3_sources_of


def test_create_dataset_then_a_taken_name_answers_409(world: World):
    client = world.client("admin")
    response = client.post("/api/datasets", {"name": "Cars", "short_description": "cars"}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "Cars"
    assert response.json()["media_count"] == 0
    again = client.post("/api/datasets", {"name": "Cars"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "dataset_name_taken"


def test_dataset_get_lists_its_projects_and_media_count(world: World):
    body = world.client("reviewer").get(f"/api/datasets/{world.dataset.id}").json()
    assert body["project_ids"] == [str(world.project.id)]
    assert body["media_count"] == 1


def test_connect_creates_tasks_and_connecting_twice_answers_409(world: World):
    client = world.client("admin")
    url = f"/api/datasets/{world.dataset.id}/projects/{world.other_project.id}"
    assert client.post(url).status_code == 204
    assert Task.objects.filter(project=world.other_project, media=world.media).exists()
    again = client.post(url)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_connected"


def test_connect_to_another_organisations_project_answers_404(world: World):
    from projects.services import project_create

    foreign = project_create(organization=world.other_organization, name="Theirs")
    response = world.client("admin").post(f"/api/datasets/{world.dataset.id}/projects/{foreign.id}")
    assert response.status_code == 404


def test_disconnect_an_unconnected_project_answers_409(world: World):
    response = world.client("admin").delete(f"/api/datasets/{world.dataset.id}/projects/{world.other_project.id}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_connected"


def test_delete_dataset_hides_it(world: World):
    client = world.client("admin")
    assert client.delete(f"/api/datasets/{world.dataset.id}").status_code == 204
    assert client.get(f"/api/datasets/{world.dataset.id}").status_code == 404


def test_media_list_is_paginated_and_filtered_by_name_and_source(world: World):
    client = world.client("admin")
    client.post(
        f"/api/datasets/{world.dataset.id}/media/urls",
        {"urls": ["https://x.example.com/a-cat.jpg", "https://x.example.com/dog.png"]},
        format="json",
    )
    page = client.get(f"/api/datasets/{world.dataset.id}/media?limit=2").json()
    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"]
    cats = client.get(f"/api/datasets/{world.dataset.id}/media?name=CAT").json()["results"]
    assert [m["name"] for m in cats] == ["a-cat.jpg"]
    assert client.get(f"/api/datasets/{world.dataset.id}/media?source=S3").json()["count"] == 0
    bad = client.get(f"/api/datasets/{world.dataset.id}/media?source=FTP")
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["path"] == "source"


def test_upload_many_files_reports_each_file(world: World, media_storage):
    files = [
        SimpleUploadedFile("one.png", png_bytes(), content_type="image/png"),
        SimpleUploadedFile("notes.txt", b"not an image", content_type="text/plain"),
        SimpleUploadedFile("two.png", png_bytes(8, 6), content_type="image/png"),
    ]
    response = world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media", {"file": files}, format="multipart"
    )
    assert response.status_code == 201
    body = response.json()
    assert [(m["name"], m["width"], m["height"]) for m in body["created"]] == [("one.png", 4, 3), ("two.png", 8, 6)]
    assert body["failed"] == [
        {
            "name": "notes.txt",
            "error": {"code": "not_an_image", "message": body["failed"][0]["error"]["message"], "details": []},
        }
    ]
    assert Task.objects.filter(project=world.project, media__name="two.png").exists()


def test_upload_where_every_file_fails_answers_400(world: World, media_storage):
    files = [SimpleUploadedFile("notes.txt", b"not an image", content_type="text/plain")]
    response = world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media", {"file": files}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["created"] == []
    assert response.json()["failed"][0]["name"] == "notes.txt"


def test_upload_without_file_parts_answers_400(world: World, media_storage):
    response = world.client("admin").post(f"/api/datasets/{world.dataset.id}/media", {}, format="multipart")
    assert response.status_code == 400
    assert response.json()["failed"][0]["error"]["code"] == "required"


def test_media_by_url_reports_a_status_per_url(world: World):
    response = world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media/urls",
        {
            "urls": [
                "https://x.example.com/a.jpg",
                "https://x.example.com/a.jpg",
                "https://x.example.com/b.gif",
                "ftp://x/c.jpg",
            ]
        },
        format="json",
    )
    assert response.status_code == 201
    assert [(r["url"], r["status"]) for r in response.json()] == [
        ("https://x.example.com/a.jpg", "SUCCESS"),
        ("https://x.example.com/b.gif", "UNSUPPORTED_MIME_TYPE"),
        ("ftp://x/c.jpg", "FAILED"),
    ]
    again = world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media/urls", {"urls": ["https://x.example.com/a.jpg"]}, format="json"
    )
    assert again.status_code == 200
    assert again.json()[0]["status"] == "DUPLICATE"


def test_media_by_s3_key_stores_s3_urls_named_by_basename(world: World, settings: Any):
    settings.LABELSITE_S3_SOURCES = s3_sources_of(world.organization, "my-photos")
    response = world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media/s3",
        {"bucket": "my-photos", "keys": ["2024/june/beach.jpg", "readme.md", "2024/june/beach.jpg"]},
        format="json",
    )
    assert response.status_code == 201
    assert [(r["key"], r["status"]) for r in response.json()] == [
        ("2024/june/beach.jpg", "SUCCESS"),
        ("readme.md", "UNSUPPORTED_MIME_TYPE"),
    ]
    media = Media.objects.get(dataset=world.dataset, name="beach.jpg")
    assert (media.source, media.url) == (MediaSource.S3, "s3://my-photos/2024/june/beach.jpg")
    again = world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media/s3",
        {"bucket": "my-photos", "keys": ["2024/june/beach.jpg"]},
        format="json",
    )
    assert again.json()[0]["status"] == "DUPLICATE"


def test_media_by_s3_key_with_invalid_bucket_answers_located_error(world: World):
    response = world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media/s3", {"bucket": "Bad_Bucket!", "keys": ["a.jpg"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "bucket"


def test_delete_media_twice_answers_404_the_second_time(world: World):
    client = world.client("admin")
    assert client.delete(f"/api/media/{world.media.id}").status_code == 204
    assert client.delete(f"/api/media/{world.media.id}").status_code == 404
