"""The rules of a media's global key, shared by the imports that create media (`formats/media_rows.py`)
and the media API that sets a key on an uploaded image (`services.media_keys_update`).

Labelbox's rules: 1-200 characters, no outer whitespace, a restricted character set. Uniqueness
(per organisation, case-insensitive, live media) is the database's `media_unique_live_global_key`.
"""

from __future__ import annotations

import re
from typing import Any

from labelsite.errors import ErrorDetail

GLOBAL_KEY_MAX_LENGTH = 200
_GLOBAL_KEY_RE = re.compile(r"[A-Za-z0-9 !_.*'()&$@=;/:+,?-]+")


def global_key_errors(key: Any, path: str) -> list[ErrorDetail]:
    """What is wrong with a global key by itself (not its uniqueness)."""
    if not isinstance(key, str) or not key:
        return [ErrorDetail(path, "invalid_global_key", "A global key is a non-empty string.")]
    problems = []
    if len(key) > GLOBAL_KEY_MAX_LENGTH:
        problems.append(f"at most {GLOBAL_KEY_MAX_LENGTH} characters (it has {len(key)})")
    if key != key.strip():
        problems.append("no leading or trailing whitespace")
    if not _GLOBAL_KEY_RE.fullmatch(key):
        bad = sorted(set(_GLOBAL_KEY_RE.sub("", key)))
        problems.append(f"only letters, digits, space and ! _ . * ' ( ) & $ @ = ; / : + , ? - (not {''.join(bad)!r})")
    if problems:
        return [ErrorDetail(path, "invalid_global_key", f"Global key {key!r} breaks the rules: {'; '.join(problems)}.")]
    return []
