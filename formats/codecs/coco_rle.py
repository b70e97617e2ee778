"""COCO's run-length encoding of masks (`iscrowd` annotations), decoded with numpy alone.

The algorithm of pycocotools' `maskApi.c` (`rleFrString`, `rleDecode`): a mask is read in
column-major order (down each column, then the next column), as alternating runs of 0 and 1
that start with 0. An uncompressed RLE gives the run lengths as a list of numbers; a compressed
one as a string in which each run is 5-bit groups (6 bits per character, offset 48, the 0x20
bit meaning "more groups follow", the 0x10 bit of the last group the sign), and from the third
run on, the difference to the run two before. `tests/formats/test_coco_rle.py` checks this
against pycocotools on random masks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class CocoRleError(ValueError):
    """The RLE does not describe a mask of its size."""


def rle_counts_from_string(counts: str) -> list[int]:
    """The run lengths of a compressed RLE string (pycocotools' `rleFrString`)."""
    runs: list[int] = []
    position, length = 0, len(counts)
    while position < length:
        value = shift = 0
        more = True
        while more:
            if position >= length:
                raise CocoRleError("the counts string ends in the middle of a run")
            group = ord(counts[position]) - 48
            if not 0 <= group < 64:
                raise CocoRleError(f"the counts string has the character {counts[position]!r}, which no RLE uses")
            value |= (group & 0x1F) << shift
            more = bool(group & 0x20)
            position += 1
            shift += 5
            if not more and group & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def rle_decode(counts: str | Sequence[int], width: int, height: int) -> np.ndarray:
    """The `(height, width)` boolean mask of an RLE's counts (a compressed string or a list)."""
    runs = rle_counts_from_string(counts) if isinstance(counts, str) else [int(c) for c in counts]
    if any(run < 0 for run in runs):
        raise CocoRleError("a run length is negative")
    if sum(runs) != width * height:
        raise CocoRleError(f"the runs cover {sum(runs)} pixels, but the mask is {width} x {height} = {width * height}")
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, runs)
    return flat.reshape((width, height)).T.copy()
