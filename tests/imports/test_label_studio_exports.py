"""Label Studio's own JSON exports import whole, through the import API, every label in pixels.

The files under `tests/thirdparty/files/label-studio-1.23.2/` were written by Label Studio
1.23.2 itself (`python -m tests.thirdparty.label_studio_export`): a project labelled through its
REST API by two people (ada, id 1, and bo, id 2), then exported three ways: the export button
(`export.json`: predictions as ids, drafts as objects), a snapshot with the default options
(`snapshot.json`), and a snapshot that expands predictions and annotators
(`snapshot_expanded.json`). What the tasks hold:

- img_001.jpg (800 x 600): ada's box "Car" 10/20/30/40 % with its region question occluded=yes,
  weather Sunny and the comment "two cars"; bo's "Traffic light" 50/5/5/15 % and weather
  "Rainy day"; a prediction "Car" 11/21/29/39 % (score 0.87, yolo-v8).
- img_002.jpg: ada's cancelled (skipped) annotation, which still holds a box; bo's polygon
  "Road" and keypoint "Head".
- img_003.jpg (320 x 240): ada's brush "Sky" (rows 20-79, columns 40-199); bo's box "Car"
  25/25/50/50 %, marked ground truth.
- img_004.png (64 x 48), uploaded to Label Studio (`/data/upload/1/<8 hex>-img_004.png`): ada's box.
- img_005.jpg: no annotation; a prediction "Road" and a draft of ada's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from formats.codecs.mask_polygons import segmentation_mask
from imports.models import ImportJob
from labeling.models import Label, Task
from projects.config_converters import ls_config_to_entries
from projects.label_config import label_config_replace
from tests.factories import DatasetFactory, MediaFactory, TaskFactory
from tests.thirdparty import tool_run, tool_venv

pytestmark = pytest.mark.django_db

FILES = Path(__file__).parents[1] / "thirdparty" / "files" / "label-studio-1.23.2"
#: The SDK that writes tasks at test time (Label Studio itself is too heavy to install in every CI run).
LABEL_STUDIO_SDK = "label-studio-sdk==2.1.2"
SIZES = {
    "img_001.jpg": (800, 600),
    "img_002.jpg": (800, 600),
    "img_003.jpg": (320, 240),
    "img_004.png": (64, 48),
    "img_005.jpg": (800, 600),
}

ADA_ON_001 = {"car": [[80.0, 120.0], [320.0, 360.0]]}
BO_ON_001 = {"traffic light": [[400.0, 30.0], [440.0, 120.0]]}
BO_ON_002 = {"road": [[0.0, 600.0], [400.0, 300.0], [800.0, 600.0]], "head": [[200.0, 300.0]]}
BO_ON_003 = {"car": [[80.0, 60.0], [240.0, 180.0]]}
ADA_ON_004 = {"car": [[16.0, 12.0], [48.0, 36.0]]}


@pytest.fixture
def ls_studio_project(project):
    """The project configured from the Label Studio project's XML, as a user does in the editor."""
    xml = (FILES / "label_config.xml").read_text()
    label_config_replace(configuration=project.label_configuration, entries=ls_config_to_entries(xml).entries)
    dataset = DatasetFactory(organization=project.organization, name="Streets")
    dataset.projects.add(project)
    for name, (width, height) in SIZES.items():
        TaskFactory(project=project, media=MediaFactory(dataset=dataset, name=name, width=width, height=height))
    return project


