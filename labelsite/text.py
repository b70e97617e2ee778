"""Words for people: counts with their noun in the right number ("1 error", "2 errors")."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """`count` and its noun, singular for exactly one: `counted(2, "item")` is "2 items"."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"
