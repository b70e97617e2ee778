"""Label a small project in a running Label Studio, as its users do, and export it as JSON.

Runs inside Label Studio's own virtual environment (`label_studio_sdk` and Pillow come with it),
never in ours; `label_studio_export.py` starts the server and calls this script:

    python label_studio_client.py BASE_URL TOKEN OUT_DIR

Through the REST API (the SDK, and plain HTTP where the SDK has no call): a second annotator,
a project with the configuration `LABEL_CONFIG`, five tasks (four image URLs and one uploaded
PNG), annotations by two people (one cancelled, one marked ground truth, a brush mask, a region
question), predictions with scores and a draft. Then both of Label Studio's JSON exports: the
"easy" export (`GET /api/projects/<id>/export?exportType=JSON`), a snapshot export with the
default options, and one that expands predictions and annotators. Writes `label_config.xml`,
`export.json`, `snapshot.json`, `snapshot_expanded.json` and `made.json` (who is who, which
task is which) to OUT_DIR.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import requests
from label_studio_sdk import LabelStudio
from label_studio_sdk.converter.brush import mask2rle
from PIL import Image

LABEL_CONFIG = """<View>
  <Image name="image" value="$image" zoom="true"/>
  <RectangleLabels name="label" toName="image">
    <Label value="Car" background="#f44336"/>
    <Label value="Traffic light" background="#03a9f4"/>
  </RectangleLabels>
  <PolygonLabels name="outline" toName="image">
    <Label value="Road"/>
  </PolygonLabels>
  <KeyPointLabels name="kp" toName="image">
    <Label value="Head"/>
  </KeyPointLabels>
  <BrushLabels name="brush" toName="image">
    <Label value="Sky"/>
  </BrushLabels>
  <Choices name="weather" toName="image" choice="single">
    <Choice value="Sunny"/>
    <Choice value="Rainy day"/>
  </Choices>
  <TextArea name="comment" toName="image"/>
  <Choices name="occluded" toName="image" perRegion="true">
    <Choice value="yes"/>
    <Choice value="no"/>
  </Choices>
