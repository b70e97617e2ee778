"""Where the lines or rows of a text import file (TXT, CSV, TSV) split into chunks of items.

One pass over the file's lines, bounded as the readers read them (`lines_bounded`), records
the byte offset, the line number and the item index where every `every`-th item starts;
each chunk then reads only its own byte range (`text_range`), its items numbered and placed
by line as in the whole file. Anything the pass cannot read (a line too long, a broken quote)
keeps the file whole: its reader then reports the problem with its place.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any

from formats.jsonsplit import Span

READ_BYTES = 1024 * 1024


class _Range(io.RawIOBase):
    """Bytes `start .. end - 1` of `file`."""

    def __init__(self, file: IO[bytes], start: int, end: int) -> None:
        file.seek(start)
        self._file = file
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if self._left <= 0:
            return 0
        data = self._file.read(min(len(target), self._left, READ_BYTES))
        self._left -= len(data)
        target[: len(data)] = data
        return len(data)


def text_range(file: IO[bytes], span: Span) -> IO[bytes]:
    """A file over the span's bytes only."""
    return io.BufferedReader(_Range(file, span.byte_start, span.byte_end), buffer_size=65536)


def spans_from_starts(starts: list[tuple[int, int, int]], *, end: int, items: int) -> list[Span] | None:
    """Spans from the (byte, line, item index) where each starts; None for fewer than two."""
    if len(starts) < 2:
        return None
    bounds = [*starts, (end, 0, items)]
    return [
        Span(byte_start=byte, byte_end=bounds[k + 1][0], item_start=index, item_count=bounds[k + 1][2] - index,
             line_start=line)
        for k, (byte, line, index) in enumerate(starts)
    ]  # fmt: skip


def lines_numbered(lines: Iterator[bytes], counter: list[int]) -> Iterator[bytes]:
    """The lines as they are, counting in `counter` [bytes, lines] what was taken so far."""
    for line in lines:
        counter[0] += len(line)
        counter[1] += 1
        yield line
