"""CVAT for images 1.1: what datumaro (CVAT's own dataset library, from PyPI) writes imports, with
its labels in pixels, and our export reads back in datumaro.

The files are made at test time by datumaro's `cvat` exporter (`tests/thirdparty/datumaro_cvat.py`)
from a spec of labels in pixels, zipped as a user zips the export folder; the configuration comes
from the same file through the convert API, as the editor's “CVAT for images 1.1” menu does it.
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
from PIL import Image

from exports.driver import export_write
from exports.reader import ExportFilters, ExportReader
from formats.codecs.mask_polygons import segmentation_mask
from imports.models import ImportJob
from labeling.annotation import rectangle_corners
from labeling.models import Label, Task, TaskState
from projects.label_config import label_config_replace
from tests.factories import DatasetFactory, MediaFactory, TaskFactory
from tests.thirdparty import tool_run, tool_venv

pytestmark = [pytest.mark.django_db, pytest.mark.thirdparty]

#: datumaro 1.13 installs on Python 3.11 from wheels (about 2 minutes, 560 MB).
DATUMARO = "datumaro==1.13.12"

SPEC: dict[str, Any] = {
    "labels": [
        {"name": "car", "attributes": ["model", "parked"]},
        {"name": "road"},
        {"name": "lane"},
        {"name": "head"},
        {"name": "sky"},
        {"name": "day", "attributes": ["light"]},
    ],
    "items": [
        {
            "id": "cam1/street_1",
            "width": 64,
            "height": 48,
            "annotations": [
                {
                    "type": "bbox",
                    "label": "car",
                    "x": 2,
                    "y": 3,
                    "w": 10,
                    "h": 20,
                    "z": 1,
                    "attributes": {"model": "suv", "parked": True},
                },
                {"type": "polygon", "label": "road", "points": [0, 40, 60, 40, 60, 47, 0, 47]},
                {"type": "polyline", "label": "lane", "points": [1, 1, 10, 10, 20, 5]},
                {"type": "points", "label": "head", "points": [5, 6, 7, 8]},
                {"type": "mask", "label": "sky", "box": [10, 0, 30, 8]},
                {"type": "label", "label": "day", "attributes": {"light": "bright"}},
            ],
        },
        {
            "id": "street_2",
            "width": 32,
            "height": 32,
            "annotations": [
                {"type": "bbox", "label": "car", "x": 4, "y": 4, "w": 8, "h": 6, "attributes": {"model": "van"}},
            ],
        },
    ],
}


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def datumaro_export(tmp_path: Path, spec: dict[str, Any]) -> Path:
    """The folder datumaro's CVAT exporter writes for `spec` (`default.xml`, `images/`)."""
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "cvat"
    tool_run(
        tool_venv("datumaro", [DATUMARO]), "datumaro_cvat.py", "make", str(tmp_path / "spec.json"), str(out), "cvat"
    )
    return out


def import_run(client: Any, on_commit: Any, project: Any, name: str, body: bytes, **options: Any) -> dict[str, Any]:
    """Upload `body` as `name` (no format named: detected), write when valid; the job with its errors."""
    with on_commit(execute=True):
        response = client.post(
            f"/api/projects/{project.pk}/imports",
            {"file": SimpleUploadedFile(name, body), "options": json.dumps({"write_when_valid": True, **options})},
            format="multipart",
        )
    assert response.status_code == 201, response.json()
    job = dict(client.get(f"/api/imports/{response.json()['id']}").json())
    job["errors"] = client.get(job["links"]["errors"]).json()["results"]
    return job


@pytest.fixture
def run_import(admin_client, media_storage, eager_worker, django_capture_on_commit_callbacks):
    def run(project, name: str, body: bytes, **options: Any) -> dict[str, Any]:
        return import_run(admin_client, django_capture_on_commit_callbacks, project, name, body, **options)

    return run


def configure(admin_client, project, xml: str) -> dict[str, Any]:
    """The configuration converted from `xml` by the convert API, saved to the project."""
    response = admin_client.post(
        "/api/label-configurations/convert", {"format": "cvat_xml", "source": xml}, format="json"
    )
    assert response.status_code == 200, response.json()
    converted = response.json()
    label_config_replace(configuration=project.label_configuration, entries=converted["entries"])
    return converted


def media(project, sizes: dict[str, tuple[int, int]]) -> None:
    dataset: Any = DatasetFactory(organization=project.organization, name="Images")
    dataset.projects.add(project)
    for name, (width, height) in sizes.items():
        TaskFactory(project=project, media=MediaFactory(dataset=dataset, name=name, width=width, height=height))


def labels_of(project, media_name: str) -> list[tuple[str, str, Any, dict[str, Any]]]:
    found = Label.objects.filter(task__project=project, task__media__name=media_name).select_related("entry")
    return sorted(((label.entry.key, label.entry.type, label.points, label.answers or {}) for label in found), key=repr)


SIZES = {"street_1.jpg": (64, 48), "street_2.jpg": (32, 32)}


