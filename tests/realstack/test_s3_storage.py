"""Media and thumbnails go through Django's storage API to a real S3-compatible server."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from django.core.files.storage import default_storage
from PIL import Image
from rest_framework.test import APIClient

from imports.models import ImportJob
from projects.models import Dataset
from projects.services import api_token_create, dataset_create, media_create_from_file, organization_get_or_create
from projects.thumbnails import media_thumbnail_create
from tests.factories import ProjectFactory
from tests.realstack.conftest import S3Server

pytestmark = [pytest.mark.realstack, pytest.mark.django_db]


@pytest.fixture
def s3_bucket(s3_server: S3Server, settings: Any) -> str:
    """A fresh bucket, and the default storage pointed at it as settings do with AWS_* set."""
    bucket = f"labelsite-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_server.endpoint_url,
                "region_name": s3_server.region_name,
                "access_key": s3_server.access_key,
                "secret_key": s3_server.secret_key,
                "file_overwrite": False,
                "default_acl": None,
                "querystring_auth": True,
            },
        },
    }
    return bucket


def new_dataset() -> Dataset:
    organization = organization_get_or_create(name=f"Realstack {uuid.uuid4().hex[:8]}")
    return dataset_create(organization=organization, name="Photos")


def jpeg_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_media_upload_stores_the_file_in_the_bucket_and_reads_it_back(s3_server: S3Server, s3_bucket: str) -> None:
    content = jpeg_bytes(64, 48)

    media = media_create_from_file(dataset=new_dataset(), name="photo.jpg", content=content)

    stored = s3_server.client().get_object(Bucket=s3_bucket, Key=media.file.name)
    assert stored["Body"].read() == content
    assert media.file.name == f"media/{media.dataset_id}/{media.id}/photo.jpg"
    with media.file.open("rb") as read_back:
        assert read_back.read() == content
    assert (media.width, media.height, media.mime_type) == (64, 48, "image/jpeg")


def test_thumbnail_of_media_in_the_bucket_is_stored_in_the_bucket_once(s3_server: S3Server, s3_bucket: str) -> None:
    media = media_create_from_file(dataset=new_dataset(), name="big.jpg", content=jpeg_bytes(600, 800))

    path = media_thumbnail_create(media=media)
    again = media_thumbnail_create(media=media)

    assert path == again == f"thumbnails/{media.id}.jpg"
    assert default_storage.exists(path)
    listing = s3_server.client().list_objects_v2(Bucket=s3_bucket, Prefix="thumbnails/")
    assert [item["Key"] for item in listing["Contents"]] == [path]
    body = s3_server.client().get_object(Bucket=s3_bucket, Key=path)["Body"].read()
    with Image.open(io.BytesIO(body)) as thumbnail:
        assert thumbnail.format == "JPEG"
        assert thumbnail.size == (192, 256)


def test_a_datagym_prediction_body_over_the_inline_cap_is_stored_in_the_bucket_for_a_job(
    s3_server: S3Server, s3_bucket: str, settings: Any
) -> None:
    settings.LABELSITE_V1_INLINE_MAX_BYTES = 1024
    organization = organization_get_or_create(name=f"Realstack {uuid.uuid4().hex[:8]}")
    project: Any = ProjectFactory(organization=organization)
    client: Any = APIClient()
    _, token = api_token_create(organization=organization)
    body = b"[" + b",".join([b'{"labels": {}}'] * 500) + b"]"

    response = client.generic(
        "POST",
        f"/api/v1/project/{project.id}/prediction",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )

    assert response.status_code == 202, response.content
    job = ImportJob.objects.get(pk=response.json()["importJobId"])
    assert s3_server.client().get_object(Bucket=s3_bucket, Key=job.file.name)["Body"].read() == body
    assert job.file_size == len(body)
