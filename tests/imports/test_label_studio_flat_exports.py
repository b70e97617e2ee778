"""Label Studio's flat exports (JSON_MIN, CSV, TSV) import as their users expect, detected from the file.

The files are written at test time by label-studio-sdk's own converter (the code behind Label
Studio's export dialog) from `export.json`, Label Studio 1.23.2's own export (see
`test_label_studio_exports.py` for what it holds). The converter writes one row per annotation
that is not cancelled (a task without one gets one row without labels) and drops the ground-truth
mark, so a task's rows are its annotations in the order of their `annotation_id`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from formats.codecs.mask_polygons import segmentation_mask
from labeling.models import Label
from tests.imports import test_label_studio_exports as ls_exports
from tests.imports.test_label_studio_exports import (
    ADA_ON_001,
    ADA_ON_004,
    BO_ON_001,
    BO_ON_002,
    BO_ON_003,
    FILES,
    LABEL_STUDIO_SDK,
    answers,
    shapes,
)
from tests.thirdparty import tool_run, tool_venv

pytestmark = [pytest.mark.django_db, pytest.mark.thirdparty]

# The project and the import of the JSON export's tests.
ls_studio_project = ls_exports.ls_studio_project
run_import = ls_exports.run_import


def converted(kind: str, out_dir: Path) -> tuple[str, bytes]:
    """The file (name, content) label-studio-sdk's converter writes for `kind` from Label Studio's
    own export; its TSV is named `result.csv` too, and is uploaded as named."""
    python = tool_venv("label-studio-sdk", [LABEL_STUDIO_SDK])
    (written,) = tool_run(
        python, "sdk_convert.py", kind, str(FILES / "label_config.xml"), str(FILES / "export.json"), str(out_dir)
    ).split()
    return Path(written).name, Path(written).read_bytes()


@pytest.mark.parametrize("kind", ["JSON_MIN", "CSV", "TSV"])
def test_a_flat_export_imports_the_first_annotation_of_each_task_in_pixels(
    run_import, ls_studio_project, tmp_path, kind
):
    job = run_import(*converted(kind, tmp_path))

    expected_format = "label_studio" if kind == "JSON_MIN" else "label_studio_csv"
    assert (job["format"], job["status"]) == (expected_format, "succeeded"), job["message"]
    project = ls_studio_project
    # ada's annotation (id 1) is the first of img_001: her box, its region answer and her task answers.
    assert shapes(project, "img_001.jpg") == ADA_ON_001
    assert Label.objects.get(task__media__name="img_001.jpg").answers == {"occluded": {"value": "yes"}}
    assert answers(project, "img_001.jpg") == {"weather": {"value": "sunny"}, "comment": {"value": "two cars"}}
    # The converter leaves out ada's cancelled annotation: bo's polygon and keypoint.
    assert shapes(project, "img_002.jpg") == BO_ON_002
    # The ground-truth mark is not in a flat export: ada's brush (annotation 5) comes before bo's box (6).
    (sky,) = Label.objects.filter(task__media__name="img_003.jpg")
    expected = np.zeros((240, 320), dtype=bool)
    expected[20:80, 40:200] = True
    assert sky.entry.key == "sky"
    assert np.array_equal(segmentation_mask(sky.points, 320, 240), expected)
    assert shapes(project, "img_004.png") == ADA_ON_004
    assert shapes(project, "img_005.jpg") == {}
    assert job["counts"]["error_count"] == 0


@pytest.mark.parametrize("kind", ["JSON_MIN", "CSV"])
def test_option_annotation_picks_among_the_rows_of_a_task(run_import, ls_studio_project, tmp_path, kind):
    job = run_import(*converted(kind, tmp_path), annotation={"annotator": 2})

    assert job["status"] == "succeeded", job["message"]
    assert shapes(ls_studio_project, "img_001.jpg") == BO_ON_001
    assert answers(ls_studio_project, "img_001.jpg") == {"weather": {"value": "rainy day"}}
    assert shapes(ls_studio_project, "img_002.jpg") == BO_ON_002
    assert shapes(ls_studio_project, "img_003.jpg") == BO_ON_003
    assert shapes(ls_studio_project, "img_004.png") == {}


@pytest.mark.parametrize(
    ("kind", "location"),
    [("JSON_MIN", "/1/label/0/rectanglelabels/0"), ("CSV", "line 3, column label: /0/rectanglelabels/0")],
)
def test_a_label_missing_from_the_configuration_is_located_in_the_flat_file(
    run_import, ls_studio_project, tmp_path, admin_client, kind, location
):
    # The first "Car" is ada's box on img_001, in the second row (bo's annotation 2 comes first).
    name, content = converted(kind, tmp_path)

    job = run_import(name, content=content.replace(b"Car", b"Tram", 1))

    assert job["status"] == "failed"
    errors: list[dict[str, Any]] = admin_client.get(job["links"]["errors"]).json()["results"]
    assert [(e["location"], e["code"]) for e in errors] == [(location, "label_not_in_config")]
    assert "'Tram'" in errors[0]["message"]
    assert not Label.objects.exists()
