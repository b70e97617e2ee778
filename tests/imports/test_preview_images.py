"""The import preview shows its images (issue 20, point 2): every image URL it hands the job page
answers with the image, for an uploaded, an S3 and a URL media; a media the import will create is
shown from its source URL only when that URL is safe, else with a note that its image is not known yet.

The preview used to hand out `default_storage.url()` of uploaded files (`/media/media/...`),
which nothing serves: labels were drawn on black.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.test import Client

from imports.preview import IMAGE_NOT_KNOWN, preview_for_display
from imports.services import import_job_create, import_job_validate
from labeling.models import Task
from tests.factories import MembershipFactory, UserFactory
from tests.imports.conftest import item
from tests.media_sources import URL_IMAGE, ThreeMedia, image_http_server, three_media
from tests.realstack.conftest import s3_server

__all__ = ["s3_server"]

pytestmark = pytest.mark.django_db

BOX = {"bus": [{"rectangle": [{"x": 1, "y": 2, "w": 10, "h": 10}]}]}


@pytest.fixture
def media(
    configured_project: Any, dataset: Any, media_storage: Any, s3_server: Any, settings: Any, monkeypatch: Any
) -> Iterator[ThreeMedia]:
    with image_http_server({"url.png": URL_IMAGE}) as image_base:
        yield three_media(
            dataset=dataset, s3_server=s3_server, image_base=image_base, settings=settings, monkeypatch=monkeypatch
        )


def fetch(client: Client, url: str) -> bytes:
    if url.startswith("/"):
        answer = client.get(url)
        if answer.status_code == 302:
            return fetch(client, answer["Location"])
        assert answer.status_code == 200, (url, answer.status_code)
        assert answer["Content-Type"].startswith("image/")
        return b"".join(answer.streaming_content)  # type: ignore[attr-defined]
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, (url, response.status_code)
    return response.content


def test_every_preview_image_answers_with_its_image_for_uploaded_s3_and_url_media(
    configured_project: Any, media: ThreeMedia
):
    admin: Any = UserFactory()
    MembershipFactory(user=admin, organization=configured_project.organization, role="admin")
    tasks = [Task.objects.get(project=configured_project, media=one) for one in media.all()]
    job = import_job_create(
        project=configured_project,
        user=admin,
        file=json.dumps([item(task, labels=BOX) for task in tasks]).encode(),
        file_name="labels.json",
        format="datagym",
    )
    import_job_validate(job_id=job.id)
    client = Client()
    client.force_login(admin)

    preview = client.get(f"/api/imports/{job.id}").json()["summary"]["preview"]

    shown = {entry["media_id"]: entry for entry in preview}
    assert set(shown) == set(media.images)
    assert shown[str(media.uploaded.id)]["image_url"] == f"/media/{media.uploaded.id}/file"
    assert shown[str(media.s3.id)]["image_url"] == f"/media/{media.s3.id}/file"
    assert shown[str(media.url.id)]["image_url"] == media.url.url
    for media_id, entry in shown.items():
        assert entry["image_note"] == ""
        assert fetch(client, entry["image_url"]) == media.images[media_id]


def test_a_media_to_create_is_not_shown_from_an_unsafe_url_but_says_its_image_is_not_known_yet(settings: Any):
    settings.LABELSITE_URL_ALLOWLIST = []
    stored = [
        {"item": 0, "task_id": "", "media_id": "", "new_media": {"name": "a.png", "url": "http://127.0.0.1/a.png"}},
        {"item": 1, "task_id": "", "media_id": "", "new_media": {"name": "b.png", "url": "http://10.0.0.8/b.png"}},
        {"item": 2, "task_id": "", "media_id": "", "new_media": {"name": "c.png", "url": "javascript:alert(1)"}},
        {"item": 3, "task_id": "", "media_id": "", "new_media": {"name": "d.png", "url": ""}},
        {
            "item": 4,
            "task_id": "",
            "media_id": "",
            "new_media": {"name": "e.png", "url": "https://cdn.example.com/e.png"},
        },
    ]

    shown = preview_for_display(preview=stored)

    assert [(entry["image_url"], entry["image_note"]) for entry in shown] == [
        ("", IMAGE_NOT_KNOWN),
        ("", IMAGE_NOT_KNOWN),
        ("", IMAGE_NOT_KNOWN),
        ("", IMAGE_NOT_KNOWN),
        ("https://cdn.example.com/e.png", ""),
    ]
    assert shown[0]["media_name"] == "a.png (new)"
