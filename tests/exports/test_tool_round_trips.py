"""Each format we both write and read: a project exported through an export job, as a user downloads
it, uploaded unchanged into a fresh project with the same configuration (format detected), gives
back the same labels, less what docs/formats.md says the format loses.

The source project holds every kind of label the configuration has: a rectangle (`bus`), a polygon
(`car`) with its question `car_type` and a nested point (`wheel`), a line (`street`), a point
(`poi`), a segmentation with a hole (`road`), and the global questions `weather` (with its child
`daytime`), `tags` and `comment`. Each test says what its format keeps by the labels it expects.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from formats.codecs.mask_polygons import segmentation_mask
from formats.writing import points_flat
from labeling.models import Label, Task, TaskState
from projects.label_config import label_config_replace, label_config_tree
from tests.exports.conftest import EXPORT_CONFIG, label
from tests.factories import DatasetFactory, MediaFactory, ProjectFactory

pytestmark = pytest.mark.django_db

#: Per media, the labels of the source project (DataGym JSON, imported).
LABELS: dict[str, dict[str, Any]] = {
    "street_1.jpg": {
        "global_classifications": {"weather": ["sunny", {"daytime": ["day"]}], "tags": ["a", "b"], "comment": ["hi"]},
        "labels": {
            "car": [
                {
                    "polygon": [{"x": 57, "y": 412}, {"x": 54, "y": 463}, {"x": 130, "y": 524}],
                    "classifications": {"car_type": ["suv"]},
                    "nested_geometries": {"wheel": [{"point": [{"x": 60, "y": 500}], "classifications": {}}]},
                }
            ],
            "bus": [{"rectangle": [{"x": 272, "y": 302, "w": 324, "h": 169}], "classifications": {}}],
            "street": [{"line": [{"x": 57, "y": 412}, {"x": 54, "y": 463}]}],
            "poi": [{"point": [{"x": 57, "y": 412}], "classifications": {}}],
        },
    },
    "street_2.jpg": {
        "global_classifications": {"weather": ["rainy"]},
        "labels": {
            "bus": [
                {"rectangle": [{"x": 10, "y": 20, "w": 30, "h": 40}], "classifications": {}},
                {"rectangle": [{"x": 100, "y": 200, "w": 300, "h": 100}], "classifications": {}},
            ]
        },
    },
    "street_3.jpg": {"global_classifications": {}, "labels": {}},
}
#: A square ring with a square hole, on whole pixels (what every format can write exactly).
ROAD = [[[100, 100], [300, 100], [300, 300], [100, 300]], [[150, 150], [250, 150], [250, 250], [150, 250]]]


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def projects(organization):
    """The labelled source project and a fresh one with the same configuration on the same dataset."""
    source, fresh = (ProjectFactory(organization=organization) for _ in range(2))
    label_config_replace(configuration=source.label_configuration, entries=EXPORT_CONFIG)
    # The same configuration, schema ids included (as the editor's copy gives it): Ango names
    # categories by schemaId.
    same = label_config_tree(configuration=source.label_configuration)
    label_config_replace(configuration=fresh.label_configuration, entries=same)
    dataset = DatasetFactory(organization=organization)
    dataset.projects.add(source, fresh)
    from projects.models import LabelEntry

    road = LabelEntry.objects.get(configuration__project=source, key="road")
    for name, labels in LABELS.items():
        media = MediaFactory(dataset=dataset, name=name, width=800, height=600)
        task = Task.objects.create(project=source, media=media, state=TaskState.BACKLOG)
        Task.objects.create(project=fresh, media=media, state=TaskState.BACKLOG)
        label(source, task, labels)
        if name == "street_3.jpg":
            Label.objects.create(task=task, entry=road, points=ROAD)
    return source, fresh


@pytest.fixture
def round_trip(admin_user, media_storage, eager_worker, django_capture_on_commit_callbacks, projects):
    """Export the source through an export job, download it, upload it to the fresh project (the
    format detected from the file); the export's bytes and the import job as the API shows them."""
    client = _client(admin_user)
    source, fresh = projects

    def run(export_format: str, **options: Any) -> tuple[bytes, dict[str, Any]]:
        with django_capture_on_commit_callbacks(execute=True):
            created = client.post(f"/api/projects/{source.pk}/exports", {"format": export_format}, format="json")
        assert created.status_code == 201, created.content
        job = client.get(f"/api/exports/{created.json()['id']}").json()
        assert job["status"] == "succeeded", job
        download = client.get(job["download_url"])
        body = b"".join(download.streaming_content)
        with django_capture_on_commit_callbacks(execute=True):
            uploaded = client.post(
                f"/api/projects/{fresh.pk}/imports",
                {
                    "file": SimpleUploadedFile(job["file_name"], body),
                    "options": json.dumps({"write_when_valid": True, **options}),
                },
                format="multipart",
            )
        assert uploaded.status_code == 201, uploaded.json()
        imported = dict(client.get(f"/api/imports/{uploaded.json()['id']}").json())
        imported["errors"] = client.get(imported["links"]["errors"]).json()["results"]
        return body, imported

    return run


