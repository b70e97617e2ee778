"""Each export format, opened the way its users open it: pycocotools, XML parsers, YOLO's layout, Pillow."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any
from xml.etree import ElementTree

import pytest
from PIL import Image
from pycocotools.coco import COCO

from formats import export_format_get, export_format_list
from labeling.models import Label, LabelSource, TaskState
from labelsite.errors import ValidationFailed
from projects.models import LabelEntry
from tests.exports.conftest import export_bytes, label

pytestmark = pytest.mark.django_db


def add_label(task, key: str, points: Any, **fields: Any) -> Label:
    entry = LabelEntry.objects.get(configuration__project=task.project, key=key)
    return Label.objects.create(task=task, entry=entry, points=points, **fields)


ROAD = [[[100, 100], [300, 100], [300, 200], [100, 200]]]


def test_registry_lists_every_export_format():
    assert [fmt.name for fmt in export_format_list()] == [
        "ango",
        "coco",
        "csv",
        "cvat",
        "datagym",
        "label_studio",
        "label_studio_min",
        "labelbox_data_rows",
        "labelbox_ndjson",
        "labelme",
        "masks",
        "pascal_voc",
        "yolo",
        "yolo_obb",
        "yolo_seg",
    ]


def test_registry_rejects_an_unknown_format_naming_the_known_ones():
    with pytest.raises(ValidationFailed) as caught:
        export_format_get(name="tfrecord")
    assert "coco" in caught.value.message


# --- DataGym -------------------------------------------------------------------------------


def test_datagym_export_writes_section_5_for_a_labelled_task(export_project, labelled_task):
    rows = json.loads(export_bytes(export_project, "datagym"))
    assert {"class_name": "weather", "classification_type": "radio"} in rows[0]["label_classes"]
    assert {"class_name": "road", "geometry_type": "image_segmentation"} in rows[0]["label_classes"]
    row = rows[1]
    assert list(row) == [
        "internal_media_ID",
        "external_media_ID",
        "labeler",
        "status",
        "global_classifications",
        "labels",
    ]
    assert row["global_classifications"] == {
        "weather": ["sunny", {"daytime": ["day"]}],
        "tags": ["a", "b"],
        "comment": ["hi"],
    }
    assert row["labels"]["car"] == [
        {
            "polygon": [{"x": 57, "y": 412}, {"x": 54, "y": 463}, {"x": 130, "y": 524}],
            "classifications": {"car_type": ["suv"]},
            "nested_geometries": {"wheel": [{"point": [{"x": 60, "y": 500}], "classifications": {}}]},
        }
    ]
    assert row["labels"]["bus"] == [
        {"rectangle": [{"x": 272, "y": 302, "w": 324, "h": 169}], "classifications": {}, "nested_geometries": {}}
    ]


def test_datagym_export_of_a_project_without_finished_tasks_is_an_empty_array(export_project, make_task):
    label(export_project, make_task(), state=TaskState.BACKLOG)
    assert export_bytes(export_project, "datagym") == b"[]"


# --- COCO ----------------------------------------------------------------------------------


def _coco(tmp_path, data: bytes) -> COCO:
    path = tmp_path / "coco.json"
    path.write_bytes(data)
    return COCO(str(path))


def test_coco_export_loads_in_pycocotools_with_boxes_areas_and_masks(tmp_path, export_project, labelled_task):
    add_label(labelled_task, "road", ROAD)
    coco = _coco(tmp_path, export_bytes(export_project, "coco"))
    names = {category["name"]: category["id"] for category in coco.loadCats(coco.getCatIds())}
    assert set(names) == {"bus", "car", "wheel", "street", "poi", "road"}
    image = coco.loadImgs(coco.getImgIds())[0]
    assert (image["file_name"], image["width"], image["height"]) == (labelled_task.media.name, 800, 600)
    assert image["attributes"] == {"weather": "sunny", "weather.daytime": "day", "tags": ["a", "b"], "comment": "hi"}

    (bus,) = coco.loadAnns(coco.getAnnIds(catIds=[names["bus"]]))
    assert bus["bbox"] == [272, 302, 324, 169]
    assert bus["area"] == 324 * 169
    assert coco.annToMask(bus).sum() > 0

    (road,) = coco.loadAnns(coco.getAnnIds(catIds=[names["road"]]))
    assert road["area"] == 200 * 100
    mask = coco.annToMask(road)
    assert mask[150, 200] == 1
    assert mask[50, 50] == 0

    (car,) = coco.loadAnns(coco.getAnnIds(catIds=[names["car"]]))
    assert car["segmentation"] == [[57, 412, 54, 463, 130, 524]]
    assert car["attributes"] == {"car_type": "suv"}
    (wheel,) = coco.loadAnns(coco.getAnnIds(catIds=[names["wheel"]]))
    assert wheel["parent_id"] == car["id"]
    assert wheel["keypoints"] == [60, 500, 2]
    assert wheel["num_keypoints"] == 1


def test_coco_export_numbers_images_and_annotations_across_chunks(tmp_path, export_project, make_task):
    for _ in range(5):
        label(export_project, make_task())
    coco = _coco(tmp_path, export_bytes(export_project, "coco", chunk_size=2))
    assert sorted(coco.getImgIds()) == [1, 2, 3, 4, 5]
    assert sorted(coco.getAnnIds()) == list(range(1, 26))
    assert all(len(coco.getAnnIds(imgIds=[image_id])) == 5 for image_id in range(1, 6))


def test_coco_export_marks_predictions_with_their_score(tmp_path, export_project, labelled_task):
    add_label(labelled_task, "bus", [[0, 0], [10, 10]], source=LabelSource.PREDICTION, score=0.75, model_version="m1")
    without = _coco(tmp_path, export_bytes(export_project, "coco"))
    assert not [a for a in without.loadAnns(without.getAnnIds()) if "score" in a]
    with_predictions = _coco(tmp_path, export_bytes(export_project, "coco", include_predictions=True))
    (predicted,) = [a for a in with_predictions.loadAnns(with_predictions.getAnnIds()) if "score" in a]
    assert (predicted["score"], predicted["model_version"]) == (0.75, "m1")


# --- Pascal VOC ----------------------------------------------------------------------------


def test_pascal_voc_export_is_a_zip_of_one_xml_per_image_with_boxes_and_polygon_points(
    export_project, labelled_task, make_task
):
    add_label(labelled_task, "road", ROAD)
    other = make_task()
    archive = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "pascal_voc")))
    stem = labelled_task.media.name.rsplit(".", 1)[0]
    assert f"Annotations/{stem}.xml" in archive.namelist()
    listed = archive.read("ImageSets/Main/default.txt").decode().split()
    assert sorted(listed) == sorted([stem, other.media.name.rsplit(".", 1)[0]])
    root = ElementTree.fromstring(archive.read(f"Annotations/{stem}.xml"))  # noqa: S314 - our own output
    assert root.tag == "annotation"
    assert root.findtext("filename") == labelled_task.media.name
    assert [root.findtext(f"size/{name}") for name in ("width", "height", "depth")] == ["800", "600", "3"]
    objects = {obj.findtext("name"): obj for obj in root.findall("object")}
    assert set(objects) == {"bus", "car", "road"}  # points and lines have no box
    for obj in objects.values():
        for name in ("xmin", "ymin", "xmax", "ymax"):
            int(obj.findtext(f"bndbox/{name}"))
        assert obj.findtext("pose") == "Unspecified"
        assert obj.findtext("difficult") == "0"
    bus = objects["bus"]
    assert [bus.findtext(f"bndbox/{n}") for n in ("xmin", "ymin", "xmax", "ymax")] == ["272", "302", "596", "471"]
    car = objects["car"]
    assert [(p.findtext("x"), p.findtext("y")) for p in car.findall("polygon/point")] == [
        ("57", "412"),
        ("54", "463"),
        ("130", "524"),
    ]
    assert [(a.findtext("name"), a.findtext("value")) for a in car.findall("attributes/attribute")] == [
        ("car_type", "suv")
    ]


# --- YOLO ----------------------------------------------------------------------------------


def test_yolo_export_has_the_ultralytics_layout_with_normalised_boxes(export_project, labelled_task, make_task):
    add_label(labelled_task, "road", ROAD)
    empty = make_task()
    archive = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "yolo")))
    classes = archive.read("classes.txt").decode().split()
    assert classes == ["bus", "car", "road"]
    assert "nc: 3" in archive.read("data.yaml").decode()
    stem = labelled_task.media.name.rsplit(".", 1)[0]
    lines = archive.read(f"labels/{stem}.txt").decode().splitlines()
    parsed = {classes[int(line.split()[0])]: [float(v) for v in line.split()[1:]] for line in lines}
    assert set(parsed) == {"bus", "car", "road"}
    assert all(len(values) == 4 and all(0 <= v <= 1 for v in values) for values in parsed.values())
    assert parsed["bus"] == pytest.approx([(272 + 162) / 800, (302 + 84.5) / 600, 324 / 800, 169 / 600], abs=1e-6)
    assert archive.read(f"labels/{empty.media.name.rsplit('.', 1)[0]}.txt") == b""
    assert len(archive.read("images.txt").decode().splitlines()) == 2


def test_yolo_segmentation_export_writes_normalised_polygons(export_project, labelled_task):
    add_label(labelled_task, "road", ROAD)
    archive = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "yolo_seg")))
    classes = archive.read("classes.txt").decode().split()
    stem = labelled_task.media.name.rsplit(".", 1)[0]
    lines = [line.split() for line in archive.read(f"labels/{stem}.txt").decode().splitlines()]
    by_class = {classes[int(parts[0])]: [float(v) for v in parts[1:]] for parts in lines}
    assert by_class["car"] == pytest.approx([57 / 800, 412 / 600, 54 / 800, 463 / 600, 130 / 800, 524 / 600], abs=1e-6)
    assert len(by_class["road"]) == 8
    assert len(by_class["bus"]) == 8  # a rectangle as its four corners


def test_yolo_export_lists_images_of_unknown_size_instead_of_guessing(export_project, make_task):
    task = label(export_project, make_task())
    task.media.width = None
    task.media.save()
    archive = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "yolo")))
    assert archive.read("unsized.txt").decode().split() == [task.media.name]


def test_yolo_export_keeps_two_media_of_one_name_apart(export_project, make_task, export_dataset):
    from tests.factories import DatasetFactory

    second = DatasetFactory(organization=export_project.organization)
    second.projects.add(export_project)
    label(export_project, make_task(name="same.jpg"))
    label(export_project, make_task(name="same.jpg", dataset=second))
    names = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "yolo"))).namelist()
    assert {"labels/same.txt", "labels/same_2.txt"} <= set(names)


# --- CSV -----------------------------------------------------------------------------------


def _csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_csv_export_writes_one_row_per_label_with_flattened_answers(export_project, labelled_task):
    rows = _csv(export_bytes(export_project, "csv"))
    assert sorted(row["class"] for row in rows) == ["bus", "car", "poi", "street", "wheel"]
    car = next(row for row in rows if row["class"] == "car")
    assert car["answers"] == "car_type=suv"
    assert json.loads(car["points"]) == [[57, 412], [54, 463], [130, 524]]
    assert car["global_answers"] == "comment=hi; tags=a|b; weather=sunny; weather.daytime=day"
    wheel = next(row for row in rows if row["class"] == "wheel")
    assert wheel["parent"] == car["label"]
    assert car["media_name"] == labelled_task.media.name


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_export_neutralises_cells_that_would_start_a_formula(export_project, make_task, start):
    task = label(export_project, make_task(name=f"{start}HYPERLINK(evil).jpg"))
    rows = _csv(export_bytes(export_project, "csv"))
    assert {row["media_name"] for row in rows} == {f"'{start}HYPERLINK(evil).jpg"}
    assert task.media.name.startswith(start)


def test_csv_export_gives_a_task_without_labels_one_row_for_its_answers(export_project, make_task):
    label(export_project, make_task(), {"global_classifications": {"weather": ["rainy"]}})
    (row,) = _csv(export_bytes(export_project, "csv"))
    assert (row["class"], row["global_answers"]) == ("", "weather=rainy")


# --- masks ---------------------------------------------------------------------------------


def test_mask_export_paints_each_class_with_its_index_in_a_palette_png(export_project, labelled_task):
    add_label(labelled_task, "road", ROAD)
    archive = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "masks")))
    labelmap = [line.split(":") for line in archive.read("labelmap.txt").decode().splitlines()[1:]]
    index = {name: int(number) for number, name, _ in labelmap}
    assert index == {"background": 0, "bus": 1, "car": 2, "road": 3}
    stem = labelled_task.media.name.rsplit(".", 1)[0]
    image = Image.open(io.BytesIO(archive.read(f"SegmentationClass/{stem}.png")))
    assert (image.mode, image.size) == ("P", (800, 600))
    assert image.getpixel((200, 150)) == index["road"]
    assert image.getpixel((400, 400)) == index["bus"]
    assert image.getpixel((80, 470)) == index["car"]
    assert image.getpixel((5, 5)) == 0
    palette = image.getpalette()
    assert palette is not None
    assert tuple(palette[3 * index["road"] : 3 * index["road"] + 3]) != (0, 0, 0)


def test_mask_export_leaves_the_holes_of_a_segmentation_unpainted(export_project, labelled_task):
    shell, hole = [[500, 20], [700, 20], [700, 120], [500, 120]], [[560, 50], [640, 50], [640, 90], [560, 90]]
    add_label(labelled_task, "road", [shell, hole])
    archive = zipfile.ZipFile(io.BytesIO(export_bytes(export_project, "masks")))
    labelmap = archive.read("labelmap.txt").decode().splitlines()[1:]
    road = next(int(line.split(":")[0]) for line in labelmap if line.split(":")[1] == "road")
    stem = labelled_task.media.name.rsplit(".", 1)[0]
    image = Image.open(io.BytesIO(archive.read(f"SegmentationClass/{stem}.png")))

    assert image.getpixel((520, 30)) == road
    assert image.getpixel((600, 70)) == 0  # inside the hole
    assert image.getpixel((690, 110)) == road


# --- Label Studio --------------------------------------------------------------------------


def test_label_studio_export_writes_percent_regions_with_original_size(export_project, labelled_task):
    (task,) = json.loads(export_bytes(export_project, "label_studio"))
    assert task["data"]["image"] == labelled_task.media.url
    (annotation,) = task["annotations"]
    results = annotation["result"]
    bus = next(r for r in results if r["type"] == "rectanglelabels")
    assert (bus["original_width"], bus["original_height"]) == (800, 600)
    assert bus["value"]["rectanglelabels"] == ["bus"]
    assert bus["value"]["x"] == pytest.approx(272 * 100 / 800)
    assert bus["value"]["height"] == pytest.approx(169 * 100 / 600)
    car = next(r for r in results if r["type"] == "polygonlabels" and r["value"]["polygonlabels"] == ["car"])
    assert car["value"]["points"][0] == pytest.approx([57 * 100 / 800, 412 * 100 / 600])
    car_type = next(r for r in results if r["from_name"] == "car_type")
    assert (car_type["id"], car_type["value"]) == (car["id"], {"choices": ["suv"]})
    wheel = next(r for r in results if r["type"] == "keypointlabels" and r.get("parentID"))
    assert wheel["parentID"] == car["id"]
    comment = next(r for r in results if r["from_name"] == "comment")
    assert (comment["type"], comment["value"]) == ("textarea", {"text": ["hi"]})
    weather = next(r for r in results if r["from_name"] == "weather")
    assert weather["value"] == {"choices": ["sunny"]}
    daytime = next(r for r in results if r["from_name"] == "weather/daytime")  # a child question: its key path
    assert daytime["value"] == {"choices": ["day"]}
    assert task["predictions"] == []


def test_label_studio_export_puts_predictions_apart_with_score_and_model_version(export_project, labelled_task):
    add_label(labelled_task, "bus", [[0, 0], [80, 60]], source=LabelSource.PREDICTION, score=0.5, model_version="m1")
    add_label(labelled_task, "bus", [[0, 0], [40, 30]], source=LabelSource.PREDICTION, score=1.0, model_version="m1")
    (task,) = json.loads(export_bytes(export_project, "label_studio", include_predictions=True))
    (prediction,) = task["predictions"]
    assert (prediction["model_version"], prediction["score"]) == ("m1", 0.75)
    assert [r["score"] for r in prediction["result"]] == [0.5, 1.0]
    assert prediction["result"][0]["value"]["width"] == pytest.approx(10.0)
    boxes = [r for r in task["annotations"][0]["result"] if r["type"] == "rectanglelabels"]
    assert len(boxes) == 1  # the manual bus only


def test_label_studio_min_export_is_flat_by_control_name(export_project, labelled_task):
    (row,) = json.loads(export_bytes(export_project, "label_studio_min"))
    assert row["image"] == labelled_task.media.url
    assert row["weather"] == "sunny"
    assert row["tags"] == {"choices": ["a", "b"]}
    assert row["comment"] == "hi"
    (bus,) = row["rectangle"]
    assert bus["rectanglelabels"] == ["bus"]
    assert (bus["original_width"], bus["original_height"]) == (800, 600)
    assert {"annotator", "annotation_id", "created_at", "updated_at"} <= set(row)
