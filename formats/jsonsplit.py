"""Where the items of a JSON array file start, found without parsing it: for chunked imports.

A streaming parser cannot seek, so chunks of a large file would each have to parse it from
the start. Instead one quick pass over the bytes (numpy, a few MB at a time, memory flat)
tracks strings and nesting and records the byte offset of every `every`-th item of the
top-level array; each chunk then parses only its own byte range (`span_read`).

The pass only splits; it does not validate. When the bytes do not look like one JSON array
(no `[` first, unbalanced brackets, something after the closing `]`), it answers `None` and
the caller parses the file in one piece, which reports the syntax error with its place.
"""

from __future__ import annotations

import io
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

import ijson
import numpy as np
import orjson

from labelsite.jsondepth import MAX_JSON_DEPTH, unescaped_quotes

#: Blocks of the split's pass: three are in memory at once (`_SCAN_AHEAD`), about 80 MB of arrays
#: and copies per 8 MB block; 2 MB blocks split the bench's 187 MB file as fast as 8 MB ones did, in a quarter
#: of the memory (66 MB at the peak, against 244 MB with 8 MB blocks and 107 MB for the serial pass).
BLOCK_BYTES = 2 * 1024 * 1024
READ_BYTES = 1024 * 1024

#: The structural characters as 1, every other byte as 0 (`bytes.translate`: faster than a
#: numpy table lookup per byte).
_STRUCTURAL = bytes(1 if byte in b"[]{}," else 0 for byte in range(256))
_DELTA = np.zeros(256, dtype=np.int64)
_DELTA[list(b"[{")] = 1
_DELTA[list(b"]}")] = -1
_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class Span:
    """Items `item_start .. item_start + item_count - 1`, in bytes `byte_start .. byte_end - 1`."""

    byte_start: int
    byte_end: int
    item_start: int
    item_count: int
    #: Where later parts of the span start (byte offsets in the file, every `part_items`-th
    #: item of `json_array_split`), for a reader that parses a span a part at a time.
    part_starts: tuple[int, ...] = ()
    #: The file's line number of the span's first byte (text files, whose errors name lines).
    line_start: int = 1


class _NotAnArray(Exception):
    pass


def json_array_split(file: IO[bytes], *, every: int, part_items: int | None = None) -> list[Span] | None:
    """Spans of `every` items (the last may hold fewer) of the array in `file`; None if unsure.

    With `part_items` (a divisor of `every`), each span also says where its parts of
    `part_items` items start (`Span.part_starts`): the same pass finds them."""
    if part_items is not None and every % part_items:
        raise ValueError("part_items must divide every")
    try:
        return _split(file, every, part_items or every)
    except _NotAnArray:
        return None


@dataclass(frozen=True, slots=True)
class _Scanned:
    """What a block holds, whatever came before it: its structural characters' positions, how many
    unescaped quotes it has, and for each structural character the parity of the quotes before it
    in the block (None without quotes)."""

    structural: np.ndarray
    quotes: int
    parity: np.ndarray | None


def _scan(data: bytes, trailing_backslashes: int) -> _Scanned:
    block = np.frombuffer(data, dtype=np.uint8)
    quotes = unescaped_quotes(block, trailing_backslashes)
    structural = np.flatnonzero(np.frombuffer(data.translate(_STRUCTURAL), dtype=np.uint8))
    if not len(quotes):
        return _Scanned(structural, 0, None)
    # A running parity of the quotes (a uint8 sum keeps it when it wraps).
    marks = np.zeros(len(block), dtype=np.uint8)
    marks[quotes] = 1
    return _Scanned(structural, len(quotes), np.cumsum(marks, dtype=np.uint8)[structural] & 1)


#: Blocks scanned ahead of the one being read: numpy releases the GIL, so two threads scan
#: while this one follows strings and nesting (1.45 s -> 0.8-0.9 s for the bench's 187 MB here).
_SCAN_AHEAD = 2


def _scanned_blocks(file: IO[bytes]) -> Iterator[tuple[bytes, Future[_Scanned]]]:
    """The file's blocks from where it stands, each with its scan under way in a thread."""
    pending: deque[tuple[bytes, Future[_Scanned]]] = deque()
    with ThreadPoolExecutor(max_workers=_SCAN_AHEAD, thread_name_prefix="json-split") as pool:
        try:
            while True:
                data = file.read(BLOCK_BYTES)
                if not data:
                    break
                pending.append((data, pool.submit(_scan, data, 0)))
                if len(pending) > _SCAN_AHEAD:
                    yield pending.popleft()
            while pending:
                yield pending.popleft()
        finally:
            for _, future in pending:
                future.cancel()


