"""Pascal VOC archives import as one job, detected from the archive, boxes in pixels.

The VOC files are written at test time by Label Studio's own converter (label-studio-sdk,
`tests/thirdparty/ls_convert.py`) from the committed Label Studio export, or from tasks made
here for the many-files case, and zipped as a user zips the converter's folder.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from imports.models import ImportJob
from labeling.models import Label
from projects.config_converters import ls_config_to_entries
from projects.label_config import label_config_replace
from tests.factories import DatasetFactory, MediaFactory, TaskFactory
from tests.imports.test_label_studio_exports import FILES, LABEL_STUDIO_SDK, SIZES
from tests.thirdparty import tool_run, tool_venv

pytestmark = [pytest.mark.django_db, pytest.mark.thirdparty]


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _voc(tmp_path: Path, export: Path) -> bytes:
    python = tool_venv("label-studio-sdk", [LABEL_STUDIO_SDK])
    out = tmp_path / "voc"
    tool_run(python, "ls_convert.py", str(FILES / "label_config.xml"), str(export), "VOC", str(out))
    return _zip(out)


@pytest.fixture
def ls_project(project):
    label_config_replace(
        configuration=project.label_configuration,
        entries=ls_config_to_entries((FILES / "label_config.xml").read_text()).entries,
    )
    return project


def _media(project, sizes: dict[str, tuple[int, int]]) -> None:
    dataset: Any = DatasetFactory(organization=project.organization, name="Images")
    dataset.projects.add(project)
    for name, (width, height) in sizes.items():
        TaskFactory(project=project, media=MediaFactory(dataset=dataset, name=name, width=width, height=height))


@pytest.fixture
def run_import(admin_client, media_storage, eager_worker, django_capture_on_commit_callbacks):
    def run(project, name: str, body: bytes) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                f"/api/projects/{project.pk}/imports",
                {
                    "file": SimpleUploadedFile(name, body, content_type="application/zip"),
                    "options": json.dumps({"write_when_valid": True}),
                },
                format="multipart",
            )
        assert response.status_code == 201, response.json()
        job = dict(admin_client.get(f"/api/imports/{response.json()['id']}").json())
        job["errors"] = admin_client.get(job["links"]["errors"]).json()["results"]
        return job

    return run


def boxes(project, media_name: str) -> list[tuple[str, Any]]:
    labels = Label.objects.filter(task__project=project, task__media__name=media_name).select_related("entry")
    return sorted((label.entry.key, label.points) for label in labels)


def test_label_studio_voc_export_zipped_is_one_job_detected_with_boxes_in_pixels(ls_project, run_import, tmp_path):
    _media(ls_project, SIZES)
    body = _voc(tmp_path, FILES / "export.json")

    job = run_import(ls_project, "voc.zip", body)

    assert (job["format"], job["status"]) == ("pascal_voc", "succeeded"), (job["message"], job["errors"])
    assert ImportJob.objects.count() == 1
    # <filename>18a0b175__img_001.jpg</filename> (the converter's prefix) finds img_001.jpg.
    assert boxes(ls_project, "img_001.jpg") == [("car", [[80.0, 120.0], [320.0, 360.0]])]
    assert boxes(ls_project, "img_004.png") == [("car", [[16.0, 12.0], [48.0, 36.0]])]
    assert Label.objects.count() == 2


def test_a_voc_archive_is_detected_whatever_other_files_sort_before_its_xml(ls_project, run_import, tmp_path):
    _media(ls_project, SIZES)
    folder = tmp_path / "voc"
    python = tool_venv("label-studio-sdk", [LABEL_STUDIO_SDK])
    tool_run(python, "ls_convert.py", str(FILES / "label_config.xml"), str(FILES / "export.json"), "VOC", str(folder))
    (folder / "0_notes.txt").write_text("exported from Label Studio\n")
    (folder / "ImageSets" / "Main").mkdir(parents=True)
    (folder / "ImageSets" / "Main" / "default.txt").write_text("18a0b175__img_001\n")

    job = run_import(ls_project, "voc.zip", _zip(folder))

    assert (job["format"], job["status"]) == ("pascal_voc", "succeeded"), (job["message"], job["errors"])
    assert Label.objects.count() == 2


def _tasks(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": number,
            "data": {"image": f"https://images.example.com/frames/frame_{number:04}.jpg"},
            "annotations": [
                {
                    "id": number,
                    "result": [
                        {
                            "id": f"r{number}",
                            "from_name": "label",
                            "to_name": "image",
                            "type": "rectanglelabels",
                            "original_width": 200,
                            "original_height": 100,
                            "value": {
                                **{"x": 10, "y": 20, "width": 50, "height": 40},
                                "rectanglelabels": ["Traffic light"],
                            },
                        }
                    ],
                }
            ],
        }
        for number in range(1, count + 1)
    ]


def test_a_voc_archive_of_500_files_is_one_job_with_every_box(ls_project, run_import, tmp_path):
    _media(ls_project, {f"frame_{number:04}.jpg": (200, 100) for number in range(1, 501)})
    export = tmp_path / "tasks.json"
    export.write_text(json.dumps(_tasks(500)))
    body = _voc(tmp_path, export)
    assert len([n for n in zipfile.ZipFile(io.BytesIO(body)).namelist() if n.endswith(".xml")]) == 500

    job = run_import(ls_project, "frames.zip", body)

    assert (job["format"], job["status"]) == ("pascal_voc", "succeeded"), (job["message"], job["errors"])
    assert ImportJob.objects.count() == 1
    assert Label.objects.count() == 500
    assert boxes(ls_project, "frame_0321.jpg") == [("traffic light", [[20.0, 20.0], [120.0, 60.0]])]


def test_an_object_of_no_class_is_an_error_at_its_file_and_object(ls_project, run_import, tmp_path):
    _media(ls_project, {"frame_0001.jpg": (200, 100)})
    tasks = _tasks(1)
    tasks[0]["annotations"][0]["result"][0]["value"]["rectanglelabels"] = ["Bicycle"]
    export = tmp_path / "tasks.json"
    export.write_text(json.dumps(tasks))

    job = run_import(ls_project, "frames.zip", _voc(tmp_path, export))

    assert job["status"] == "failed"
    (error,) = job["errors"]
    assert error["code"] == "unknown_class"
    assert error["location"].endswith("frame_0001.xml: /annotation/object[1]/name")
    assert "'Bicycle' is no class of the label configuration" in error["message"]
    assert not Label.objects.exists()
