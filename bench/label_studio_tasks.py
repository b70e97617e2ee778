"""Label Studio tasks as `reference/label-studio.md` measured Label Studio 1.23.2 with.

`Image` + `RectangleLabels name=label` (bus, car) + `Choices name=weather` (sunny, cloudy,
rainy); each task has `data.image`, a URL that is never fetched, and one annotation of 3
rectangles (with `original_width/height`) and 1 choice. Seeded, so every run imports the same
file. Used by `small_import_bench.py` (and by anything that imports such tasks).
"""

from __future__ import annotations

import random
from typing import Any

LABEL_CONFIG_XML = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="label" toName="image">
    <Label value="bus"/>
    <Label value="car"/>
  </RectangleLabels>
  <Choices name="weather" toName="image">
    <Choice value="sunny"/>
    <Choice value="cloudy"/>
    <Choice value="rainy"/>
  </Choices>
</View>"""

SEED = 1


def label_studio_task(rng: random.Random, number: int, *, run: str = "") -> dict[str, Any]:
    """One task: its image URL (unique per `number` and `run`), 3 boxes and a weather answer."""
    result: list[dict[str, Any]] = []
    for box in range(3):
        x, y = rng.uniform(0, 80), rng.uniform(0, 80)
        result.append(
            {
                "id": f"r{number}-{box}",
                "from_name": "label",
                "to_name": "image",
                "type": "rectanglelabels",
                "original_width": 1920,
                "original_height": 1080,
                "value": {
                    "x": round(x, 2),
                    "y": round(y, 2),
                    "width": round(rng.uniform(1, 100 - x), 2),
                    "height": round(rng.uniform(1, 100 - y), 2),
                    "rotation": 0,
                    "rectanglelabels": [rng.choice(["bus", "car"])],
                },
            }
        )
    result.append(
        {
            "id": f"c{number}",
            "from_name": "weather",
            "to_name": "image",
            "type": "choices",
            "value": {"choices": [rng.choice(["sunny", "cloudy", "rainy"])]},
        }
    )
    return {
        "data": {"image": f"https://images.example.com/{run}{number:07d}.jpg"},
        "annotations": [{"result": result}],
    }


def label_studio_tasks(count: int, *, run: str = "") -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    return [label_studio_task(rng, number, run=run) for number in range(count)]
