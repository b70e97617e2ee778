"""A rotated rectangle in every export: Label Studio and YOLO OBB keep the turn; COCO, Pascal
VOC, YOLO boxes and DataGym write the axis-aligned hull of the turned box (the chosen loss,
docs/formats.md); segmentation-like exports (YOLO segments, masks, COCO's polygon) draw it turned.

The box: 200 x 100 pixels from (200, 100), turned 30° clockwise about that corner. Its corners
are (200, 100), (373.205, 200), (323.205, 286.603), (150, 186.603); its hull (150, 100) to
(373.205, 286.603)."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from xml.etree import ElementTree

import pytest
from PIL import Image
from pycocotools.coco import COCO

from formats.cvat import box_points
from labeling.models import Label, TaskState
from projects.models import LabelEntry
from tests.exports.conftest import export_bytes

pytestmark = pytest.mark.django_db

COS, SIN = math.cos(math.radians(30)), math.sin(math.radians(30))
CORNERS = [(200, 100), (200 + 200 * COS, 100 + 200 * SIN), (200 + 200 * COS - 100 * SIN, 100 + 200 * SIN + 100 * COS),
           (200 - 100 * SIN, 100 + 100 * COS)]  # fmt: skip
HULL = (150.0, 100.0, 200 * COS + 100 * SIN, 200 * SIN + 100 * COS)  # x, y, w, h


@pytest.fixture
def turned(export_project, make_task):
    task = make_task(state=TaskState.COMPLETED)
    bus = LabelEntry.objects.get(configuration__project=export_project, key="bus")
    Label.objects.create(task=task, entry=bus, points=[[200, 100], [400, 200]], rotation=30)
    return task


def test_the_hull_of_the_turned_box_is_what_the_docstring_says():
    assert CORNERS[3] == pytest.approx((150, 186.603), abs=1e-3)
    assert pytest.approx((150, 100, 223.205, 186.603), abs=1e-3) == HULL


def test_coco_writes_the_hull_as_bbox_the_turned_corners_as_segmentation_and_the_boxs_own_area(
    tmp_path, export_project, turned
):
    path = tmp_path / "coco.json"
    path.write_bytes(export_bytes(export_project, "coco"))
    coco = COCO(str(path))

    (annotation,) = coco.loadAnns(coco.getAnnIds())
    assert annotation["bbox"] == pytest.approx(list(HULL), abs=1e-6)
    assert annotation["segmentation"][0] == pytest.approx([c for corner in CORNERS for c in corner], abs=1e-6)
    assert annotation["area"] == pytest.approx(200 * 100)
    mask = coco.annToMask(annotation)
    assert mask[193, 262] == 1  # the box's centre
    assert mask[110, 160] == 0  # inside the hull, outside the turned box


def test_pascal_voc_writes_the_whole_pixels_around_the_hull(export_project, turned):
    archive = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "pascal_voc")))
    stem = turned.media.name.rsplit(".", 1)[0]
    root = ElementTree.fromstring(archive.read(f"Annotations/{stem}.xml"))  # noqa: S314 - our own output

    (bus,) = root.findall("object")
    box = [int(bus.findtext(f"bndbox/{name}") or "") for name in ("xmin", "ymin", "xmax", "ymax")]
    assert box == [150, 100, 374, 287]


def test_yolo_boxes_are_the_hull_and_yolo_segments_the_turned_corners(export_project, turned):
    stem = turned.media.name.rsplit(".", 1)[0]
    boxes = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "yolo"))).read(f"labels/{stem}.txt").split()
    segments = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "yolo_seg"))).read(f"labels/{stem}.txt").split()

    x, y, w, h = HULL
    assert [float(v) for v in boxes[1:]] == pytest.approx(
        [(x + w / 2) / 800, (y + h / 2) / 600, w / 800, h / 600], abs=1e-6
    )
    assert [float(v) for v in segments[1:]] == pytest.approx(
        [v for cx, cy in CORNERS for v in (cx / 800, cy / 600)], abs=1e-6
    )


def test_yolo_obb_writes_the_turned_corners_of_rectangles_only(export_project, turned):
    archive = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "yolo_obb")))
    stem = turned.media.name.rsplit(".", 1)[0]

    assert archive.read("classes.txt").decode().split() == ["bus"]
    (line,) = archive.read(f"labels/{stem}.txt").decode().splitlines()
    number, *values = line.split()
    assert number == "0"
    assert [float(v) for v in values] == pytest.approx(
        [v for cx, cy in CORNERS for v in (cx / 800, cy / 600)], abs=1e-6
    )


def test_datagym_writes_the_whole_pixels_around_the_hull(export_project, turned):
    _, row = json.loads(export_bytes(export_project, "datagym"))  # the first element lists the classes
    assert row["labels"]["bus"][0]["rectangle"] == [{"x": 150, "y": 100, "w": 224, "h": 187}]


def test_masks_paint_the_turned_box(export_project, turned):
    archive = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "masks")))
    stem = turned.media.name.rsplit(".", 1)[0]
    image = Image.open(io.BytesIO(archive.read(f"SegmentationClass/{stem}.png")))

    assert image.getpixel((262, 193)) != 0  # the box's centre
    assert image.getpixel((160, 110)) == 0  # inside the hull, outside the turned box
    assert image.getpixel((360, 205)) != 0  # near its right-hand corner, outside the unturned box's height


def test_label_studio_json_and_json_min_write_the_rotation_as_label_studio_keeps_it(export_project, turned):
    Label.objects.filter(task=turned).update(rotation=-45)
    (task,) = json.loads(export_bytes(export_project, "label_studio"))
    (region,) = [r for r in task["annotations"][0]["result"] if r["type"] == "rectanglelabels"]
    (flat,) = json.loads(export_bytes(export_project, "label_studio_min"))

    # Label Studio keeps rotation in [0, 360); ours is (-180, 180].
    assert region["value"]["rotation"] == pytest.approx(315)
    assert (region["value"]["x"], region["value"]["y"]) == pytest.approx((25, 100 / 6))
    assert (region["value"]["width"], region["value"]["height"]) == pytest.approx((25, 100 / 6))
    assert flat["rectangle"][0]["rotation"] == pytest.approx(315)


def test_csv_writes_the_unturned_points_and_the_rotation(export_project, turned):
    (row,) = list(csv.DictReader(io.StringIO(export_bytes(export_project, "csv").decode())))
    assert (json.loads(row["points"]), float(row["rotation"])) == ([[200, 100], [400, 200]], 30.0)


def test_cvat_writes_a_centred_box_with_its_rotation(export_project, turned):
    archive = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "cvat")))
    root = ElementTree.fromstring(archive.read("annotations.xml"))  # noqa: S314 - our own output
    (box,) = root.iter("box")

    # CVAT turns about the centre: the same 200 x 100 box, centred where ours is.
    centre = (sum(x for x, _ in CORNERS) / 4, sum(y for _, y in CORNERS) / 4)
    numbers = [float(box.get(name) or "nan") for name in ("xtl", "ytl", "xbr", "ybr", "rotation")]
    expected = [centre[0] - 100, centre[1] - 50, centre[0] + 100, centre[1] + 50, 30]
    assert numbers == pytest.approx(expected, abs=0.01)
    # And the CVAT reader makes it our box again, turned about the same top-left corner.
    points = box_points(*numbers[:4], numbers[4], "rectangle")
    assert points is not None
    assert [v for point in points for v in point] == pytest.approx([200, 100, 400, 200], abs=0.01)


@pytest.mark.parametrize("form", ["labelme", "labelbox_ndjson", "ango"])
def test_formats_whose_boxes_do_not_turn_get_the_hull(export_project, turned, form):
    data = export_bytes(export_project, form)
    if form == "labelme":
        (name,) = [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith(".json")]
        (shape,) = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(name))["shapes"]
        (x1, y1), (x2, y2) = shape["points"]
        box = (x1, y1, x2 - x1, y2 - y1)
    elif form == "labelbox_ndjson":
        (line,) = [json.loads(line) for line in data.decode().splitlines() if "bbox" in line]
        bbox = line["bbox"]
        box = (bbox["left"], bbox["top"], bbox["width"], bbox["height"])
    else:
        (element,) = json.loads(data)
        found = element["objects"][0]["bounding-box"]
        box = (found["x"], found["y"], found["width"], found["height"])
    assert box == pytest.approx(HULL, abs=1e-3)