</View>
"""

IMAGES = "https://images.example.com/streets"


def rect(region: str, label: str, x: float, y: float, w: float, h: float, size: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": region,
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": size[0],
        "original_height": size[1],
        "image_rotation": 0,
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]},
    }


def choice(name: str, value: str, region: str | None = None, size: tuple[int, int] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": region or f"{name}-1",
        "from_name": name,
        "to_name": "image",
        "type": "choices",
        "value": {"choices": [value]},
    }
    if size is not None:  # a region's question carries the region's size, as the editor writes it
        result["original_width"], result["original_height"] = size
    return result


def main(base_url: str, token: str, out_dir: Path) -> None:
    client = LabelStudio(base_url=base_url, api_key=token)
    http = requests.Session()
    http.headers["Authorization"] = f"Token {token}"
    me = client.users.whoami()
    second = client.users.create(username="bo", email="bo@example.com", password="annotator-bo-1")

    project = client.projects.create(title="Streets", label_config=LABEL_CONFIG)
    assert project.id is not None
    urls = [f"{IMAGES}/img_00{n}.jpg" for n in (1, 2, 3, 5)]
    client.projects.import_tasks(project.id, request=[{"data": {"image": url, "site": "north"}} for url in urls])
    # One image uploaded as a file, as most people start: the task's image is /data/upload/...
    png = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 140, 200)).save(png, format="PNG")
    uploaded = http.post(
        f"{base_url}/api/projects/{project.id}/import",
        files={"file": ("img_004.png", png.getvalue(), "image/png")},
        timeout=60,
    )
    uploaded.raise_for_status()
    tasks = sorted(
        http.get(f"{base_url}/api/tasks", params={"project": project.id}, timeout=60).json()["tasks"],
        key=lambda t: t["id"],
    )
    by_name = {t["data"]["image"].rsplit("/", 1)[-1].split("-", 1)[-1]: t["id"] for t in tasks}

    big, small, tiny = (800, 600), (320, 240), (64, 48)
    # img_001: two annotators, and a prediction.
    client.annotations.create(
        by_name["img_001.jpg"],
        result=[
            rect("car1", "Car", 10, 20, 30, 40, big),
            choice("occluded", "yes", region="car1", size=big),
            choice("weather", "Sunny"),
            {
                "id": "comment-1",
                "from_name": "comment",
                "to_name": "image",
                "type": "textarea",
                "value": {"text": ["two cars"]},
            },
        ],
        lead_time=12.5,
    )
    client.annotations.create(
        by_name["img_001.jpg"],
        result=[rect("light1", "Traffic light", 50, 5, 5, 15, big), choice("weather", "Rainy day")],
        completed_by=second.id,
        lead_time=8.0,
    )
    client.predictions.create(
        task=by_name["img_001.jpg"],
        result=[rect("p1", "Car", 11, 21, 29, 39, big)],
        score=0.87,
        model_version="yolo-v8",
    )
    # img_002: a cancelled (skipped) annotation with a box still in it, then a real one.
    client.annotations.create(
        by_name["img_002.jpg"], result=[rect("skip1", "Car", 1, 1, 10, 10, big)], was_cancelled=True
    )
    client.annotations.create(
        by_name["img_002.jpg"],
        result=[
            {
                "id": "road1",
                "from_name": "outline",
                "to_name": "image",
                "type": "polygonlabels",
                "original_width": 800,
                "original_height": 600,
                "image_rotation": 0,
                "value": {"points": [[0, 100], [50, 50], [100, 100]], "closed": True, "polygonlabels": ["Road"]},
            },
            {
                "id": "head1",
                "from_name": "kp",
                "to_name": "image",
                "type": "keypointlabels",
                "original_width": 800,
                "original_height": 600,
                "image_rotation": 0,
                "value": {"x": 25, "y": 50, "width": 0.5, "keypointlabels": ["Head"]},
            },
        ],
        completed_by=second.id,
    )
    # img_003: a brush mask first, then another person's box marked ground truth.
    mask = np.zeros((small[1], small[0]), dtype=np.uint8)
    mask[20:80, 40:200] = 255
    client.annotations.create(
        by_name["img_003.jpg"],
        result=[
            {
                "id": "sky1",
                "from_name": "brush",
                "to_name": "image",
                "type": "brushlabels",
                "original_width": small[0],
                "original_height": small[1],
                "image_rotation": 0,
                "value": {"format": "rle", "rle": [int(v) for v in mask2rle(mask)], "brushlabels": ["Sky"]},
            }
        ],
    )
    client.annotations.create(
        by_name["img_003.jpg"],
        result=[rect("gt1", "Car", 25, 25, 50, 50, small)],
        completed_by=second.id,
        ground_truth=True,
    )
    # img_004 (uploaded): one box.
    client.annotations.create(by_name["img_004.png"], result=[rect("c4", "Car", 25, 25, 50, 50, tiny)])
    # img_005: a prediction only, and a draft somebody left.
    client.predictions.create(
        task=by_name["img_005.jpg"],
        result=[
            {
                "id": "p5",
                "from_name": "outline",
                "to_name": "image",
                "type": "polygonlabels",
                "original_width": 800,
                "original_height": 600,
                "image_rotation": 0,
                "value": {
                    "points": [[10, 10], [20, 10], [20, 20], [10, 20]],
                    "closed": True,
                    "polygonlabels": ["Road"],
                },
            }
        ],
        score=0.5,
        model_version="yolo-v8",
    )
    draft = http.post(
        f"{base_url}/api/tasks/{by_name['img_005.jpg']}/drafts",
        json={"result": [rect("d1", "Car", 5, 5, 5, 5, big)], "lead_time": 3.0},
        timeout=60,
    )
    draft.raise_for_status()

    easy = http.get(
        f"{base_url}/api/projects/{project.id}/export",
        params={"exportType": "JSON", "download_all_tasks": "true"},
        timeout=120,
    )
    easy.raise_for_status()
    snapshot = client.projects.exports.create(project.id, title="all tasks")
    assert snapshot.id is not None
    snapshot_bytes = b"".join(client.projects.exports.download(project.id, snapshot.id, export_type="JSON"))
    # The snapshot the export dialog makes with "expand predictions and annotators": predictions
    # as objects, each annotation's completed_by as {id, email, first_name, last_name}.
    expanded = http.post(
        f"{base_url}/api/projects/{project.id}/exports/",
        json={
            "title": "expanded",
            "serialization_options": {
                "predictions": {"only_id": False},
                "annotations__completed_by": {"only_id": False},
                "drafts": {"only_id": True},
            },
        },
        timeout=120,
    )
    expanded.raise_for_status()
    expanded_bytes = http.get(
        f"{base_url}/api/projects/{project.id}/exports/{expanded.json()['id']}/download",
        params={"exportType": "JSON"},
        timeout=120,
    ).content

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "label_config.xml").write_text(LABEL_CONFIG)
    (out_dir / "export.json").write_text(json.dumps(easy.json(), indent=1) + "\n")
    (out_dir / "snapshot.json").write_text(json.dumps(json.loads(snapshot_bytes), indent=1) + "\n")
    (out_dir / "snapshot_expanded.json").write_text(json.dumps(json.loads(expanded_bytes), indent=1) + "\n")
    (out_dir / "made.json").write_text(
        json.dumps(
            {
                "annotator_a": {"id": me.id, "email": me.email},
                "annotator_b": {"id": second.id, "email": second.email},
                "tasks": by_name,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