def _split(file: IO[bytes], every: int, step: int) -> list[Span]:
    boundaries: list[int] = []  # byte offsets where items number step, 2*step, ... start
    in_string = False
    depth = 0
    commas = 0  # commas at depth 1 seen: items started after the first = commas
    offset = 3 if file.read(3) == b"\xef\xbb\xbf" else 0  # a byte-order mark is no item's
    file.seek(offset)
    array_start: int | None = None
    array_end: int | None = None
    trailing_backslashes = 0
    for data, scanning in _scanned_blocks(file):
        if array_end is not None:
            if data.strip(_WHITESPACE):
                raise _NotAnArray
            offset += len(data)
            continue
        block = np.frombuffer(data, dtype=np.uint8)
        scanned = scanning.result()
        if trailing_backslashes and data[:1] in (b"\\", b'"'):
            scanned = _scan(data, trailing_backslashes)  # the run before the block escapes its first quote
        structural = scanned.structural
        if scanned.parity is not None:
            # Inside a string where the quotes before it, in the block and before, are odd.
            structural = structural[scanned.parity == int(in_string)]
            in_string = (int(in_string) + scanned.quotes) % 2 == 1
        elif in_string:
            structural = structural[:0]
        stripped = len(data) - len(data.rstrip(b"\\"))
        trailing_backslashes = stripped + (trailing_backslashes if stripped == len(data) else 0)
        if array_start is None:
            head = data.lstrip(_WHITESPACE)
            if not head:
                offset += len(data)
                continue
            if head[:1] != b"[":
                raise _NotAnArray
            array_start = offset + len(data) - len(head) + 1
        chars = block[structural]
        depths = depth + np.cumsum(_DELTA[chars])
        if len(depths) and depths.min() < 0:
            raise _NotAnArray
        if len(depths) and depths.max() > MAX_JSON_DEPTH:
            # Too deep to split: the whole-file reader refuses it, placing the error. So the
            # spans need no depth guard of their own (it cost ~12 % of a chunk's validation).
            raise _NotAnArray
        closed = np.flatnonzero(depths == 0)
        if len(closed):
            last = int(closed[0])
            if chars[last] != ord("]") or data[int(structural[last]) + 1 :].strip(_WHITESPACE):
                raise _NotAnArray
            array_end = offset + int(structural[last])
            chars, depths, structural = chars[:last], depths[:last], structural[:last]
        top_commas = structural[(chars == ord(",")) & (depths == 1)]
        if len(top_commas):
            numbers = np.arange(commas + 1, commas + 1 + len(top_commas))  # the item each comma starts
            starts = top_commas[numbers % step == 0]
            boundaries.extend((offset + starts + 1).tolist())
            commas += len(top_commas)
        if len(depths):
            depth = int(depths[-1])
        offset += len(data)
    if array_start is None or array_end is None or in_string:
        raise _NotAnArray
    if not data_between(array_start, array_end, file):
        raise _NotAnArray  # an empty array: nothing to split
    items = commas + 1
    per_span = every // step
    starts = [array_start, *boundaries[per_span - 1 :: per_span]]
    ends = [*starts[1:], array_end]
    return [
        Span(
            byte_start=start,
            byte_end=end,
            item_start=number * every,
            item_count=min(every, items - number * every),
            part_starts=tuple(boundaries[number * per_span : (number + 1) * per_span - 1]),
        )
        for number, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]


def data_between(start: int, end: int, file: IO[bytes]) -> bool:
    """Whether anything but whitespace lies in bytes `start .. end - 1` (looked at up to 64 bytes)."""
    file.seek(start)
    return bool(file.read(min(end - start, 64)).strip(_WHITESPACE))


def span_bytes(file: IO[bytes], span: Span) -> Iterator[bytes]:
    """The span as a JSON array of its items: `[`, its bytes without the trailing comma, `]`."""
    return _array_bytes(file, span.byte_start, span.byte_end)


