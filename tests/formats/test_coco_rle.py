"""Our numpy decoder of COCO RLE gives pycocotools' masks, compressed and uncompressed."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from formats.codecs.coco_rle import CocoRleError, rle_decode


def _masks() -> list[np.ndarray]:
    rng = np.random.default_rng(16)
    masks = [rng.random((h, w)) < density for h, w, density in [(37, 53, 0.5), (120, 80, 0.02), (5, 5, 0.9)]]
    block = np.zeros((240, 320), dtype=bool)
    block[20:80, 40:200] = True  # long runs: multi-group counts and negative differences
    masks.append(block)
    masks.append(np.zeros((10, 7), dtype=bool))
    masks.append(np.ones((10, 7), dtype=bool))
    return masks


@pytest.mark.parametrize("mask", _masks(), ids=lambda m: f"{m.shape[1]}x{m.shape[0]}-{int(m.sum())}")
def test_compressed_rle_written_by_pycocotools_decodes_to_the_same_mask(mask):
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    counts = rle["counts"].decode("ascii")

    decoded = rle_decode(counts, width=mask.shape[1], height=mask.shape[0])

    assert np.array_equal(decoded, mask)
    assert np.array_equal(decoded, coco_mask.decode(rle).astype(bool))


@pytest.mark.parametrize("mask", _masks(), ids=lambda m: f"{m.shape[1]}x{m.shape[0]}-{int(m.sum())}")
def test_uncompressed_rle_decodes_as_pycocotools_decodes_it(mask):
    height, width = mask.shape
    column_major = mask.T.reshape(-1)
    changes = np.flatnonzero(np.diff(np.concatenate([[False], column_major, [not column_major[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    reference = coco_mask.decode(coco_mask.frPyObjects({"counts": counts, "size": [height, width]}, height, width))

    decoded = rle_decode(counts, width=width, height=height)

    assert np.array_equal(decoded, reference.astype(bool))
    assert np.array_equal(decoded, mask)


def test_counts_that_do_not_cover_the_mask_are_refused_with_both_sizes():
    with pytest.raises(CocoRleError, match=r"cover 5 pixels, but the mask is 3 x 2 = 6"):
        rle_decode([2, 3], width=3, height=2)
