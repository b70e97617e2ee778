"""Images uploaded here are the assets of an Ango label file, each named its own way.

The category schema and each label's answer are made at test time by the `ango` SDK 1.4.10
(`tests/thirdparty/ango_labels.py`; offline: its category and answer models, the element around
the answer as Ango documents it). The images are uploaded through the API, one given its Ango
external id in the upload's `keys` part; the file names one asset by `externalId`, one by
`data` (its URL, whose file name is the image's) and one by `assetId` (our media id).
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Label, Task
from tests.api.conftest import png_bytes
from tests.factories import DatasetFactory
from tests.imports.test_label_studio_exports import upload
from tests.thirdparty import tool_run, tool_venv

pytestmark = pytest.mark.django_db

ANGO_SDK = "ango==1.4.10"


@pytest.mark.thirdparty
def test_an_ango_file_labels_uploaded_images_by_external_id_data_and_asset_id(
    admin_client, project, media_storage, eager_worker, django_capture_on_commit_callbacks
):
    dataset = DatasetFactory(organization=project.organization, name="Streets")
    dataset.projects.add(project)
    images = [SimpleUploadedFile(f"street_{n}.png", png_bytes(64, 48), content_type="image/png") for n in (1, 2, 3)]
    uploaded = admin_client.post(
        f"/api/datasets/{dataset.pk}/media",
        {"file": images, "keys": json.dumps({"street_1.png": {"external_id": "ango-asset-1"}})},
        format="multipart",
    ).json()
    media_ids = {m["name"]: m["id"] for m in uploaded["created"]}
    made = json.loads(tool_run(tool_venv("ango", [ANGO_SDK]), "ango_labels.py", media_ids["street_3.png"]))
    converted = admin_client.post(
        "/api/label-configurations/convert",
        {"format": "ango_schema", "source": json.dumps(made["schema"])},
        format="json",
    ).json()
    saved = admin_client.post(
        f"/api/projects/{project.pk}/label-configuration/save", {"entries": converted["entries"]}, format="json"
    )
    assert saved.status_code == 200, saved.json()

    with django_capture_on_commit_callbacks(execute=True):
        job_id = upload(admin_client, project, "ango.json", json.dumps(made["elements"]).encode())
    job = admin_client.get(f"/api/imports/{job_id}").json()

    assert job["status"] == "succeeded", job["message"]
    boxes = {
        label.task.media.name: (label.points, label.answers)
        for label in Label.objects.filter(task__project=project).select_related("task__media")
    }
    assert boxes == {
        f"street_{n}.png": ([[x, 20], [x + 30, 60]], {"occluded": {"value": "no"}})
        for n, x in ((1, 10), (2, 11), (3, 12))
    }
    weather = {task.media.name: task.answers for task in Task.objects.filter(project=project).select_related("media")}
    assert weather == {
        "street_1.png": {"weather": {"value": "sunny"}},
        "street_2.png": {"weather": {"value": "rainy"}},
        "street_3.png": {"weather": {"value": "sunny"}},
    }
