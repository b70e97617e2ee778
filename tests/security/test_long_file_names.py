"""File names longer than a file system takes (255 bytes) through every upload path.

The DataGym v1 raw upload takes its name from the `X-filename` header as it is; multipart
uploads (the dataset page, the native API) get theirs from the part's header, which Django
cuts to 255 characters, not bytes. A longer name is refused with an error that names the
limit, never cut short behind the client's back (the name is the media's identity: DataGym's
client and its exports match media by it) and never a 500.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import Media
from tests.api.conftest import png_bytes
from tests.security.conftest import SecurityWorld
from tests.security.test_hostile_uploads import UPLOADS, Upload, api_upload, media_files, page_upload, v1_upload

pytestmark = pytest.mark.django_db

#: The error each path answers for a name over the limit (the v1 key is DataGym's bean validation).
NAME_TOO_LONG: dict[Upload, str] = {page_upload: "name_too_long", api_upload: "name_too_long", v1_upload: "ex_size"}


def v1_upload_body(world: SecurityWorld, name: str) -> tuple[int, dict[str, Any]]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens['org_token']}")
    response = client.generic(
        "POST",
        f"/api/v1/media/{world.dataset.id}/file",
        png_bytes(),  # type: ignore[arg-type]  # bytes go through as they are
        content_type="application/octet-stream",
        HTTP_X_FILENAME=name,
    )
    return response.status_code, response.json()


def test_a_v1_x_filename_over_255_bytes_answers_datagyms_size_error_naming_the_limit(
    security_world: SecurityWorld, media_storage: Path
):
    before, files_before = Media.objects.count(), media_files(media_storage)

    status, body = v1_upload_body(security_world, "a" * 252 + ".png")  # 256 bytes

    assert status == 400
    assert (body["key"], body["code"]) == ("ex_validation", 0)
    header = "Header: X-filename"
    assert body["details"] == [{"name": header, "key": "ex_size", "params": [header, "255", "1"]}]
    assert Media.objects.count() == before
    assert media_files(media_storage) == files_before


def test_a_v1_x_filename_of_exactly_255_bytes_is_stored_as_it_is(security_world: SecurityWorld, media_storage: Path):
    name = "a" * 251 + ".png"

    status, body = v1_upload_body(security_world, name)

    assert status == 200, body
    assert body["mediaName"] == name
    assert Media.objects.get(pk=body["id"]).name == name


def test_a_v1_x_filename_under_255_characters_but_over_255_bytes_is_refused(
    security_world: SecurityWorld, media_storage: Path
):
    # DataGym's client sends the header in Latin-1: each "é" is two bytes once stored as UTF-8.
    status, body = v1_upload_body(security_world, "é" * 130 + ".png")  # 134 characters, 264 bytes

    assert status == 400
    assert body["details"][0]["key"] == "ex_size"


@pytest.mark.parametrize("upload", UPLOADS)
def test_a_name_over_255_bytes_is_refused_on_every_upload_path_and_nothing_is_written(
    security_world: SecurityWorld, media_storage: Path, upload: Upload
):
    before, files_before = Media.objects.count(), media_files(media_storage)

    status, code = upload(security_world, "é" * 200 + ".png", png_bytes())

    assert (status, code) == (400, NAME_TOO_LONG[upload])
    assert Media.objects.count() == before
    assert media_files(media_storage) == files_before