def labels_of(project) -> list[tuple[str, str, Any, Any, str | None]]:
    """The project's labels as (media, class, points to the thousandth, answers given, parent class)."""
    rows = Label.objects.filter(task__project=project).select_related("entry", "parent__entry", "task__media")
    return sorted(
        (
            row.task.media.name,
            row.entry.key,
            json.dumps(_rounded(row.points)),
            json.dumps(_given(row.answers), sort_keys=True),
            row.parent.entry.key if row.parent else None,
        )
        for row in rows
    )


def answers_of(project) -> dict[str, Any]:
    return {
        task.media.name: _given(task.answers) for task in Task.objects.filter(project=project).select_related("media")
    }


def _rounded(points: Any) -> Any:
    if isinstance(points, list):
        return [_rounded(p) for p in points]
    return round(float(points), 3)


def _given(tree: dict[str, Any] | None) -> dict[str, Any]:
    """An answer tree without the questions left unanswered (an import may or may not store them)."""
    kept = {}
    for key, node in (tree or {}).items():
        children = _given(node.get("answers") or {})
        if node.get("value") not in (None, []) or children:
            kept[key] = {"value": node.get("value"), "answers": children}
    return kept


def _without(
    rows: list[tuple[Any, ...]], *, classes: frozenset[str] | set[str] = frozenset(), answers: bool = False
) -> list[tuple[Any, ...]]:
    """The source's labels less what a format loses: some classes, the answers of regions."""
    kept = []
    for media, key, points, given, parent in rows:
        if key in classes:
            continue
        kept.append((media, key, points, "{}" if answers else given, parent))
    return sorted(kept)


ROAD_ROW = ("street_3.jpg", "road")


