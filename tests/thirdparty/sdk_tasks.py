"""Write Label Studio tasks with label-studio-sdk, as a script that pre-labels images does.

Runs inside label-studio-sdk's own virtual environment (`tests.thirdparty.tool_venv`), never ours:

    python sdk_tasks.py LABEL_CONFIG_XML WORK_DIR > tasks.json

The regions come from the SDK's `LabelInterface.create_regions` (percentages, no original size:
the importer takes the matched media's size), checked by the SDK's own `validate_annotation` /
`validate_prediction`; tasks are the SDK's `TaskValue`; a brush prediction is the converter's
`image2annotation` of a mask PNG (with its size). Prints the JSON list of tasks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from label_studio_sdk.converter.brush import image2annotation
from label_studio_sdk.label_interface import LabelInterface
from label_studio_sdk.label_interface.objects import AnnotationValue, PredictionValue, TaskValue
from PIL import Image

IMAGES = "https://images.example.com/streets"


def checked(interface: LabelInterface, value: AnnotationValue | PredictionValue) -> dict[str, Any]:
    dumped = value.model_dump()
    if isinstance(value, PredictionValue):
        problems = interface.validate_prediction(dumped, return_errors=True)
    else:
        problems = [] if interface.validate_annotation(dumped) else ["not valid"]
    if problems:
        raise SystemExit(f"the SDK rejects its own {type(value).__name__}: {problems}")
    return dumped


def main(config_path: Path, work_dir: Path) -> None:
    interface = LabelInterface(config_path.read_text())
    regions = interface.create_regions
    tasks: list[dict[str, Any]] = []

    # img_001: a person's box and answer, a cancelled annotation, and a model's box.
    first = TaskValue(data={"image": f"{IMAGES}/img_001.jpg"}).model_dump()
    first["annotations"] = [
        checked(
            interface,
            AnnotationValue(
                completed_by=7,
                was_cancelled=True,
                result=regions({"label": [{"label": "Traffic light", "x": 1, "y": 1, "width": 2, "height": 2}]}),
            ),
        ),
        checked(
            interface,
            AnnotationValue(
                completed_by=8,
                result=regions(
                    {"label": [{"label": "Car", "x": 10, "y": 20, "width": 30, "height": 40}], "weather": "Sunny"}
                ),
            ),
        ),
    ]
    first["predictions"] = [
        checked(
            interface,
            PredictionValue(
                model_version="sdk-detector",
                score=0.75,
                result=regions({"label": [{"label": "Car", "x": 12.5, "y": 25, "width": 25, "height": 25}]}),
            ),
        ),
    ]
    tasks.append(first)

    # img_002: a polygon and a keypoint, and the comment text.
    second = TaskValue(data={"image": f"{IMAGES}/img_002.jpg"}).model_dump()
    second["annotations"] = [
        checked(
            interface,
            AnnotationValue(
                completed_by=8,
                result=regions(
                    {
                        "outline": {"label": "Road", "points": [[0, 100], [50, 50], [100, 100]]},
                        "kp": {"label": "Head", "x": 25, "y": 50},
                        "comment": {"text": ["wet road"]},
                    }
                ),
            ),
        ),
    ]
    tasks.append(second)

    # img_003: a brush prediction from a mask image (the converter's image2annotation).
    mask = Image.new("L", (320, 240), 0)
    mask.paste(255, (40, 20, 200, 80))
    mask_path = work_dir / "sky.png"
    mask.save(mask_path)
    brush = image2annotation(str(mask_path), "Sky", "brush", "image", model_version="sdk-segmenter", score=0.6)
    third = TaskValue(data={"image": f"{IMAGES}/img_003.jpg"}).model_dump()
    third["predictions"] = [brush]
    tasks.append(third)

    json.dump(tasks, sys.stdout)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
