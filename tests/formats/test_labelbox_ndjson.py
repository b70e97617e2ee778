"""Labelbox NDJSON annotation import: one line, one annotation, one status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from formats import format_detect, format_get, format_list
from formats.reading import FileError
from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from labeling.models import Label, Task
from tests.formats.conftest import read_all
from tests.formats.test_ango_csv import loopback_allowed, mask_server

__all__ = ["loopback_allowed", "mask_server"]  # fixtures used here

pytestmark = pytest.mark.django_db

FMT = format_get(name="labelbox_ndjson")
ROW = {"globalKey": "img_001.jpg"}


def line(**fields: Any) -> dict[str, Any]:
    return {"dataRow": ROW, **fields}


def convert(config, data: Any, match_by: str = "global_key"):
    return FMT.convert_item(data, config, index=0, match_by=match_by, options={})


def test_labelbox_ndjson_is_in_the_registry():
    assert FMT in format_list()
    assert FMT.description
    assert format_detect(file_name="labels.ndjson") is FMT


def test_tools_become_pixel_shapes(ls_config):
    box = convert(ls_config, line(name="Car", bbox={"top": 20, "left": 10, "height": 50, "width": 100}))
    closed = convert(ls_config, line(name="road", polygon=[{"x": 1, "y": 1}, {"x": 5, "y": 1}, {"x": 5, "y": 5},
                                                           {"x": 1, "y": 1}]))  # fmt: skip
    point = convert(ls_config, line(name="head", point={"x": 3, "y": 4}, confidence=0.7))

    assert box.annotation.shapes[0].points == [[10, 20], [110, 70]]
    assert closed.annotation.shapes[0].points == [[1, 1], [5, 1], [5, 5]]
    assert (point.annotation.shapes[0].points, point.annotation.shapes[0].source) == ([[3, 4]], "prediction")
    assert point.annotation.shapes[0].score == 0.7


def test_radio_checklist_text_and_nested_classifications(ls_config):
    radio = convert(ls_config, line(name="weather", answer={"name": "Rainy day"}))
    checklist = convert(ls_config, line(name="tags", answers=[{"name": "blurry"}, {"name": "night"}]))
    text = convert(ls_config, line(name="comment", answer="wet"))
    nested = convert(ls_config, line(name="car", bbox={"top": 0, "left": 0, "height": 1, "width": 1},
                                     classifications=[{"name": "occluded", "answer": {"name": "no"}}]))  # fmt: skip

    assert radio.annotation.answers[0].value == "rainy day"
    assert checklist.annotation.answers[0].value == ["blurry", "night"]
    assert text.annotation.answers[0].value == "wet"
    assert [(a.key, a.value) for a in nested.annotation.shapes[0].answers] == [("occluded", "no")]


def test_features_and_answers_are_found_by_schema_id(ls_config):
    weather = next(e for e in ls_config.roots.values() if e.key == "weather")
    sunny = weather.options[0]

    converted = convert(ls_config, line(schemaId=weather.schema_id, answer={"schemaId": sunny.schema_id}))

    assert converted.annotation.answers[0].value == "sunny"


@pytest.mark.parametrize(
    ("data", "code", "path"),
    [
        (line(name="truck", bbox={"top": 0, "left": 0, "height": 1, "width": 1}), "unknown_feature", "/0"),
        (line(name="car", polygon=[{"x": 0, "y": 0}, {"x": 1, "y": 1}, {"x": 1, "y": 0}]), "wrong_geometry",
         "/0/polygon"),
        (line(name="road", polygon=[{"x": 0, "y": 0}, {"x": 1, "y": 1}, {"x": 0, "y": 0}]), "invalid_geometry",
         "/0/polygon"),
        (line(name="weather", answer={"name": "Snow"}), "unknown_answer", "/0/answer"),
        (line(name="tags", answer={"name": "blurry"}), "wrong_answer_type", "/0/answer"),
        (line(name="car", bbox={"top": 0, "left": 0, "height": 1, "width": 1},
              classifications=[{"name": "color", "answer": "red"}]), "unknown_feature", "/0/classifications/0"),
        (line(name="road", mask={"png": "iVBOR"}), "wrong_geometry", "/0/mask"),
    ],
)  # fmt: skip
def test_each_wrong_line_is_a_located_error(ls_config, data, code, path):
    assert [(e.code, e.path) for e in convert(ls_config, data).errors] == [(code, path)]


def test_the_schema_wants_exactly_one_data_row_key_and_a_name_or_schema_id():
    both = FMT.item_schema.errors({"dataRow": {"id": "a", "globalKey": "b"}, "name": "x"}, prefix=(0,))
    nameless = FMT.item_schema.errors({"dataRow": {"id": "a"}, "answer": "x"}, prefix=(1,))

    assert [e.path for e in both] == ["/0/dataRow"]
    assert [e.code for e in nameless] == ["schema_any_of"]


def test_bad_lines_fail_alone_with_their_line_number():
    content = "\n".join(
        [json.dumps(line(uuid="u1", name="comment", answer="a")), "{not json", "[1]",
         json.dumps(line(uuid="U1", name="comment", answer="b")), json.dumps(line(name="comment", answer="c"))]
    )  # fmt: skip
    items = read_all(FMT, content)
    statuses = [FMT.item_schema.errors(i.data, prefix=(i.index,)) for i in items]

    assert [i.location for i in items] == ["line 1", "line 2", "line 3", "line 4", "line 5"]
    assert [[e.code for e in s] for s in statuses] == [[], ["json_syntax"], ["not_an_object"], ["duplicate_uuid"], []]
    with pytest.raises(FileError):
        read_all(FMT, "\n\n")


def test_a_job_imports_the_example_file_onto_the_data_row_with_the_global_key(ls_project, make_task, media_storage):
    target = make_task(ls_project, name="img_001.jpg", global_key="img_001.jpg")
    example = (Path(__file__).parent / "data" / "labelbox_ndjson.ndjson").read_bytes()  # see data/README.md

    job = import_job_create(project=ls_project, user=None, file=example, file_name="labels.ndjson",
                            format="labelbox_ndjson")  # fmt: skip
    job = import_job_validate(job_id=job.id)
    assert (job.status, job.error_count) == (ImportStatus.VALIDATED, 0)
    job = import_job_write(job_id=job.id)

    assert job.labels_written == 3
    assert sorted(Label.objects.filter(task=target).values_list("entry__key", flat=True)) == ["car", "head", "road"]
    answers = Task.objects.get(pk=target.pk).answers
    assert answers["weather"]["value"] == "sunny"
    assert answers["tags"]["value"] == ["blurry", "night"]
    assert answers["comment"]["value"] == "wet road"


# --- masks ------------------------------------------------------------------------------------


def _png(array: Any, mode: str) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _binary_mask() -> Any:
    import numpy as np

    pixels = np.zeros((40, 60), dtype=np.uint8)
    pixels[10:30, 5:25] = 1  # a 20x20 square with a 6x6 hole
    pixels[17:23, 12:18] = 0
    return pixels


def test_a_binary_png_mask_becomes_a_segmentation_with_its_hole(ls_config):
    import base64

    encoded = base64.b64encode(_png(_binary_mask(), "L")).decode()

    converted = convert(ls_config, line(name="Sky", mask={"png": encoded}))

    assert not converted.errors
    (shape,) = converted.annotation.shapes
    assert shape.type == "segmentation"
    assert len(shape.points) == 2  # the shell and the hole
    xs = [x for ring in shape.points for x, _ in ring]
    assert (min(xs), max(xs)) == pytest.approx((5, 24), abs=1)
    assert (converted.size_check.width, converted.size_check.height) == (60, 40)


def test_a_png_mask_that_is_not_binary_is_refused_as_labelbox_does(ls_config):
    import base64

    pixels = _binary_mask() * 255
    converted = convert(ls_config, line(name="Sky", mask={"png": base64.b64encode(_png(pixels, "L")).decode()}))

    assert [(e.path, e.code) for e in converted.errors] == [("/0/mask/png", "mask_not_binary")]
    assert "Found max value of 255" in converted.errors[0].message


def test_an_instance_uri_mask_takes_the_pixels_of_its_colour(ls_config, mask_server, loopback_allowed):
    import numpy as np

    rgb = np.zeros((40, 60, 3), dtype=np.uint8)
    rgb[5:15, 5:15] = (255, 0, 0)
    rgb[20:35, 30:50] = (0, 0, 255)
    mask_server["files"]["/instances.png"] = _png(rgb, "RGB")
    uri = f"{mask_server['base']}/instances.png"

    red = convert(ls_config, line(name="Sky", mask={"instanceURI": uri, "colorRGB": [255, 0, 0]}))
    blue = convert(ls_config, line(name="Sky", mask={"instanceURI": uri, "colorRGB": [0, 0, 255]}))
    absent = convert(ls_config, line(name="Sky", mask={"instanceURI": uri, "colorRGB": [0, 255, 0]}))

    red_xs = [x for ring in red.annotation.shapes[0].points for x, _ in ring]
    blue_xs = [x for ring in blue.annotation.shapes[0].points for x, _ in ring]
    assert max(red_xs) < 15 < 30 <= min(blue_xs) + 1
    assert [(e.path, e.code) for e in absent.errors] == [("/0/mask/colorRGB", "mask_colour_absent")]


def test_an_instance_uri_on_a_private_address_is_refused(ls_config, mask_server):
    uri = f"{mask_server['base']}/instances.png"  # loopback, and no allow-list

    converted = convert(ls_config, line(name="Sky", mask={"instanceURI": uri, "colorRGB": [255, 0, 0]}))

    assert [(e.path, e.code) for e in converted.errors] == [("/0/mask/instanceURI", "mask_unavailable")]


def test_a_mask_of_another_size_than_the_image_fails_its_line_in_a_job(ls_project, make_task, media_storage):
    import base64

    make_task(ls_project, global_key="img_001.jpg", width=640, height=480)
    encoded = base64.b64encode(_png(_binary_mask(), "L")).decode()
    body = json.dumps(line(name="Sky", mask={"png": encoded})).encode() + b"\n"

    job = import_job_create(project=ls_project, user=None, file=body, file_name="masks.ndjson",
                            format="labelbox_ndjson")  # fmt: skip
    job = import_job_validate(job_id=job.id)

    assert job.status == ImportStatus.FAILED
    assert [(e.location, e.code) for e in job.errors.all()] == [("/0/mask", "size_mismatch")]
    assert "60x40 pixels but the image is 640x480" in job.errors.get().message


def test_an_answer_named_by_its_option_value_is_found_whatever_the_label(ls_config):
    # A Labelbox option has a value (what NDJSON names) and a label (what people see); our key comes from the value.
    converted = convert(ls_config, line(name="weather", answer={"name": "Rainy Day"}))

    assert converted.errors == []
    assert converted.annotation.answers[0].value == "rainy day"


def test_a_nested_classification_with_the_sdks_snake_case_schema_id_is_found(ls_config):
    car = next(e for e in ls_config.roots.values() if e.key == "car")
    occluded = next(iter(ls_config.children_of(car.id)))
    box = {"top": 0, "left": 0, "height": 1, "width": 1}

    converted = convert(ls_config, line(name="car", bbox=box, classifications=[{"schema_id": occluded.schema_id,
                                                                              "answer": {"name": "yes"}}]))  # fmt: skip

    assert [(a.key, a.value) for a in converted.annotation.shapes[0].answers] == [("occluded", "yes")]
