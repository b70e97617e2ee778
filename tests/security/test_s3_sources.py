"""S3 media may reference only the buckets and prefixes the operator lists for the organisation.

An S3 media is shown through a URL signed with the server's own credentials, so whoever may
name a key may read it. `LABELSITE_S3_SOURCES` says which bucket and prefix each organisation
may use; the app's own storage (every organisation's uploads and thumbnails) is never one,
even if a source names it by mistake. The rule holds when a media is added and again when it
is shown, so media added before the rule cannot be used to read other keys.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from django.test import Client
from django.urls import reverse

from projects.models import Media, MediaSource
from tests.api.conftest import World
from tests.factories import MediaFactory
from tests.realstack.conftest import S3Server, s3_server

__all__ = ["s3_server"]

APP_BUCKET = "labelsite-files"


@pytest.fixture(autouse=True)
def credentials_and_app_storage(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's credentials (boto3 reads them from the environment) and its own storage in S3."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "server-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "server-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": APP_BUCKET, "location": "", "querystring_auth": True},
        },
    }
    settings.LABELSITE_S3_SOURCES = {}


def add_s3_media(world: World, bucket: str, keys: list[str]) -> Any:
    return world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media/s3", {"bucket": bucket, "keys": keys}, format="json"
    )


def s3_media_count(world: World) -> int:
    return Media.objects.filter(dataset=world.dataset, source=MediaSource.S3).count()


def s3_media(world: World, url: str) -> Media:
    """An S3 media made directly, as one added before the rule (or restored from a backup) is."""
    media: Any = MediaFactory(dataset=world.dataset, source=MediaSource.S3, url=url)  # factory_boy types it loosely
    return media


def media_file(world: World, media: Media) -> Any:
    client = Client()
    client.force_login(world.admin)
    return client.get(reverse("media-file", kwargs={"media_id": media.id}))


# --- adding media -------------------------------------------------------------------------------


def test_adding_s3_media_from_a_bucket_no_source_names_is_refused_with_the_fix(world: World) -> None:
    response = add_s3_media(world, "someone-elses-bucket", ["2024/photo.jpg"])

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "s3_source_not_allowed"
    assert [detail["path"] for detail in error["details"]] == ["bucket"]
    assert "LABELSITE_S3_SOURCES" in error["details"][0]["message"]
    assert s3_media_count(world) == 0


def test_adding_s3_media_from_the_apps_own_bucket_is_refused_even_when_a_source_names_it(
    world: World, settings: Any
) -> None:
    settings.LABELSITE_S3_SOURCES = {"mistake": {"bucket": APP_BUCKET, "organizations": ["*"]}}
    other_tenants_upload = f"media/{uuid.uuid4()}/{uuid.uuid4()}/passport.jpg"
    thumbnail = f"thumbnails/{uuid.uuid4()}.jpg"

    response = add_s3_media(world, APP_BUCKET, [other_tenants_upload, thumbnail])

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "s3_source_not_allowed"
    assert [detail["path"] for detail in error["details"]] == ["keys[0]", "keys[1]"]
    assert s3_media_count(world) == 0


def test_the_apps_own_storage_location_is_refused_but_the_rest_of_its_bucket_may_be_a_source(
    world: World, settings: Any
) -> None:
    settings.STORAGES["default"]["OPTIONS"]["location"] = "app"
    settings.LABELSITE_S3_SOURCES = {"shared": {"bucket": APP_BUCKET, "organizations": ["*"]}}

    refused = add_s3_media(world, APP_BUCKET, ["photos/a.jpg", "app/media/x/y/b.jpg"])
    accepted = add_s3_media(world, APP_BUCKET, ["photos/a.jpg"])

    assert refused.status_code == 400
    assert [detail["path"] for detail in refused.json()["error"]["details"]] == ["keys[1]"]
    assert accepted.status_code == 201
    assert [m.url for m in Media.objects.filter(source=MediaSource.S3)] == [f"s3://{APP_BUCKET}/photos/a.jpg"]


def test_adding_s3_media_outside_the_sources_prefix_is_refused_key_by_key_and_writes_nothing(
    world: World, settings: Any
) -> None:
    settings.LABELSITE_S3_SOURCES = {
        "acme": {"bucket": "shared-photos", "prefix": "acme", "organizations": [str(world.organization.id)]}
    }

    response = add_s3_media(
        world,
        "shared-photos",
        ["acme/a.jpg", "globex/b.jpg", "acme-private/c.jpg", "acme/../globex/d.jpg", "acme//e.jpg"],
    )

    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert [detail["path"] for detail in details] == ["keys[1]", "keys[2]", "keys[3]", "keys[4]"]
    assert "'acme/'" in details[0]["message"]
    assert s3_media_count(world) == 0


def test_a_source_of_another_organisation_is_refused(world: World, settings: Any) -> None:
    settings.LABELSITE_S3_SOURCES = {
        "their-source": {"bucket": "their-photos", "organizations": [str(world.other_organization.id)]}
    }

    response = add_s3_media(world, "their-photos", ["a.jpg"])

    assert response.status_code == 400
    detail = response.json()["error"]["details"][0]
    assert detail["path"] == "bucket"
    assert "their-source" not in detail["message"]  # another organisation's sources are not ours to list


def test_keys_under_a_source_of_the_organisation_are_added(world: World, settings: Any) -> None:
    settings.LABELSITE_S3_SOURCES = {
        "acme": {"bucket": "shared-photos", "prefix": "acme/", "organizations": [str(world.organization.id)]}
    }

    response = add_s3_media(world, "shared-photos", ["acme/2024/a.jpg", "/acme/b.png"])

    assert response.status_code == 201
    results = [(result["key"], result["status"]) for result in response.json()]
    assert results == [("acme/2024/a.jpg", "SUCCESS"), ("acme/b.png", "SUCCESS")]


# --- showing media ------------------------------------------------------------------------------


def test_an_s3_media_outside_every_source_is_not_signed_when_shown(world: World) -> None:
    # As an admin could add before the rule: another organisation's upload in the app's bucket.
    stolen = s3_media(world, f"s3://{APP_BUCKET}/media/{uuid.uuid4()}/x/passport.jpg")

    response = media_file(world, stolen)

    assert response.status_code == 403
    assert "Location" not in response.headers


def test_an_s3_media_of_a_source_the_organisation_lost_is_not_signed_when_shown(world: World, settings: Any) -> None:
    settings.LABELSITE_S3_SOURCES = {
        "acme": {"bucket": "shared-photos", "prefix": "acme/", "organizations": [str(world.other_organization.id)]}
    }
    media = s3_media(world, "s3://shared-photos/acme/a.jpg")

    response = media_file(world, media)

    assert response.status_code == 403


def test_an_s3_media_in_a_source_redirects_to_a_url_signed_for_the_sources_endpoint(
    world: World, settings: Any
) -> None:
    settings.LABELSITE_S3_SOURCES = {
        "acme": {
            "bucket": "shared-photos",
            "prefix": "acme/",
            "endpoint_url": "http://s3.acme.example:9000",
            "organizations": ["*"],
        }
    }
    media = s3_media(world, "s3://shared-photos/acme/a.jpg")

    response = media_file(world, media)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("http://s3.acme.example:9000/shared-photos/acme/a.jpg?")
    assert "Signature=" in response.headers["Location"]


def test_the_datagym_v1_download_of_an_s3_media_signs_nothing(world: World) -> None:
    media = s3_media(world, f"s3://{APP_BUCKET}/media/a/b/c.jpg")

    response = world.client("admin").get(f"/api/v1/media/{media.id}")

    assert response.status_code == 404
    assert "Location" not in response.headers


# --- against a real S3 server -------------------------------------------------------------------


@pytest.mark.realstack
def test_against_s3_another_organisations_upload_cannot_be_added_and_a_source_image_is_shown(
    world: World, settings: Any, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_server.client()
    app_bucket, photos_bucket = f"app-{uuid.uuid4().hex[:12]}", f"photos-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=app_bucket)
    client.create_bucket(Bucket=photos_bucket)
    client.put_object(Bucket=app_bucket, Key="media/theirs/1/passport.jpg", Body=b"their upload")
    client.put_object(Bucket=photos_bucket, Key="acme/beach.jpg", Body=b"our photo")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    options = {"bucket_name": app_bucket, "endpoint_url": s3_server.endpoint_url, "location": ""}
    storage = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    settings.STORAGES = {**settings.STORAGES, "default": storage}
    settings.LABELSITE_S3_SOURCES = {
        "everything-by-mistake": {"bucket": app_bucket, "endpoint_url": s3_server.endpoint_url, "organizations": ["*"]},
        "acme": {
            "bucket": photos_bucket,
            "prefix": "acme/",
            "endpoint_url": s3_server.endpoint_url,
            "region_name": s3_server.region_name,
            "organizations": [str(world.organization.id)],
        },
    }

    refused = add_s3_media(world, app_bucket, ["media/theirs/1/passport.jpg"])
    added = add_s3_media(world, photos_bucket, ["acme/beach.jpg"])
    shown = media_file(world, Media.objects.get(name="beach.jpg"))

    assert refused.status_code == 400
    assert added.status_code == 201
    assert shown.status_code == 302
    assert requests.get(shown.headers["Location"], timeout=10).content == b"our photo"


# --- the operator's configuration ---------------------------------------------------------------


def test_the_system_checks_flag_a_malformed_source_and_one_overlapping_the_apps_storage(settings: Any) -> None:
    from projects.checks import check_s3_sources

    settings.LABELSITE_S3_SOURCES = {"typo": {"bucket": "Not A Bucket", "organizations": ["*"]}}
    assert [message.id for message in check_s3_sources(None)] == ["projects.E001"]

    settings.LABELSITE_S3_SOURCES = {"mistake": {"bucket": APP_BUCKET, "prefix": "media", "organizations": ["*"]}}
    assert [message.id for message in check_s3_sources(None)] == ["projects.W001"]

    settings.LABELSITE_S3_SOURCES = {"photos": {"bucket": "acme-photos", "organizations": ["*"]}}
    assert check_s3_sources(None) == []
