"""YOLO dataset archives import as one job each, every label in pixels, detected from the archive.

The label files are written at test time by label-studio-sdk's own YOLO converter (what Label
Studio's YOLO and YOLO_OBB exports hold) from `export.json`, Label Studio 1.23.2's own export (see
`test_label_studio_exports.py`), with its labeling configuration less the KeyPointLabels (with
keypoints the converter writes pose files instead). The converter takes each task's first annotation
that is not cancelled, names each label file after its image (`069f62bc-img_004.txt` for an image
uploaded to Label Studio) and lists in classes.txt every value of the configuration. Ultralytics
itself needs torch, too heavy to install for a test: its layout (`data.yaml` with `names`,
`images/train`, `labels/train`) is written by `ultralytics_layout` below.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imports.models import ImportJob
from labeling.models import Label
from projects.models import Media
from tests.imports import test_label_studio_exports as ls_exports
from tests.imports.test_label_studio_exports import ADA_ON_001, ADA_ON_004, BO_ON_002, FILES, LABEL_STUDIO_SDK, shapes
from tests.thirdparty import tool_run, tool_venv

pytestmark = [pytest.mark.django_db, pytest.mark.thirdparty]

# The project and the import of the JSON export's tests.
ls_studio_project = ls_exports.ls_studio_project
run_import = ls_exports.run_import


def yolo_export(kind: str, out_dir: Path, config: str | None = None, export: Path | None = None) -> dict[str, bytes]:
    """The files of label-studio-sdk's YOLO (or YOLO_OBB) export, by path in the export folder."""
    if config is None:
        config = re.sub(
            r"<KeyPointLabels.*?</KeyPointLabels>", "", (FILES / "label_config.xml").read_text(), flags=re.S
        )
    (out_dir / "config.xml").write_text(config)
    python = tool_venv("label-studio-sdk", [LABEL_STUDIO_SDK])
    written = tool_run(
        python,
        "sdk_convert.py",
        kind,
        str(out_dir / "config.xml"),
        str(export or FILES / "export.json"),
        str(out_dir / "export"),
    )
    return {str(Path(path).relative_to(out_dir / "export")): Path(path).read_bytes() for path in written.split()}


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return buffer.getvalue()


def test_label_studio_yolo_export_is_one_job_with_its_boxes_and_polygons_in_pixels(
    run_import, ls_studio_project, tmp_path
):
    files = yolo_export("YOLO", tmp_path)
    assert files["labels/img_002.txt"].split()[0] == b"2"  # bo's polygon "Road", an outline

    job = run_import("project-1-at-2026-12-06-yolo.zip", content=zipped(files))

    assert (job["format"], job["status"]) == ("yolo", "succeeded"), job["message"]
    assert ImportJob.objects.count() == 1
    project = ls_studio_project
    # Normalised by the matched media's stored size (800 x 600; 64 x 48 for img_004).
    assert shapes(project, "img_001.jpg") == ADA_ON_001
    assert shapes(project, "img_002.jpg") == {"road": BO_ON_002["road"]}
    # 069f62bc-img_004.txt: Label Studio's upload prefix is dropped to find img_004.png.
    assert shapes(project, "img_004.png") == ADA_ON_004
    assert shapes(project, "img_005.jpg") == {}
    assert job["counts"]["labels_written"] == 3


def test_label_studio_yolo_obb_export_keeps_an_unrotated_box_as_a_rectangle(run_import, ls_studio_project, tmp_path):
    files = yolo_export("YOLO_OBB", tmp_path)
    assert len(files["labels/img_001.txt"].split()) == 9  # a class and four corners

    job = run_import("obb.zip", content=zipped(files))

    assert (job["format"], job["status"]) == ("yolo", "succeeded"), job["message"]
    assert shapes(ls_studio_project, "img_001.jpg") == ADA_ON_001
    assert shapes(ls_studio_project, "img_002.jpg") == {"road": BO_ON_002["road"]}
    assert shapes(ls_studio_project, "img_004.png") == ADA_ON_004


