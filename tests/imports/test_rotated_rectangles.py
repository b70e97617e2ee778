"""Rotated rectangles come in turned: Label Studio's rotated `rectanglelabels` (JSON, JSON_MIN,
CSV) and YOLO oriented boxes land in a rectangle class with their rotation, and our own exports
read back to the same turned box.

The rotated Label Studio export is Label Studio 1.23.2's own `export.json` (see
`test_label_studio_exports.py`) with ada's box on img_001 turned in the editor: Label Studio
writes the turn as `value.rotation` in degrees, [0, 360), clockwise about the box's top-left
corner, the rest of the region unchanged, so only that number is set here (none of the committed
real exports has a turned box). Its JSON_MIN, CSV and YOLO_OBB forms are written at test time by
label-studio-sdk's own converter, as Label Studio's export dialog does.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from labeling.models import Label, TaskState
from tests.exports.conftest import export_bytes
from tests.imports import test_label_studio_exports as ls_exports
from tests.imports.test_label_studio_exports import FILES
from tests.imports.test_yolo_archives import yolo_export

pytestmark = pytest.mark.django_db

ls_studio_project = ls_exports.ls_studio_project
run_import = ls_exports.run_import

#: ada's car on img_001 (800 x 600): x 10 %, y 20 %, 30 % x 40 %, turned 340° in Label Studio.
CAR = [[80.0, 120.0], [320.0, 360.0]]
LS_ROTATION = 340
ROTATION = -20.0  # the same turn, as we keep it in (-180, 180]
ALL_STATES = tuple(TaskState.values)


def rotated_export() -> bytes:
    tasks = json.loads((FILES / "export.json").read_text())
    (task,) = [t for t in tasks if t["data"]["image"].endswith("img_001.jpg")]
    (region,) = [r for r in task["annotations"][0]["result"] if r["type"] == "rectanglelabels"]
    assert region["value"]["rotation"] == 0
    region["value"]["rotation"] = LS_ROTATION
    return json.dumps(tasks).encode()


def car(project: Any, media: str = "img_001.jpg") -> Label:
    return Label.objects.get(task__project=project, task__media__name=media, entry__key="car")


def sdk_convert(kind: str, tmp_path: Path) -> dict[str, bytes]:
    """The rotated export as label-studio-sdk's converter writes it (without the KeyPointLabels,
    with which it writes YOLO pose files instead of oriented boxes)."""
    (tmp_path / "export.json").write_bytes(rotated_export())
    (tmp_path / "sdk").mkdir()
    return yolo_export(kind, tmp_path / "sdk", export=tmp_path / "export.json")


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return buffer.getvalue()


def test_a_box_turned_in_label_studio_keeps_its_rotation_in_a_rectangle_class(run_import, ls_studio_project):
    job = run_import("rotated.json", content=rotated_export())

    assert (job["format"], job["status"]) == ("label_studio", "succeeded"), job["message"]
    label = car(ls_studio_project)
    assert label.points == CAR  # the unturned box, turned about its top-left corner
    assert label.rotation == pytest.approx(ROTATION, abs=1e-9)
    # The preview shows it turned too (static/imports/job.js rotates the box about that corner).
    previewed = [shape for item in job["summary"]["preview"] for shape in item["shapes"] if shape["key"] == "car"]
    assert [shape.get("rotation") for shape in previewed if shape["points"] == CAR] == [pytest.approx(ROTATION)]


@pytest.mark.thirdparty
@pytest.mark.parametrize(("kind", "name"), [("JSON_MIN", "min.json"), ("CSV", "export.csv")])
def test_label_studio_json_min_and_csv_of_a_turned_box_keep_its_rotation(
    run_import, ls_studio_project, tmp_path, kind, name
):
    (content,) = sdk_convert(kind, tmp_path).values()

    job = run_import(name, content=content)

    assert job["status"] == "succeeded", job["message"]
    label = car(ls_studio_project)
    assert label.points[0] == pytest.approx(CAR[0])
    assert label.points[1] == pytest.approx(CAR[1])
    assert label.rotation == pytest.approx(ROTATION, abs=1e-9)


@pytest.mark.thirdparty
def test_label_studio_yolo_obb_of_a_turned_box_is_a_rotated_rectangle(run_import, ls_studio_project, tmp_path):
    files = sdk_convert("YOLO_OBB", tmp_path)
    assert len(files["labels/img_001.txt"].split()) == 9

    job = run_import("obb.zip", content=zipped(files))

    assert (job["format"], job["status"]) == ("yolo", "succeeded"), job["message"]
    label = car(ls_studio_project)
    assert label.rotation == pytest.approx(ROTATION, abs=0.05)
    assert label.points[0] == pytest.approx(CAR[0], abs=0.5)
    assert label.points[1] == pytest.approx(CAR[1], abs=0.5)


@pytest.mark.parametrize("form", ["label_studio", "label_studio_min"])
def test_our_label_studio_export_imported_again_keeps_the_rotation_to_a_hundredth_of_a_degree(
    run_import, ls_studio_project, form
):
    run_import("export.json")
    Label.objects.filter(pk=car(ls_studio_project).pk).update(rotation=-123.456)
    exported = export_bytes(ls_studio_project, form, states=ALL_STATES)
    Label.objects.filter(task__project=ls_studio_project).delete()

    job = run_import(f"again-{form}.json", content=exported)

    assert job["status"] == "succeeded", job["message"]
    label = car(ls_studio_project)
    assert label.rotation == pytest.approx(-123.456, abs=0.01)
    assert label.points[0] == pytest.approx(CAR[0], abs=0.01)
    assert label.points[1] == pytest.approx(CAR[1], abs=0.01)


def test_our_yolo_obb_export_imported_again_is_the_same_turned_box(run_import, ls_studio_project):
    run_import("rotated.json", content=rotated_export())
    exported = export_bytes(ls_studio_project, "yolo_obb", states=ALL_STATES)
    Label.objects.filter(task__project=ls_studio_project).delete()

    job = run_import("obb.zip", content=exported)

    assert (job["format"], job["status"]) == ("yolo", "succeeded"), job["message"]
    label = car(ls_studio_project)
    assert label.rotation == pytest.approx(ROTATION, abs=0.01)
    assert label.points[0] == pytest.approx(CAR[0], abs=0.01)
    assert label.points[1] == pytest.approx(CAR[1], abs=0.01)


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize("with_image", [False, True], ids=["media size", "archive image"])
def test_oriented_box_corners_that_are_no_rectangle_are_an_error_at_the_file_and_line(
    run_import, ls_studio_project, admin_client, with_image
):
    skewed = "0 0.1 0.1 0.5 0.1 0.6 0.5 0.1 0.5\n"  # a parallelogram
    files = {"classes.txt": b"Car\n", "labels/img_001.txt": f"0 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\n{skewed}".encode()}
    if with_image:
        files["images/img_001.jpg"] = jpeg(800, 600)

    job = run_import("skewed.zip", content=zipped(files))

    assert job["status"] == "failed"
    errors = admin_client.get(job["links"]["errors"]).json()["results"]
    assert [(e["location"], e["code"]) for e in errors] == [("labels/img_001.txt, line 2", "not_a_rectangle")]
    assert "do not form a rectangle" in errors[0]["message"]
    assert "label_mapping" in errors[0]["message"]
    assert not Label.objects.filter(task__project=ls_studio_project).exists()
