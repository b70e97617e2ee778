"""URL media are checked when they are created, on every path that creates them (issue 15, hardening 2).

A URL media is stored now and fetched later, by the browser (a redirect) or by the server (a
preview, an export): a URL that points at this machine, a private network or a cloud metadata
service is refused on the spot by `labelsite.netguard.url_shape_problem`, with a message that
says why and what to give instead. The dataset page, the native API and the DataGym v1 URL
import all add URL media through `projects.services.media_create_from_urls`; the import
pipeline's own check is `formats.media_rows.url_errors` (tests/formats/test_media_references.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from projects.models import Media
from tests.security.conftest import SecurityWorld

REFUSED = [
    ("http://169.254.169.254/x.png", "a cloud metadata address"),
    ("http://127.0.0.1/x.png", "a non-public address (127.0.0.1)"),
    ("http://[::1]/x.png", "a non-public address (::1)"),
    ("http://10.1.2.3/x.jpg", "a non-public address (10.1.2.3)"),
    ("http://2130706433/x.png", "a non-public address (127.0.0.1)"),  # 127.0.0.1 as one number
    ("http://localhost/x.png", "this machine (localhost)"),
]


def _assert_refusal_message(message: str, url: str, reason: str) -> None:
    assert url in message
    assert reason in message
    assert "LABELSITE_URL_ALLOWLIST" in message  # how an operator lets an internal image host through


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_the_dataset_page_refuses_a_url_media_on_a_private_address(
    security_world: SecurityWorld, url: str, reason: str
) -> None:
    page = reverse("dataset-detail", kwargs={"dataset_id": security_world.dataset.pk})

    response = security_world.page_client("admin").post(page, {"urls": f"{url}\nhttps://img.example.com/ok.png"})

    assert response.status_code == 200
    results = {result.url: result for result in response.context["url_results"]}
    assert results[url].status == "FAILED"
    _assert_refusal_message(results[url].message, url, reason)
    assert results["https://img.example.com/ok.png"].status == "SUCCESS"
    body = response.content.decode()
    assert "cannot be a media URL" in body
    assert not Media.objects.filter(url=url).exists()


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_the_native_api_refuses_a_url_media_on_a_private_address(
    security_world: SecurityWorld, url: str, reason: str
) -> None:
    response = security_world.client("admin").post(
        f"/api/datasets/{security_world.dataset.id}/media/urls", {"urls": [url]}, format="json"
    )

    assert response.status_code == 200, response.content  # nothing created
    (result,) = response.json()
    assert (result["url"], result["status"], result["media"]) == (url, "FAILED", None)
    _assert_refusal_message(result["message"], url, reason)
    assert not Media.objects.filter(url=url).exists()


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_the_datagym_v1_url_import_refuses_a_url_media_on_a_private_address(
    security_world: SecurityWorld, url: str, reason: str
) -> None:
    response = security_world.client("org_token").post(
        f"/api/v1/media/{security_world.dataset.id}/url", [url], format="json"
    )

    assert response.status_code == 200, response.content
    (result,) = response.json()
    assert result["mediaUploadStatus"] == "FAILED"
    assert result["internal_media_ID"] is None
    _assert_refusal_message(result["message"], url, reason)
    assert not Media.objects.filter(url=url).exists()


def test_an_allow_listed_internal_image_host_is_accepted(security_world: SecurityWorld, settings: Any) -> None:
    settings.LABELSITE_URL_ALLOWLIST = ["10.1.0.0/16"]

    response = security_world.client("admin").post(
        f"/api/datasets/{security_world.dataset.id}/media/urls", {"urls": ["http://10.1.2.3/x.jpg"]}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()[0]["status"] == "SUCCESS"
    assert response.json()[0]["message"] == ""


def test_a_public_url_is_accepted_by_every_path_with_no_message(security_world: SecurityWorld) -> None:
    native = security_world.client("admin").post(
        f"/api/datasets/{security_world.dataset.id}/media/urls",
        {"urls": ["https://93.184.216.34/a.jpg"]},
        format="json",
    )
    v1 = security_world.client("org_token").post(
        f"/api/v1/media/{security_world.dataset.id}/url", ["https://img.example.com/b.png"], format="json"
    )

    assert native.json()[0]["status"] == "SUCCESS"
    assert v1.json()[0]["mediaUploadStatus"] == "SUCCESS"
    assert "message" not in v1.json()[0]  # DataGym's own shape when nothing is refused
