"""Masks are decoded only as PNG (issue 15, hardening 4).

Pillow opens some forty formats and each decoder is attack surface; a mask of the Ango CSV or
Labelbox NDJSON import is documented as a PNG, so any other file (a real JPEG, BMP, TIFF or
GIF made here, under a `.png` name) is refused by its first bytes, before Pillow sees it, with
an error located at the row and column or the line's JSON pointer that says what it is and
what to send instead. Masks come by URL (a local HTTP server the allow-list opens), from a
configured storage, or inline (Labelbox `mask.png`).
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from formats import format_get
from formats.mask_sources import mask_png_problem
from tests.formats.test_ango_csv import (
    config,
    convert_rows,
    csv_text,
    loopback_allowed,
    mask_rows,
    mask_server,
    mask_storage,
    png,
    scene,
)

__all__ = ["loopback_allowed", "mask_server", "mask_storage"]  # fixtures used here

pytestmark = pytest.mark.django_db

LABELBOX = format_get(name="labelbox_ndjson")
NOT_PNG = [("JPEG", "JPEG"), ("BMP", "BMP"), ("TIFF", "TIFF"), ("GIF", "GIF")]


def encoded(array: np.ndarray, image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=image_format)
    return buffer.getvalue()


def binary_mask() -> np.ndarray:
    pixels = np.zeros((40, 60), dtype=np.uint8)
    pixels[10:30, 5:25] = 1
    return pixels


def labelbox_line(mask: dict[str, Any]) -> dict[str, Any]:
    return {"dataRow": {"globalKey": "img_001.jpg"}, "name": "Sky", "mask": mask}


@pytest.mark.parametrize(("image_format", "named"), NOT_PNG)
def test_an_ango_csv_mask_url_that_is_not_a_png_is_refused_naming_row_and_column(
    ango_config: Any, mask_server: Any, loopback_allowed: Any, image_format: str, named: str
) -> None:
    (row,) = mask_rows(ango_config, encoded(scene(), image_format), mask_server)  # served as /m.png

    assert [(e.path, e.code) for e in row.errors] == [('row 2, column "Mask"', "mask_not_png")]
    message = row.errors[0].message
    assert f"{mask_server['base']}/m.png" in message
    assert f"a {named} file" in message
    assert "PNG" in message
    assert row.annotation is None or row.annotation.shapes == []


def test_an_ango_csv_mask_from_a_storage_that_is_not_a_png_is_refused(
    ango_config: Any, mask_storage: Any, organization: Any
) -> None:
    (mask_storage / "masks" / "a.png").write_bytes(encoded(scene(), "JPEG"))

    (row,) = convert_rows(
        ango_config,
        csv_text("img_1,,,,masks/a.png"),
        config(mask_column="Mask", storage_id="ours"),
        organization_id=organization.pk,
    )

    assert [(e.path, e.code) for e in row.errors] == [('row 2, column "Mask"', "mask_not_png")]
    assert "'masks/a.png' is a JPEG file" in row.errors[0].message


def test_an_ango_csv_png_mask_still_becomes_polygons(ango_config: Any, mask_server: Any, loopback_allowed: Any) -> None:
    (row,) = mask_rows(ango_config, png(scene()), mask_server)

    assert row.errors == []
    assert len(row.annotation.shapes) == 3


@pytest.mark.parametrize(("image_format", "named"), NOT_PNG)
def test_a_labelbox_inline_mask_that_is_not_a_png_is_refused_at_its_pointer(
    ls_config: Any, image_format: str, named: str
) -> None:
    mask = {"png": base64.b64encode(encoded(binary_mask(), image_format)).decode()}

    converted = LABELBOX.convert_item(labelbox_line(mask), ls_config, index=0, match_by="global_key", options={})

    assert [(e.path, e.code) for e in converted.errors] == [("/0/mask/png", "mask_not_png")]
    assert f"a {named} file" in converted.errors[0].message


@pytest.mark.parametrize(("image_format", "named"), NOT_PNG)
def test_a_labelbox_instance_uri_mask_that_is_not_a_png_is_refused_at_its_pointer(
    ls_config: Any, mask_server: Any, loopback_allowed: Any, image_format: str, named: str
) -> None:
    rgb = np.zeros((40, 60, 3), dtype=np.uint8)
    rgb[5:15, 5:15] = (255, 0, 0)
    mask_server["files"][f"/instances-{image_format}.png"] = encoded(rgb, image_format)
    uri = f"{mask_server['base']}/instances-{image_format}.png"

    converted = LABELBOX.convert_item(
        labelbox_line({"instanceURI": uri, "colorRGB": [255, 0, 0]}),
        ls_config,
        index=0,
        match_by="global_key",
        options={},
    )

    assert [(e.path, e.code) for e in converted.errors] == [("/0/mask/instanceURI", "mask_not_png")]
    assert uri in converted.errors[0].message
    assert f"a {named} file" in converted.errors[0].message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, None),
        (b"\xff\xd8\xff\xe0", "a JPEG file"),
        (b"II*\x00", "a TIFF file"),
        (b"", "an empty file"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a PNG file"),
    ],
)
def test_the_signature_check_names_what_a_file_is(content: bytes, problem: str | None) -> None:
    found = mask_png_problem(content)

    assert found == problem if problem is None else (found is not None and problem in found)
