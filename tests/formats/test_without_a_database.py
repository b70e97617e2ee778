"""Formats are pure: a format module reads, converts and encodes with no database at all.

No test here is marked `django_db`, so pytest-django refuses any query: a format that looked
anything up would fail here, not quietly work. The configuration is handed in as the index
the pipeline builds once per job (`projects.label_config.LabelConfigIndex`), built by hand.
"""

from __future__ import annotations

import io
import json

import numpy as np

from formats import export_format_list, format_list
from formats.codecs.brush_rle import rle_decode_mask, rle_encode_mask
from formats.datagym import FORMAT as DATAGYM
from formats.label_studio import FORMAT as LABEL_STUDIO
from projects.label_config import IndexedEntry, LabelConfigIndex, OptionSpec


def _entry(id: str, key: str, type: str, *, parent: str | None = None, children: tuple[str, ...] = (), **more):
    return IndexedEntry(
        id=id,
        parent_id=parent,
        key=key,
        title=key.title(),
        type=type,
        schema_id=f"schema-{id}",
        required=False,
        max_length=None,
        options=tuple(OptionSpec(key=o, label=o.title()) for o in more.get("options", ())),
        child_ids=children,
    )


def street_config() -> LabelConfigIndex:
    """A bus (a rectangle with a colour question) and a car (a polygon)."""
    entries = {
        "1": _entry("1", "bus", "rectangle", children=("2",)),
        "2": _entry("2", "color", "select", parent="1", options=("red", "blue")),
        "3": _entry("3", "car", "polygon"),
    }
    return LabelConfigIndex(
        entries=entries,
        roots={"bus": entries["1"], "car": entries["3"]},
        children={("1", "color"): entries["2"]},
        by_schema_id={entry.schema_id: entry for entry in entries.values()},
        options_by_schema_id={},
    )


def test_every_format_module_loads_without_a_database():
    assert {fmt.name for fmt in format_list()} >= {"datagym", "label_studio", "labelbox_ndjson", "ango"}
    assert {fmt.name for fmt in export_format_list()} >= {"datagym", "coco", "yolo", "label_studio"}


def test_a_datagym_file_is_read_and_converted_to_the_label_model_without_a_database():
    item = {
        "internal_media_ID": "7f0c2a4e-0000-4000-8000-000000000001",
        "global_classifications": {},
        "labels": {
            "bus": [{"rectangle": [{"x": 10, "y": 20, "w": 30, "h": 40}], "classifications": {"color": ["red"]}}],
            "car": [{"polygon": [{"x": 1, "y": 2}, {"x": 30, "y": 4}, {"x": 12, "y": 40}]}],
        },
    }
    raw = list(DATAGYM.read(io.BytesIO(json.dumps([item]).encode())))

    assert DATAGYM.item_schema is not None
    assert DATAGYM.item_schema.errors(raw[0].data) == []
    converted = DATAGYM.convert(raw[0].data, street_config(), index=0)

    assert converted.errors == []
    assert converted.annotation is not None
    shapes = {shape.key: shape for shape in converted.annotation.shapes}
    assert shapes["bus"].points == [[10, 20], [40, 60]]
    assert [(a.key, a.value) for a in shapes["bus"].answers] == [("color", "red")]
    assert shapes["car"].points == [[1, 2], [30, 4], [12, 40]]


def test_a_label_studio_task_turns_percent_into_pixels_without_a_database():
    task = {
        "data": {"image": "https://images.example.com/street.jpg"},
        "annotations": [
            {
                "result": [
                    {
                        "type": "rectanglelabels",
                        "from_name": "label",
                        "to_name": "image",
                        "original_width": 200,
                        "original_height": 100,
                        "value": {"x": 10, "y": 20, "width": 25, "height": 50, "rectanglelabels": ["Bus"]},
                    }
                ]
            }
        ],
    }
    raw = list(LABEL_STUDIO.read(io.BytesIO(json.dumps([task]).encode())))

    converted = LABEL_STUDIO.convert(raw[0].data, street_config(), index=0)

    assert converted.errors == []
    assert converted.annotation is not None
    (bus,) = converted.annotation.shapes
    assert (bus.key, bus.points) == ("bus", [[20.0, 20.0], [70.0, 70.0]])


def test_the_brush_codec_round_trips_a_mask_without_a_database():
    mask = np.zeros((6, 9), dtype=bool)
    mask[1:4, 2:7] = True

    decoded = rle_decode_mask(rle_encode_mask(mask), height=6, width=9)

    assert np.array_equal(decoded, mask)
