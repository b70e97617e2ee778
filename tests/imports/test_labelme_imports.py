"""LabelMe JSON: what labelme (from PyPI, its own `LabelFile.save`) writes imports, alone or
zipped, with its labels in pixels; our export opens in labelme's `LabelFile` with the same shapes."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from formats.codecs.mask_polygons import segmentation_mask
from formats.labelme import CIRCLE_VERTICES
from imports.models import ImportJob
from labeling.models import Task
from projects.label_config import label_config_replace
from tests.imports.test_cvat_imports import _zip, export_bytes, import_run, labels_of, media
from tests.thirdparty import tool_run, tool_venv

pytestmark = [pytest.mark.django_db, pytest.mark.thirdparty]

#: labelme 6.3 installs on Python 3.11 from wheels (PyQt5 comes along; its file code needs no display).
LABELME = "labelme==6.3.1"

SPEC: dict[str, Any] = {
    "items": [
        {
            "image": "street_1.jpg",
            "width": 64,
            "height": 48,
            "embed": True,
            "flags": {"day": True, "night": False},
            "shapes": [
                {"label": "car", "shape_type": "rectangle", "points": [[12, 23], [2, 3]], "description": "parked"},
                {"label": "road", "shape_type": "polygon", "points": [[0, 40], [60, 40], [60, 47], [0, 47]]},
                {"label": "lane", "shape_type": "linestrip", "points": [[1, 1], [10, 10], [20, 5]]},
                {"label": "head", "shape_type": "point", "points": [[5, 6]]},
                {"label": "wheel", "shape_type": "circle", "points": [[30, 30], [34, 30]]},
                {"label": "Sky", "shape_type": "mask", "mask_box": [10, 0, 30, 8]},
            ],
        },
        {
            "image": "street_2.jpg",
            "width": 32,
            "height": 32,
            "shapes": [{"label": "car", "shape_type": "rectangle", "points": [[4, 4], [12, 10]]}],
        },
    ]
}
CONFIG = [
    {
        "key": "car",
        "title": "car",
        "type": "rectangle",
        "children": [{"key": "description", "title": "description", "type": "freetext", "max_length": 255}],
    },
    {"key": "road", "title": "road", "type": "polygon"},
    {"key": "lane", "title": "lane", "type": "line"},
    {"key": "head", "title": "head", "type": "point"},
    {"key": "wheel", "title": "wheel", "type": "polygon"},
    {"key": "sky", "title": "sky", "type": "segmentation"},
    {
        "key": "flags",
        "title": "Flags",
        "type": "checklist",
        "options": [{"key": "day", "label": "day"}, {"key": "night", "label": "night"}],
    },
]
SIZES = {"street_1.jpg": (64, 48), "street_2.jpg": (32, 32)}


def labelme_files(tmp_path: Path, spec: dict[str, Any] = SPEC) -> Path:
    (tmp_path / "labelme-spec.json").write_text(json.dumps(spec))
    out = tmp_path / "labelme"
    tool_run(tool_venv("labelme", [LABELME]), "labelme_files.py", "make", str(tmp_path / "labelme-spec.json"), str(out))
    return out


@pytest.fixture
def run_import(admin_client, media_storage, eager_worker, django_capture_on_commit_callbacks):
    return lambda project, name, body: import_run(admin_client, django_capture_on_commit_callbacks, project, name, body)


@pytest.fixture
def labelme_project(project):
    label_config_replace(configuration=project.label_configuration, entries=CONFIG)
    media(project, SIZES)
    return project


def test_a_labelme_folder_zipped_with_its_images_is_one_job_with_every_shape_in_pixels(
    labelme_project, run_import, tmp_path
):
    folder = labelme_files(tmp_path)
    assert json.loads((folder / "street_1.json").read_text())["imageData"]  # the image is embedded

    job = run_import(labelme_project, "labelme.zip", _zip(folder))

    assert (job["format"], job["status"]) == ("labelme", "succeeded"), (job["message"], job["errors"])
    assert ImportJob.objects.count() == 1
    found = {key: (points, answers) for key, _, points, answers in labels_of(labelme_project, "street_1.jpg")}
    assert found["car"] == ([[2.0, 3.0], [12.0, 23.0]], {"description": {"value": "parked"}})
    assert found["road"][0] == [[0.0, 40.0], [60.0, 40.0], [60.0, 47.0], [0.0, 47.0]]
    assert found["lane"][0] == [[1.0, 1.0], [10.0, 10.0], [20.0, 5.0]]
    assert found["head"][0] == [[5.0, 6.0]]
    wheel = np.array(found["wheel"][0])
    assert len(wheel) == CIRCLE_VERTICES
    assert np.allclose(np.hypot(wheel[:, 0] - 30, wheel[:, 1] - 30), 4, atol=0.01)
    expected = np.zeros((48, 64), dtype=bool)
    expected[0:8, 10:30] = True
    assert (segmentation_mask(found["sky"][0], 64, 48) == expected).all()
    assert Task.objects.get(media__name="street_1.jpg").answers == {"flags": {"value": ["day"]}}
    assert [points for _, _, points, _ in labels_of(labelme_project, "street_2.jpg")] == [[[4.0, 4.0], [12.0, 10.0]]]


def test_one_labelme_json_file_is_detected_and_imported(labelme_project, run_import, tmp_path):
    folder = labelme_files(tmp_path)

    job = run_import(labelme_project, "street_2.json", (folder / "street_2.json").read_bytes())

    assert (job["format"], job["status"]) == ("labelme", "succeeded"), (job["message"], job["errors"])
    assert [key for key, *_ in labels_of(labelme_project, "street_2.jpg")] == ["car"]


def test_a_zip_of_labelme_json_files_without_their_images_is_still_one_job(labelme_project, run_import, tmp_path):
    folder = labelme_files(tmp_path)
    for image in folder.glob("*.jpg"):
        image.unlink()

    job = run_import(labelme_project, "labels.zip", _zip(folder))

    assert (job["format"], job["status"]) == ("labelme", "succeeded"), (job["message"], job["errors"])
    assert ImportJob.objects.count() == 1
    assert len(labels_of(labelme_project, "street_1.jpg")) == 6


def test_a_shape_of_no_class_is_an_error_at_its_file_and_shape_and_nothing_is_written(
    labelme_project, run_import, tmp_path
):
    spec = {
        "items": [
            {
                **SPEC["items"][1],
                "shapes": [
                    SPEC["items"][1]["shapes"][0],
                    {"label": "bus", "shape_type": "rectangle", "points": [[1, 1], [2, 2]]},
                ],
            }
        ]
    }
    folder = labelme_files(tmp_path, spec)

    job = run_import(labelme_project, "labels.zip", _zip(folder))

    assert job["status"] == "failed"
    (error,) = job["errors"]
    assert (error["code"], error["location"]) == ("unknown_class", "street_2.json: /shapes/1/label")
    assert "'bus' is no class of the label configuration" in error["message"]
    assert "label_mapping" in error["message"]
    assert not labels_of(labelme_project, "street_2.jpg")


def test_a_circle_in_a_rectangle_class_is_refused_naming_the_class_types_it_needs(
    labelme_project, run_import, tmp_path
):
    spec = {
        "items": [
            {**SPEC["items"][1], "shapes": [{"label": "car", "shape_type": "circle", "points": [[5, 5], [8, 5]]}]}
        ]
    }

    job = run_import(labelme_project, "street_2.json", (labelme_files(tmp_path, spec) / "street_2.json").read_bytes())

    assert job["status"] == "failed"
    assert job["errors"][0]["location"] == "file: /shapes/0/label"
    assert "a circle needs a polygon or segmentation class" in job["errors"][0]["message"]


def test_our_labelme_export_opens_in_labelme_with_the_same_shapes(labelme_project, run_import, tmp_path):
    assert run_import(labelme_project, "labelme.zip", _zip(labelme_files(tmp_path)))["status"] == "succeeded"
    out = tmp_path / "ours"
    zipfile.ZipFile(io.BytesIO(export_bytes(labelme_project, "labelme"))).extractall(out)
    for name, size in SIZES.items():  # labelme opens the image a file names
        Image.new("RGB", size).save(out / name)

    read = json.loads(tool_run(tool_venv("labelme", [LABELME]), "labelme_files.py", "read", str(out)))

    first = read["street_1.json"]
    assert first["image_path"] == "street_1.jpg"
    assert first["flags"] == {"day": True, "night": False}
    shapes = {shape["label"]: shape for shape in first["shapes"]}
    assert (shapes["car"]["shape_type"], shapes["car"]["points"]) == ("rectangle", [[2.0, 3.0], [12.0, 23.0]])
    assert shapes["car"]["description"] == "parked"
    assert shapes["road"]["points"] == [[0.0, 40.0], [60.0, 40.0], [60.0, 47.0], [0.0, 47.0]]
    assert (shapes["lane"]["shape_type"], shapes["lane"]["points"]) == (
        "linestrip",
        [[1.0, 1.0], [10.0, 10.0], [20.0, 5.0]],
    )
    assert (shapes["head"]["shape_type"], shapes["head"]["points"]) == ("point", [[5.0, 6.0]])
    assert shapes["wheel"]["shape_type"] == "polygon"
    assert (shapes["sky"]["shape_type"], shapes["sky"]["box"], shapes["sky"]["area"]) == ("mask", [10, 0, 30, 8], 160)
    assert [s["points"] for s in read["street_2.json"]["shapes"]] == [[[4.0, 4.0], [12.0, 10.0]]]
