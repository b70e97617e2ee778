"""Ango Hub's CSV "Import Labels": one row per asset, classification columns and a mask column.

The job's options are the plugin's config JSON, exactly as Ango documents it (seed 004,
reference/labelbox-ango.md section 3.4), checked against `OPTION_SCHEMAS` when the job is created:

- `external_id_column`: the column whose cell is the media's external id (rows match media
  by `Media.external_id`; `match_by` is always `external_id`);
- `classification_columns` / `classification_schema_ids`: paired by position (lists of
  different lengths are refused before any work); the column name need not be the title;
- `mask_column`: a mask per row, an http(s) URL (fetched through the SSRF guard) or a path in
  the storage named by `storage_id` (`LABELSITE_MASK_STORAGES`); an empty cell means no mask;
- `mask_color_mapping`: `"project_colors"` (each segmentation / polygon tool's colour),
  `{"Car": [244, 67, 54]}` (RGB per tool title) or `{"Car": [1]}` (label index in a
  single-channel mask); black / 0 is the background;
- `segmentation_mode`: `instance_segmentation` (one object per connected region of a class:
  touching regions of one class merge) or `semantic_segmentation` (one object per class);
- `polygon_simplification_tolerance`: pixels (shapely `simplify`, topology preserved);
- `overwrite` (default true): replace the media's labels, else add to them;
- `ignored_schema_ids`: classifications and tools left out;
- `upload_batch_size`: rows checked and written per batch.

Every column the config names must be in the header before any row is read. Cells: text
verbatim; radio / single-dropdown need an option value exactly; checkbox / multi-dropdown
split on `;` (Ango's own CSV tooling does), pieces trimmed, empty pieces dropped; an empty
cell is no answer. Errors are located as `row N, column "Name"` (N is the line of the file,
the header is row 1).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import orjson
from django.conf import settings
from PIL import Image, ImageColor, UnidentifiedImageError

from formats.codecs.mask_polygons import (
    UNASSIGNED,
    binary_mask_polygons,
    class_map_from_colours,
    polygon_rings,
    unmapped_colours,
)
from formats.label_studio_csv import _text_lines, csv_rows, sniff_delimiter
from formats.mask_sources import MaskLookup, MaskUnavailable, mask_lookup, mask_png_problem, mask_storage_known
from formats.reading import ARCHIVE_OPTION, Converted, FileError, ImportFormat, ItemSchema, RawItem, SizeCheck
from labeling.annotation import Answer, MediaAnnotation, MediaRef, Shape
from labelsite.errors import ErrorDetail
from projects.label_config import IndexedEntry, LabelConfigIndex
from projects.models import EntryType

MULTI_VALUE_SEPARATOR = ";"
MASK_TOOL_TYPES = (EntryType.SEGMENTATION, EntryType.POLYGON)
INSTANCE, SEMANTIC = "instance_segmentation", "semantic_segmentation"
#: Colours or values listed in an "unmapped" error.
UNMAPPED_SHOWN = 5

#: The plugin's config with its documented defaults (and our fixed `match_by`).
DEFAULTS: dict[str, Any] = {
    "match_by": "external_id",
    "external_id_column": "",
    "classification_columns": [],
    "classification_schema_ids": [],
    "mask_column": "",
    "mask_color_mapping": "project_colors",
    "segmentation_mode": INSTANCE,
    "polygon_simplification_tolerance": 0.1,
    "storage_id": "",
    "overwrite": True,
    "ignored_schema_ids": [],
    "upload_batch_size": 100,
}

_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
#: The plugin's config as JSON schemas, one per field; each `description` says what the field takes
#: (it ends the message of a wrong value). `imports` checks a job's options against them.
OPTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "match_by": {
        "const": "external_id",
        "description": 'Ango CSV rows match media by external id; leave match_by out or give "external_id".',
    },
    "external_id_column": {
        "type": "string",
        "minLength": 1,
        "description": 'Give the name of the CSV column holding the external ids, e.g. "External ID".',
    },
    "classification_columns": {**_STRINGS, "description": 'Give a list of column names, e.g. ["Color", "Category"].'},
    "classification_schema_ids": {
        **_STRINGS,
        "description": "Give a list of classification schemaIds, one per classification column.",
    },
    "mask_column": {
        "type": "string",
        "description": 'Give the name of the column holding mask paths or URLs, or "" for no masks.',
    },
    "mask_color_mapping": {
        "oneOf": [
            {"const": "project_colors"},
            {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0, "maximum": 255},
                    "oneOf": [{"minItems": 3, "maxItems": 3}, {"minItems": 1, "maxItems": 1}],
                },
            },
        ],
        "description": 'Give "project_colors", {"Car": [244, 67, 54]} (RGB per tool title) or {"Car": [1]} '
        "(label index per tool title), values 0-255.",
    },
    "segmentation_mode": {
        "enum": [INSTANCE, SEMANTIC],
        "description": 'Give "instance_segmentation" or "semantic_segmentation".',
    },
    "polygon_simplification_tolerance": {
        "type": "number",
        "minimum": 0,
        "maximum": 100,
        "description": "Give a number of pixels from 0 to 100, e.g. 0.1.",
    },
    "storage_id": {"type": "string", "description": 'Give the id of a configured mask storage, or "" for mask URLs.'},
    "overwrite": {"type": "boolean", "description": "With true each asset's labels are replaced, with false added to."},
    "ignored_schema_ids": {**_STRINGS, "description": "Give a list of schemaIds."},
    "upload_batch_size": {
        "type": "integer",
        "minimum": 1,
        "maximum": 5000,
        "description": "Give a whole number of rows from 1 to 5000, e.g. 100.",
    },
}
CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Ango CSV Import Labels config",
    "type": "object",
    "properties": OPTION_SCHEMAS,
}


def options_check(options: Mapping[str, Any], *, organization_id: Any = None) -> list[ErrorDetail]:
    """What the config's schemas cannot say (each field's type and range is checked against
    `OPTION_SCHEMAS` first): columns and schemaIds pair up, the storage exists."""
    errors: list[ErrorDetail] = []
    columns, schema_ids = options["classification_columns"], options["classification_schema_ids"]
    if len(columns) != len(schema_ids):
        errors.append(
            ErrorDetail(
                path="options.classification_schema_ids",
                code="config_length_mismatch",
                message=f"classification_columns names {len(columns)} column(s) but classification_schema_ids "
                f"gives {len(schema_ids)} schemaId(s); they pair by position, so give one schemaId per column.",
            )
        )
    storage_id = options["storage_id"]
    if storage_id and not mask_storage_known(storage_id, organization_id=organization_id):
        errors.append(
            ErrorDetail(
                path="options.storage_id",
                code="unknown_storage",
                message=f"No mask storage {storage_id!r} is configured for this organisation; "
                'give mask URLs with storage_id "", or ask the operator to add it to LABELSITE_MASK_STORAGES.',
            )
        )
    return errors


# --- reading ------------------------------------------------------------------------------

ITEM = ItemSchema(
    {
        "type": "object",
        "required": ["row", "cells"],
        "properties": {"row": {"type": "integer"}, "cells": {"type": "object"}},
    }
)


def _columns_named(options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(config field, column) of every column the config names."""
    named = [("external_id_column", options.get("external_id_column") or "")]
    named += [
        (f"classification_columns[{i}]", column) for i, column in enumerate(options.get("classification_columns") or [])
    ]
    if options.get("mask_column"):
        named.append(("mask_column", options["mask_column"]))
    return named


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """One item per row, `{"row": line, "cells": {column: cell}}`; the header is checked first."""
    options = {**DEFAULTS, **(options or {})}
    lines = _text_lines(file)
    header_line = next((line for line in lines if line.strip()), None)
    if header_line is None:
        raise FileError(ErrorDetail("row 1", "empty_file", "The file is empty; its first line names the columns."))
    delimiter = sniff_delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delimiter))
    listed = ", ".join(repr(name) for name in header)
    missing = [
        ErrorDetail(
            path=f"options.{config_field}",
            code="column_missing",
            message=f"The column {column!r} ({config_field}) is not in the CSV header; the header has {listed}.",
        )
        for config_field, column in _columns_named(options)
        if column not in header
    ]
    if missing:
        raise FileError(*missing)
    reader = csv.reader(lines, delimiter=delimiter)
    index = 0
    row = 1
    for cells in csv_rows(reader, place="row"):
        row = reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        data: dict[str, Any] = {"row": row, "cells": dict(zip(header, cells, strict=False))}
        if len(cells) != len(header):
            data["cell_count"] = len(cells)
            data["header_count"] = len(header)
        yield RawItem(index=index, location=f"row {row}", data=data)
        index += 1


