"""Label Studio tasks as plain text: one task per line, the line is the image URL.

Label Studio stores a line under the placeholder key `$undefined$` and renames it to the
config's only object tag; we store it under the option `image_field` (default `image`).
Lines carry data only, so each names (or creates, `creates_media`) one URL media.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import IO, Any

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
)
from labelsite.errors import ErrorDetail
from projects.label_config import LabelConfigIndex

ITEM = ItemSchema({"type": "object", "additionalProperties": {"type": "string"}})


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    field = (options or {}).get("image_field") or "image"
    index = 0
    for number, line in enumerate(_text_lines(file), start=1):
        if line.strip():
            yield RawItem(index=index, location=f"line {number}", data={field: line.strip()})
            index += 1
    if index == 0:
        raise FileError(ErrorDetail("", "empty_file", "The file is empty; put one image URL on each line."))


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
    takes_options=True,
)
