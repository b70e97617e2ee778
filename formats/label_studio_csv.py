"""Label Studio tasks as CSV or TSV: one task per row, the columns are the task's data keys.

They carry data only, so each row names (or creates, `creates_media`) one URL media: the
column named by the option `image_field`, else the first URL-like cell. The other columns
are kept as the media's metadata. The delimiter is sniffed from the header line (comma,
semicolon or tab, whichever occurs most), as Label Studio does for semicolon files.

Label Studio's CSV / TSV export (a column `annotation_id`, one row per annotation, a column
per control holding its regions as JSON or its answer) carries labels: the rows of one task
are one item, converted by `label_studio.convert` as JSON_MIN rows are.
"""

from __future__ import annotations

import csv
from collections.abc import Generator, Iterator, Mapping
from typing import IO, Any

from formats import label_studio
from formats.jsonsplit import Span
from formats.label_studio import (
    ANNOTATION_OPTION,
    FLAT_ROWS,
    flat_row,
    flat_rows_group,
    media_row,
    options_check,
)
from formats.reading import (
    BOOLEAN_OPTION,
    DATASET_ID_OPTION,
    IMAGE_FIELD_OPTION,
    LABEL_MAPPING_OPTION,
    Converted,
    FileError,
    ImportFormat,
    ItemSchema,
    RawItem,
    lines_bounded,
    not_utf8_check,
    not_utf8_error,
)
from formats.textsplit import lines_numbered, spans_from_starts, text_range
from labeling.annotation import MediaAnnotation, MediaRef
from labelsite.errors import ErrorDetail
from projects.label_config import LabelConfigIndex

ITEM = ItemSchema(
    {"type": "object", "properties": {FLAT_ROWS: {"type": "array"}}, "additionalProperties": {"type": "string"}}
)


def _text_lines(file: IO[bytes], *, first_line: int = 1) -> Generator[str, None, None]:
    """The file's lines as text (each with its line break), a line at most `max_line_bytes()` long;
    `first_line`: the number of the first (a chunk's lines go on the file's numbering)."""
    head = file.read(65536)
    if isinstance(head, str):
        raise TypeError("open the import file in binary mode")
    not_utf8_check(head)
    lines = lines_bounded(file, head=head, fix="Put one row on each line.")
    for number, raw in enumerate(lines, start=first_line):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise not_utf8_error(f"on line {number} ({exc.reason})", f"line {number}") from exc


def csv_rows(reader: Any, *, place: str = "line") -> Iterator[list[str]]:
    """The rows of a `csv.reader` over `_text_lines`; one it cannot read is a located `FileError`.

    csv refuses a cell over `csv.field_size_limit()` (131,072 characters), e.g. one whose
    quote is never closed, which runs over many lines; the row's place is `<place> <number>`.
    """
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            where = f"{place} {reader.line_num + 1}"
            raise FileError(
                ErrorDetail(
                    where,
                    "csv_unreadable",
                    f"The CSV cannot be read at {where}: {exc}. Check the quotes of that row "
                    "(a cell that opens a quote must close it), or shorten the cell.",
                )
            ) from exc
        yield cells


def sniff_delimiter(header: str) -> str:
    counts = {delimiter: header.count(delimiter) for delimiter in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """One item per row, `{column: cell}`, located by its line number; the rows of one task in
    Label Studio's CSV / TSV export (one row per annotation) as one item."""
    return flat_rows_group(_rows(file), csv=True)


def _header(lines: Iterator[str]) -> tuple[str, list[str]]:
    """The delimiter and the column names, from the first line that is not blank."""
    header_line = next((line for line in lines if line.strip()), None)
    if header_line is None:
        raise FileError(ErrorDetail("", "empty_file", "The file is empty; the first line names the columns."))
    delimiter = sniff_delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delimiter))
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates or not all(name.strip() for name in header):
        raise FileError(
            ErrorDetail(
                "line 1",
                "bad_header",
                "Every column needs a unique, non-empty name in the first line"
                + (f"; {', '.join(map(repr, duplicates))} repeat." if duplicates else "."),
            )
        )
    return delimiter, header


def _rows(file: IO[bytes]) -> Iterator[RawItem]:
    return _rows_of(file, Span(byte_start=0, byte_end=-1, item_start=0, item_count=-1))


