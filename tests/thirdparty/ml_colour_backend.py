"""A Label Studio ML backend made with the `label-studio-ml` package (1.0.9), as its users write one.

Runs inside the package's own virtual environment (`tests/thirdparty/__init__.py`), never in ours:

    python ml_colour_backend.py PORT LOG_FILE

A small example model: boxes from colour thresholds. Every task's image is downloaded with the
package's own `get_local_path` (the /setup `hostname` and `access_token`, `Authorization: Token`),
and the yellow pixels (the demo's buses) become one box of the first label of the config's
`RectangleLabels` control, scored by how much of the box is yellow. Interactive: with a
`context` (a keypoint or a box, Label Studio's shape), the answer is the box around the pixels
of the clicked colour (a keypoint) or the yellow pixels inside the given box. Each call's kind,
task count and context go to LOG_FILE, one JSON line each, for the test to read.
"""

from __future__ import annotations

import json
import sys
import tempfile
from typing import Any

from label_studio_ml.api import init_app
from label_studio_ml.model import LabelStudioMLBase
from PIL import Image

PORT = int(sys.argv[1])
LOG = sys.argv[2]


def _log(**entry: object) -> None:
    with open(LOG, "a") as out:
        out.write(json.dumps(entry) + "\n")


def _yellow(pixel: tuple[int, int, int]) -> bool:
    r, g, b = pixel[:3]
    return r > 180 and g > 130 and b < 100


def _box(image: Image.Image, keep, area: tuple[int, int, int, int] | None = None):
    """(x0, y0, x1, y1, share) of the pixels `keep` takes, looked for every 2nd pixel; None if none."""
    width, height = image.size
    x_from, y_from, x_to, y_to = area or (0, 0, width, height)
    pixels: Any = image.load()
    xs, ys = [], []
    for y in range(max(0, y_from), min(height, y_to), 2):
        for x in range(max(0, x_from), min(width, x_to), 2):
            if keep(pixels[x, y]):
                xs.append(x)
                ys.append(y)
    if not xs:
        return None
    x0, y0, x1, y1 = min(xs), min(ys), max(xs) + 1, max(ys) + 1
    share = len(xs) * 4 / max(1, (x1 - x0) * (y1 - y0))
    return x0, y0, x1, y1, min(1.0, share)


class ColourBoxes(LabelStudioMLBase):
    def _rectangles(self):
        for from_name, info in self.parsed_label_config.items():
            if info["type"].lower() == "rectanglelabels":
                return from_name, info["to_name"][0], info["inputs"][0]["value"], info["labels"][0]
        raise ValueError("The config has no RectangleLabels control.")

    def predict(self, tasks, **kwargs):
        context = kwargs.get("context")
        _log(kind="predict", tasks=len(tasks), context=context, hostname=self.hostname)
        from_name, to_name, value, label = self._rectangles()
        results = []
        for task in tasks:
            path = self.get_local_path(task["data"][value])
            image = Image.open(path).convert("RGB")
            width, height = image.size
            found = self._interactive(image, context) if context else _box(image, _yellow)
            if found is None:
                results.append({"result": [], "score": 0.0})
                continue
            x0, y0, x1, y1, share = found
            region = {
                "from_name": from_name,
                "to_name": to_name,
                "type": "rectanglelabels",
                "original_width": width,
                "original_height": height,
                "image_rotation": 0,
                "value": {
                    "x": x0 / width * 100,
                    "y": y0 / height * 100,
                    "width": (x1 - x0) / width * 100,
                    "height": (y1 - y0) / height * 100,
                    "rotation": 0,
                    "rectanglelabels": [label],
                },
                "score": round(share, 4),
            }
            results.append({"result": [region], "score": round(share, 4)})
        return results

    def _interactive(self, image, context):
        width, height = image.size
        result = context["result"][0]
        value = result["value"]
        if result["type"] == "keypointlabels":
            x, y = int(value["x"] * width / 100), int(value["y"] * height / 100)
            clicked = image.getpixel((min(x, width - 1), min(y, height - 1)))

            def near(pixel):
                return sum(abs(a - b) for a, b in zip(pixel, clicked, strict=False)) < 60

            return _box(image, near)
        area = (
            int(value["x"] * width / 100),
            int(value["y"] * height / 100),
            int((value["x"] + value["width"]) * width / 100),
            int((value["y"] + value["height"]) * height / 100),
        )
        return _box(image, _yellow, area)


if __name__ == "__main__":
    app = init_app(model_class=ColourBoxes, model_dir=tempfile.mkdtemp(prefix="ml-colour-"))
    _log(kind="start", port=PORT)
    app.run(host="127.0.0.1", port=PORT, threaded=True)
