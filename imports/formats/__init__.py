"""The registry of import formats: one module per format in this package.

Every module here that defines `FORMAT` (an `ImportFormat`) is a format; adding a format
adds a file and edits nothing else. The API, the upload page, the worker and the DataGym
v1 facade all ask this registry.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from imports.formats.base import ImportFormat
from labelsite.errors import ValidationFailed


@cache
def _formats() -> dict[str, ImportFormat]:
    found: dict[str, ImportFormat] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name == "base" or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        declared = getattr(module, "FORMAT", None)
        if isinstance(declared, ImportFormat):
            found[declared.name] = declared
    return dict(sorted(found.items()))


def format_list() -> list[ImportFormat]:
    return list(_formats().values())


def format_get(*, name: str) -> ImportFormat:
    try:
        return _formats()[name]
    except KeyError:
        known = ", ".join(_formats()) or "none"
        raise ValidationFailed(
            code="unknown_format", message=f"Unknown import format {name!r}; use one of: {known}.", params=(name,)
        ) from None