# --- the plan: the config resolved against the project's configuration, once per job -----------


@dataclass
class _MaskClass:
    entry: IndexedEntry
    ignored: bool


@dataclass
class _Plan:
    id_column: str
    columns: list[tuple[str, IndexedEntry]]
    mask_column: str
    #: Class index (1..) -> its tool; palette: index -> RGB colour, or (value,) in an index mask.
    classes: dict[int, _MaskClass] = field(default_factory=dict)
    palette: dict[int, tuple[int, ...]] = field(default_factory=dict)
    index_mask: bool = False
    semantic: bool = False
    tolerance: float = 0.1
    keep_data: bool = False
    masks: MaskLookup | None = None


def _plan_build(config: LabelConfigIndex, options: Mapping[str, Any]) -> tuple[_Plan, list[ErrorDetail]]:
    ignored = set(options["ignored_schema_ids"])
    errors: list[ErrorDetail] = []
    plan = _Plan(
        id_column=options["external_id_column"],
        columns=[],
        mask_column=options["mask_column"],
        semantic=options["segmentation_mode"] == SEMANTIC,
        tolerance=float(options["polygon_simplification_tolerance"]),
        keep_data=not options["overwrite"],
    )
    pairs = zip(options["classification_columns"], options["classification_schema_ids"], strict=True)
    for position, (column, schema_id) in enumerate(pairs):
        if schema_id in ignored:
            continue
        path = f"options.classification_schema_ids[{position}]"
        entry = config.by_schema_id.get(schema_id)
        problem = None
        if entry is None:
            problem = ("unknown_schema_id", f"No classification of the project has the schemaId {schema_id!r}.")
        elif not entry.is_classification:
            problem = ("not_a_classification", f"{schema_id!r} is the tool {entry.title!r}, not a classification.")
        elif entry.parent_id is not None:
            problem = (
                "nested_classification",
                f"{schema_id!r} ({entry.title!r}) is nested in another category; the CSV import takes top-level "
                "classifications only.",
            )
        if problem is not None:
            errors.append(ErrorDetail(path=path, code=problem[0], message=f"{problem[1]} (column {column!r})"))
        elif entry is not None:
            plan.columns.append((column, entry))
    if plan.mask_column:
        errors.extend(_plan_masks(plan, config, options, ignored))
    return plan, errors


