"""The JSON array splitter (`formats.jsonsplit`): whatever the block size the file is read in, and
wherever a block boundary falls (inside a string, between a backslash and the quote it escapes,
after a byte-order mark), the spans and their parts hold exactly the file's items, in order; what
is not one JSON array is not split."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pytest

from formats import jsonsplit
from formats.jsonsplit import json_array_split, span_bytes, span_part_arrays

#: Strings that trip a splitter that does not follow strings: brackets, commas, escaped quotes,
#: runs of backslashes before a quote, non-ASCII.
TRICKY = ['a"b', "\\", "\\\\", 'x\\"', "[", "]", "{", "}", ",", "},{", '"],["', "é[ü]", "\\u005b", "\U0001f600,"]


def _value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice([rng.choice(TRICKY) * rng.randint(1, 3), rng.randint(-5, 10**6), rng.random(), None, True])
    if roll < 0.65:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(TRICKY) + str(n): _value(rng, depth + 1) for n in range(rng.randint(0, 4))}


def _file(rng: random.Random, items: list[Any]) -> bytes:
    text = json.dumps(items, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, None, 1]))
    return (b"\xef\xbb\xbf" if rng.random() < 0.2 else b"") + text.encode()


@pytest.mark.parametrize("block", [1, 2, 3, 5, 64, 4096])
def test_spans_and_parts_hold_exactly_the_items_whatever_the_block_size(monkeypatch, block):
    monkeypatch.setattr(jsonsplit, "BLOCK_BYTES", block)
    rng = random.Random(block)
    for _ in range(25):
        items = [_value(rng, 0) for _ in range(rng.randint(1, 23))]
        raw = _file(rng, items)

        spans = json_array_split(io.BytesIO(raw), every=4, part_items=2)

        assert spans is not None
        assert [span.item_start for span in spans] == list(range(0, len(items), 4))
        read = []
        for span in spans:
            held = json.loads(b"".join(span_bytes(io.BytesIO(raw), span)))
            assert len(held) == span.item_count
            parts = [json.loads(part) for part in span_part_arrays(io.BytesIO(raw), span)]
            assert [len(part) for part in parts[:-1]] == [2] * (len(parts) - 1)
            assert [item for part in parts for item in part] == held
            read.extend(held)
        assert read == items


@pytest.mark.parametrize("block", [1, 3, 4096])
@pytest.mark.parametrize(
    "raw",
    [b"", b"   ", b"{}", b"[1, 2", b"[1, 2]]", b"[1, 2] x", b'["a", "b]', b"[]", b"[ \n ]", b'["\\"]'],
)
def test_what_is_not_one_array_of_items_is_not_split(monkeypatch, block, raw):
    monkeypatch.setattr(jsonsplit, "BLOCK_BYTES", block)

    assert json_array_split(io.BytesIO(raw), every=1) is None
