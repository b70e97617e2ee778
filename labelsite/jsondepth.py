"""How deep JSON text nests, measured before anything parses it.

Python's `json` recurses once per level of nesting: 100,000 `[` raise RecursionError (a 500)
after the parser has burnt its stack. One vectorised pass over the bytes (numpy) finds the
quotes no backslash escapes, keeps the brackets outside strings and sums them; nothing is
decoded and memory stays a small multiple of the input. The native API's JSON parser
(`labelsite.parsers`) and the Ango schema converter check whole bodies (`json_depth_check`);
the import readers feed a `DepthGuard` chunk by chunk in front of their streaming parser, and
the JSON splitter (`formats.jsonsplit`) finds strings with the same `unescaped_quotes`.

For text that is valid JSON up to the point where a parser stops, the scan sees exactly the
nesting the parser would: a backslash or quote outside a string is a syntax error there.
"""

from __future__ import annotations

import numpy as np

from labelsite.errors import ErrorDetail, ValidationFailed

#: No request of the native API nests deeper (a label configuration, four entry levels with
#: their options, is about 12); DataGym's deepest legitimate item is about 20 levels. ijson's C
#: backend builds a prefix string per level, so its memory grows with the square of the depth:
#: an import file nested 100,000 levels deep would take tens of GB before it failed.
MAX_JSON_DEPTH = 64

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_DELTA = np.zeros(256, dtype=np.int8)
_DELTA[list(b"[{")] = 1
_DELTA[list(b"]}")] = -1


def unescaped_quotes(block: np.ndarray, trailing_backslashes: int = 0) -> np.ndarray:
    """Positions of the quotes of `block` that no backslash escapes (an odd run of them does).

    `trailing_backslashes`: how many backslashes ended the bytes before `block`, for text read
    in chunks (they belong to the run that starts `block`)."""
    quotes = np.flatnonzero(block == _QUOTE)
    if not len(quotes):
        return quotes
    escaped = np.zeros(len(quotes), dtype=bool)
    backslashes = np.flatnonzero(block == _BACKSLASH)
    if len(backslashes):
        # Runs of consecutive backslashes: where each ends and how long it is.
        breaks = np.flatnonzero(np.diff(backslashes) != 1)
        run_ends = backslashes[np.append(breaks, len(backslashes) - 1)]
        run_starts = backslashes[np.insert(breaks + 1, 0, 0)]
        run_lengths = run_ends - run_starts + 1
        if run_starts[0] == 0:
            run_lengths[0] += trailing_backslashes
        # A quote is escaped when a run ends just before it with an odd length.
        index = np.minimum(np.searchsorted(run_ends, quotes - 1), len(run_ends) - 1)
        escaped = (run_ends[index] == quotes - 1) & (run_lengths[index] % 2 == 1)
    if trailing_backslashes % 2 and quotes[0] == 0:
        escaped[0] = True
    return quotes[~escaped]


class JsonTooDeep(ValueError):
    """The bytes nest deeper than the limit; `offset` is where the limit was passed."""

    def __init__(self, offset: int, limit: int) -> None:
        super().__init__(f"nested deeper than {limit} levels at byte {offset}")
        self.offset = offset
        self.limit = limit


class DepthGuard:
    """Tracks the nesting of JSON bytes fed chunk by chunk, outside strings, with numpy.

    Put it in front of a streaming parser: `feed` each chunk before the parser sees it.
    """

    def __init__(self, limit: int = MAX_JSON_DEPTH) -> None:
        self.limit = limit
        self._depth = 0
        self._in_string = False
        self._trailing_backslashes = 0
        self._offset = 0

    def feed(self, data: bytes) -> None:
        if not data:
            return
        block = np.frombuffer(data, dtype=np.uint8)
        quotes = unescaped_quotes(block, self._trailing_backslashes)
        brackets = np.flatnonzero(_DELTA[block] != 0)
        if len(quotes):
            outside = (np.searchsorted(quotes, brackets) + int(self._in_string)) % 2 == 0
            brackets = brackets[outside]
            self._in_string = (int(self._in_string) + len(quotes)) % 2 == 1
        elif self._in_string:
            brackets = brackets[:0]
        stripped = len(data) - len(data.rstrip(b"\\"))
        self._trailing_backslashes = stripped + (self._trailing_backslashes if stripped == len(data) else 0)
        if len(brackets):
            depths = self._depth + np.cumsum(_DELTA[block[brackets]], dtype=np.int64)
            if int(depths.max()) > self.limit:
                position = int(brackets[int(np.argmax(depths > self.limit))])
                raise JsonTooDeep(self._offset + position, self.limit)
            self._depth = int(depths[-1])
        self._offset += len(data)


def json_depth_exceeded(data: bytes, *, limit: int = MAX_JSON_DEPTH) -> int | None:
    """The byte offset of the first bracket of `data` (UTF-8 JSON) nested deeper than `limit`, or None."""
    if np.count_nonzero(_DELTA[np.frombuffer(data, dtype=np.uint8)]) <= limit:
        return None  # too few brackets to nest that deep, wherever they are
    try:
        DepthGuard(limit).feed(data)
    except JsonTooDeep as exc:
        return exc.offset
    return None


def json_depth_check(data: bytes | str, *, path: str = "", limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON text nested deeper than `limit` with `json_too_deep`, located at `path`."""
    offset = json_depth_exceeded(data.encode() if isinstance(data, str) else data, limit=limit)
    if offset is None:
        return
    message = f"The JSON is nested deeper than {limit} levels (at byte {offset}); no request needs that many."
    raise ValidationFailed(
        code="json_too_deep",
        message=message,
        details=[ErrorDetail(path=path, code="json_too_deep", message=message)],
        params=(limit, offset),
    )