def span_part_arrays(file: IO[bytes], span: Span) -> Iterator[bytes]:
    """Each part of the span (`Span.part_starts`) as one JSON array of its items."""
    bounds = [span.byte_start, *span.part_starts, span.byte_end]
    for start, end in itertools.pairwise(bounds):
        yield b"".join(_array_bytes(file, start, end))


def _array_bytes(file: IO[bytes], start: int, end: int) -> Iterator[bytes]:
    file.seek(start)
    left = end - start
    yield b"["
    held = b""
    while left > 0:
        data = file.read(min(READ_BYTES, left))
        if not data:
            break
        left -= len(data)
        if held:
            yield held
        held = data
    held = held.rstrip(_WHITESPACE)
    if held.endswith(b","):
        held = held[:-1]
    yield held
    yield b"]"


class SpanReader:
    """A file-like object over `span_bytes`, for a streaming parser (which reads 64 KB at a time).

    No depth guard: spans come from `json_array_split`, which does not split a file nested
    deeper than `MAX_JSON_DEPTH`."""

    def __init__(self, file: IO[bytes], span: Span) -> None:
        self._parts = span_bytes(file, span)
        self._buffer = b""
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        if self._position >= len(self._buffer):
            self._buffer, self._position = next(self._parts, b""), 0
        if size < 0:
            size = len(self._buffer)
        data = self._buffer[self._position : self._position + size]
        self._position += len(data)
        return data


#: Items per part of a chunk (`split` records where the parts start): about 0.5 MB of JSON,
#: parsed whole by orjson, which reads the bench's items in 60 % of ijson's time.
PART_ITEMS = 250
#: Every digit as "0", every other byte as ".": a run of 19 digits or more is then a plain
#: substring search (`has_long_number`), ten times faster than the regex `[0-9]{19}`.
_DIGITS_AS_ZEROS = bytes(48 if 48 <= byte <= 57 else 46 for byte in range(256))
_LONG_RUN = b"0" * 19


def has_long_number(part: bytes) -> bool:
    """Whether `part` has a run of 19 digits or more: a number orjson and ijson read differently
    (ijson refuses an integer beyond 64 bits, orjson reads one as a float), so it goes to ijson."""
    return _LONG_RUN in part.translate(_DIGITS_AS_ZEROS)


class SpanShort(Exception):
    """The span does not hold the items it was planned with."""


def part_items(part: bytes) -> list[Any]:
    """A part's items, as ijson gives them: by orjson where the two agree, else by ijson
    (which also accepts what orjson refuses, such as a lone surrogate, and words the errors)."""
    if not has_long_number(part):
        try:
            items: list[Any] = orjson.loads(part)
        except orjson.JSONDecodeError:
            pass
        else:
            return items
    return list(ijson.items(io.BytesIO(part), "item", use_float=True))


def span_items(
    file: IO[bytes], span: Span, *, decode_part: Callable[[bytes], list[Any]] = part_items
) -> Iterator[tuple[int, Any]]:
    """(index in the whole file, item) of each item of one span.

    A span split into parts (or small enough to be one) is read a part at a time, each part's
    items by `decode_part` (a format's own decoding, which falls back to `part_items`); other
    spans (chunks planned before parts were recorded) are streamed by ijson. Raises ijson's
    `JSONError` when the span is not valid JSON, `SpanShort` when it holds fewer or more items.
    """
    index = span.item_start
    if span.part_starts or span.item_count <= PART_ITEMS:
        parsed: Iterator[Any] = (data for part in span_part_arrays(file, span) for data in decode_part(part))
    else:
        parsed = ijson.items(SpanReader(file, span), "item", use_float=True)
    for data in parsed:
        yield index, data
        index += 1
    if index != span.item_start + span.item_count:
        raise SpanShort("the chunk does not hold its items")


def item_after(file: IO[bytes], span: Span) -> Any:
    """The item right after the span (the next span's first), or None at the end of the array or
    when it cannot be read (then the next span's own reading says so)."""
    file.seek(span.byte_end)

    class _Reader:
        started = False

        def read(self, size: int = -1) -> bytes:
            if size == 0:  # ijson asks what the file gives: bytes
                return b""
            if not self.started:
                self.started = True
                return b"["
            return file.read(min(size, READ_BYTES) if size > 0 else READ_BYTES)

    try:
        return next(iter(ijson.items(_Reader(), "item", use_float=True)), None)
    except (ijson.JSONError, ValueError):
        return None
