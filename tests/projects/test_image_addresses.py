"""One address per media on the pages (issue 20, point 2): the labeling page and the dataset's
thumbnail grid show uploaded and S3 media through `/media/<id>/file` and URL media at their own
URL, and every one of them answers with the image. An S3 media's thumbnail answered 404 before.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.test import Client
from PIL import Image

from labeling.models import Task
from projects.media_probe import media_probe_run
from projects.services import dataset_connect
from tests.factories import DatasetFactory, MembershipFactory, UserFactory
from tests.media_sources import URL_IMAGE, ThreeMedia, image_http_server, three_media
from tests.realstack.conftest import s3_server

__all__ = ["s3_server"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(project: Any, media_storage: Any, s3_server: Any, settings: Any, monkeypatch: Any) -> Iterator[ThreeMedia]:
    dataset: Any = DatasetFactory(organization=project.organization)
    dataset_connect(dataset=dataset, project=project)
    with image_http_server({"url.png": URL_IMAGE}) as image_base:
        yield three_media(
            dataset=dataset, s3_server=s3_server, image_base=image_base, settings=settings, monkeypatch=monkeypatch
        )


@pytest.fixture
def admin(project: Any) -> Client:
    user: Any = UserFactory()
    MembershipFactory(user=user, organization=project.organization, role="admin")
    client = Client()
    client.force_login(user)
    return client


def follow(client: Client, url: str) -> tuple[str, bytes]:
    """The content type and bytes at `url`, following our redirects and then the image's host."""
    if not url.startswith("/"):
        response = requests.get(url, timeout=10)
        assert response.status_code == 200, (url, response.status_code)
        return response.headers["Content-Type"], response.content
    answer = client.get(url)
    if answer.status_code == 302:
        return follow(client, answer["Location"])
    assert answer.status_code == 200, (url, answer.status_code)
    body = b"".join(answer.streaming_content) if answer.streaming else answer.content  # type: ignore[attr-defined]
    return answer["Content-Type"], body


def test_the_labeling_page_shows_each_media_at_its_one_address_and_it_answers_the_image(
    project: Any, media: ThreeMedia, admin: Client
):
    for one in media.all():
        task = Task.objects.get(project=project, media=one)
        html = admin.get(f"/tasks/{task.pk}/").content.decode()
        start = '<script id="labeling-data" type="application/json">'
        url = json.loads(html.split(start, 1)[1].split("</script>", 1)[0])["image"]["url"]

        assert url == (one.url if one.source == "URL" else f"/media/{one.id}/file")
        assert follow(admin, url) == ("image/png", media.images[str(one.id)])


def test_every_thumbnail_of_the_grid_answers_with_a_thumbnail_of_its_media(media: ThreeMedia, admin: Client):
    media_probe_run(organization_id=media.uploaded.organization_id)  # the worker's job; a placeholder until then

    for one, colour in ((media.uploaded, 0), (media.s3, 1), (media.url, 2)):
        content_type, body = follow(admin, f"/media/{one.id}/thumbnail")
        assert content_type == "image/jpeg"
        pixel = Image.open(io.BytesIO(body)).convert("RGB").getpixel((10, 10))
        assert isinstance(pixel, tuple)
        assert max(range(3), key=lambda channel: pixel[channel]) == colour  # red, green, blue images


def test_the_media_api_names_each_image_at_its_one_address_and_a_token_downloads_it(project: Any, media: ThreeMedia):
    from rest_framework.test import APIClient

    from projects.services import api_token_create

    user: Any = UserFactory()
    MembershipFactory(user=user, organization=project.organization, role="admin")
    _, token = api_token_create(organization=project.organization, user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    listed = api.get(f"/api/datasets/{media.uploaded.dataset_id}/media").json()
    rows = listed["results"] if isinstance(listed, dict) else listed

    addresses = {row["id"]: row["image_url"] for row in rows}
    assert addresses == {
        str(media.uploaded.id): f"http://testserver/media/{media.uploaded.id}/file",
        str(media.s3.id): f"http://testserver/media/{media.s3.id}/file",
        str(media.url.id): media.url.url,
    }
    with_token = Client(HTTP_AUTHORIZATION=f"Token {token}")
    for media_id, url in addresses.items():
        assert follow(with_token, url.removeprefix("http://testserver"))[1] == media.images[media_id]
