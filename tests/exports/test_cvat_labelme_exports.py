"""A project labelled here (not imported) exports as CVAT for images 1.1 that datumaro reads and as
LabelMe JSON that labelme opens: names, answers, nested geometries and holes as the docs say."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from PIL import Image

from labeling.models import Label, TaskState
from projects.label_config import label_config_replace
from projects.models import LabelEntry
from tests.factories import DatasetFactory, LabelFactory, MediaFactory, TaskFactory
from tests.imports.test_cvat_imports import datumaro_read, export_bytes
from tests.imports.test_labelme_imports import LABELME
from tests.thirdparty import tool_run, tool_venv

pytestmark = [pytest.mark.django_db, pytest.mark.thirdparty]

CONFIG = [
    {
        "key": "car",
        "title": "Car",
        "type": "rectangle",
        "children": [
            {
                "key": "colour",
                "title": "Colour",
                "type": "select",
                "options": [{"key": "red", "label": "Red"}, {"key": "blue", "label": "Blue"}],
            },
            {"key": "window", "title": "Window", "type": "polygon"},
        ],
    },
    {"key": "road", "title": "Road surface", "type": "segmentation"},
]
#: A 20 x 12 road with a 6 x 4 hole.
ROAD = [[[2, 2], [22, 2], [22, 14], [2, 14]], [[8, 6], [14, 6], [14, 10], [8, 10]]]


@pytest.fixture
def labelled(project):
    label_config_replace(configuration=project.label_configuration, entries=CONFIG)
    dataset: Any = DatasetFactory(organization=project.organization)
    dataset.projects.add(project)
    task = TaskFactory(
        project=project,
        media=MediaFactory(dataset=dataset, name="a.png", width=40, height=30),
        state=TaskState.COMPLETED,
    )
    entry = {e.key: e for e in LabelEntry.objects.filter(configuration__project=project)}
    car = LabelFactory(task=task, entry=entry["car"], points=[[1, 2], [11, 8]], answers={"colour": {"value": "blue"}})
    LabelFactory(task=task, entry=entry["window"], parent=car, points=[[2, 3], [5, 3], [5, 5]])
    LabelFactory(task=task, entry=entry["road"], points=ROAD)
    assert Label.objects.count() == 3
    return project


def test_a_project_of_ours_exports_as_cvat_that_datumaro_reads_with_names_answers_groups_and_holes(labelled, tmp_path):
    read = datumaro_read(tmp_path, export_bytes(labelled, "cvat"), {"a.png": (40, 30)})

    shapes = {(a["type"], a["label"]): a for a in read["a"]}
    car = shapes[("bbox", "Car")]
    assert (car["points"], car["attributes"]["Colour"]) == ([1.0, 2.0, 11.0, 8.0], "Blue")
    window = shapes[("polygon", "Window")]
    assert window["points"] == [2.0, 3.0, 5.0, 3.0, 5.0, 5.0]
    assert car["group"] == window["group"] != 0  # nested: one group
    road = shapes[("mask", "road")]  # "Road surface" does not read back as the key road
    assert road["box"] == [2, 2, 23, 15]
    assert road["area"] == 21 * 13 - 5 * 3  # the hole's pixels are not painted


def test_a_project_of_ours_exports_as_labelme_that_labelme_opens_with_masks_keeping_holes(labelled, tmp_path):
    out = tmp_path / "labelme"
    zipfile.ZipFile(io.BytesIO(export_bytes(labelled, "labelme"))).extractall(out)
    Image.new("RGB", (40, 30)).save(out / "a.png")

    read = json.loads(tool_run(tool_venv("labelme", [LABELME]), "labelme_files.py", "read", str(out)))

    shapes = {s["label"]: s for s in read["a.json"]["shapes"]}
    assert (shapes["Car"]["shape_type"], shapes["Car"]["points"]) == ("rectangle", [[1.0, 2.0], [11.0, 8.0]])
    assert shapes["Window"]["shape_type"] == "polygon"
    assert (shapes["road"]["shape_type"], shapes["road"]["box"]) == ("mask", [2, 2, 23, 15])
    assert shapes["road"]["area"] == 21 * 13 - 5 * 3
