"""How deep JSON text nests, measured before anything parses it.

Python's `json` recurses once per level of nesting: 100,000 `[` raise RecursionError (a 500)
after the parser has burnt its stack. One vectorised pass over the bytes (numpy) finds the
quotes no backslash escapes, keeps the brackets outside strings and sums them; nothing is
decoded and memory stays a small multiple of the input. The native API's JSON parser
(`labelsite.parsers`) and the Ango schema converter call it; the import pipeline has its own
streaming guard (`imports.jsonsplit.DepthGuard`) with the same limit.

For text that is valid JSON up to the point where a parser stops, the scan sees exactly the
nesting the parser would: a backslash or quote outside a string is a syntax error there.
"""

from __future__ import annotations

import numpy as np

from labelsite.errors import ErrorDetail, ValidationFailed

#: No request of the native API nests deeper (a label configuration, four entry levels with
#: their options, is about 12); DataGym and Label Studio files stay within it too.
MAX_JSON_DEPTH = 64

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_DELTA = np.zeros(256, dtype=np.int8)
_DELTA[list(b"[{")] = 1
_DELTA[list(b"]}")] = -1


def _unescaped_quotes(block: np.ndarray) -> np.ndarray:
    """Positions of the quotes of `block` that no backslash escapes (an odd run of them does)."""
    quotes = np.flatnonzero(block == _QUOTE)
    backslashes = np.flatnonzero(block == _BACKSLASH)
    if not len(quotes) or not len(backslashes):
        return quotes
    # Runs of consecutive backslashes: where each ends and how long it is.
    breaks = np.flatnonzero(np.diff(backslashes) != 1)
    run_ends = backslashes[np.append(breaks, len(backslashes) - 1)]
    run_starts = backslashes[np.insert(breaks + 1, 0, 0)]
    run_lengths = run_ends - run_starts + 1
    # A quote is escaped when a run ends just before it with an odd length.
    index = np.searchsorted(run_ends, quotes - 1)
    index_in_range = np.minimum(index, len(run_ends) - 1)
    escaped = (run_ends[index_in_range] == quotes - 1) & (run_lengths[index_in_range] % 2 == 1)
    return quotes[~escaped]


def json_depth_exceeded(data: bytes, *, limit: int = MAX_JSON_DEPTH) -> int | None:
    """The byte offset of the first bracket of `data` (UTF-8 JSON) nested deeper than `limit`, or None."""
    block = np.frombuffer(data, dtype=np.uint8)
    delta = _DELTA[block]  # +1 opening, -1 closing, 0 anything else
    if np.count_nonzero(delta) <= limit:
        return None
    quotes = _unescaped_quotes(block)
    if len(quotes):
        # Inside a string from its opening quote to its closing one: brackets there do not nest.
        toggles = np.zeros(len(block), dtype=np.uint8)
        toggles[quotes] = 1
        delta[np.bitwise_xor.accumulate(toggles).view(bool)] = 0
    brackets = np.flatnonzero(delta)
    depths = np.cumsum(delta[brackets], dtype=np.int64)
    too_deep = depths > limit
    if not too_deep.any():
        return None
    return int(brackets[int(np.argmax(too_deep))])


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
