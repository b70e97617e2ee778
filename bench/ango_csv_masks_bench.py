"""Ango CSV masks: CPU per row of mask -> classes -> polygons (the cost that grows with masks).

    .venv/bin/python bench/ango_csv_masks_bench.py            # 1024 and 2048 px, hard and anti-aliased
    .venv/bin/python bench/ango_csv_masks_bench.py --sizes 4096 --repeat 3

Per size, a scene of 60 overlapping discs in the seed's three segmentation colours (Car red,
Person blue, Other purple) is drawn 4x larger and downsampled: nearest-neighbour gives a
hard-edged mask, box filtering an anti-aliased one (blends along every edge). The PNG is put
in a local storage (`LABELSITE_MASK_STORAGES`, as `storage_id` reads it) and one CSV row
naming it goes through `ango_csv.convert` exactly as a job's row does (read, decode, colour
mapping with the nearest-matched-pixel fill, tracing, shapely simplify and repair), with no
database. Prints wall and CPU time (median of `--repeat`), objects and vertices per mask and
tolerance. On a shared machine the wall time grows; the CPU time much less.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")

import django

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from formats import ango_csv  # noqa: E402
from imports.services import import_options_clean  # noqa: E402
from projects.label_config import IndexedEntry, LabelConfigIndex  # noqa: E402

COLOURS = {"car": "#f44336", "person": "#03a9f4", "other": "#9c27b0"}


def config_index() -> LabelConfigIndex:
    entries = {
        key: IndexedEntry(id=key, parent_id=None, key=key, title=key.title(), type="segmentation", schema_id=key,
                          required=False, max_length=None, options=(), child_ids=(), color=colour)
        for key, colour in COLOURS.items()
    }  # fmt: skip
    return LabelConfigIndex(entries=entries, roots=entries, children={}, by_schema_id=entries, options_by_schema_id={})


def scene(size: int, *, anti_aliased: bool) -> bytes:
    big = Image.new("RGB", (size * 4, size * 4))
    draw = ImageDraw.Draw(big)
    rng = np.random.default_rng(1)
    colours = list(COLOURS.values())
    for n in range(60):
        x, y = (int(v) for v in rng.integers(0, size * 4 - size // 2, 2))
        radius = int(rng.integers(size // 20, size // 5))
        draw.ellipse([x, y, x + 2 * radius, y + 2 * radius], fill=colours[n % 3])
    small = big.resize((size, size), Image.Resampling.BOX if anti_aliased else Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--tolerances", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    config = config_index()
    with tempfile.TemporaryDirectory() as root:
        settings.LABELSITE_MASK_STORAGES = {
            "bench": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root},
                      "organizations": ["*"]}
        }  # fmt: skip
        for size in args.sizes:
            for anti_aliased in (False, True):
                Path(root, "mask.png").write_bytes(scene(size, anti_aliased=anti_aliased))
                for tolerance in args.tolerances:
                    options = import_options_clean(
                        {"external_id_column": "id", "mask_column": "mask", "storage_id": "bench",
                         "polygon_simplification_tolerance": tolerance},
                        fmt=ango_csv.FORMAT,
                    )  # fmt: skip
                    walls, cpus = [], []
                    for _ in range(args.repeat):
                        wall, cpu = time.perf_counter(), time.process_time()
                        converted = ango_csv.convert(
                            {"row": 2, "cells": {"id": "a", "mask": "mask.png"}}, config, options=options
                        )
                        walls.append(time.perf_counter() - wall)
                        cpus.append(time.process_time() - cpu)
                    assert converted.annotation is not None, converted.errors
                    shapes = converted.annotation.shapes
                    vertices = sum(len(ring) for shape in shapes for ring in shape.points)
                    print(
                        f"{size}x{size} {'anti-aliased' if anti_aliased else 'hard-edged'} tolerance {tolerance}: "
                        f"{len(shapes)} objects, {vertices} vertices, wall {statistics.median(walls) * 1000:.0f} ms, "
                        f"CPU {statistics.median(cpus) * 1000:.0f} ms"
                    )


if __name__ == "__main__":
    main()
