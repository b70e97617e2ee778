"""Run with datumaro's Python (`tests.thirdparty.tool_venv("datumaro", ...)`).

`make <spec.json> <out dir> <format>`: a dataset built from the spec (labels, images of a size,
annotations in pixels) saved with datumaro's own exporter, `cvat` (CVAT for images 1.1) with its
images. `read <dir> <format>`: the dataset datumaro's own importer reads from `dir`, as JSON on
standard output (per item: its annotations in pixels, masks as their box and area).
"""

from __future__ import annotations

import json
import sys

import numpy as np
from datumaro.components.annotation import (
    AnnotationType,
    Bbox,
    Label,
    LabelCategories,
    Mask,
    Points,
    Polygon,
    PolyLine,
    RotatedBbox,
)
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.media import Image


def annotation(spec: dict, labels: dict[str, int], width: int, height: int):
    common = {"label": labels[spec["label"]], "attributes": spec.get("attributes", {}), "z_order": spec.get("z", 0)}
    kind = spec["type"]
    if kind == "bbox":
        return Bbox(spec["x"], spec["y"], spec["w"], spec["h"], **common)
    if kind == "rotated_bbox":
        return RotatedBbox(spec["cx"], spec["cy"], spec["w"], spec["h"], spec["r"], **common)
    if kind == "polygon":
        return Polygon(spec["points"], **common)
    if kind == "polyline":
        return PolyLine(spec["points"], **common)
    if kind == "points":
        return Points(spec["points"], **common)
    if kind == "mask":
        canvas = np.zeros((height, width), dtype=np.uint8)
        x0, y0, x1, y1 = spec["box"]
        canvas[y0:y1, x0:x1] = 1
        return Mask(image=canvas, **common)
    if kind == "label":
        return Label(labels[spec["label"]], attributes=spec.get("attributes", {}))
    raise ValueError(kind)


def make(spec_path: str, out: str, fmt: str) -> None:
    with open(spec_path) as f:
        spec = json.load(f)
    categories = LabelCategories()
    for label in spec["labels"]:
        categories.add(label["name"], attributes=set(label.get("attributes", [])))
    labels = {label["name"]: i for i, label in enumerate(spec["labels"])}
    items = []
    for item in spec["items"]:
        w, h = item["width"], item["height"]
        pixels = np.full((h, w, 3), 127, dtype=np.uint8)
        items.append(
            DatasetItem(
                id=item["id"],
                media=Image.from_numpy(data=pixels),
                annotations=[annotation(a, labels, w, h) for a in item["annotations"]],
            )
        )
    dataset = Dataset.from_iterable(items, categories={AnnotationType.label: categories})
    dataset.export(out, fmt, save_media=True)


def read(path: str, fmt: str) -> None:
    dataset = Dataset.import_from(path, fmt)
    names = [label.name for label in dataset.categories()[AnnotationType.label]]
    found = {}
    for item in dataset:
        annotations = []
        for ann in item.annotations:
            data = {"type": ann.type.name, "label": names[ann.label] if ann.label is not None else None}
            data["attributes"] = dict(ann.attributes.items())
            data["group"] = ann.group
            if ann.type == AnnotationType.mask:
                mask = np.asarray(ann.image).astype(bool)
                ys, xs = np.nonzero(mask)
                data["box"] = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if xs.size else None
                data["area"] = int(mask.sum())
            elif ann.type != AnnotationType.label:
                data["points"] = [float(p) for p in ann.points]
            annotations.append(data)
        found[item.id] = annotations
    json.dump(found, sys.stdout, default=str)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        read(sys.argv[2], sys.argv[3])