def _plan_masks(
    plan: _Plan, config: LabelConfigIndex, options: Mapping[str, Any], ignored: set[str]
) -> list[ErrorDetail]:
    tools = [entry for entry in config.roots.values() if entry.type in MASK_TOOL_TYPES]
    mapping = options["mask_color_mapping"]
    path = "options.mask_color_mapping"
    errors: list[ErrorDetail] = []
    colours: list[tuple[IndexedEntry, tuple[int, ...]]] = []
    if mapping == "project_colors":
        for tool in tools:
            try:
                colours.append((tool, ImageColor.getrgb(tool.color)[:3]))
            except ValueError:
                continue  # a tool without a (readable) colour takes no pixels
        if not colours:
            errors.append(
                ErrorDetail(
                    path,
                    "no_tool_colours",
                    "No segmentation or polygon tool of the project has a colour; "
                    'give the mapping, e.g. {"Car": [244, 67, 54]}.',
                )
            )
    else:
        names = ", ".join(repr(tool.title) for tool in tools) or "none"
        for title, value in mapping.items():
            found = [tool for tool in tools if tool.title == title]
            if len(found) != 1:
                what = "Several segmentation or polygon tools are" if found else "No segmentation or polygon tool is"
                errors.append(
                    ErrorDetail(f"{path}.{title}", "unknown_title", f"{what} titled {title!r}; the tools are {names}.")
                )
            else:
                colours.append((found[0], tuple(value)))
        if len({len(value) for value in mapping.values()}) > 1:
            errors.append(
                ErrorDetail(
                    path,
                    "mixed_mapping",
                    "Give every class an RGB colour [r, g, b], or every class an index [i]; not both.",
                )
            )
    seen: dict[tuple[int, ...], str] = {}
    for tool, colour in colours:
        if not any(colour):
            errors.append(
                ErrorDetail(
                    f"{path}.{tool.title}",
                    "background_colour",
                    f"{list(colour)} is the background (black / 0); give {tool.title!r} another colour or index.",
                )
            )
        elif colour in seen:
            errors.append(
                ErrorDetail(
                    f"{path}.{tool.title}",
                    "duplicate_colour",
                    f"{tool.title!r} and {seen[colour]!r} have the "
                    f"same colour {list(colour)}; give each class its own.",
                )
            )
        seen.setdefault(colour, tool.title)
    for number, (tool, colour) in enumerate(colours, start=1):
        plan.classes[number] = _MaskClass(entry=tool, ignored=tool.schema_id in ignored)
        plan.palette[number] = colour
    plan.index_mask = bool(colours) and all(len(colour) == 1 for _, colour in colours)
    try:
        plan.masks = mask_lookup(storage_id=options["storage_id"], archive=options.get(ARCHIVE_OPTION) or "")
    except MaskUnavailable as exc:
        errors.append(ErrorDetail("options.storage_id", "unknown_storage", str(exc)))
    return errors


