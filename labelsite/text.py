"""Words for people: counts with their noun in the right number ("1 error", "2 errors"), and cells
of the CSV files people open in a spreadsheet."""

from __future__ import annotations

from typing import Any


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """`count` and its noun, singular for exactly one: `counted(2, "item")` is "2 items"."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


#: What a spreadsheet takes for the start of a formula ("CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell_safe(value: Any) -> Any:
    """A cell as a spreadsheet may open it: text that would start a formula gets a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
