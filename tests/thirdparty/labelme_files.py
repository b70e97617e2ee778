"""Run with labelme's Python (`tests.thirdparty.tool_venv("labelme", ...)`); labelme's file code
needs no display.

`make <spec.json> <out dir>`: for each item of the spec, its image (grey, of its size) and the
LabelMe JSON that labelme's own `LabelFile.save` writes beside it (the image embedded as
`imageData` when the item says `embed`); a shape's `mask_box` `[x0, y0, x1, y1]` becomes a mask
shape painting that box, as labelme's app saves it. `read <dir>`: every `.json` of `dir` as
labelme's `LabelFile` loads it, as JSON on standard output (masks as their box and area).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from labelme import LabelFile, utils
from PIL import Image


def make(spec_path: str, out: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for item in spec["items"]:
        image = folder / item["image"]
        Image.new("RGB", (item["width"], item["height"]), (127, 127, 127)).save(image)
        shapes = []
        for shape in item["shapes"]:
            saved = {
                "label": shape["label"],
                "points": shape.get("points", []),
                "shape_type": shape["shape_type"],
                "group_id": None,
                "description": shape.get("description", ""),
                "flags": {},
                "mask": None,
            }
            if "mask_box" in shape:
                x0, y0, x1, y1 = shape["mask_box"]
                saved["points"] = [[x0, y0], [x1 - 1, y1 - 1]]
                saved["mask"] = utils.img_arr_to_b64(np.ones((y1 - y0, x1 - x0), dtype=np.uint8))
            shapes.append(saved)
        LabelFile().save(
            filename=str(image.with_suffix(".json")),
            shapes=shapes,
            image_path=image.name,
            image_height=item["height"],
            image_width=item["width"],
            image_data=LabelFile.load_image_file(str(image)) if item.get("embed") else None,
            flags=item.get("flags"),
        )


def read(out: str) -> None:
    found = {}
    for path in sorted(Path(out).glob("*.json")):
        label_file = LabelFile(str(path))
        shapes = []
        for shape in label_file.shapes:
            data = {
                "label": shape["label"],
                "shape_type": shape["shape_type"],
                "points": shape["points"],
                "description": shape["description"],
            }
            if shape["mask"] is not None:
                ys, xs = np.nonzero(shape["mask"])
                (x0, y0) = [int(v) for v in shape["points"][0]]
                data["box"] = [x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1]
                data["area"] = int(shape["mask"].sum())
            shapes.append(data)
        found[path.name] = {"image_path": label_file.image_path, "flags": label_file.flags, "shapes": shapes}
    json.dump(found, sys.stdout, default=lambda v: np.asarray(v).tolist())


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    else:
        read(sys.argv[2])
