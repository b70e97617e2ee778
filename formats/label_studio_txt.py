"""Label Studio tasks as plain text: one task per line, the line is the image URL.

Label Studio stores a line under the placeholder key `$undefined$` and renames it to the
config's only object tag; we store it under the option `image_field` (default `image`).
Lines carry data only, so each names (or creates, `creates_media`) one URL media.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from typing import IO, Any

from formats.jsonsplit import Span
from formats.label_studio_csv import _text_lines
from formats.label_studio_csv import convert as convert_row
from formats.reading import (
    BOOLEAN_OPTION,
    DATASET_ID_OPTION,
    IMAGE_FIELD_OPTION,
    Converted,
    FileError,
    ImportFormat,
    ItemSchema,
    RawItem,
    lines_bounded,
)
from formats.textsplit import spans_from_starts, text_range
from labelsite.errors import ErrorDetail
from projects.label_config import LabelConfigIndex

ITEM = ItemSchema({"type": "object", "additionalProperties": {"type": "string"}})


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    index = yield from _lines(_text_lines(file), options, first_line=1, index=0)
    if index == 0:
        raise FileError(ErrorDetail("", "empty_file", "The file is empty; put one image URL on each line."))


def _lines(
    lines: Iterator[str], options: Mapping[str, Any] | None, *, first_line: int, index: int
) -> Generator[RawItem, None, int]:
    field = (options or {}).get("image_field") or "image"
    for number, line in enumerate(lines, start=first_line):
        if line.strip():
            yield RawItem(index=index, location=f"line {number}", data={field: line.strip()})
            index += 1
    return index


def split(file: IO[bytes], *, every: int, options: Mapping[str, Any] | None = None) -> list[Span] | None:
    """Spans of `every` lines that are not blank; None keeps the file whole."""
    starts: list[tuple[int, int, int]] = []
    offset = index = 0
    try:
        for number, line in enumerate(lines_bounded(file, fix=""), start=1):
            if line.strip():
                if index % every == 0:
                    starts.append((offset, number, index))
                index += 1
            offset += len(line)
    except FileError:
        return None
    return spans_from_starts(starts, end=offset, items=index)


def read_span(file: IO[bytes], span: Span, *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """The lines of one span, numbered and placed as in the whole file."""
    lines = _text_lines(text_range(file, span), first_line=span.line_start)
    index = yield from _lines(lines, options, first_line=span.line_start, index=span.item_start)
    if index != span.item_start + span.item_count:
        raise FileError(ErrorDetail("", "chunk_short", "the chunk does not hold its lines"))


def convert(
    data: Any,
    config: LabelConfigIndex,
    *,
    index: int = 0,
    match_by: str = "name",
    options: Mapping[str, Any] | None = None,
) -> Converted:
    return convert_row(data, config, index=index, match_by=match_by, options=options)


FORMAT = ImportFormat(
    name="label_studio_txt",
    label="Label Studio TXT",
    description="Label Studio tasks as plain text: one image URL per line.",
    file_kinds=("txt",),
    schema=None,
    item_schema=ITEM,
    read=read,
    convert=convert,
    options={"match_by": "name", "image_field": None, "dataset_id": None, "create_media": True},
    option_schemas={"image_field": IMAGE_FIELD_OPTION, "dataset_id": DATASET_ID_OPTION, "create_media": BOOLEAN_OPTION},
    creates_media=True,
    split=split,
    read_span=read_span,
    takes_options=True,
)