def test_datumaro_cvat_export_zipped_imports_as_one_job_with_every_kind_of_label_in_pixels(
    admin_client, project, run_import, tmp_path
):
    folder = datumaro_export(tmp_path, SPEC)
    converted = configure(admin_client, project, (folder / "default.xml").read_text())
    media(project, SIZES)

    job = run_import(project, "cvat.zip", _zip(folder))

    assert (job["format"], job["status"]) == ("cvat", "succeeded"), (job["message"], job["errors"])
    assert ImportJob.objects.count() == 1
    kinds = {entry["key"]: entry["type"] for entry in converted["entries"]}
    assert kinds == {
        "car": "rectangle",
        "road": "polygon",
        "lane": "line",
        "head": "point",
        "sky": "segmentation",
        "tags": "checklist",
    }
    found = {(key, kind): (points, answers) for key, kind, points, answers in labels_of(project, "street_1.jpg")}
    car = found[("car", "rectangle")]
    assert car[0] == [[2.0, 3.0], [12.0, 23.0]]
    assert car[1] == {"model": {"value": "suv"}, "parked": {"value": "true"}}
    assert found[("road", "polygon")][0] == [[0.0, 40.0], [60.0, 40.0], [60.0, 47.0], [0.0, 47.0]]
    assert found[("lane", "line")][0] == [[1.0, 1.0], [10.0, 10.0], [20.0, 5.0]]
    heads = sorted(points for key, _, points, _ in labels_of(project, "street_1.jpg") if key == "head")
    assert heads == [[[5.0, 6.0]], [[7.0, 8.0]]]
    # The mask (x 10..29, y 0..7) traced to a segmentation covers exactly its pixels.
    sky = segmentation_mask(found[("sky", "segmentation")][0], 64, 48)
    expected = np.zeros((48, 64), dtype=bool)
    expected[0:8, 10:30] = True
    assert (sky == expected).all()
    task = Task.objects.get(project=project, media__name="street_1.jpg")
    assert task.answers == {"tags": {"value": ["day"], "answers": {"day light": {"value": "bright"}}}}
    assert labels_of(project, "street_2.jpg") == [
        ("car", "rectangle", [[4.0, 4.0], [12.0, 10.0]], {"model": {"value": "van"}})
    ]


def export_bytes(project, format: str) -> bytes:
    out = io.BytesIO()
    filters = ExportFilters(states=tuple(TaskState.values))  # imported tasks are not completed
    export_write(reader=ExportReader(project=project, filters=filters, chunk_size=500), format=format, out=out)
    return out.getvalue()


