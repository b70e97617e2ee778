"""Label Studio's brush exports (BRUSH_TO_PNG, BRUSH_TO_NUMPY) import as one job, each mask a segmentation.

The masks are written at test time by label-studio-sdk's own converter from `export.json`, Label
Studio 1.23.2's own export (see `test_label_studio_exports.py`); the archive holds them and that
JSON export, which gives each task's image (a mask file names only the task).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from formats.codecs.mask_polygons import segmentation_mask
from imports.models import ImportJob
from labeling.models import Label
from tests.imports import test_label_studio_exports as ls_exports
from tests.imports.test_label_studio_exports import FILES, LABEL_STUDIO_SDK
from tests.imports.test_yolo_archives import zipped
from tests.thirdparty import tool_run, tool_venv

pytestmark = [pytest.mark.django_db, pytest.mark.thirdparty]

# The project and the import of the JSON export's tests.
ls_studio_project = ls_exports.ls_studio_project
run_import = ls_exports.run_import


def brush_export(kind: str, out_dir: Path) -> dict[str, bytes]:
    """The mask files of label-studio-sdk's BRUSH_TO_PNG or BRUSH_TO_NUMPY export, by name."""
    python = tool_venv("label-studio-sdk", [LABEL_STUDIO_SDK])
    written = tool_run(
        python, "sdk_convert.py", kind, str(FILES / "label_config.xml"), str(FILES / "export.json"), str(out_dir)
    )
    return {Path(path).name: Path(path).read_bytes() for path in written.split()}


@pytest.mark.parametrize(("kind", "extension"), [("BRUSH_TO_PNG", "png"), ("BRUSH_TO_NUMPY", "npy")])
def test_brush_masks_with_the_json_export_become_segmentations_of_their_images(
    run_import, ls_studio_project, tmp_path, kind, extension
):
    masks = brush_export(kind, tmp_path)
    assert list(masks) == [f"task-3-annotation-5-by-1-brush-Sky-0.{extension}"]  # ada's brush on img_003
    files = {f"masks/{name}": content for name, content in masks.items()}
    files["export.json"] = (FILES / "export.json").read_bytes()

    # bo's box is the ground truth of img_003: the option annotation "first" takes ada's brush.
    job = run_import("brush.zip", content=zipped(files), annotation="first")

    assert (job["format"], job["status"]) == ("label_studio_brush", "succeeded"), job["message"]
    assert ImportJob.objects.count() == 1
    (sky,) = Label.objects.filter(task__media__name="img_003.jpg")
    expected = np.zeros((240, 320), dtype=bool)
    expected[20:80, 40:200] = True
    assert sky.entry.key == "sky"
    assert np.array_equal(segmentation_mask(sky.points, 320, 240), expected)


def test_brush_masks_without_the_json_export_are_an_error_that_says_to_add_it(
    run_import, ls_studio_project, tmp_path, admin_client
):
    masks = brush_export("BRUSH_TO_PNG", tmp_path)

    job = run_import("brush.zip", content=zipped(masks))

    assert (job["format"], job["status"]) == ("label_studio_brush", "failed")
    (error,) = admin_client.get(job["links"]["errors"]).json()["results"]
    assert (error["location"], error["code"]) == ("task-3-annotation-5-by-1-brush-Sky-0.png", "no_task_json")
    assert "add the project's JSON export" in error["message"]
