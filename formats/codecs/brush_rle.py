"""Label Studio's brush RLE: the `rle` list of a `brushlabels` result, read and written.

Label Studio stores a brush region as the RGBA pixels of a canvas of the image's size
(`original_height` rows of `original_width` pixels, four values each), packed with
thi.ng's rle-pack; label-studio-converter's `brush.py` reads and writes the same bytes:

- a header: the number of values (32 bits), the word size - 1 (5 bits), and four
  run-length field sizes, each - 1 (4 bits each);
- then runs until that many values are out: a flag bit, a 2-bit index into the field
  sizes, the run length - 1 in that many bits, and then one word (flag 1: the word
  repeated) or run-length words (flag 0: literal values).

Bits are read most significant first. A pixel is painted when its alpha value is not 0
(the converter reads the alpha channel). We write what the converter's `mask2rle`
writes: 255 in all four channels where painted, word size 8, field sizes 3, 4, 8, 16.

Why not depend on label-studio-converter: it is deprecated (moved into label-studio-sdk)
and pulls pandas, nltk and a pinned old ijson; the SDK pins opencv below ours and pulls a
code generator and an HTTP client stack. The codec is the sixty lines below, tested
against the converter's published encoding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The largest canvas we decode (a brush holds 4 bytes per pixel of the original image).
MAX_PIXELS = 100_000_000
_SIZES = (3, 4, 8, 16)


class BrushRleError(ValueError):
    """The RLE does not decode to a canvas of the stated size; the message says why."""


class _Bits:
    """Reads big-endian bit fields from bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0
        self.total = len(data) * 8
        self._unpacked: np.ndarray | None = None

    def _check(self, end: int) -> None:
        if end > self.total:
            raise BrushRleError(f"the RLE ends early: it has {len(self.data)} bytes and needs more")

    def read(self, size: int) -> int:
        end = self.position + size
        self._check(end)
        first, last = self.position >> 3, (end + 7) >> 3
        chunk = int.from_bytes(self.data[first:last], "big")
        self.position = end
        return (chunk >> (last * 8 - end)) & ((1 << size) - 1)

    def nonzero_words(self, count: int, size: int) -> np.ndarray:
        """Whether each of the next `count` words of `size` bits is not 0."""
        end = self.position + count * size
        self._check(end)
        if count * size <= 64:  # short literal runs are the common case: plain integers
            chunk = self.read(count * size)
            mask = (1 << size) - 1
            return np.array([(chunk >> (size * (count - 1 - k))) & mask != 0 for k in range(count)], dtype=bool)
        if self._unpacked is None:
            self._unpacked = np.unpackbits(np.frombuffer(self.data, dtype=np.uint8))
        bits = self._unpacked[self.position : end].reshape(count, size)
        self.position = end
        return np.asarray(bits.any(axis=1), dtype=bool)


def rle_decode_mask(rle: Sequence[int] | bytes, width: int, height: int) -> np.ndarray:
    """The painted pixels of a brush RLE as a `(height, width)` boolean array."""
    if width * height > MAX_PIXELS:
        raise BrushRleError(f"a {width}x{height} canvas is larger than {MAX_PIXELS:,} pixels")
    try:
        data = bytes(rle)
    except (TypeError, ValueError) as exc:
        raise BrushRleError("the RLE is a list of bytes (integers from 0 to 255)") from exc
    bits = _Bits(data)
    count = bits.read(32)
    if count != width * height * 4:
        raise BrushRleError(
            f"the RLE holds {count} values, but a {width}x{height} image needs {width * height * 4} (4 per pixel)"
        )
    word = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    painted = np.zeros(width * height, dtype=bool)
    i = 0
    while i < count:
        repeat = bits.read(1)
        j = i + 1 + bits.read(sizes[bits.read(2)])
        if j > count:
            raise BrushRleError(f"a run ends at value {j}, past the {count} values of the canvas")
        # Values i..j-1 hold the alpha of pixels i//4 .. j//4 - 1 (the values k with k % 4 == 3).
        if repeat:
            if bits.read(word):
                painted[i // 4 : j // 4] = True
        else:
            values = bits.nonzero_words(j - i, word)
            painted[i // 4 : j // 4] = values[(3 - i % 4) % 4 :: 4]
        i = j
    return painted.reshape(height, width)


def _runs_encode(values: np.ndarray, lengths: np.ndarray) -> list[int]:
    """The bytes of runs of 8-bit values (as label-studio-converter's `encode_rle` writes them)."""
    total = int(lengths.sum())
    parts = [f"{total:032b}", f"{8 - 1:05b}", "".join(f"{size - 1:04b}" for size in _SIZES)]
    for value, length in zip(values.tolist(), lengths.tolist(), strict=True):
        if length == 1:
            parts.append(f"000000{value:08b}")
            continue
        while length > 0:
            part = min(length, 1 << 16)
            index = 0 if part <= 8 else 1 if part <= 16 else 2 if part <= 256 else 3
            parts.append(f"1{index:02b}{part - 1:0{_SIZES[index]}b}{value:08b}")
            length -= part
    text = "".join(parts)
    text += "0" * (-len(text) % 8)
    return list(int(text, 2).to_bytes(len(text) // 8, "big"))


def rle_encode_values(values: Sequence[int] | np.ndarray) -> list[int]:
    """The brush RLE of a flat array of 8-bit values (RGBA, 4 per pixel)."""
    flat = np.asarray(values, dtype=np.uint8).ravel()
    if not flat.size:
        return _runs_encode(flat, np.zeros(0, dtype=np.int64))
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    lengths = np.diff(np.concatenate((starts, [flat.size])))
    return _runs_encode(flat[starts], lengths)


def rle_encode_mask(
    mask: np.ndarray, *, at: tuple[int, int] = (0, 0), canvas: tuple[int, int] | None = None
) -> list[int]:
    """The brush RLE of a `(height, width)` mask: 255 in all four channels where painted.

    `mask` may be a crop placed at `at` = (x, y) on a canvas of `canvas` = (width, height)
    pixels (the rest unpainted); runs are then found in the crop only."""
    crop = np.asarray(mask, dtype=bool)
    rows, columns = crop.shape
    width, height = canvas if canvas is not None else (columns, rows)
    x0, y0 = at
    total = width * height
    # Painted runs per crop row: starts and ends where a padded row changes.
    padded = np.zeros((rows, columns + 2), dtype=np.int8)
    padded[:, 1:-1] = crop
    change = np.diff(padded, axis=1)
    start_rows, start_columns = np.nonzero(change == 1)
    end_rows, end_columns = np.nonzero(change == -1)
    starts = (start_rows + y0) * width + x0 + start_columns
    ends = (end_rows + y0) * width + x0 + end_columns
    if starts.size > 1:  # runs that meet across a row break (a crop as wide as the canvas) are one
        keep = np.concatenate(([True], starts[1:] != ends[:-1]))
        starts = starts[keep]
        ends = ends[np.concatenate((keep[1:], [True]))]
    bounds = np.empty(starts.size * 2 + 2, dtype=np.int64)
    bounds[0], bounds[-1] = 0, total
    bounds[1:-1:2], bounds[2:-1:2] = starts, ends
    lengths = np.diff(bounds)
    values = np.tile(np.array([0, 255], dtype=np.uint8), starts.size + 1)[: lengths.size]
    used = lengths > 0
    return _runs_encode(values[used], lengths[used] * 4)