def upload(client, project, name: str, content: bytes | None = None, **options: Any) -> str:
    """Upload through the API, as a user would (format detected), to be written when valid; the job's id."""
    body = content if content is not None else (FILES / name).read_bytes()
    response = client.post(
        f"/api/projects/{project.pk}/imports",
        {
            "file": SimpleUploadedFile(name, body, content_type="application/json"),
            "options": json.dumps({"write_when_valid": True, **options}),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return str(response.json()["id"])


def shapes(project, media_name: str, source: str = "import") -> dict[str, Any]:
    labels = Label.objects.filter(task__project=project, task__media__name=media_name, source=source)
    return {label.entry.key: label.points for label in labels.select_related("entry")}


def answers(project, media_name: str) -> dict[str, Any]:
    return dict(Task.objects.get(project=project, media__name=media_name).answers)


@pytest.fixture
def run_import(admin_client, ls_studio_project, media_storage, eager_worker, django_capture_on_commit_callbacks):
    def run(name: str, content: bytes | None = None, **options: Any) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            job_id = upload(admin_client, ls_studio_project, name, content, **options)
        return dict(admin_client.get(f"/api/imports/{job_id}").json())

    return run


@pytest.mark.parametrize("name", ["export.json", "snapshot.json"])
def test_label_studio_1_23_export_imports_one_whole_annotation_per_task_in_pixels(run_import, ls_studio_project, name):
    job = run_import(name)

    assert (job["format"], job["status"]) == ("label_studio", "succeeded"), job["message"]
    project = ls_studio_project
    # No ground truth on img_001: the first annotation, ada's, whole (bo's box and answer are not mixed in).
    assert shapes(project, "img_001.jpg") == ADA_ON_001
    assert Label.objects.get(task__media__name="img_001.jpg").answers == {"occluded": {"value": "yes"}}
    assert answers(project, "img_001.jpg") == {"weather": {"value": "sunny"}, "comment": {"value": "two cars"}}
    # ada's cancelled annotation is not labels: bo's is the first that counts.
    assert shapes(project, "img_002.jpg") == BO_ON_002
    # bo's ground truth wins over ada's brush, which came first.
    assert shapes(project, "img_003.jpg") == BO_ON_003
    # The uploaded image, /data/upload/1/<8 hex>-img_004.png, is the media named img_004.png.
    assert shapes(project, "img_004.png") == ADA_ON_004
    # Predictions exported as ids, and drafts, carry no labels to import.
    assert not Label.objects.filter(task__project=project, source="prediction").exists()
    assert shapes(project, "img_005.jpg") == {}
    assert job["counts"]["labels_written"] == 5
    assert job["counts"]["error_count"] == 0


def test_the_snapshot_with_expanded_predictions_imports_them_with_score_and_model(run_import, ls_studio_project):
    job = run_import("snapshot_expanded.json")

    assert job["status"] == "succeeded", job["message"]
    predicted = Label.objects.filter(task__project=ls_studio_project, source="prediction").select_related("task__media")
    assert {(p.task.media.name, p.entry.key, p.score, p.model_version) for p in predicted} == {
        ("img_001.jpg", "car", 0.87, "yolo-v8"),
        ("img_005.jpg", "road", 0.5, "yolo-v8"),
    }
    assert shapes(ls_studio_project, "img_001.jpg", "prediction") == {"car": [[88.0, 126.0], [320.0, 360.0]]}
    assert shapes(ls_studio_project, "img_005.jpg", "prediction") == {
        "road": [[80.0, 60.0], [160.0, 60.0], [160.0, 120.0], [80.0, 120.0]]
    }
    assert shapes(ls_studio_project, "img_001.jpg") == ADA_ON_001


def test_option_annotation_first_takes_the_first_annotation_not_cancelled_over_ground_truth(
    run_import, ls_studio_project
):
    job = run_import("export.json", annotation="first")

    assert job["status"] == "succeeded", job["message"]
    assert shapes(ls_studio_project, "img_002.jpg") == BO_ON_002
    (sky,) = Label.objects.filter(task__media__name="img_003.jpg")
    assert sky.entry.key == "sky"
    expected = np.zeros((240, 320), dtype=bool)
    expected[20:80, 40:200] = True
    assert np.array_equal(segmentation_mask(sky.points, 320, 240), expected)


def test_option_annotation_last_takes_the_last_annotation_not_cancelled(run_import, ls_studio_project):
    job = run_import("export.json", annotation="last")

    assert job["status"] == "succeeded", job["message"]
    assert shapes(ls_studio_project, "img_001.jpg") == BO_ON_001
    assert answers(ls_studio_project, "img_001.jpg") == {"weather": {"value": "rainy day"}}
    assert shapes(ls_studio_project, "img_002.jpg") == BO_ON_002
    assert shapes(ls_studio_project, "img_003.jpg") == BO_ON_003
    assert shapes(ls_studio_project, "img_004.png") == ADA_ON_004


@pytest.mark.parametrize(
    ("name", "annotator"),
    [("export.json", 2), ("export.json", "2"), ("snapshot_expanded.json", "bo@example.com")],
)
def test_option_annotator_takes_that_persons_annotation_by_id_or_email(run_import, ls_studio_project, name, annotator):
    job = run_import(name, annotation={"annotator": annotator})

    assert job["status"] == "succeeded", job["message"]
    assert shapes(ls_studio_project, "img_001.jpg") == BO_ON_001
    assert shapes(ls_studio_project, "img_002.jpg") == BO_ON_002
    assert shapes(ls_studio_project, "img_003.jpg") == BO_ON_003
    # bo did not label img_004: ada's box is not taken instead.
    assert shapes(ls_studio_project, "img_004.png") == {}


def test_an_annotator_email_on_a_file_that_names_annotators_by_id_is_an_error_that_says_what_to_do(
    run_import, ls_studio_project, admin_client
):
    job = run_import("export.json", annotation={"annotator": "bo@example.com"})

    assert job["status"] == "failed"
    errors = admin_client.get(job["links"]["errors"]).json()["results"]
    first = errors[0]
    assert (first["location"], first["code"]) == ("/0/annotations/0/completed_by", "annotator_by_id_only")
    assert 'the option annotation {"annotator": "bo@example.com"} cannot find them' in first["message"]
    assert 'Use the annotator\'s user id, e.g. {"annotator": 1}' in first["message"]
    assert "annotators expanded" in first["message"]
    assert not Label.objects.exists()


@pytest.mark.parametrize(
    "value",
    ["newest", {"annotator": ""}, {"annotator": True}, {"person": 2}, {"annotator": 2, "extra": 1}, 3],
)
def test_a_bad_annotation_option_is_refused_at_upload_naming_the_choices(
    admin_client, ls_studio_project, media_storage, value
):
    response = admin_client.post(
        f"/api/projects/{ls_studio_project.pk}/imports",
        {
            "file": SimpleUploadedFile("export.json", (FILES / "export.json").read_bytes()),
            "options": json.dumps({"annotation": value}),
        },
        format="multipart",
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert "options.annotation" in {d["path"] for d in error["details"]}
    assert "ground_truth_first" in json.dumps(error)
    assert not ImportJob.objects.exists()


@pytest.mark.thirdparty
def test_tasks_written_by_label_studio_sdk_import_in_pixels_of_the_matched_media(
    run_import, ls_studio_project, tmp_path
):
    python = tool_venv("label-studio-sdk", [LABEL_STUDIO_SDK])
    tasks = tool_run(python, "sdk_tasks.py", str(FILES / "label_config.xml"), str(tmp_path))

    job = run_import("sdk_tasks.json", content=tasks.encode())

    assert (job["format"], job["status"]) == ("label_studio", "succeeded"), job["message"]
    project = ls_studio_project
    # The SDK's regions are percentages without the original size: the media's 800 x 600 scales them.
    assert shapes(project, "img_001.jpg") == ADA_ON_001
    assert answers(project, "img_001.jpg") == {"weather": {"value": "sunny"}}
    assert shapes(project, "img_001.jpg", "prediction") == {"car": [[100.0, 150.0], [300.0, 300.0]]}
    assert shapes(project, "img_002.jpg") == BO_ON_002
    assert answers(project, "img_002.jpg") == {"comment": {"value": "wet road"}}
    (sky,) = Label.objects.filter(task__media__name="img_003.jpg", source="prediction")
    assert (sky.entry.key, sky.score, sky.model_version) == ("sky", 0.6, "sdk-segmenter")
    expected = np.zeros((240, 320), dtype=bool)
    expected[20:80, 40:200] = True
    assert np.array_equal(segmentation_mask(sky.points, 320, 240), expected)


def test_an_image_uploaded_to_label_studio_and_not_here_is_an_error_that_says_to_upload_it(
    run_import, ls_studio_project, admin_client
):
    Task.objects.filter(media__name="img_004.png").delete()

    job = run_import("export.json")

    assert job["status"] == "failed"
    (error,) = admin_client.get(job["links"]["errors"]).json()["results"]
    assert (error["location"], error["code"]) == ("/4/data/image", "tool_path")
    assert "upload img_004.png to a dataset of the project" in error["message"]
    assert not Label.objects.exists()
