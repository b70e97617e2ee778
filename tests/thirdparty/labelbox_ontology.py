"""Write a Labelbox ontology and NDJSON annotations with the `labelbox` SDK, offline.

Runs inside labelbox's own virtual environment (`tests.thirdparty.tool_venv`), never ours:

    python labelbox_ontology.py > out.json

Prints `{"builder": ..., "app": ..., "ndjson_by_name": ..., "ndjson_by_schema_id": ...}`:

- `builder`: `OntologyBuilder.asdict()` of an ontology built in code (no schema ids yet);
- `app`: the same ontology as Labelbox's app exports it, with a `featureSchemaId` and a
  `schemaNodeId` on every feature and option (given here, 25-character cuid-like ids, since only
  Labelbox's server assigns real ones), read back by the SDK's `OntologyBuilder.from_dict`;
- `ndjson_*`: `NDJsonConverter.serialize` of the SDK's annotation types for one data row, naming
  features by name, and by the app ontology's `featureSchemaId`s.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import labelbox.types as lb_types
from labelbox import Classification, OntologyBuilder, Option, Tool
from labelbox.data.serialization import NDJsonConverter

GLOBAL_KEY = "img_001.jpg"


def ontology() -> OntologyBuilder:
    occluded = Classification(
        class_type=Classification.Type.RADIO,
        name="occluded",
        options=[
            Option(value="yes"),
            Option(value="no", options=[Classification(Classification.Type.TEXT, "why not")]),
        ],
    )
    return OntologyBuilder(
        tools=[
            Tool(tool=Tool.Type.BBOX, name="Car", color="#ff0000", classifications=[occluded]),
            Tool(tool=Tool.Type.POLYGON, name="Road", color="#00ff00"),
            Tool(tool=Tool.Type.LINE, name="Lane marking"),
            Tool(tool=Tool.Type.POINT, name="Head"),
            Tool(tool=Tool.Type.RASTER_SEGMENTATION, name="Sky"),
            Tool(tool=Tool.Type.NER, name="Entity"),
        ],
        classifications=[
            Classification(Classification.Type.RADIO, "weather", options=[Option("Sunny"), Option("Rainy day")]),
            Classification(
                Classification.Type.CHECKLIST, "tags", options=[Option("blurry", label="Blurry"), Option("night")]
            ),
            Classification(Classification.Type.TEXT, "comment"),
        ],
    )


def with_ids(node: Any, counter: itertools.count) -> Any:
    """Every feature and option with the two ids Labelbox's server gives them."""
    if isinstance(node, list):
        return [with_ids(item, counter) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: with_ids(value, counter) for key, value in node.items()}
    if "featureSchemaId" in node:
        number = next(counter)
        node["featureSchemaId"] = f"clfeature{number:016d}"
        node["schemaNodeId"] = f"clnode{number:019d}"
    return node


def feature_id(app: dict[str, Any], *names: str) -> str:
    """The featureSchemaId of the feature (or option) at that path of names/values."""
    nodes: list[dict[str, Any]] = app["tools"] + app["classifications"]
    found: dict[str, Any] = {}
    for name in names:
        found = next(n for n in nodes if name in (n.get("name"), n.get("value")))
        nodes = found.get("classifications", []) + found.get("options", [])
    return str(found["featureSchemaId"])


def label_lines(ids: dict[str, Any] | None) -> list[dict[str, Any]]:
    def ref(*names: str) -> dict[str, str]:
        return {"name": names[-1]} if ids is None else {"feature_schema_id": feature_id(ids, *names)}

    why_not = lb_types.ClassificationAnnotation(
        **ref("Car", "occluded", "no", "why not"), value=lb_types.Text(answer="parked")
    )
    no = lb_types.ClassificationAnswer(**ref("Car", "occluded", "no"), classifications=[why_not])
    label = lb_types.Label(
        data=lb_types.GenericDataRowData(global_key=GLOBAL_KEY),
        annotations=[
            lb_types.ObjectAnnotation(
                **ref("Car"),
                value=lb_types.Rectangle(start=lb_types.Point(x=10, y=20), end=lb_types.Point(x=110, y=70)),
                classifications=[
                    lb_types.ClassificationAnnotation(**ref("Car", "occluded"), value=lb_types.Radio(answer=no))
                ],
            ),
            lb_types.ObjectAnnotation(
                **ref("Road"),
                value=lb_types.Polygon(
                    points=[lb_types.Point(x=1, y=1), lb_types.Point(x=5, y=1), lb_types.Point(x=5, y=5)]
                ),
            ),
            lb_types.ObjectAnnotation(
                **ref("Lane marking"), value=lb_types.Line(points=[lb_types.Point(x=0, y=0), lb_types.Point(x=9, y=9)])
            ),
            lb_types.ObjectAnnotation(**ref("Head"), value=lb_types.Point(x=3, y=4)),
            lb_types.ClassificationAnnotation(
                **ref("weather"),
                value=lb_types.Radio(answer=lb_types.ClassificationAnswer(**ref("weather", "Rainy day"))),
            ),
            lb_types.ClassificationAnnotation(
                **ref("tags"),
                value=lb_types.Checklist(
                    answer=[
                        lb_types.ClassificationAnswer(**ref("tags", "blurry")),
                        lb_types.ClassificationAnswer(**ref("tags", "night")),
                    ]
                ),
            ),
            lb_types.ClassificationAnnotation(**ref("comment"), value=lb_types.Text(answer="wet")),
        ],
    )
    return list(NDJsonConverter.serialize([label]))


def main() -> None:
    builder = ontology().asdict()
    app = OntologyBuilder.from_dict(with_ids(builder, itertools.count(1))).asdict()
    print(
        json.dumps(
            {
                "builder": builder,
                "app": app,
                "ndjson_by_name": "\n".join(json.dumps(line) for line in label_lines(None)),
                "ndjson_by_schema_id": "\n".join(json.dumps(line) for line in label_lines(app)),
            }
        )
    )


if __name__ == "__main__":
    main()
