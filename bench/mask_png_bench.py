"""PNG encoders for the segmentation-mask export: CPU per 1920 x 1080 mask, size, same pixels.

    .venv/bin/python bench/mask_png_bench.py [--repeat 20]

Paints a mask as the mask export paints the export benchmark's task (`bench/export_bench.py`:
4 cars as rectangles, 2 polygon roads, palette mode, pixel = class index) and encodes it with
each option: Pillow at compress levels 6 (its default, what the export writes), 3, 1 and 0
(`optimize=False`), in mode "P" (with the palette) and "L"; OpenCV's `imencode` at levels 1
and 3 when OpenCV is installed (grey, no palette). Reports the CPU time per image (process
time, median of `--repeat`), the size, the time to deflate with no PNG around it (zlib level 1:
the floor of any deflated PNG) and whether the decoded pixels equal the reference's. One JSON
line per option.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 1920, 1080


def mask() -> Image.Image:
    image = Image.new("P", (WIDTH, HEIGHT), 0)
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (256 * 3 - 9))
    draw = ImageDraw.Draw(image)
    for index in range(4):  # cars
        x, y = 100 + index * 400, 200 + index * 150
        draw.polygon([(x, y), (x + 300, y), (x + 300, y + 180), (x, y + 180)], fill=1)
    for index in range(2):  # roads
        y = 700 + index * 150
        draw.polygon([(0, y), (960, y - 60), (1920, y), (1920, y + 120), (960, y + 60), (0, y + 120)], fill=2)
    return image


def cpu_median(encode: Callable[[], bytes], repeat: int) -> tuple[float, bytes]:
    times = []
    data = b""
    for _ in range(repeat):
        started = time.process_time()
        data = encode()
        times.append(time.process_time() - started)
    return statistics.median(times), data


def pillow(image: Image.Image, level: int) -> Callable[[], bytes]:
    def encode() -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=False, compress_level=level)
        return buffer.getvalue()

    return encode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    reference = mask()
    pixels = np.asarray(reference)
    grey = Image.fromarray(pixels, mode="L")
    options: list[tuple[str, Callable[[], bytes]]] = []
    for level in (6, 3, 1, 0):
        options.append((f"pillow P level {level}", pillow(reference, level)))
    for level in (6, 1):
        options.append((f"pillow L level {level}", pillow(grey, level)))
    try:
        import cv2

        def opencv(level: int) -> Callable[[], bytes]:
            def encode() -> bytes:
                return bytes(cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, level])[1].tobytes())

            return encode

        for level in (1, 3):
            options.append((f"opencv imencode level {level}", opencv(level)))
    except ImportError:
        pass
    raw = pixels.tobytes()
    options.append(("zlib level 1 of the raw pixels (no PNG)", lambda: zlib.compress(raw, 1)))
    for name, encode in options:
        cpu, data = cpu_median(encode, args.repeat)
        same = None
        if not name.startswith("zlib"):
            same = bool(np.array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels))
        print(
            json.dumps(
                {
                    "encoder": name,
                    "cpu_ms": round(cpu * 1000, 2),
                    "bytes": len(data),
                    "same_pixels": same,
                    "cpu_s_per_100000": round(cpu * 100_000, 1),
                    "load_average": os.getloadavg()[0],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
