"""An export never writes pixel regions against an unknown image size (issue 16).

URL media an import creates have no size until the worker's probe has read them. An export
whose format needs the size (Label Studio's percentages, COCO's and VOC's declared size, YOLO's
normalised values ...) first learns it the same way, through the SSRF guard; a media it still
cannot read keeps its task but loses its regions, and the job's report says which.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from exports.models import ExportStatus
from exports.services import export_job_create, export_job_run
from imports.services import import_items_inline
from labeling.models import Label, Task, TaskState
from projects.label_config import label_config_replace
from projects.models import Media
from projects.services import api_token_create, media_create_from_urls
from tests.exports.conftest import EXPORT_CONFIG
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.media_sources import image_http_server, png_bytes

pytestmark = pytest.mark.django_db

BUS = {"x": 64, "y": 32, "w": 320, "h": 160}


@pytest.fixture
def served(settings: Any) -> Iterator[str]:
    """A local image server (loopback, allow-listed) with a 640 x 320 `wide.png`; `gone.png` is missing."""
    settings.LABELSITE_URL_ALLOWLIST = ["127.0.0.1"]
    settings.LABELSITE_MEDIA_PROBE_URLS = True  # the images are on loopback, not the internet
    with image_http_server({"wide.png": png_bytes((10, 20, 200), 640, 320)}) as base:
        yield base


@pytest.fixture
def labelled(export_project: Any, export_dataset: Any, served: str, media_storage: Any) -> dict[str, Media]:
    """Two URL media with no stored size (as an import leaves them), each with a bus box in pixels."""
    results = media_create_from_urls(dataset=export_dataset, urls=[f"{served}/wide.png", f"{served}/gone.png"])
    wide, gone = (result.media for result in results)
    assert wide is not None
    assert gone is not None
    assert (wide.width, gone.width) == (None, None)
    items = [
        {"internal_media_ID": str(m.id), "labels": {"bus": [{"rectangle": [BUS], "classifications": {}}]}}
        for m in (wide, gone)
    ]
    result = import_items_inline(project=export_project, items=items)
    assert Label.objects.filter(task__project=export_project).count() == 2, result
    Task.objects.filter(project=export_project).update(state=TaskState.COMPLETED)
    return {"wide": wide, "gone": gone}


def run_export(project: Any, format: str) -> tuple[Any, bytes]:
    job = export_job_run(job_id=export_job_create(project=project, format=format).pk)
    assert job.status == ExportStatus.SUCCEEDED, job.message
    with job.file.open("rb") as stored:
        return job, stored.read()


def test_a_label_studio_export_learns_the_size_of_a_url_media_and_writes_true_percentages(
    export_project: Any, labelled: dict[str, Media]
):
    job, content = run_export(export_project, "label_studio")

    wide = labelled["wide"]
    wide.refresh_from_db()
    assert (wide.width, wide.height) == (640, 320)  # learned, and kept for the next export
    tasks = {task["data"]["image"].rsplit("/", 1)[-1]: task for task in json.loads(content)}
    [region] = tasks["wide.png"]["annotations"][0]["result"]
    assert (region["original_width"], region["original_height"]) == (640, 320)
    assert region["value"]["x"] == pytest.approx(10.0)
    assert region["value"]["y"] == pytest.approx(10.0)
    assert region["value"]["width"] == pytest.approx(50.0)
    assert region["value"]["height"] == pytest.approx(50.0)
    assert job.message.startswith("1 task(s) exported without their regions")


def test_a_media_whose_image_cannot_be_fetched_is_exported_without_regions_and_the_report_names_it(
    export_project: Any, labelled: dict[str, Media]
):
    job, content = run_export(export_project, "label_studio")

    tasks = {task["data"]["image"].rsplit("/", 1)[-1]: task for task in json.loads(content)}
    assert tasks["gone.png"]["annotations"][0]["result"] == []  # no region written against a null size
    assert all(
        region.get("original_width") is not None
        for task in tasks.values()
        for region in task["annotations"][0]["result"]
    )
    assert "1 task(s) exported without their regions" in job.message
    assert "Label Studio JSON needs the image size" in job.message
    assert "gone.png" in job.message
    assert "HTTP 404" in job.message
    assert "export again" in job.message
    gone = labelled["gone"]
    gone.refresh_from_db()
    assert "HTTP 404" in gone.probe_error  # recorded as the worker's probe records it


def test_the_label_studio_export_re_imports_with_the_same_pixel_boxes(
    export_project: Any, export_dataset: Any, labelled: dict[str, Media]
):
    _, content = run_export(export_project, "label_studio")
    fresh: Any = ProjectFactory(organization=export_project.organization)
    label_config_replace(configuration=fresh.label_configuration, entries=EXPORT_CONFIG)
    export_dataset.projects.add(fresh)
    for media in labelled.values():
        Task.objects.get_or_create(project=fresh, media=media)

    result = import_items_inline(
        project=fresh, items=json.loads(content), format="label_studio", options={"match_by": "name"}
    )

    [box] = Label.objects.filter(task__project=fresh)
    [original] = Label.objects.filter(task__project=export_project, task__media=labelled["wide"])
    assert box.task.media_id == labelled["wide"].id, result
    assert [[round(float(v), 3) for v in point] for point in box.points] == original.points == [[64, 32], [384, 192]]


def test_json_min_leaves_out_the_regions_of_a_sizeless_media_too(export_project: Any, labelled: dict[str, Media]):
    job, content = run_export(export_project, "label_studio_min")
    rows = {row["image"].rsplit("/", 1)[-1]: row for row in json.loads(content)}
    assert rows["wide.png"]["rectangle"][0]["original_width"] == 640
    assert "rectangle" not in rows["gone.png"]
    assert "gone.png" in job.message


def test_coco_yolo_and_voc_leave_out_the_regions_of_a_sizeless_media(export_project: Any, labelled: dict[str, Media]):
    job, content = run_export(export_project, "coco")
    coco = json.loads(content)
    images = {image["file_name"]: image for image in coco["images"]}
    assert (images["wide.png"]["width"], images["wide.png"]["height"]) == (640, 320)
    assert {a["image_id"] for a in coco["annotations"]} == {images["wide.png"]["id"]}
    assert "gone.png" in job.message

    job, content = run_export(export_project, "yolo")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.read("labels/wide.txt").decode().split()[1:] == ["0.350000", "0.350000", "0.500000", "0.500000"]
        assert archive.read("labels/gone.txt") == b""
    assert "gone.png" in job.message

    job, content = run_export(export_project, "pascal_voc")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = archive.namelist()
        wide = ET.fromstring(archive.read(next(n for n in names if n.endswith("wide.xml"))))  # noqa: S314 - ours
        gone = ET.fromstring(archive.read(next(n for n in names if n.endswith("gone.xml"))))  # noqa: S314 - ours
    assert wide.findtext("size/width") == "640"
    assert len(wide.findall("object")) == 1
    assert gone.findall("object") == []
    assert "gone.png" in job.message


def test_a_format_that_needs_no_size_keeps_every_region_and_reports_nothing(
    export_project: Any, labelled: dict[str, Media]
):
    job, content = run_export(export_project, "datagym")
    assert job.message == ""
    items = [item for item in json.loads(content) if "internal_media_ID" in item]
    assert [item["labels"]["bus"][0]["rectangle"] for item in items] == [[BUS], [BUS]]  # pixels, no size needed
    assert Media.objects.get(pk=labelled["gone"].pk).probe_error == ""  # nothing was fetched for it


def test_the_streamed_export_fetches_nothing_and_says_how_many_tasks_lost_their_regions(
    export_project: Any, labelled: dict[str, Media]
):
    user: Any = UserFactory()
    MembershipFactory(user=user, organization=export_project.organization, role="admin")
    _, token = api_token_create(organization=export_project.organization, user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    answer = api.get(f"/api/projects/{export_project.pk}/export", {"format": "label_studio"})

    assert answer.status_code == 200
    assert answer["X-Labelsite-Regions-Left-Out"] == "2"  # a web request learns no size
    tasks = json.loads(b"".join(answer.streaming_content))  # type: ignore[attr-defined]
    assert [task["annotations"][0]["result"] for task in tasks] == [[], []]
    assert Media.objects.filter(pk__in=[m.pk for m in labelled.values()], width__isnull=False).count() == 0
