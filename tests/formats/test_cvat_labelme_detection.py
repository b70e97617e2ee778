"""CVAT XML and LabelMe JSON are told from their first bytes, never guessed (no database)."""

from __future__ import annotations

import json

from formats import format_detect


def _labelme(points: int) -> bytes:
    # In the key order labelme writes: version, flags, shapes, then imagePath.
    polygon = [[float(i), float(i % 7)] for i in range(points)]
    return json.dumps(
        {
            "version": "5.5.0",
            "flags": {},
            "shapes": [{"label": "road", "points": polygon, "group_id": None, "shape_type": "polygon"}],
            "imagePath": "a.jpg",
            "imageData": None,
        },
        indent=2,
    ).encode()


def test_a_labelme_file_is_detected_even_when_its_shapes_push_imagepath_past_the_first_4_kb():
    body = _labelme(2000)
    assert b'"imagePath"' not in body[:4096]

    assert format_detect(file_name="a.json", head=body[:4096]).name == "labelme"


def test_a_json_object_with_shapes_alone_is_not_taken_for_labelme():
    assert format_detect(file_name="x.json", head=b'{"shapes": [], "other": 1}') is None


def test_an_xml_file_whose_root_is_annotations_is_cvat_and_one_whose_root_is_annotation_is_voc():
    cvat = b'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>'
    voc = b"<annotation><folder>JPEGImages</folder>"
    assert format_detect(file_name="annotations.xml", head=cvat).name == "cvat"
    assert format_detect(file_name="default.xml", head=voc).name == "pascal_voc"
