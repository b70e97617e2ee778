"""Label Studio's brush RLE (thi.ng rle-pack over RGBA values): known encodings, both ways, and bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from formats.codecs.brush_rle import BrushRleError, rle_decode_mask, rle_encode_mask, rle_encode_values
from formats.codecs.mask_polygons import mask_segmentation, segmentation_crop, segmentation_mask

#: label-studio-converter's own test of its `encode_rle` (tests/test_brush.py): these values
#: encode to these bytes (runs of one value as literals, longer runs repeated).
CONVERTER_VALUES = [1, 1, 1, 1, 2, 3, 5, 6, 7, 8, 4, 4, 4, 4, 4, 4, 4, 4]
CONVERTER_BYTES = [0, 0, 0, 18, 57, 27, 252, 96, 32, 1, 0, 6, 0, 40, 0, 192, 3, 128, 17, 56, 32]


def _bytes(bits: str) -> list[int]:
    bits = bits.replace(" ", "")
    bits += "0" * (-len(bits) % 8)
    return [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]


#: Header: 8 values, word size 8 (7 + 1), run-length fields of 3, 4, 8 and 16 bits.
HEADER_8 = f"{8:032b} 00111 0010 0011 0111 1111"


def test_values_encode_to_the_converters_published_bytes():
    assert rle_encode_values(CONVERTER_VALUES) == CONVERTER_BYTES


def test_a_hand_packed_two_pixel_canvas_with_repeated_and_literal_runs_decodes():
    # RGBA values 0 0 0 255 | 9 9 9 0: pixel 0 is painted (alpha 255), pixel 1 is not.
    rle = _bytes(
        HEADER_8
        + " 1 00 010 00000000"  # 3 times 0
        + " 0 00 000 11111111"  # 1 literal: 255
        + " 1 00 010 00001001"  # 3 times 9
        + " 0 00 000 00000000"  # 1 literal: 0
    )

    assert rle_decode_mask(rle, 2, 1).tolist() == [[True, False]]


def test_a_long_literal_run_is_read_word_by_word():
    # 8 literal values in one run (length field 7): alpha of pixel 0 is 0, of pixel 1 is 1.
    literal = " ".join(f"{v:08b}" for v in (5, 5, 5, 0, 0, 0, 0, 1))
    rle = _bytes(HEADER_8 + " 0 00 111 " + literal)

    assert rle_decode_mask(rle, 1, 2).tolist() == [[False], [True]]


def test_a_mask_encodes_as_the_converter_writes_it_and_decodes_back():
    mask = np.zeros((48, 64), dtype=np.uint8)
    cv2.circle(mask, (30, 20), 15, 1, -1)
    cv2.circle(mask, (30, 20), 5, 0, -1)
    flat_rgba = np.repeat(mask.ravel() * 255, 4)  # the converter's mask2rle input

    encoded = rle_encode_mask(mask.astype(bool))

    assert encoded == rle_encode_values(flat_rgba)
    assert np.array_equal(rle_decode_mask(encoded, 64, 48), mask.astype(bool))


def test_runs_longer_than_the_longest_field_are_split():
    mask = np.ones((300, 300), dtype=bool)  # 360,000 equal values: more than 2**16 in a row

    assert rle_decode_mask(rle_encode_mask(mask), 300, 300).all()


@pytest.mark.parametrize(
    ("rle", "width", "height", "message"),
    [
        (CONVERTER_BYTES, 2, 2, "holds 18 values, but a 2x2 image needs 16"),
        (CONVERTER_BYTES[:9], 3, 1, "holds 18 values"),
        (rle_encode_mask(np.ones((2, 2), dtype=bool))[:7], 2, 2, "ends early"),
        ([0, 0, 1, 300], 1, 1, "list of bytes"),
        ([0, 0, 0, 4], 20_000, 20_000, "larger than"),
    ],
)
def test_a_broken_rle_is_refused_with_the_reason(rle, width, height, message):
    with pytest.raises(BrushRleError, match=message):
        rle_decode_mask(rle, width, height)


def test_a_run_past_the_end_of_the_canvas_is_refused():
    rle = _bytes(f"{4:032b} 00111 0010 0011 0111 1111" + " 1 00 111 11111111")  # 8 values into 4

    with pytest.raises(BrushRleError, match="past the 4 values"):
        rle_decode_mask(rle, 1, 1)


def test_a_traced_mask_paints_back_to_the_same_pixels_holes_and_islands_included():
    mask = np.zeros((60, 80), dtype=np.uint8)
    cv2.rectangle(mask, (5, 5), (60, 50), 1, -1)
    cv2.rectangle(mask, (15, 15), (45, 40), 0, -1)  # a hole
    cv2.circle(mask, (30, 27), 5, 1, -1)  # an island in the hole
    cv2.ellipse(mask, (70, 30), (6, 20), 15, 0, 360, 1, -1)

    rings = mask_segmentation(mask.astype(bool))

    assert len(rings) == 4
    assert np.array_equal(segmentation_mask(rings, 80, 60), mask.astype(bool))


@pytest.mark.parametrize(
    "rings",
    [
        [[[10.5, 8.2], [30.7, 12.5], [20.1, 25.9]]],
        [[[-5, -5], [45, -5], [45, 35], [-5, 35]], [[10, 10], [20, 10], [15, 20]]],  # past the canvas, a hole
    ],
)
def test_a_segmentation_painted_in_its_box_encodes_as_the_whole_canvas_does(rings):
    crop, x0, y0 = segmentation_crop(rings, 40, 30)
    whole = segmentation_mask(rings, 40, 30)

    assert rle_encode_mask(crop, at=(x0, y0), canvas=(40, 30)) == rle_encode_mask(whole)
    assert rle_encode_mask(whole) == rle_encode_values(np.repeat(whole.ravel().astype(np.uint8) * 255, 4))
