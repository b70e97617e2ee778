"""Starting points for a label configuration, offered by the editor's template gallery.

Each is a whole configuration in our tree form (what the configuration API accepts); a test
checks that every one passes the configuration's validation, so the gallery never offers a
configuration that cannot be saved.
"""

from __future__ import annotations

from typing import Any, TypedDict


class ConfigTemplate(TypedDict):
    id: str
    title: str
    description: str
    entries: list[dict[str, Any]]


def _options(*labels: str) -> list[dict[str, str]]:
    return [{"key": label.lower().replace(" ", "_"), "label": label} for label in labels]


#: The configuration of DataGym's documented example (datagym.md section 4.5), in our tree form.
DATAGYM_EXAMPLE: list[dict[str, Any]] = [
    {"key": "bus", "title": "Bus", "type": "rectangle", "color": "#f5a623", "shortcut": "1"},
    {
        "key": "car",
        "title": "Car",
        "type": "polygon",
        "color": "#4a90e2",
        "shortcut": "2",
        "children": [
            {
                "key": "car_type",
                "title": "Type",
                "type": "select",
                "required": True,
                "options": [{"key": "suv", "label": "SUV"}, {"key": "van", "label": "Van"}],
            },
            {"key": "wheel", "title": "Wheel", "type": "point", "color": "#d0021b", "shortcut": "3"},
        ],
    },
    {"key": "street", "title": "Street", "type": "line", "color": "#7ed321", "shortcut": "4"},
    {"key": "poi", "title": "Point of interest", "type": "point", "color": "#bd10e0", "shortcut": "5"},
    {
        "key": "weather",
        "title": "Weather",
        "type": "select",
        "options": [{"key": "sunny", "label": "Sunny"}, {"key": "rainy", "label": "Rainy"}],
        "children": [
            {
                "key": "daytime",
                "title": "Daytime",
                "type": "select",
                "options": [{"key": "day", "label": "Day"}, {"key": "night", "label": "Night"}],
            }
        ],
    },
    {"key": "comment", "title": "Comment", "type": "freetext", "max_length": 255},
]

KEYPOINTS = ("Nose", "Left eye", "Right eye", "Left shoulder", "Right shoulder", "Left hip", "Right hip")
KEYPOINT_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6")

TEMPLATES: list[ConfigTemplate] = [
    {
        "id": "object_detection",
        "title": "Object detection",
        "description": "Boxes around people, cars and bicycles (COCO, YOLO and VOC exports).",
        "entries": [
            {"key": "person", "title": "Person", "type": "rectangle", "color": "#e6194b", "shortcut": "1"},
            {"key": "car", "title": "Car", "type": "rectangle", "color": "#4363d8", "shortcut": "2"},
            {"key": "bicycle", "title": "Bicycle", "type": "rectangle", "color": "#3cb44b", "shortcut": "3"},
        ],
    },
    {
        "id": "instance_segmentation",
        "title": "Instance segmentation",
        "description": "An outline per object as a polygon, and the road as a painted region.",
        "entries": [
            {"key": "person", "title": "Person", "type": "polygon", "color": "#e6194b", "shortcut": "1"},
            {"key": "vehicle", "title": "Vehicle", "type": "polygon", "color": "#4363d8", "shortcut": "2"},
            {"key": "road", "title": "Road", "type": "segmentation", "color": "#808080", "shortcut": "3"},
        ],
    },
    {
        "id": "keypoints",
        "title": "Keypoints",
        "description": "A box per person with its body points nested inside it.",
        "entries": [
            {
                "key": "person",
                "title": "Person",
                "type": "rectangle",
                "color": "#ffe119",
                "shortcut": "1",
                "children": [
                    {
                        "key": label.lower().replace(" ", "_"),
                        "title": label,
                        "type": "point",
                        "color": colour,
                        "shortcut": str(index + 2),
                    }
                    for index, (label, colour) in enumerate(zip(KEYPOINTS, KEYPOINT_COLOURS, strict=True))
                ],
            }
        ],
    },
    {
        "id": "image_classification",
        "title": "Image classification",
        "description": "Questions about the whole image: one category, any attributes, a note.",
        "entries": [
            {
                "key": "category",
                "title": "Category",
                "type": "select",
                "required": True,
                "options": _options("Indoor", "Outdoor", "Other"),
            },
            {"key": "attributes", "title": "Attributes", "type": "checklist", "options": _options("Blurry", "Dark")},
            {"key": "notes", "title": "Notes", "type": "freetext", "max_length": 255},
        ],
    },
    {
        "id": "nested_attributes",
        "title": "Nested attributes",
        "description": "Vehicles with questions about each one, a follow-up question, and wheels nested inside.",
        "entries": [
            {
                "key": "vehicle",
                "title": "Vehicle",
                "type": "rectangle",
                "color": "#4363d8",
                "shortcut": "1",
                "children": [
                    {
                        "key": "kind",
                        "title": "Kind",
                        "type": "select",
                        "required": True,
                        "options": _options("Car", "Truck", "Bus"),
                        "children": [
                            {
                                "key": "damaged",
                                "title": "Damage",
                                "type": "checklist",
                                "options": _options("Dent", "Scratch"),
                            }
                        ],
                    },
                    {
                        "key": "occluded",
                        "title": "Occluded",
                        "type": "checklist",
                        "options": _options("Partly", "Mostly"),
                    },
                    {"key": "wheel", "title": "Wheel", "type": "point", "color": "#e6194b", "shortcut": "2"},
                ],
            }
        ],
    },
    {
        "id": "datagym_example",
        "title": "DataGym's example",
        "description": "The configuration of DataGym's documentation: boxes, polygons with questions, lines, points.",
        "entries": DATAGYM_EXAMPLE,
    },
]