#: The last job's plan (a worker runs one job's items at a time): (config, options, plan).
_last_plan: tuple[LabelConfigIndex, bytes, _Plan] | None = None


def _plan(config: LabelConfigIndex, options: Mapping[str, Any]) -> _Plan:
    """The plan of a job, built at its first row; a config that does not fit the project stops
    the job there with every problem, before any row is converted."""
    global _last_plan
    key = orjson.dumps(dict(options), option=orjson.OPT_SORT_KEYS)
    if _last_plan is not None and _last_plan[0] is config and _last_plan[1] == key:
        return _last_plan[2]
    plan, errors = _plan_build(config, options)
    if errors:
        raise FileError(*errors)
    _last_plan = (config, key, plan)
    return plan


# --- one row ---------------------------------------------------------------------------------


def place(row: int, column: str) -> str:
    return f'row {row}, column "{column}"'


class _Row:
    def __init__(self, plan: _Plan, row: int, cells: Mapping[str, str]) -> None:
        self.plan = plan
        self.row = row
        self.cells = cells
        self.errors: list[ErrorDetail] = []
        self.size: SizeCheck | None = None

    def error(self, column: str, code: str, message: str) -> None:
        self.errors.append(ErrorDetail(place(self.row, column), code, f"Row {self.row}, column {column!r}: {message}"))

    def answers(self) -> list[Answer]:
        answers = []
        for column, entry in self.plan.columns:
            cell = self.cells.get(column) or ""
            if not cell.strip():
                continue  # an empty cell is no answer
            if entry.type == EntryType.FREETEXT:
                if entry.max_length is not None and len(cell) > entry.max_length:
                    self.error(column, "text_too_long", f"{entry.title!r} takes at most {entry.max_length} characters.")
                    continue
                answers.append(Answer(key=entry.key, value=cell, schema_id=entry.schema_id))
                continue
            pieces = [cell.strip()]
            if entry.type == EntryType.CHECKLIST:
                pieces = [piece.strip() for piece in cell.split(MULTI_VALUE_SEPARATOR) if piece.strip()]
            keys = []
            for piece in pieces:
                option = next((o for o in entry.options if o.label == piece), None)
                if option is None:
                    allowed = ", ".join(repr(o.label) for o in entry.options)
                    split = " (several values are separated by ';')" if entry.type == EntryType.CHECKLIST else ""
                    self.error(
                        column,
                        "unknown_answer",
                        f"{piece!r} is not an option of {entry.title!r}; use {allowed}{split}.",
                    )
                else:
                    keys.append(option.key)
            if len(keys) == len(pieces):
                value: Any = keys if entry.type == EntryType.CHECKLIST else keys[0]
                answers.append(Answer(key=entry.key, value=value, schema_id=entry.schema_id))
        return answers

    def shapes(self) -> list[Shape]:
        column = self.plan.mask_column
        reference = (self.cells.get(column) or "").strip() if column else ""
        if not reference or self.plan.masks is None:
            return []
        try:
            content = self.plan.masks.read(reference)
        except MaskUnavailable as exc:
            self.error(column, "mask_unavailable", str(exc))
            return []
        not_png = mask_png_problem(content)
        if not_png:
            self.error(column, "mask_not_png", f"{reference!r} is {not_png}.")
            return []
        try:
            with Image.open(io.BytesIO(content), formats=["PNG"]) as image:
                # Judged by the header, before the pixels are decoded (a small PNG can unpack huge).
                limit = int(settings.LABELSITE_MAX_IMAGE_PIXELS)
                if image.width * image.height > limit:
                    self.error(
                        column,
                        "mask_too_large",
                        f"{reference!r} is {image.width}x{image.height} pixels; "
                        f"masks and images have at most {limit} pixels (LABELSITE_MAX_IMAGE_PIXELS).",
                    )
                    return []
                image.load()
                classes = self._classes(image, column)
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            self.error(column, "mask_unreadable", f"{reference!r} is not a readable PNG mask ({exc}).")
            return []
        if classes is None:
            return []
        height, width = classes.shape
        self.size = SizeCheck(
            width=width, height=height, path=place(self.row, column), subject=f"The mask {reference!r}"
        )
        return self._traced(classes)

    def _classes(self, image: Image.Image, column: str) -> np.ndarray | None:
        plan = self.plan
        if plan.index_mask:
            if image.mode not in ("L", "P", "I", "I;16", "1"):
                self.error(
                    column,
                    "mask_not_indexed",
                    f"mask_color_mapping gives label indices, so the mask must be "
                    f"single-channel (grayscale or palette); this one is {image.mode}.",
                )
                return None
            values = np.asarray(image).astype(np.int64)
            classes = np.full(values.shape, UNASSIGNED, dtype=np.int32)
            for number, (value,) in plan.palette.items():
                classes[values == value] = number
            stray = values[(classes == UNASSIGNED) & (values != 0)]
            if stray.size:
                found, counts = np.unique(stray, return_counts=True)
                listed = ", ".join(f"{v} ({c} px)" for v, c in zip(found[:UNMAPPED_SHOWN], counts, strict=False))
                self.error(
                    column,
                    "unmapped_colour",
                    f"the mask has values no class is mapped to: {listed}; add them "
                    "to mask_color_mapping or paint them 0.",
                )
                return None
            return classes
        rgb = np.asarray(image.convert("RGB"))
        unmapped = unmapped_colours(rgb, plan.palette)
        if unmapped:
            top = sorted(unmapped.items(), key=lambda item: -item[1])[:UNMAPPED_SHOWN]
            listed = ", ".join(f"{list(colour)} ({count} px)" for colour, count in top)
            self.error(
                column,
                "unmapped_colour",
                f"the mask has colours no class is mapped to: {listed}; add them to "
                "mask_color_mapping or paint them black.",
            )
            return None
        classes, _blended = class_map_from_colours(rgb, plan.palette)
        return classes

    def _traced(self, classes: np.ndarray) -> list[Shape]:
        shapes: list[Shape] = []
        for number, mask_class in self.plan.classes.items():
            if mask_class.ignored:
                continue
            entry = mask_class.entry
            polygons = binary_mask_polygons(classes == number, tolerance=self.plan.tolerance)
            if not polygons:
                continue
            objects: list[Any]
            if entry.type == EntryType.POLYGON:
                # A polygon has no holes: one polygon per region, its outline only.
                objects = [polygon_rings(polygon)[0] for polygon in polygons]
            elif self.plan.semantic:
                objects = [[ring for polygon in polygons for ring in polygon_rings(polygon)]]
            else:
                objects = [polygon_rings(polygon) for polygon in polygons]
            shapes.extend(
                Shape(key=entry.key, type=entry.type, points=points, schema_id=entry.schema_id, entry_id=entry.id)
                for points in objects
            )
        return shapes


