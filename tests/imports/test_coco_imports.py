"""COCO instances files import as their users expect, detected without naming the format.

Input comes from the tools themselves at test time: Label Studio's converter (label-studio-sdk)
turns the committed Label Studio export into its COCO export (`tests/thirdparty/ls_convert.py`),
and pycocotools encodes the RLE masks and loads every file we make with `COCO()` first, so that
the file is one that pycocotools accepts.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from formats.codecs.mask_polygons import segmentation_mask
from imports.models import ImportJob
from labeling.models import Label, Task
from projects.config_converters import ls_config_to_entries
from projects.label_config import label_config_replace
from tests.factories import DatasetFactory, MediaFactory, TaskFactory
from tests.imports.test_label_studio_exports import FILES, LABEL_STUDIO_SDK, SIZES
from tests.thirdparty import tool_run, tool_venv

pytestmark = pytest.mark.django_db

#: A rectangle, a polygon, a segmentation and two point classes, named as a COCO user names them.
CONFIG: list[dict[str, Any]] = [
    {"entryKey": "person", "entryValue": "Person", "type": "rectangle", "children": []},
    {"entryKey": "car", "entryValue": "Car", "type": "polygon", "children": []},
    {"entryKey": "crowd", "entryValue": "Crowd", "type": "segmentation", "children": []},
    {"entryKey": "nose", "entryValue": "Nose", "type": "point", "children": []},
    {"entryKey": "left_eye", "entryValue": "Left eye", "type": "point", "children": []},
]


def _media(project, sizes: dict[str, tuple[int, int]]) -> None:
    dataset: Any = DatasetFactory(organization=project.organization, name="Images")
    dataset.projects.add(project)
    for name, (width, height) in sizes.items():
        TaskFactory(project=project, media=MediaFactory(dataset=dataset, name=name, width=width, height=height))


@pytest.fixture
def run_import(admin_client, media_storage, eager_worker, django_capture_on_commit_callbacks):
    def run(project, name: str, body: bytes, **options: Any) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                f"/api/projects/{project.pk}/imports",
                {
                    "file": SimpleUploadedFile(name, body, content_type="application/json"),
                    "options": json.dumps({"write_when_valid": True, **options}),
                },
                format="multipart",
            )
        assert response.status_code == 201, response.json()
        job = dict(admin_client.get(f"/api/imports/{response.json()['id']}").json())
        job["errors"] = admin_client.get(job["links"]["errors"]).json()["results"]
        return job

    return run


def shapes(project, media_name: str) -> list[tuple[str, Any]]:
    labels = Label.objects.filter(task__project=project, task__media__name=media_name).select_related("entry")
    return sorted((label.entry.key, label.points) for label in labels)


@pytest.mark.thirdparty
def test_label_studio_coco_export_imports_every_box_polygon_and_keypoint_in_pixels(project, run_import, tmp_path):
    label_config_replace(
        configuration=project.label_configuration,
        entries=ls_config_to_entries((FILES / "label_config.xml").read_text()).entries,
    )
    _media(project, SIZES)
    python = tool_venv("label-studio-sdk", [LABEL_STUDIO_SDK])
    config, export = str(FILES / "label_config.xml"), str(FILES / "export.json")
    tool_run(python, "ls_convert.py", config, export, "COCO", str(tmp_path))
    result = tmp_path / "result.json"
    COCO(str(result))  # pycocotools reads it

    job = run_import(project, "result.json", result.read_bytes())

    assert (job["format"], job["status"]) == ("coco", "succeeded"), (job["message"], job["errors"])
    # images/18a0b175__img_001.jpg is listed twice (once per annotator): both annotators' boxes arrive.
    assert shapes(project, "img_001.jpg") == [
        ("car", [[80.0, 120.0], [320.0, 360.0]]),
        ("traffic light", [[400.0, 30.0], [440.0, 120.0]]),
    ]
    # The polygon, and the keypoint of the converter's merged category "default" by its keypoint name.
    assert shapes(project, "img_002.jpg") == [
        ("head", [[200.0, 300.0]]),
        ("road", [[0.0, 600.0], [400.0, 300.0], [800.0, 600.0]]),
    ]
    assert shapes(project, "img_003.jpg") == [("car", [[80.0, 60.0], [240.0, 180.0]])]
    # /data/upload/1/069f62bc-img_004.png finds the media img_004.png.
    assert shapes(project, "img_004.png") == [("car", [[16.0, 12.0], [48.0, 36.0]])]
    assert shapes(project, "img_005.jpg") == []
    assert job["counts"]["labels_written"] == 6


@pytest.mark.thirdparty
def test_label_studio_coco_export_zip_with_its_images_imports_as_one_job(project, run_import, tmp_path):
    label_config_replace(
        configuration=project.label_configuration,
        entries=ls_config_to_entries((FILES / "label_config.xml").read_text()).entries,
    )
    _media(project, SIZES)
    python = tool_venv("label-studio-sdk", [LABEL_STUDIO_SDK])
    config, export = str(FILES / "label_config.xml"), str(FILES / "export.json")
    tool_run(python, "ls_convert.py", config, export, "COCO", str(tmp_path))
    result = json.loads((tmp_path / "result.json").read_text())
    buffer = io.BytesIO()
    # Label Studio's download: result.json and the images it fetched under images/.
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("result.json", json.dumps(result))
        for file_name in sorted({image["file_name"] for image in result["images"]}):
            if file_name.startswith("images/"):
                archive.writestr(file_name, b"\xff\xd8\xff\xe0 jpeg")

    job = run_import(project, "project-1-at-2026-12-06.zip", buffer.getvalue())

    assert (job["format"], job["status"]) == ("coco", "succeeded"), (job["message"], job["errors"])
    assert ImportJob.objects.count() == 1
    assert shapes(project, "img_001.jpg") == [
        ("car", [[80.0, 120.0], [320.0, 360.0]]),
        ("traffic light", [[400.0, 30.0], [440.0, 120.0]]),
    ]
    assert job["counts"]["labels_written"] == 6


def _pycocotools_file(tmp_path: Path) -> Path:
    """Every shape COCO has, made with pycocotools and read back by its `COCO()`."""
    crowd = np.zeros((48, 64), dtype=np.uint8)
    crowd[10:30, 20:50] = 1
    crowd[15:20, 30:40] = 0  # a hole
    compressed = coco_mask.encode(np.asfortranarray(crowd))
    second = np.zeros((48, 64), dtype=np.uint8)
    second[0:5, 0:8] = 1
    column_major = second.T.reshape(-1)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], column_major, [1 - column_major[-1]]])))
    uncompressed = np.diff(np.concatenate([[0], changes])).tolist()
    document = {
        "images": [
            {"id": 7, "file_name": "images/street.jpg", "width": 64, "height": 48},
            {"id": 8, "file_name": "../data/face.png", "width": 64, "height": 48},
        ],
        "categories": [
            {"id": 1, "name": "Person", "supercategory": "human"},
            {"id": 2, "name": "CAR", "supercategory": "vehicle"},
            {"id": 3, "name": "crowd"},
            {"id": 4, "name": "face", "supercategory": "human", "keypoints": ["nose", "left_eye"], "skeleton": []},
        ],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "bbox": [1.5, 2, 10, 20], "area": 200, "iscrowd": 0},
            {
                "id": 2,
                "image_id": 7,
                "category_id": 2,
                "segmentation": [[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30, 20, 30]],
                "bbox": [0, 0, 30, 30],
                "area": 150,
                "iscrowd": 0,
            },
            {
                "id": 3,
                "image_id": 7,
                "category_id": 3,
                "segmentation": {"size": [48, 64], "counts": compressed["counts"].decode("ascii")},
                "bbox": [20, 10, 30, 20],
                "area": int(crowd.sum()),
                "iscrowd": 1,
            },
            {
                "id": 4,
                "image_id": 8,
                "category_id": 3,
                "segmentation": {"size": [48, 64], "counts": uncompressed},
                "bbox": [0, 0, 8, 5],
                "area": 40,
                "iscrowd": 1,
            },
            {
                "id": 5,
                "image_id": 8,
                "category_id": 4,
                "keypoints": [12, 13, 2, 0, 0, 0],
                "num_keypoints": 1,
                "bbox": [12, 13, 0, 0],
                "area": 0,
                "iscrowd": 0,
            },
        ],
    }
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps(document))
    coco = COCO(str(path))
    assert np.array_equal(coco.annToMask(coco.anns[3]), crowd)
    assert np.array_equal(coco.annToMask(coco.anns[4]), second)
    return path


@pytest.fixture
def coco_project(project):
    label_config_replace(configuration=project.label_configuration, entries=CONFIG)
    _media(project, {"street.jpg": (64, 48), "face.png": (64, 48)})
    return project


def test_a_coco_file_imports_boxes_polygon_parts_rle_masks_and_named_keypoints(coco_project, run_import, tmp_path):
    path = _pycocotools_file(tmp_path)

    job = run_import(coco_project, "instances_val.json", path.read_bytes())

    assert (job["format"], job["status"]) == ("coco", "succeeded"), (job["message"], job["errors"])
    street = shapes(coco_project, "street.jpg")
    crowd = [points for key, points in street if key == "crowd"]
    # The two parts of the car's segmentation are two polygons of the polygon class "car" (by "CAR").
    assert [shape for shape in street if shape[0] != "crowd"] == [
        ("car", [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]),
        ("car", [[20.0, 20.0], [30.0, 20.0], [30.0, 30.0], [20.0, 30.0]]),
        ("person", [[1.5, 2.0], [11.5, 22.0]]),
    ]
    expected = np.zeros((48, 64), dtype=bool)
    expected[10:30, 20:50] = True
    expected[15:20, 30:40] = False
    assert len(crowd) == 1
    assert np.array_equal(segmentation_mask(crowd[0], 64, 48), expected)
    face = dict(shapes(coco_project, "face.png"))
    assert face["nose"] == [[12.0, 13.0]]
    assert "left_eye" not in face  # v = 0: not labelled
    expected = np.zeros((48, 64), dtype=bool)
    expected[0:5, 0:8] = True
    assert np.array_equal(segmentation_mask(face["crowd"], 64, 48), expected)


def test_an_unknown_category_is_an_error_naming_it_and_where_it_is_used(coco_project, run_import, tmp_path):
    document = json.loads(_pycocotools_file(tmp_path).read_text())
    document["categories"].append({"id": 9, "name": "bicycle", "supercategory": "vehicle"})
    document["annotations"].append({"id": 9, "image_id": 8, "category_id": 9, "bbox": [0, 0, 4, 4], "iscrowd": 0})

    job = run_import(coco_project, "instances.json", json.dumps(document).encode())

    assert job["status"] == "failed"
    (error,) = job["errors"]
    assert (error["location"], error["code"]) == ("/annotations/5/category_id", "unknown_category")
    assert "'bicycle' (supercategory 'vehicle') at /categories/4" in error["message"]
    assert "Add a geometry class with that name" in error["message"]
    assert not Label.objects.exists()


def test_two_images_with_one_base_name_in_different_folders_are_an_error_naming_both(coco_project, run_import):
    document = {
        "images": [
            {"id": 1, "file_name": "train/street.jpg", "width": 64, "height": 48},
            {"id": 2, "file_name": "val/street.jpg", "width": 64, "height": 48},
        ],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [],
    }

    job = run_import(coco_project, "instances.json", json.dumps(document).encode())

    assert job["status"] == "failed"
    (error,) = job["errors"]
    assert (error["location"], error["code"]) == ("/images/1/file_name", "ambiguous_file_name")
    assert "'train/street.jpg' and 'val/street.jpg' have the same name 'street.jpg'" in error["message"]


def test_an_rle_mask_on_a_polygon_class_becomes_one_polygon_per_region(coco_project, run_import):
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[5:15, 5:15] = 1
    mask[8:11, 8:11] = 0  # a hole: a polygon class keeps the outline only
    mask[30:40, 40:60] = 1
    rle = coco_mask.encode(np.asfortranarray(mask))
    document = {
        "images": [{"id": 1, "file_name": "street.jpg", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": {"size": [48, 64], "counts": rle["counts"].decode("ascii")},
                "iscrowd": 1,
                "bbox": [5, 5, 55, 35],
                "area": int(mask.sum()),
            }
        ],
    }

    job = run_import(coco_project, "crowd.json", json.dumps(document).encode())

    assert job["status"] == "succeeded", (job["message"], job["errors"])
    polygons = [points for key, points in shapes(coco_project, "street.jpg") if key == "car"]
    assert len(polygons) == 2
    filled = [segmentation_mask([polygon], 64, 48) for polygon in polygons]
    expected = [np.zeros((48, 64), dtype=bool), np.zeros((48, 64), dtype=bool)]
    expected[0][5:15, 5:15] = True
    expected[1][30:40, 40:60] = True
    assert sorted(int(np.argmax(f.any(axis=1))) for f in filled) == [5, 30]
    for polygon_mask in filled:
        assert any(np.array_equal(polygon_mask, e) for e in expected)


def test_an_image_whose_name_two_media_have_is_an_error_at_its_file_name(coco_project, run_import):
    other = DatasetFactory(organization=coco_project.organization, name="Other")
    other.projects.add(coco_project)
    TaskFactory(project=coco_project, media=MediaFactory(dataset=other, name="street.jpg", width=64, height=48))
    document = {
        "images": [{"id": 1, "file_name": "images/street.jpg", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "iscrowd": 0}],
    }

    job = run_import(coco_project, "instances.json", json.dumps(document).encode())

    assert job["status"] == "failed"
    (error,) = job["errors"]
    assert (error["location"], error["code"]) == ("/images/0/file_name", "media_ambiguous")
    assert "'street.jpg'" in error["message"]


def test_attributes_naming_questions_become_answers_and_other_tools_attributes_are_passed_over(project, run_import):
    """CVAT writes `occluded` and `rotation` among an annotation's attributes, our export the answers
    by question key path; an attribute that names a question with a value it cannot take is an error."""
    label_config_replace(
        configuration=project.label_configuration,
        entries=[
            {
                "key": "car",
                "title": "Car",
                "type": "rectangle",
                "children": [
                    {"key": "color", "title": "Color", "type": "select",
                     "options": [{"key": "red", "label": "Red"}, {"key": "blue", "label": "Blue"}]},
                ],
            },
            {"key": "tags", "title": "Tags", "type": "checklist",
             "options": [{"key": "night", "label": "Night"}, {"key": "rain", "label": "Rain"}]},
        ],
    )  # fmt: skip
    _media(project, {"a.jpg": (64, 48), "b.jpg": (64, 48)})
    document = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48, "attributes": {"tags": ["Night", "rain"]}},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48},
        ],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20],
             "attributes": {"occluded": False, "rotation": 0.0, "color": "Red"}},
        ],
    }  # fmt: skip

    job = run_import(project, "instances.json", json.dumps(document).encode())

    assert job["status"] == "succeeded", job["errors"]
    assert Label.objects.get().answers == {"color": {"value": "red"}}
    assert Task.objects.get(media__name="a.jpg").answers == {"tags": {"value": ["night", "rain"]}}

    document["annotations"][0]["attributes"]["color"] = "green"
    failed = run_import(project, "instances.json", json.dumps(document).encode())
    assert [(e["location"], e["code"]) for e in failed["errors"]] == [
        ("/annotations/0/attributes/color", "invalid_attribute")
    ]