def _split_road(rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """The labels less the segmentation, and the segmentation's rings (compared as pixels)."""
    road = [json.loads(row[2]) for row in rows if row[:2] == ROAD_ROW]
    return [row for row in rows if row[:2] != ROAD_ROW], road


def _same_pixels(first: Any, second: Any) -> bool:
    """Two segmentations paint the same pixels (Label Studio's brush gives back pixel outlines)."""
    return bool(np.array_equal(segmentation_mask(first, 800, 600), segmentation_mask(second, 800, 600)))


def test_label_studio_json_gives_back_every_label_answer_and_nesting(round_trip, projects):
    source, fresh = projects
    _, job = round_trip("label_studio")

    assert (job["format"], job["status"]) == ("label_studio", "succeeded"), job["errors"]
    labels, (road,) = _split_road(labels_of(source))
    labels_again, (road_again,) = _split_road(labels_of(fresh))
    assert labels_again == labels
    assert ("street_1.jpg", "wheel", "[[60.0, 500.0]]", "{}", "car") in labels_again
    # The segmentation went through a brush: the same pixels, outlined pixel by pixel.
    assert _same_pixels(road_again, road)
    assert answers_of(fresh) == answers_of(source)


def test_json_min_gives_back_geometries_and_global_answers_but_no_nesting_or_answers_of_a_busy_row(
    round_trip, projects
):
    """JSON_MIN has no parentID and ties a region's answer to no region: our export leaves nested
    geometries out, and a region's answers when its row has several regions, so the file imports
    again rather than failing at an ambiguous key."""
    source, fresh = projects
    body, job = round_trip("label_studio_min")

    assert (job["format"], job["status"]) == ("label_studio", "succeeded"), job["errors"]
    row = next(row for row in json.loads(body) if row["image"].endswith("street_1.jpg"))
    assert "car_type" not in row
    assert [value["keypointlabels"] for value in row["keypoint"]] == [["poi"]]
    labels, road = _split_road(labels_of(source))
    labels_again, road_again = _split_road(labels_of(fresh))
    assert labels_again == _without(labels, classes={"wheel"}, answers=True)
    assert _same_pixels(road_again[0], road[0])
    assert answers_of(fresh) == answers_of(source)


def test_a_json_min_row_with_one_region_keeps_that_regions_answer(round_trip, projects):
    source, fresh = projects
    Label.objects.filter(task__project=source, task__media__name="street_1.jpg").exclude(entry__key="car").delete()
    _, job = round_trip("label_studio_min")

    assert job["status"] == "succeeded", job["errors"]
    (car,) = [row for row in labels_of(fresh) if row[1] == "car"]
    assert json.loads(car[3]) == {"car_type": {"value": "suv", "answers": {}}}


def test_coco_gives_back_every_label_answer_and_nesting(round_trip, projects):
    """Lines come back from their keypoints, a nested point by the annotation's `parent_id`, answers
    from the `attributes` our export writes on annotations and images."""
    source, fresh = projects
    _, job = round_trip("coco")

    assert (job["format"], job["status"]) == ("coco", "succeeded"), job["errors"]
    assert labels_of(fresh) == labels_of(source)
    assert answers_of(fresh) == answers_of(source)


def _corners(points: str) -> str:
    """A polygon's or segmentation's bounding box as the four corners a box becomes in its class."""
    pairs = list(points_flat(json.loads(points)))
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    ring = [[min(xs), min(ys)], [max(xs), min(ys)], [max(xs), max(ys)], [min(xs), max(ys)]]
    return json.dumps(_rounded(ring))


def _boxes_only(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """What a box format keeps: rectangles, and each polygon or segmentation as its box's corners."""
    kept = []
    for media, key, points, _, _ in rows:
        if key == "bus":
            kept.append((media, key, points, "{}", None))
        elif key == "car":
            kept.append((media, key, _corners(points), "{}", None))
        elif key == "road":
            kept.append((media, key, f"[{_corners(points)}]", "{}", None))
    return sorted(kept)


@pytest.mark.parametrize("export_format", ["yolo", "pascal_voc"])
def test_a_box_format_gives_back_boxes_and_the_boxes_of_outlines(round_trip, projects, export_format):
    """YOLO detection and Pascal VOC hold boxes: rectangles come back whole, a polygon or a
    segmentation as its box's corners; points, lines, nesting and answers are lost."""
    source, fresh = projects
    _, job = round_trip(export_format)

    assert (job["format"], job["status"]) == (export_format, "succeeded"), job["errors"]
    assert labels_of(fresh) == _boxes_only(labels_of(source))
    assert answers_of(fresh) == {name: {} for name in LABELS}


def test_yolo_segmentation_gives_back_boxes_and_outlines_without_holes(round_trip, projects):
    """A line of YOLO segmentation is one filled outline: a segmentation's hole is left out of the
    export (written, it would come back as a region of its own)."""
    source, fresh = projects
    _, job = round_trip("yolo_seg")

    assert (job["format"], job["status"]) == ("yolo", "succeeded"), job["errors"]
    outline = json.dumps(_rounded([ROAD[0]]))
    expected = [
        (media, key, outline if key == "road" else points, "{}", None)
        for media, key, points, _, _ in labels_of(source)
        if key in {"bus", "car", "road"}
    ]
    assert labels_of(fresh) == sorted(expected)


def test_labelbox_ndjson_gives_back_every_label_and_answer_but_nested_geometries(round_trip, projects):
    """Labelbox tools do not nest: the nested point is left out; a segmentation goes as a mask PNG
    and comes back as the same pixels; data rows without a global key are named by media id."""
    source, fresh = projects
    body, job = round_trip("labelbox_ndjson")

    assert (job["format"], job["status"]) == ("labelbox_ndjson", "succeeded"), job["errors"]
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert {tuple(line["dataRow"]) for line in lines} == {("id",)}
    labels, (road,) = _split_road(labels_of(source))
    labels_again, (road_again,) = _split_road(labels_of(fresh))
    assert labels_again == _without(labels, classes={"wheel"})
    assert _same_pixels(road_again, road)
    assert answers_of(fresh) == answers_of(source)


def test_ango_json_gives_back_every_label_and_answer_but_nested_geometries(round_trip, projects):
    """Ango objects do not nest: the nested point is left out. Assets without an external id are
    named by `assetId` (our media id); categories by schemaId, answers by option value."""
    source, fresh = projects
    body, job = round_trip("ango")

    assert (job["format"], job["status"]) == ("ango", "succeeded"), job["errors"]
    assert {"assetId", "data", "objects", "classifications"} == set(json.loads(body)[0])
    assert labels_of(fresh) == _without(labels_of(source), classes={"wheel"})
    assert answers_of(fresh) == answers_of(source)
