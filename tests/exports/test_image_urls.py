"""Every image URL an export writes answers with the image to a user with access (issue 16, point 8).

For an uploaded media, an S3 media (moto on loopback) and a URL media (a local HTTP server),
each export format that names images (COCO `coco_url`, Label Studio `data.image`, JSON_MIN
`image`, Pascal VOC `path`, YOLO `images.txt`) is written through the API; every URL in it is
then downloaded with the session, and with the API token, of a user with access and gives the
image's bytes; a user of another organisation gets 404, an anonymous caller the login page.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from django.test import Client
from rest_framework.test import APIClient

from exports.models import ExportJob
from exports.services import export_job_create, export_job_run
from labeling.models import Label, Task, TaskState
from projects.label_config import label_config_replace
from projects.models import Media
from projects.services import api_token_create, dataset_connect
from tests.factories import DatasetFactory, MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory
from tests.media_sources import URL_IMAGE, ThreeMedia, image_http_server, three_media
from tests.realstack.conftest import s3_server

__all__ = ["s3_server"]

pytestmark = pytest.mark.django_db

SITE = "http://testserver"
#: The formats that write a reference to each image, and where they write it.
IMAGE_FORMATS = ("coco", "label_studio", "label_studio_min", "pascal_voc", "yolo", "yolo_seg")


def image_urls(format_name: str, content: bytes) -> list[str]:
    """The image references an export file holds, in the place its format puts them."""
    if format_name == "coco":
        return [image["coco_url"] for image in json.loads(content)["images"]]
    if format_name == "label_studio":
        return [task["data"]["image"] for task in json.loads(content)]
    if format_name == "label_studio_min":
        return [row["image"] for row in json.loads(content)]
    archive = zipfile.ZipFile(io.BytesIO(content))
    if format_name == "pascal_voc":
        return [
            ElementTree.fromstring(archive.read(name)).findtext("path") or ""  # noqa: S314 - our own output
            for name in archive.namelist()
            if name.endswith(".xml")
        ]
    return [line.split("\t", 1)[1] for line in archive.read("images.txt").decode().splitlines() if line]


def download(client: Client, url: str, **headers: Any) -> bytes:
    """An image through the test client (our site) or, after its redirect, from where it lives."""
    assert url.startswith(("http://", "https://")), f"{url!r} is not absolute"
    if not url.startswith(SITE):
        response = requests.get(url, timeout=10)
        assert response.status_code == 200, (url, response.status_code)
        return response.content
    answer = client.get(url.removeprefix(SITE), **headers)
    if answer.status_code == 302:
        return download(client, answer["Location"], **headers)
    assert answer.status_code == 200, (url, answer.status_code)
    assert answer["Content-Type"].startswith("image/"), answer["Content-Type"]
    return b"".join(answer.streaming_content)  # type: ignore[attr-defined]


class World:
    def __init__(self, media: ThreeMedia, project: Any, admin: Any, token: str, stranger: Any) -> None:
        self.media, self.project, self.admin, self.token, self.stranger = media, project, admin, token, stranger

    def session(self, user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client


@pytest.fixture
def world(media_storage: Any, s3_server: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    settings.LABELSITE_PUBLIC_URL = ""
    organization: Any = OrganizationFactory()
    admin: Any = UserFactory()
    MembershipFactory(user=admin, organization=organization, role="admin")
    stranger: Any = UserFactory()
    MembershipFactory(user=stranger, organization=OrganizationFactory(), role="admin")
    project: Any = ProjectFactory(organization=organization)
    label_config_replace(
        configuration=project.label_configuration, entries=[{"key": "car", "title": "Car", "type": "rectangle"}]
    )
    dataset: Any = DatasetFactory(organization=organization)
    dataset_connect(dataset=dataset, project=project)
    with image_http_server({"url.png": URL_IMAGE}) as image_base:
        media = three_media(
            dataset=dataset, s3_server=s3_server, image_base=image_base, settings=settings, monkeypatch=monkeypatch
        )
        car = project.label_configuration.entries.get(key="car")
        for task in Task.objects.filter(project=project):
            Label.objects.create(task=task, entry=car, points=[[2, 2], [20, 10]])
        Task.objects.filter(project=project).update(state=TaskState.COMPLETED)
        # S3 and URL media are not fetched when added, so their size is not known: as an import would give it.
        Media.objects.filter(dataset=dataset).update(width=64, height=48)
        _, token = api_token_create(organization=organization, user=admin)
        yield World(media, project, admin, token, stranger)


def stream(world: World, format_name: str) -> bytes:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.token}")
    response = client.get(f"/api/projects/{world.project.id}/export", {"format": format_name})
    assert response.status_code == 200, response.content[:300]
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


@pytest.mark.parametrize("format_name", IMAGE_FORMATS)
def test_every_image_url_of_an_export_answers_with_the_image_to_a_user_with_access(world: World, format_name: str):
    urls = image_urls(format_name, stream(world, format_name))

    expected = {
        f"{SITE}/media/{world.media.uploaded.id}/file": world.media.images[str(world.media.uploaded.id)],
        f"{SITE}/media/{world.media.s3.id}/file": world.media.images[str(world.media.s3.id)],
        world.media.url.url: URL_IMAGE,  # a URL media keeps its own public URL
    }
    assert sorted(urls) == sorted(expected)
    session = world.session(world.admin)
    for url in urls:
        assert download(session, url) == expected[url], url
        assert download(Client(), url, HTTP_AUTHORIZATION=f"Token {world.token}") == expected[url], url


def test_a_user_without_access_gets_404_and_an_anonymous_caller_the_login_page(world: World):
    urls = [url for url in image_urls("coco", stream(world, "coco")) if url.startswith(SITE)]
    assert len(urls) == 2
    for url in urls:
        path = url.removeprefix(SITE)
        assert world.session(world.stranger).get(path).status_code == 404
        anonymous = Client().get(path)
        assert anonymous.status_code == 302
        assert anonymous["Location"].startswith("/login/")
        revoked = Client().get(path, HTTP_AUTHORIZATION="Token not-a-token")
        assert revoked.status_code == 302
        assert revoked["Location"].startswith("/login/")


def test_an_export_job_writes_the_address_of_the_request_that_started_it(world: World):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.token}")
    response = client.post(f"/api/projects/{world.project.id}/exports", {"format": "coco"}, format="json")
    assert response.status_code == 201, response.content
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert job.site_url == SITE

    job = export_job_run(job_id=job.pk)

    with job.file.open("rb") as file:
        urls = image_urls("coco", file.read())
    assert f"{SITE}/media/{world.media.uploaded.id}/file" in urls
    session = world.session(world.admin)
    assert {download(session, url) for url in urls} == set(world.media.images.values())


def test_the_public_url_setting_is_the_base_of_every_image_url(world: World, settings: Any):
    settings.LABELSITE_PUBLIC_URL = "https://labels.example.com"
    urls = image_urls("label_studio", stream(world, "label_studio"))
    assert f"https://labels.example.com/media/{world.media.s3.id}/file" in urls
    job = export_job_create(project=world.project, format="coco", site_url="http://other.example.com")
    job = export_job_run(job_id=job.pk)
    with job.file.open("rb") as file:
        assert f"https://labels.example.com/media/{world.media.uploaded.id}/file" in image_urls("coco", file.read())