def convert(
    data: Any,
    config: LabelConfigIndex,
    *,
    index: int = 0,
    match_by: str = "external_id",
    options: Mapping[str, Any] | None = None,
) -> Converted:
    """One row as a `MediaAnnotation` of the media with its external id."""
    plan = _plan(config, {**DEFAULTS, **(options or {})})
    row_number, cells = int(data["row"]), data["cells"]
    row = _Row(plan, row_number, cells)
    if "cell_count" in data:
        row.errors.append(
            ErrorDetail(
                f"row {row_number}",
                "wrong_cell_count",
                f"Row {row_number} has {data['cell_count']} cells but the header names {data['header_count']} columns.",
            )
        )
        return Converted(annotation=None, errors=row.errors)
    external_id = (cells.get(plan.id_column) or "").strip()
    if not external_id:
        row.error(plan.id_column, "external_id_missing", "the external id is empty; every row names its media.")
        return Converted(annotation=None, errors=row.errors)
    reference = MediaRef(external_id=external_id)
    answers = row.answers()
    shapes = row.shapes()
    common: dict[str, Any] = {"reference": reference, "reference_path": place(row_number, plan.id_column)}
    if row.errors:
        return Converted(annotation=None, errors=row.errors, **common)
    annotation = MediaAnnotation(media=reference, answers=answers, shapes=shapes, keep_data=plan.keep_data)
    return Converted(annotation=annotation, size_check=row.size, **common)


FORMAT = ImportFormat(
    name="ango_csv",
    label="Ango Hub CSV (Import Labels)",
    description="Ango Hub's Import Labels CSV: one row per asset matched by external id, classification columns "
    "paired with schemaIds, masks (URL or storage path) traced to polygons; the plugin's config JSON as options.",
    file_kinds=("csv",),
    schema=None,
    item_schema=ITEM,
    read=read,
    convert=convert,
    options=dict(DEFAULTS),
    # Chosen by name only: its columns say nothing that tells it from other CSVs, and it needs its config.
    sniff=lambda head: False,
    takes_options=True,
    option_schemas=OPTION_SCHEMAS,
    options_check=options_check,
    batch_option="upload_batch_size",
)
