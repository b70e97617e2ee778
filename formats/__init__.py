"""The formats we read and write: one module per format, holding its reader and its writer.

Every module here that defines `FORMAT` (an `ImportFormat`) is an import format, and one that
defines `EXPORT_FORMAT` (or `EXPORT_FORMATS`) an export format; adding a format adds a file
and edits nothing else. Imports (the API, the upload page, the worker, the DataGym v1
facade) and exports ask this registry.

The package is pure: the canonical label model (`labeling.annotation`) and the label
configuration (`projects.label_config`) in and out, no jobs and no queries. `reading` and
`writing` declare what a format is; `codecs/` holds the mask and RLE codecs; `jsonsplit`
splits big JSON arrays into spans; `media_rows` and `mask_sources` are the media rows and
mask files that formats read.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from formats.reading import ImportFormat
from formats.writing import ExportFormat
from labelsite.errors import ValidationFailed

#: Example files of the import formats, offered on the upload page and by the API.
EXAMPLES_DIR = Path(__file__).parent / "examples"
#: Modules of this package that declare no format.
_NOT_FORMATS = frozenset({"reading", "writing", "jsonsplit", "media_rows", "mask_sources"})


@cache
def _formats() -> dict[str, ImportFormat]:
    found: dict[str, ImportFormat] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.ispkg or module_info.name in _NOT_FORMATS or module_info.name.startswith("_"):
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


def format_candidates(*, file_name: str, head: bytes = b"") -> list[ImportFormat]:
    """The formats an upload may be, from its file kind and, when several formats read that
    kind, their `sniff` of its first bytes: those whose sniff recognises it, else the kind's
    general formats (that declare no sniff), else every format of the kind (none recognises
    the file); every format when none reads its kind. One when the format can be told."""
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    of_kind = [fmt for fmt in _formats().values() if extension in fmt.file_kinds]
    if len(of_kind) <= 1:
        return of_kind or format_list()
    sniffed = [fmt for fmt in of_kind if fmt.sniff is not None and fmt.sniff(head)]
    general = [fmt for fmt in of_kind if fmt.sniff is None]
    return sniffed or general or of_kind


def format_detect(*, file_name: str, head: bytes = b"") -> ImportFormat | None:
    """The format of an upload when it can be told (one candidate), else None: never a guess."""
    candidates = format_candidates(file_name=file_name, head=head)
    return candidates[0] if len(candidates) == 1 else None


@cache
def _export_formats() -> dict[str, ExportFormat]:
    found: dict[str, ExportFormat] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.ispkg or module_info.name in _NOT_FORMATS or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        declared = [getattr(module, "EXPORT_FORMAT", None), *getattr(module, "EXPORT_FORMATS", ())]
        for fmt in declared:
            if isinstance(fmt, ExportFormat):
                found[fmt.name] = fmt
    return dict(sorted(found.items()))


def export_format_list() -> list[ExportFormat]:
    """Every format we write (modules that define `EXPORT_FORMAT`, or `EXPORT_FORMATS` for
    variants of one format), by name."""
    return list(_export_formats().values())


def export_format_get(*, name: str) -> ExportFormat:
    try:
        return _export_formats()[name]
    except KeyError:
        known = ", ".join(_export_formats()) or "none"
        raise ValidationFailed(
            code="unknown_format", message=f"Unknown export format {name!r}; use one of: {known}.", params=(name,)
        ) from None
