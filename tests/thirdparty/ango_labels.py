"""Write an Ango category schema and label elements with the `ango` SDK (imerit_ango), offline.

Runs inside ango's own virtual environment (`tests.thirdparty.tool_venv`), never ours:

    python ango_labels.py ASSET_ID > out.json

The SDK builds the category schema offline (`ToolCategory`, `ClassificationCategory`,
`LabelOption`, `.toDict()`: random colours and uuid4 schema ids, as the SDK makes them) and the
answer of a label (`Answer(...).toDict()`: `{objects, classifications, relations}`). It has no
model for the import element itself (`SDK.import_labels` takes plain dicts and needs the
network), so the element around each answer (`externalId`, `data` or `assetId`) and the object
and classification dicts follow Ango's documented import format
(/work/shared/reference/labelbox-ango.md 3.2). Prints `{"schema": ..., "elements": [...]}`:
one element per way of naming an asset, `ASSET_ID` for the `assetId` one.
"""

from __future__ import annotations

import json
import sys

from imerit_ango.models.annotate import Answer
from imerit_ango.models.label_category import (
    Classification,
    ClassificationCategory,
    LabelOption,
    Tool,
    ToolCategory,
)


def main(asset_id: str) -> None:
    occluded = ClassificationCategory(
        Classification.Radio, title="Occluded", options=[LabelOption("Yes"), LabelOption("No")]
    )
    car = ToolCategory(Tool.BoundingBox, title="Car", classifications=[occluded])
    weather = ClassificationCategory(
        Classification.Single_dropdown, title="Weather", options=[LabelOption("Sunny"), LabelOption("Rainy")]
    )
    schema = {"tools": [car.toDict()], "classifications": [weather.toDict()], "relations": []}
    no = next(o for o in schema["tools"][0]["classifications"][0]["options"] if o["value"] == "No")

    occluded_id = schema["tools"][0]["classifications"][0]["schemaId"]

    def answer(x: int, weather_value: str) -> dict:
        box = {
            "schemaId": schema["tools"][0]["schemaId"],
            "bounding-box": {"x": x, "y": 20, "width": 30, "height": 40},
            "classifications": [{"schemaId": occluded_id, "answer": no["value"]}],
        }
        weather_answer = {"schemaId": schema["classifications"][0]["schemaId"], "answer": weather_value}
        return Answer(objects=[box], classifications=[weather_answer]).toDict()

    elements = [
        {"externalId": "ango-asset-1", "answer": answer(10, "Sunny")},
        {"data": "https://storage.example.com/ango/street_2.png", "answer": answer(11, "Rainy")},
        {"assetId": asset_id, "answer": answer(12, "Sunny")},
    ]
    print(json.dumps({"schema": schema, "elements": elements}))


if __name__ == "__main__":
    main(sys.argv[1])