def ultralytics_layout(
    files: dict[str, bytes], names: list[str], images: dict[str, tuple[int, int]]
) -> dict[str, bytes]:
    """An Ultralytics dataset of the converter's label files: data.yaml with `names` as a map,
    `labels/train/`, and `images/train/` with JPEGs of the given sizes."""
    layout = {
        "dataset/data.yaml": (
            "path: .\ntrain: images/train\nval: images/train\nnames:\n"
            + "".join(f"  {index}: {name}\n" for index, name in enumerate(names))
        ).encode()
    }
    for path, content in files.items():
        if path.startswith("labels/"):
            layout[f"dataset/labels/train/{path.removeprefix('labels/')}"] = content
    for name, size in images.items():
        buffer = io.BytesIO()
        Image.new("RGB", size).save(buffer, "JPEG")
        layout[f"dataset/images/train/{name}"] = buffer.getvalue()
    return layout


def test_an_ultralytics_dataset_takes_the_sizes_of_its_images(run_import, ls_studio_project, tmp_path):
    files = yolo_export("YOLO", tmp_path)
    names = [line for line in files["classes.txt"].decode().splitlines() if line]
    # The media have no stored size: only the archive's images give the pixels.
    Media.objects.filter(name="img_001.jpg").update(width=None, height=None)

    job = run_import("dataset.zip", content=zipped(ultralytics_layout(files, names, {"img_001.jpg": (400, 300)})))

    assert (job["format"], job["status"]) == ("yolo", "succeeded"), job["message"]
    assert shapes(ls_studio_project, "img_001.jpg") == {"car": [[40.0, 60.0], [160.0, 180.0]]}


def test_a_class_number_beyond_the_class_list_is_an_error_at_its_file_and_line(
    run_import, ls_studio_project, tmp_path, admin_client
):
    files = yolo_export("YOLO", tmp_path)
    files["classes.txt"] = b"Car\n"  # Road (class 2) is no longer listed

    job = run_import("yolo.zip", content=zipped(files))

    assert job["status"] == "failed"
    errors: list[dict[str, Any]] = admin_client.get(job["links"]["errors"]).json()["results"]
    assert [(e["location"], e["code"]) for e in errors] == [("labels/img_002.txt, line 1", "label_not_in_config")]
    assert "class number 2" in errors[0]["message"]
    assert not Label.objects.exists()


def test_label_studio_pose_export_gives_the_box_and_its_keypoints_as_points(run_import, ls_studio_project, tmp_path):
    # Label Studio writes pose files when the configuration has KeyPointLabels whose labels carry
    # model_index, for keypoints drawn inside a box (parentID): ada's "Head" inside her car.
    config = (
        (FILES / "label_config.xml")
        .read_text()
        .replace('<Label value="Head"/>', '<Label value="Head" model_index="0"/>')
    )
    tasks = json.loads((FILES / "export.json").read_text())
    tasks[0]["annotations"][0]["result"].append(
        {
            "id": "head1",
            "parentID": "car1",
            "from_name": "kp",
            "to_name": "image",
            "type": "keypointlabels",
            "original_width": 800,
            "original_height": 600,
            "value": {"x": 20, "y": 30, "width": 0.5, "keypointlabels": ["Head"]},
        }
    )
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    files = yolo_export("YOLO", tmp_path, config=config, export=tmp_path / "export.json")
    assert len(files["labels/img_001.txt"].split()) == 8  # class, box, and x y visibility of Head

    job = run_import("pose.zip", content=zipped(files))

    assert (job["format"], job["status"]) == ("yolo", "succeeded"), job["message"]
    # The keypoint's name comes from notes.json; "head" is a point class of the configuration.
    assert shapes(ls_studio_project, "img_001.jpg") == {**ADA_ON_001, "head": [[160.0, 180.0]]}


def test_an_archive_without_its_class_list_is_an_error_that_says_to_add_it(
    run_import, ls_studio_project, tmp_path, admin_client
):
    files = yolo_export("YOLO", tmp_path)
    del files["classes.txt"]

    job = run_import("labels-only.zip", content=zipped(files))

    assert (job["format"], job["status"]) == ("yolo", "failed")
    errors = admin_client.get(job["links"]["errors"]).json()["results"]
    assert [(e["location"], e["code"]) for e in errors] == [("archive", "no_class_names")]
    assert "add classes.txt" in errors[0]["message"]
