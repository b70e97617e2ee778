"""Label Studio JSON tasks: reading, percent to pixels, mapping results, errors that name the label."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from formats import format_detect, format_get, format_list
from formats.codecs.brush_rle import rle_encode_mask
from formats.codecs.mask_polygons import segmentation_mask
from formats.label_studio import media_name
from formats.reading import FileError
from imports.models import ImportStatus
from imports.services import import_items_inline, import_job_create, import_job_validate, import_job_write
from labeling.models import Label
from labelsite.errors import ValidationFailed
from projects.config_converters import ls_config_image_field, ls_config_to_entries
from projects.label_config import label_config_index, label_config_replace
from tests.formats.conftest import LS_CONFIG_XML, as_file, read_all
from tests.imports.conftest import DATAGYM_CONFIG

pytestmark = pytest.mark.django_db

FMT = format_get(name="label_studio")


def box(label: str, x: float, y: float, w: float, h: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": extra.pop("id", "r1"),
        "from_name": extra.pop("from_name", "label"),
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": 800,
        "original_height": 600,
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label], **extra},
    }


def task(url: str = "https://cdn.example.com/street/img_001.jpg", **fields: Any) -> dict[str, Any]:
    return {"id": 17, "data": {"image": url, "site": "north"}, **fields}


def convert(config, item: Any, **options: Any):
    return FMT.convert_item(item, config, index=0, match_by="name", options=options)


def test_label_studio_json_is_in_the_registry_with_an_example():
    assert FMT in format_list()
    assert FMT.creates_media
    assert FMT.description
    assert format_detect(file_name="tasks.json", head=b'[{"data": {"image": "x.jpg"}}]') is FMT


def test_the_xml_config_becomes_classes_and_questions_with_label_studio_schema_ids():
    converted = ls_config_to_entries(LS_CONFIG_XML)
    by_key = {entry["key"]: entry for entry in converted.entries}

    assert by_key["car"]["type"] == "rectangle"
    assert by_key["car"]["schema_id"] == "ls:label:Car"
    assert by_key["car"]["color"] == "#f44336"
    assert by_key["car"]["shortcut"] == "1"
    assert by_key["traffic light"]["title"] == "Traffic light"
    assert by_key["road"]["type"] == "polygon"
    assert by_key["head"]["type"] == "point"
    assert (by_key["sky"]["type"], by_key["sky"]["schema_id"]) == ("segmentation", "ls:brush:Sky")
    assert by_key["weather"]["type"] == "select"
    assert [o["label"] for o in by_key["weather"]["options"]] == ["Sunny", "Rainy day"]
    assert by_key["tags"]["type"] == "checklist"
    assert by_key["comment"]["type"] == "freetext"
    assert "occluded" not in by_key
    assert [c["key"] for c in by_key["car"]["children"]] == ["occluded"]
    assert ls_config_image_field(LS_CONFIG_XML) == "image"


def test_an_xml_config_with_a_syntax_error_or_a_doctype_is_refused_with_its_place():
    with pytest.raises(ValidationFailed) as syntax:
        ls_config_to_entries("<View>\n<Image name='i' value='$image'>\n</View>")
    with pytest.raises(ValidationFailed) as doctype:
        ls_config_to_entries('<!DOCTYPE x [<!ENTITY a "b">]><View/>')

    assert syntax.value.details[0].path.startswith("line 3")
    assert doctype.value.details[0].code == "xml_doctype"


def test_percent_boxes_become_pixel_corners_with_the_original_size(ls_config):
    converted = convert(ls_config, task(annotations=[{"result": [box("Car", 10, 20, 50, 25)]}]))

    assert converted.errors == []
    shape = converted.annotation.shapes[0]
    assert (shape.key, shape.type, shape.source) == ("car", "rectangle", "import")
    assert shape.points == [[80.0, 120.0], [480.0, 270.0]]
    assert converted.reference.name == "img_001.jpg"


def test_polygons_keypoints_choices_and_text_are_converted(ls_config):
    results = [
        {"from_name": "outline", "to_name": "image", "type": "polygonlabels", "original_width": 200,
         "original_height": 100, "value": {"points": [[0, 0], [50, 0], [50, 50]], "polygonlabels": ["Road"]}},
        {"from_name": "kp", "to_name": "image", "type": "keypointlabels", "original_width": 200,
         "original_height": 100, "value": {"x": 25, "y": 50, "width": 0.5, "keypointlabels": ["Head"]}},
        {"from_name": "weather", "to_name": "image", "type": "choices", "value": {"choices": ["Rainy day"]}},
        {"from_name": "tags", "to_name": "image", "type": "choices", "value": {"choices": ["blurry", "night"]}},
        {"from_name": "comment", "to_name": "image", "type": "textarea", "value": {"text": ["wet", "road"]}},
    ]  # fmt: skip
    converted = convert(ls_config, task(annotations=[{"result": results}]))

    assert converted.errors == []
    road, head = converted.annotation.shapes
    assert road.points == [[0.0, 0.0], [100.0, 0.0], [100.0, 50.0]]
    assert head.points == [[50.0, 50.0]]
    answers = {a.key: a.value for a in converted.annotation.answers}
    assert answers == {"weather": "rainy day", "tags": ["blurry", "night"], "comment": "wet\nroad"}


def test_per_region_choices_attach_to_their_region(ls_config):
    results = [
        box("Car", 0, 0, 10, 10, id="reg-7"),
        {"id": "reg-7", "from_name": "occluded", "to_name": "image", "type": "choices",
         "value": {"x": 0, "y": 0, "width": 10, "height": 10, "choices": ["yes"]}},
    ]  # fmt: skip
    converted = convert(ls_config, task(annotations=[{"result": results}]))

    assert converted.errors == []
    assert [(a.key, a.value) for a in converted.annotation.shapes[0].answers] == [("occluded", "yes")]
    assert converted.annotation.answers == []


def test_old_completions_and_predictions_with_score_and_model_version(ls_config):
    item = task(
        completions=[{"result": [box("Car", 0, 0, 50, 50)]}],
        predictions=[
            {"model_version": "yolo-v8", "score": 0.91, "result": [box("Traffic light", 50, 50, 10, 10)]},
            {"model_version": "yolo-v9", "result": [{**box("Car", 0, 0, 5, 5), "score": 0.4}]},
        ],
    )
    shapes = convert(ls_config, item).annotation.shapes

    assert [(s.key, s.source, s.score, s.model_version) for s in shapes] == [
        ("car", "import", None, ""),
        ("traffic light", "prediction", 0.91, "yolo-v8"),
        ("car", "prediction", 0.4, "yolo-v9"),
    ]


def test_the_ground_truth_annotation_wins_and_cancelled_ones_are_ignored(ls_config):
    item = task(
        annotations=[
            {"was_cancelled": True, "result": [box("Car", 1, 1, 1, 1)]},
            {"result": [box("Traffic light", 1, 1, 1, 1)]},
            {"ground_truth": True, "result": [box("Car", 2, 2, 2, 2)]},
        ]
    )

    assert [s.points[0] for s in convert(ls_config, item).annotation.shapes] == [[16.0, 12.0]]


@pytest.mark.parametrize(
    ("completed_by", "annotator"),
    [
        ("Bo@Example.com", "bo@example.com"),  # a file made for import names people by e-mail
        ({"id": 2, "email": "bo@example.com"}, "BO@example.com"),  # an export with annotators expanded
        ({"id": 2, "email": "bo@example.com"}, 2),
        ("2", 2),
    ],
)
def test_option_annotator_finds_the_person_by_email_or_id_in_each_form_of_completed_by(
    ls_config, completed_by, annotator
):
    item = task(
        annotations=[
            {"completed_by": 1, "ground_truth": True, "result": [box("Car", 1, 1, 1, 1)]},
            {"completed_by": completed_by, "was_cancelled": True, "result": [box("Car", 3, 3, 1, 1)]},
            {"completed_by": completed_by, "result": [box("Traffic light", 2, 2, 2, 2)]},
        ]
    )

    converted = convert(ls_config, item, annotation={"annotator": annotator})

    assert [(s.key, s.points[0]) for s in converted.annotation.shapes] == [("traffic light", [16.0, 12.0])]


def test_predictions_given_as_ids_are_passed_over_and_the_annotation_is_read(ls_config):
    item = task(annotations=[{"id": 5, "result": [box("Car", 1, 1, 1, 1)]}], predictions=[11, 12], drafts=[3])

    assert FMT.item_schema.errors(item) == []
    converted = convert(ls_config, item)
    assert converted.errors == []
    assert [(s.key, s.source) for s in converted.annotation.shapes] == [("car", "import")]


def test_a_label_the_configuration_lacks_is_an_error_naming_it_and_its_place(ls_config):
    converted = convert(ls_config, task(annotations=[{"result": [box("Car", 0, 0, 1, 1), box("Truck", 0, 0, 1, 1)]}]))

    assert converted.annotation is None
    (error,) = converted.errors
    assert error.code == "label_not_in_config"
    assert error.path == "/0/annotations/0/result/1/value/rectanglelabels/0"
    assert "'Truck'" in error.message
    assert "'label'" in error.message


def test_an_explicit_mapping_maps_a_foreign_label(ls_config):
    item = task(annotations=[{"result": [box("Truck", 0, 0, 1, 1, from_name="vehicles")]}])

    converted = convert(ls_config, item, label_mapping={"vehicles:Truck": "car"})

    assert [s.key for s in converted.annotation.shapes] == ["car"]


def test_a_rotated_box_keeps_its_rotation_in_a_rectangle_class_and_becomes_corners_in_a_polygon_class(ls_config):
    rotated = box("Car", 10, 10, 10, 10, rotation=90)
    kept = convert(ls_config, task(annotations=[{"result": [rotated]}]))
    mapped = convert(ls_config, task(annotations=[{"result": [rotated]}]), label_mapping={"Car": "road"})

    assert kept.errors == []
    assert kept.annotation.shapes[0].type == "rectangle"
    assert kept.annotation.shapes[0].points == [[80.0, 60.0], [160.0, 120.0]]
    assert kept.annotation.shapes[0].rotation == 90.0
    assert mapped.annotation.shapes[0].type == "polygon"
    assert mapped.annotation.shapes[0].rotation == 0.0
    assert mapped.annotation.shapes[0].points[1] == [80.0, 140.0]


@pytest.mark.parametrize(
    ("result", "code", "path"),
    [
        ({**box("Car", 0, 0, 1, 1), "type": "brushlabels", "value": {"format": "rle", "rle": [0],
          "brushlabels": ["Car"]}, "original_width": None}, "missing_original_size", "/0/annotations/0/result/0"),
        ({"from_name": "weather", "type": "choices", "value": {"choices": ["Snow"]}}, "choice_not_in_config",
         "/0/annotations/0/result/0/value/choices/0"),
        ({"from_name": "mood", "type": "choices", "value": {"choices": ["x"]}}, "question_not_in_config",
         "/0/annotations/0/result/0/from_name"),
        ({"from_name": "l", "type": "ellipselabels", "value": {}}, "unsupported_result",
         "/0/annotations/0/result/0/type"),
        ({**box("Car", 0, 0, 1, 1), "from_name": "outline", "type": "polygonlabels",
          "value": {"points": [[1, 1], [2, 2]], "polygonlabels": ["Road"]}}, "too_few_points",
         "/0/annotations/0/result/0/value/points"),
        ({"from_name": "weather", "type": "choices", "value": {"choices": ["Sunny", "Rainy day"]}}, "single_choice",
         "/0/annotations/0/result/0/value/choices"),
        ({**box("Head", 0, 0, 1, 1, from_name="kp")}, "geometry_type_mismatch", "/0/annotations/0/result/0"),
    ],
)  # fmt: skip
def test_each_wrong_result_is_a_located_error(ls_config, result, code, path):
    converted = convert(ls_config, task(annotations=[{"result": [result]}]))

    assert [(e.code, e.path) for e in converted.errors] == [(code, path)]


def test_the_image_field_option_and_the_first_url_like_value_find_the_image(ls_config):
    item = {"data": {"caption": "a car", "thumb": "https://x/t.png", "image_url": "/data/upload/3/8c1a2b3c-car.jpg"}}

    assert convert(ls_config, item).new_media.url == "https://x/t.png"
    chosen = convert(ls_config, item, image_field="image_url")
    assert chosen.reference.name == "car.jpg"
    assert media_name("https://h/dir/a%20b.jpg?sig=1") == "a b.jpg"


def test_a_task_without_an_image_is_an_error_at_its_field(ls_config):
    missing = convert(ls_config, {"data": {"text": "hello"}})
    named = convert(ls_config, {"data": {"text": "hello"}}, image_field="img")

    assert missing.errors[0].code == "missing_image"
    assert named.errors[0].path == "/0/data/img"


def test_the_reader_takes_a_list_a_single_task_and_refuses_other_files():
    assert [r.data["data"]["image"] for r in read_all(FMT, [task("a.jpg"), task("b.jpg")])] == ["a.jpg", "b.jpg"]
    assert [r.location for r in read_all(FMT, task())] == ["/0"]
    assert read_all(FMT, [{"image": "flat.jpg"}])[0].data == {"image": "flat.jpg"}
    with pytest.raises(FileError) as not_tasks:
        read_all(FMT, "42")
    with pytest.raises(FileError) as broken:
        read_all(FMT, '[{"data": {}')
    with pytest.raises(FileError) as empty:
        read_all(FMT, "   ")
    assert (not_tasks.value.detail.code, broken.value.detail.code, empty.value.detail.code) == (
        "not_tasks",
        "json_syntax",
        "empty_file",
    )


def test_the_item_schema_requires_results_in_annotations():
    errors = FMT.item_schema.errors({"data": {}, "annotations": [{"lead_time": 3}]}, prefix=(4,))

    assert [(e.path, e.code) for e in errors] == [("/4/annotations/0", "schema_required")]


def test_an_inline_import_writes_the_labels_on_the_media_matched_by_name(ls_project, make_task):
    target = make_task(ls_project, name="img_001.jpg")
    item = task(annotations=[{"result": [box("Car", 10, 20, 50, 25)]}], predictions=[
        {"model_version": "m1", "score": 0.5, "result": [box("Traffic light", 0, 0, 10, 10)]}])  # fmt: skip

    result = import_items_inline(project=ls_project, items=[item], format="label_studio", options={"match_by": "name"})

    assert result.labels_written == 2
    labels = {label.entry.key: label for label in Label.objects.filter(task=target)}
    assert labels["car"].points == [[80.0, 120.0], [480.0, 270.0]]
    assert (labels["traffic light"].source, labels["traffic light"].score) == ("prediction", 0.5)


def test_a_job_reports_the_unknown_label_then_imports_the_fixed_file(ls_project, make_task, media_storage):
    make_task(ls_project, name="img_001.jpg")
    broken = [task(annotations=[{"result": [box("Truck", 0, 0, 1, 1)]}])]
    fixed = [task(annotations=[{"result": [box("Car", 0, 0, 1, 1)]}])]

    def run(items):
        job = import_job_create(
            project=ls_project, user=None, file=json.dumps(items).encode(), file_name="tasks.json",
            format="label_studio", options={"match_by": "name"},
        )  # fmt: skip
        return import_job_validate(job_id=job.id)

    failed = run(broken)
    assert failed.status == ImportStatus.FAILED
    assert [(e.location, e.code) for e in failed.errors.all()] == [
        ("/0/annotations/0/result/0/value/rectanglelabels/0", "label_not_in_config")
    ]
    validated = run(fixed)
    assert validated.status == ImportStatus.VALIDATED
    assert import_job_write(job_id=validated.id).labels_written == 1


def test_regions_without_original_size_take_the_matched_media_size(ls_project, make_task, media_storage):
    sized = make_task(ls_project, name="img_001.jpg", width=1000, height=500)
    make_task(ls_project, name="unsized.jpg", width=None, height=None)
    region = box("Car", 10, 20, 30, 40)
    del region["original_width"], region["original_height"]
    point = {"from_name": "kp", "type": "keypointlabels", "value": {"x": 50, "y": 50, "keypointlabels": ["Head"]}}
    items = [task(annotations=[{"result": [region]}]), task(url="https://cdn.example.com/unsized.jpg",
             annotations=[{"result": [point]}])]  # fmt: skip

    job = import_job_create(
        project=ls_project, user=None, file=json.dumps(items).encode(), file_name="tasks.json",
        format="label_studio", options={"skip_invalid": True},
    )  # fmt: skip
    job = import_job_validate(job_id=job.id)

    # The unsized media's percentages cannot become pixels: an error at the region.
    assert [(e.location, e.code) for e in job.errors.all()] == [("/1/annotations/0/result/0", "missing_original_size")]
    assert import_job_write(job_id=job.id).labels_written == 1
    (label,) = sized.labels.all()
    assert label.points == [[100.0, 100.0], [400.0, 300.0]]


def test_the_example_file_imports_cleanly(ls_config):
    from pathlib import Path

    example = Path(__file__).parent / "data" / "label_studio.json"  # see data/README.md
    items = list(FMT.items(as_file(example.read_bytes())))
    converted = [FMT.convert_item(i.data, ls_config, index=i.index, match_by="name") for i in items]

    assert items
    assert all(not c.errors for c in converted)


# --- brushes ----------------------------------------------------------------------------


def brush(mask: Any, label: str = "Sky", **extra: Any) -> dict[str, Any]:
    height, width = np.asarray(mask).shape
    return {
        "id": extra.pop("id", "b1"),
        "from_name": "brush",
        "to_name": "image",
        "type": "brushlabels",
        "original_width": width,
        "original_height": height,
        "value": {"format": "rle", "rle": rle_encode_mask(np.asarray(mask, dtype=bool)), "brushlabels": [label]},
        **extra,
    }


def test_a_brush_becomes_a_segmentation_traced_in_pixels_with_its_holes(ls_config):
    mask = np.zeros((30, 40), dtype=bool)
    mask[5:20, 10:30] = True  # a 20 x 15 block ...
    mask[10:14, 15:20] = False  # ... with a hole
    mask[25:28, 2:5] = True  # and a second region

    converted = convert(ls_config, task(annotations=[{"result": [brush(mask)]}]))

    assert converted.errors == []
    (sky,) = converted.annotation.shapes
    assert (sky.key, sky.type) == ("sky", "segmentation")
    rings = sorted(sorted(map(tuple, ring)) for ring in sky.points)
    small, outer, hole = rings  # the tracer lists each region's shell, then its holes
    assert small == [(2, 25), (2, 27), (4, 25), (4, 27)]
    assert outer == [(10, 5), (10, 19), (29, 5), (29, 19)]
    assert (min(hole)[0], max(hole)[0]) == (14, 20)  # through the pixels around the hole
    assert np.array_equal(segmentation_mask(sky.points, 40, 30), mask)


def test_a_brush_prediction_keeps_its_score_and_model_version(ls_config):
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:8, 2:8] = True
    item = task(predictions=[{"model_version": "sam-2", "score": 0.8, "result": [brush(mask)]}])

    (shape,) = convert(ls_config, item).annotation.shapes

    assert (shape.type, shape.source, shape.score, shape.model_version) == ("segmentation", "prediction", 0.8, "sam-2")


@pytest.mark.parametrize(
    ("change", "code", "path"),
    [
        ({"original_width": 11}, "invalid_brush", "/0/annotations/0/result/0/value/rle"),
        ({"value": {"format": "png", "rle": [], "brushlabels": ["Sky"]}}, "invalid_brush",
         "/0/annotations/0/result/0/value/rle"),
        ({"value": {"format": "rle", "rle": rle_encode_mask(np.eye(10, dtype=bool)), "brushlabels": ["Sky"]}},
         "empty_brush", "/0/annotations/0/result/0/value/rle"),
        ({"value": {"format": "rle", "rle": [], "brushlabels": ["Car"]}}, "geometry_type_mismatch",
         "/0/annotations/0/result/0"),
        ({"value": {"format": "rle", "rle": [], "brushlabels": ["Cloud"]}}, "label_not_in_config",
         "/0/annotations/0/result/0/value/brushlabels/0"),
    ],
)  # fmt: skip
def test_each_wrong_brush_is_a_located_error(ls_config, change, code, path):
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:8, 2:8] = True

    converted = convert(ls_config, task(annotations=[{"result": [{**brush(mask), **change}]}]))

    assert [(e.code, e.path) for e in converted.errors] == [(code, path)]


def test_a_polygon_drawn_for_a_segmentation_class_is_a_segmentation_of_one_ring(ls_config):
    polygon = {"from_name": "outline", "to_name": "image", "type": "polygonlabels", "original_width": 200,
               "original_height": 100,
               "value": {"points": [[0, 0], [50, 0], [50, 50]], "polygonlabels": ["Sky"]}}  # fmt: skip

    (shape,) = convert(ls_config, task(annotations=[{"result": [polygon]}])).annotation.shapes

    assert (shape.type, shape.points) == ("segmentation", [[[0.0, 0.0], [100.0, 0.0], [100.0, 50.0]]])


# --- nesting: parentID and child questions -------------------------------------------------


@pytest.fixture
def nested_config(project):
    """DataGym's example: `car` polygons nest `wheel` points and a `car_type` question;
    `weather` has a child question `daytime`."""
    label_config_replace(configuration=project.label_configuration, entries=DATAGYM_CONFIG)
    return label_config_index(configuration=project.label_configuration)


def polygon(label: str, region_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": region_id, "from_name": "polygon", "to_name": "image", "type": "polygonlabels",
            "original_width": 100, "original_height": 100,
            "value": {"points": [[10, 10], [50, 10], [50, 50]], "polygonlabels": [label]}, **extra}  # fmt: skip


def point(label: str, region_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": region_id, "from_name": "keypoint", "to_name": "image", "type": "keypointlabels",
            "original_width": 100, "original_height": 100, "value": {"x": 20, "y": 30, "keypointlabels": [label]},
            **extra}  # fmt: skip


def choice(from_name: str, *values: str, **extra: Any) -> dict[str, Any]:
    return {"from_name": from_name, "to_name": "image", "type": "choices", "value": {"choices": list(values)}, **extra}


def test_a_region_with_a_parent_id_nests_in_its_parent_whatever_the_order(nested_config):
    results = [
        point("wheel", "w1", parentID="c1"),
        choice("car_type", "suv", id="x9", parentID="c1"),
        polygon("car", "c1"),
        point("poi", "p1", parentID="c1"),  # the configuration does not nest poi in car: a root region
    ]

    converted = convert(nested_config, task(annotations=[{"result": results}]))

    assert converted.errors == []
    car, poi = converted.annotation.shapes
    assert (car.key, poi.key) == ("car", "poi")
    assert [(c.key, c.points) for c in car.children] == [("wheel", [[20.0, 30.0]])]
    assert [(a.key, a.value) for a in car.answers] == [("car_type", "suv")]


@pytest.mark.parametrize(
    ("results", "code", "path"),
    [
        ([polygon("car", "c1"), point("wheel", "w1", parentID="nope")], "unknown_parent",
         "/0/annotations/0/result/1/parentID"),
        ([point("wheel", "w1", parentID="w2"), point("wheel", "w2", parentID="w1")], "parent_cycle",
         "/0/annotations/0/result/0/parentID"),
        ([polygon("truck", "c1"), point("wheel", "w1", parentID="c1")], "label_not_in_config",
         "/0/annotations/0/result/0/value/polygonlabels/0"),
    ],
)  # fmt: skip
def test_a_parent_id_that_names_no_region_is_a_located_error(nested_config, results, code, path):
    converted = convert(nested_config, task(annotations=[{"result": results}]))

    assert (converted.errors[0].code, converted.errors[0].path) == (code, path)
    assert len(converted.errors) <= 2  # a failed parent is reported once, not again by its children


@pytest.mark.parametrize("child_name", ["daytime", "weather/daytime", "Daytime"])
def test_a_child_question_nests_under_its_parents_answer(nested_config, child_name):
    results = [choice(child_name, "night"), choice("weather", "rainy"), choice("tags", "a")]

    answers = convert(nested_config, task(annotations=[{"result": results}])).annotation.answers

    assert [(a.key, a.value, [(c.key, c.value) for c in a.answers]) for a in answers] == [
        ("weather", "rainy", [("daytime", "night")]),
        ("tags", ["a"], []),
    ]


def test_a_child_question_name_that_fits_two_parents_is_an_error_naming_both(project):
    config = [
        {"entryKey": q, "entryValue": q, "type": "select", "options": {"x": "X"},
         "children": [{"entryKey": "detail", "entryValue": "Detail", "type": "freetext", "maxLength": 40}]}
        for q in ("front", "back")
    ]  # fmt: skip
    label_config_replace(configuration=project.label_configuration, entries=config)
    index = label_config_index(configuration=project.label_configuration)
    text = {"from_name": "detail", "type": "textarea", "value": {"text": ["scratch"]}}

    ambiguous = convert(index, task(annotations=[{"result": [text]}]))
    mapped = convert(index, task(annotations=[{"result": [text]}]), label_mapping={"detail": "back/detail"})

    assert ambiguous.errors[0].code == "ambiguous_question"
    assert "'front/detail', 'back/detail'" in ambiguous.errors[0].message
    (back,) = mapped.annotation.answers
    assert (back.key, back.value, back.answers[0].key, back.answers[0].value) == ("back", None, "detail", "scratch")


# --- task shapes ------------------------------------------------------------------------


def test_a_task_without_the_data_wrapper_is_all_data_and_names_its_image(ls_config):
    converted = convert(ls_config, {"image": "https://cdn.example.com/a/img_002.jpg", "site": "south"})

    assert converted.errors == []
    assert (converted.reference.name, converted.annotation.shapes) == ("img_002.jpg", [])


def test_predictions_are_stored_as_predictions_with_score_and_model_version(ls_project, make_task):
    target = make_task(ls_project, name="img_001.jpg")
    item = task(predictions=[{"model_version": "yolo-v8", "score": 0.91, "result": [box("Car", 0, 0, 10, 10)]}])

    import_items_inline(project=ls_project, items=[item], format="label_studio", options={"match_by": "name"})

    (label,) = Label.objects.filter(task=target)
    assert (label.source, label.score, label.model_version) == ("prediction", 0.91, "yolo-v8")


def test_letter_and_digit_hotkeys_become_shortcuts_and_a_hotkey_taken_in_another_case_is_left_out():
    xml = """<View><Image name="image" value="$image"/>
      <RectangleLabels name="box" toName="image">
        <Label value="Car" hotkey="c"/><Label value="Bus" hotkey="2"/><Label value="Cab" hotkey="C"/>
        <Label value="Van" hotkey="ctrl+v"/>
      </RectangleLabels></View>"""
    shortcuts = {entry["title"]: entry.get("shortcut") for entry in ls_config_to_entries(xml).entries}
    assert shortcuts == {"Car": "c", "Bus": "2", "Cab": None, "Van": None}


def _box_result(**changes: Any) -> dict[str, Any]:
    result = {
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": 800,
        "original_height": 600,
        "value": {"x": 1, "y": 2, "width": 3, "height": 4, "rectanglelabels": ["Car"]},
    }
    return {**result, **changes}


def _task(**annotation_changes: Any) -> dict[str, Any]:
    annotation = {"result": [_box_result(), {"type": "choices", "value": {"choices": ["a"]}}], **annotation_changes}
    return {"data": {"image": "https://x.example.com/1.jpg"}, "annotations": [annotation]}


def test_the_fast_task_check_accepts_and_rejects_exactly_what_the_schema_does():
    from formats.label_studio import ITEM, item_is_valid_fast

    tasks: list[Any] = [
        _task(),
        _task(ground_truth=True, was_cancelled=False, score=0.5, model_version="v1"),
        _task(score=None, model_version=3),
        _task(model_version=None),
        {"data": {"image": "u"}},
        {"data": {"image": "u"}, "predictions": [1, 2.0, {"result": []}]},
        {"data": {"image": "u"}, "predictions": [1.5]},
        {"data": {"image": "u"}, "predictions": [True]},
        {"data": {"image": "u"}, "predictions": ["7"]},
        {"data": {"image": "u"}, "completions": [{"result": [_box_result(score=0.9)]}]},
        {"image": "https://x.example.com/1.jpg"},  # a task that is only its data
        {"label_studio_flat_rows": []},
        [],
        "task",
        None,
        {"data": "https://x.example.com/1.jpg"},
        {"data": {}, "annotations": {}},
        {"data": {}, "annotations": [3]},
        {"data": {}, "annotations": [{}]},
        {"data": {}, "annotations": [{"result": {}}]},
        _task(ground_truth="yes"),
        _task(was_cancelled=1),
        _task(score="high"),
        _task(score=True),
        _task(model_version=True),
        _task(model_version=[1]),
        {"data": {}, "annotations": [{"result": [_box_result(type=None)]}]},
        {"data": {}, "annotations": [{"result": [{"value": {}}]}]},
        {"data": {}, "annotations": [{"result": [{"type": "choices"}]}]},
        {"data": {}, "annotations": [{"result": [_box_result(value=[1])]}]},
        {"data": {}, "annotations": [{"result": [_box_result(from_name=1)]}]},
        {"data": {}, "annotations": [{"result": [_box_result(to_name=None)]}]},
        {"data": {}, "annotations": [{"result": [_box_result(original_width=0)]}]},
        {"data": {}, "annotations": [{"result": [_box_result(original_height=-5.5)]}]},
        {"data": {}, "annotations": [{"result": [_box_result(original_width="800")]}]},
        {"data": {}, "annotations": [{"result": [_box_result(original_width=True)]}]},
        {"data": {}, "annotations": [{"result": [_box_result(original_width=0.5, score=None)]}]},
        {"data": {}, "annotations": [{"result": [_box_result(score="1")]}]},
        {"data": {}, "annotations": [{"result": ["box"]}]},
    ]
    disagreements = [task for task in tasks if item_is_valid_fast(task) != ITEM.reference.is_valid(task)]
    assert disagreements == []
    assert sum(map(item_is_valid_fast, tasks)) == 10  # the valid ones above: both answers occur