def _rows_of(file: IO[bytes], span: Span) -> Iterator[RawItem]:
    """The rows of the file, or of one span of it (`byte_end` -1: the whole file)."""
    lines = _text_lines(file)
    delimiter, header = _header(lines)
    if span.byte_end >= 0:
        lines.close()
        lines = _text_lines(text_range(file, span), first_line=span.line_start)
    # A row's line is the reader's count of lines after the header's (as Label Studio numbers them).
    before = span.line_start - 1 if span.byte_end >= 0 else 1
    reader = csv.reader(lines, delimiter=delimiter)
    index = span.item_start
    for cells in csv_rows(reader):
        if not any(cell.strip() for cell in cells):
            continue
        line = reader.line_num + before
        if len(cells) != len(header):
            raise FileError(
                ErrorDetail(
                    f"line {line}",
                    "wrong_cell_count",
                    f"Line {line} has {len(cells)} cells but the header names {len(header)} columns.",
                )
            )
        yield RawItem(index=index, location=f"line {line}", data=dict(zip(header, cells, strict=True)))
        index += 1
    if span.item_count >= 0 and index != span.item_start + span.item_count:
        raise FileError(ErrorDetail("", "chunk_short", "the chunk does not hold its rows"))


def split(file: IO[bytes], *, every: int, options: Mapping[str, Any] | None = None) -> list[Span] | None:
    """Spans of about `every` rows, cut between rows (never inside a quoted cell, nor between two rows
    of one task of Label Studio's CSV export); None keeps the file whole."""
    counter = [0, 0]
    try:
        lines = (
            raw.decode("utf-8-sig" if number == 1 else "utf-8")
            for number, raw in enumerate(lines_numbered(lines_bounded(file, fix=""), counter), start=1)
        )
        delimiter, header = _header(lines)
        reader = csv.reader(lines, delimiter=delimiter)
        starts: list[tuple[int, int, int]] = []
        index, row_start, row_line, due = 0, counter[0], 2, True
        previous: dict[str, str] = {}
        for cells in reader:
            if any(cell.strip() for cell in cells):
                if len(cells) != len(header):
                    return None
                data = dict(zip(header, cells, strict=True))
                one_task = flat_row(previous) and flat_row(data) and previous.get("id") == data.get("id")
                if due and not one_task:
                    starts.append((row_start, row_line, index))
                    due = False
                index += 1
                due = due or index - starts[-1][2] >= every
                previous = data
            row_start, row_line = counter[0], reader.line_num + 2
    except (FileError, UnicodeDecodeError, csv.Error):
        return None
    return spans_from_starts(starts, end=counter[0], items=index)


def read_span(file: IO[bytes], span: Span, *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """The rows of one span (the header read from the file's start), placed by the file's lines."""
    return flat_rows_group(_rows_of(file, span), csv=True)


def convert(
    data: Any,
    config: LabelConfigIndex,
    *,
    index: int = 0,
    match_by: str = "name",
    options: Mapping[str, Any] | None = None,
) -> Converted:
    """The media a row names, and the labels of an export's rows (`label_studio.convert`)."""
    options = options or {}
    if isinstance(data, Mapping) and FLAT_ROWS in data:
        return label_studio.convert(data, config, index=index, match_by=match_by, options=options)
    row, errors = media_row(data, index, options)
    if row is None:
        return Converted(annotation=None, errors=errors)
    row.metadata = {key: value for key, value in data.items() if value != row.url}
    reference = MediaRef(name=row.name, url=row.url)
    return Converted(annotation=MediaAnnotation(media=reference), reference=reference, new_media=row)


FORMAT = ImportFormat(
    name="label_studio_csv",
    label="Label Studio CSV / TSV",
    description="Label Studio tasks as CSV or TSV (comma, semicolon or tab): one image URL per row; other columns "
    "become the media's metadata. Label Studio's CSV / TSV export (one row per annotation, a column per control "
    "holding its regions as JSON or its answer) imports its labels.",
    file_kinds=("csv", "tsv"),
    schema=None,
    item_schema=ITEM,
    read=read,
    convert=convert,
    options={
        "match_by": "name",
        "image_field": None,
        "dataset_id": None,
        "create_media": True,
        "label_mapping": {},
        "annotation": "ground_truth_first",
    },
    option_schemas={
        "image_field": IMAGE_FIELD_OPTION,
        "dataset_id": DATASET_ID_OPTION,
        "create_media": BOOLEAN_OPTION,
        "label_mapping": LABEL_MAPPING_OPTION,
        "annotation": ANNOTATION_OPTION,
    },
    options_check=options_check,
    creates_media=True,
    split=split,
    read_span=read_span,
    takes_options=True,
)