def datumaro_read(tmp_path: Path, body: bytes, sizes: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """What datumaro's own CVAT importer reads from our export (with images of the media's sizes
    beside it, since datumaro opens every image it lists)."""
    folder = tmp_path / "ours"
    zipfile.ZipFile(io.BytesIO(body)).extractall(folder)
    for name, (width, height) in sizes.items():
        (folder / "images").mkdir(exist_ok=True)
        Image.new("RGB", (width, height)).save(folder / "images" / name)
    output = tool_run(tool_venv("datumaro", [DATUMARO]), "datumaro_cvat.py", "read", str(folder), "cvat")
    return json.loads(output)


def test_our_cvat_export_of_an_imported_cvat_file_reads_back_in_datumaro_with_the_same_labels(
    admin_client, project, run_import, tmp_path
):
    folder = datumaro_export(tmp_path, SPEC)
    configure(admin_client, project, (folder / "default.xml").read_text())
    media(project, SIZES)
    assert run_import(project, "cvat.zip", _zip(folder))["status"] == "succeeded"

    read = datumaro_read(tmp_path, export_bytes(project, "cvat"), SIZES)

    assert set(read) == {"street_1", "street_2"}, read
    first = sorted(read["street_1"], key=lambda a: (a["type"], a["label"]))
    by_type = {(a["type"], a["label"]): a for a in first}
    assert by_type[("bbox", "car")]["points"] == [2.0, 3.0, 12.0, 23.0]
    assert by_type[("bbox", "car")]["attributes"]["model"] == "suv"
    assert by_type[("bbox", "car")]["attributes"]["parked"] is True
    assert by_type[("polygon", "road")]["points"] == [0.0, 40.0, 60.0, 40.0, 60.0, 47.0, 0.0, 47.0]
    assert by_type[("polyline", "lane")]["points"] == [1.0, 1.0, 10.0, 10.0, 20.0, 5.0]
    assert sorted(a["points"] for a in first if a["label"] == "head") == [[5.0, 6.0], [7.0, 8.0]]
    assert (by_type[("mask", "sky")]["box"], by_type[("mask", "sky")]["area"]) == ([10, 0, 30, 8], 160)
    assert by_type[("label", "day")]["attributes"]["light"] == "bright"
    assert [(a["type"], a["label"], a["points"]) for a in read["street_2"]] == [("bbox", "car", [4.0, 4.0, 12.0, 10.0])]


TURNED = {
    "labels": [{"name": "car"}, {"name": "person"}],
    "items": [
        {
            "id": "street_2",
            "width": 32,
            "height": 32,
            "annotations": [
                {"type": "rotated_bbox", "label": "car", "cx": 16, "cy": 16, "w": 10, "h": 4, "r": 30},
                {
                    "type": "bbox",
                    "label": "person",
                    "x": 1,
                    "y": 1,
                    "w": 4,
                    "h": 8,
                    "z": 2,
                    "attributes": {"occluded": True},
                },
                {"type": "bbox", "label": "person", "x": 20, "y": 1, "w": 4, "h": 8, "z": 0},
            ],
        }
    ],
}


def test_a_turned_box_lands_as_its_four_corners_in_a_polygon_class_named_by_label_mapping(
    admin_client, project, run_import, tmp_path
):
    folder = datumaro_export(tmp_path, TURNED)
    converted = configure(admin_client, project, (folder / "default.xml").read_text())
    assert {"key": "car", "type": "rectangle"}.items() <= converted["entries"][0].items()
    outline = {"key": "car_outline", "title": "car outline", "type": "polygon"}
    label_config_replace(configuration=project.label_configuration, entries=[*converted["entries"], outline])
    media(project, SIZES)

    job = run_import(project, "cvat.zip", _zip(folder), label_mapping={"car": "car_outline"})

    assert job["status"] == "succeeded", job["errors"]
    found = labels_of(project, "street_2.jpg")
    (outline,) = [points for key, _, points, _ in found if key == "car_outline"]
    # 10 x 4 about (16, 16), turned 30 degrees clockwise (image y down): its top edge now runs
    # down to the right at 30 degrees, as datumaro's RotatedBbox.from_rectangle reads it.
    assert np.allclose(outline, [[12.67, 11.768], [21.33, 16.768], [19.33, 20.232], [10.67, 15.232]], atol=0.001)


def test_a_turned_box_in_a_rectangle_class_keeps_its_rotation(admin_client, project, run_import, tmp_path):
    folder = datumaro_export(tmp_path, TURNED)
    configure(admin_client, project, (folder / "default.xml").read_text())
    media(project, SIZES)

    job = run_import(project, "cvat.zip", _zip(folder))

    assert job["status"] == "succeeded", job["errors"]
    car = Label.objects.get(task__media__name="street_2.jpg", entry__key="car")
    # The same 10 x 4 box about (16, 16) turned 30 degrees as in the polygon test above: we turn
    # about the box's top-left corner, so that corner is stored where CVAT's turned one lies.
    assert car.rotation == pytest.approx(30)
    assert np.allclose(car.points, [[12.67, 11.768], [22.67, 15.768]], atol=0.001)
    corners = rectangle_corners(car.points, car.rotation)
    assert np.allclose(corners, [[12.67, 11.768], [21.33, 16.768], [19.33, 20.232], [10.67, 15.232]], atol=0.001)


def test_occluded_is_kept_as_the_answer_of_the_class_question_and_z_order_orders_the_shapes(
    admin_client, project, run_import, tmp_path
):
    spec = {**TURNED, "items": [{**TURNED["items"][0], "annotations": TURNED["items"][0]["annotations"][1:]}]}
    folder = datumaro_export(tmp_path, spec)
    converted = configure(admin_client, project, (folder / "default.xml").read_text())
    media(project, SIZES)

    job = run_import(project, "cvat.zip", _zip(folder))

    assert job["status"] == "succeeded", job["errors"]
    person = next(e for e in converted["entries"] if e["key"] == "person")
    assert [(c["key"], c["type"]) for c in person["children"]] == [("occluded", "select")]
    ordered = Label.objects.filter(task__media__name="street_2.jpg").order_by("id")
    # The box with z_order 2 is drawn over the one with 0: it comes after it.
    assert [(label.points[0], label.answers) for label in ordered] == [
        ([20.0, 1.0], {"occluded": {"value": "false"}}),
        ([1.0, 1.0], {"occluded": {"value": "true"}}),
    ]


def test_a_label_of_no_class_and_an_unknown_attribute_are_errors_at_their_elements(
    admin_client, project, run_import, tmp_path
):
    folder = datumaro_export(tmp_path, SPEC)
    label_config_replace(
        configuration=project.label_configuration,
        entries=[{"key": "car", "title": "car", "type": "rectangle"}],
    )
    media(project, SIZES)

    job = run_import(project, "default.xml", (folder / "default.xml").read_bytes())

    assert (job["format"], job["status"]) == ("cvat", "failed")
    located = {(e["code"], e["location"]) for e in job["errors"]}
    assert ("unknown_attribute", "file: /annotations/image[2]/box[1]/attribute[1]/@name") in located
    assert ("unknown_class", "file: /annotations/image[1]/polygon[1]/@label") in located
    assert ("no_tags_question", "file: /annotations/image[1]/tag[1]") in located
    assert not Label.objects.exists()
