"""The images a model server downloads with its media token, and the configuration as Label Studio XML."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from ml import services
from ml.models import MLBackend
from projects.config_converters import label_config_to_ls_xml, ls_config_to_entries
from projects.label_config import label_config_index, label_config_replace
from projects.models import MediaSource
from tests.factories import MediaFactory, TaskFactory
from tests.ml.conftest import street_project

pytestmark = pytest.mark.django_db


def _get(path: str, token: str | None) -> Any:
    headers = {"Authorization": f"Token {token}"} if token is not None else {}
    return Client().get(path, headers=headers)


def test_the_media_token_opens_the_projects_images_and_nothing_else(media_storage: Any) -> None:
    street = street_project(count=1)
    backend = MLBackend.objects.create(project=street.project, title="M", url="http://models.example.com")
    token = services.backend_media_token(backend=backend)
    media = street.tasks[0].media
    path = services.media_path(media_id=media.pk, name=media.name)
    assert path == f"/api/ml/media/{media.pk}/street_0.jpg"

    answer = _get(path, token)
    assert answer.status_code == 200
    assert b"".join(answer.streaming_content)[:2] == b"\xff\xd8"  # the JPEG
    assert _get(path, None).status_code == 401
    assert _get(path, token[:-1] + ("0" if token[-1] != "0" else "1")).status_code == 401
    # An API token of a user is not a media token, and a media token is not an API token.
    assert (
        Client().get(f"/api/projects/{street.project.pk}", headers={"Authorization": f"Token {token}"}).status_code
        == 401
    )

    other: Any = TaskFactory()  # another organisation's image
    other.media.source = MediaSource.LOCAL
    other.media.file.save("x.jpg", ContentFile(b"\xff\xd8x"), save=True)
    missing = _get(services.media_path(media_id=other.media.pk, name="x.jpg"), token)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"

    services.backend_token_rotate(backend=backend)
    assert _get(path, token).status_code == 401
    assert _get(path, services.backend_media_token(backend=backend)).status_code == 200


def test_a_url_media_redirects_to_its_url(media_storage: Any) -> None:
    street = street_project(count=0)
    media: Any = MediaFactory(dataset=street.project.datasets.get(), name="far.jpg")
    TaskFactory(project=street.project, media=media)
    backend = MLBackend.objects.create(project=street.project, title="M", url="http://models.example.com")
    answer = _get(services.media_path(media_id=media.pk, name="far.jpg"), services.backend_media_token(backend=backend))
    assert (answer.status_code, answer["Location"]) == (302, "https://images.example.com/far.jpg")


LS_CONFIG = """<View>
  <Image name="image" value="$photo"/>
  <RectangleLabels name="label" toName="image"><Label value="Car"/><Label value="Traffic light"/></RectangleLabels>
  <KeyPointLabels name="kp" toName="image"><Label value="Head"/></KeyPointLabels>
  <Choices name="weather" toName="image"><Choice value="Sunny"/><Choice value="Rainy day"/></Choices>
  <Choices name="occluded" toName="image" perRegion="true"><Choice value="yes"/><Choice value="no"/></Choices>
</View>"""


def test_a_configuration_made_from_label_studio_xml_goes_back_with_its_names() -> None:
    street = street_project(count=0)
    configuration = label_config_replace(
        configuration=street.project.label_configuration, entries=ls_config_to_entries(LS_CONFIG).entries
    )
    xml = label_config_to_ls_xml(label_config_index(configuration=configuration), image_field="photo")
    assert '<Image name="image" value="$photo" />' in xml
    assert '<RectangleLabels name="label" toName="image">' in xml
    assert '<Label value="Traffic light" />' in xml
    assert '<KeyPointLabels name="kp" toName="image">' in xml
    assert '<Choices name="weather" toName="image" choice="single">' in xml
    assert '<Choices name="occluded" toName="image" choice="single" perRegion="true">' in xml
    # ...and reading it again gives the same classes and questions.
    again = ls_config_to_entries(xml).entries
    assert [(e["key"], e["type"]) for e in again] == [
        (e["key"], e["type"]) for e in ls_config_to_entries(LS_CONFIG).entries
    ]


def test_our_own_classes_get_one_control_per_geometry_type() -> None:
    street = street_project(count=0)  # the demo configuration
    index = label_config_index(configuration=street.project.label_configuration)
    xml = label_config_to_ls_xml(index)
    assert '<RectangleLabels name="rectangle" toName="image">' in xml
    assert '<Label value="Bus" background="#f5a623" />' in xml
    assert '<PolygonLabels name="polygon" toName="image">' in xml
    assert '<PolygonLabels name="line" toName="image">' in xml
    assert '<KeyPointLabels name="keypoint" toName="image">' in xml
    assert '<Choices name="weather/daytime" toName="image" choice="single">' in xml
    assert '<TextArea name="comment" toName="image" />' in xml
    assert '<Choices name="car_type" toName="image" choice="single" perRegion="true">' in xml


def test_renewing_the_token_shows_the_new_one_once(media_storage: Any, settings: Any) -> None:
    from rest_framework.test import APIClient

    settings.LABELSITE_ML_HOST_ALLOWLIST = []
    street = street_project(count=1)
    backend = MLBackend.objects.create(project=street.project, title="M", url="http://127.0.0.1:9")
    old = services.backend_media_token(backend=backend)
    client = APIClient()
    client.force_authenticate(street.admin)
    answer = client.post(f"/api/ml-backends/{backend.pk}/token").json()
    assert answer["media_token"] != old
    assert answer["state"] == "down"  # the server is asked again: here it is refused by the URL guard
    media = street.tasks[0].media
    path = services.media_path(media_id=media.pk, name=media.name)
    assert _get(path, old).status_code == 401
    assert _get(path, answer["media_token"]).status_code == 200
    assert "media_token" not in client.get(f"/api/ml-backends/{backend.pk}").json()
