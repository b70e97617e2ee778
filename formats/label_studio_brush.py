"""Label Studio's brush exports: one mask per region, as PNG (`BRUSH_TO_PNG`) or NumPy (`BRUSH_TO_NUMPY`).

Label Studio's converter names each mask `task-<task id>-annotation-<annotation id>-by-<annotator>-
<control name>-<label>-<n>.png` (or `.npy`): a grey image or a 2-D array the image's size, painted
where the value is not 0. A file names a task, not an image, so the archive needs the project's
JSON export beside the masks (Label Studio's Export -> JSON, any `.json` in the ZIP): it gives each
task's image and annotations. The whole archive is one job (`archive_reader`), one item per task;
the option `annotation` picks the task's annotation as for JSON (`label_studio.py`), and each of its
masks is traced to one segmentation (`mask_polygons.mask_segmentation`, exact pixel outlines).
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import IO, Any

import numpy as np
from PIL import Image

from formats.codecs.mask_polygons import mask_segmentation
from formats.label_studio import ANNOTATION_OPTION, _chosen_annotation, media_row, options_check
from formats.reading import (
    IMAGE_FIELD_OPTION,
    LABEL_MAPPING_OPTION,
    Converted,
    FileError,
    ImportFormat,
    ItemSchema,
    RawItem,
    SizeCheck,
    not_utf8_check,
    not_utf8_error,
    pointer,
)
from labeling.annotation import MediaAnnotation, MediaRef, Shape
from labelsite.archives import SafeZip
from labelsite.errors import ErrorDetail, ValidationFailed
from projects.config_converters import key_from_text, ls_schema_id
from projects.label_config import IndexedEntry, LabelConfigIndex
from projects.models import EntryType

#: A mask file of Label Studio's brush converter (the annotator is sanitised to letters, digits, @ and .).
MASK_NAME = re.compile(
    r"^task-(?P<task>\d+)-annotation-(?P<annotation>\d+)-by-(?P<by>[^-]*)-(?P<tag>.+)-(?P<n>\d+)\.(?P<ext>png|npy)$"
)
#: The largest mask we decode (as many pixels as a brush RLE canvas may have).
MAX_PIXELS = 100_000_000


def _masks(paths: list[str]) -> list[tuple[str, re.Match[str]]]:
    found = []
    for path in paths:
        match = MASK_NAME.match(PurePosixPath(path).name)
        if match is not None and not PurePosixPath(path).name.startswith("."):
            found.append((path, match))
    return sorted(found, key=lambda pair: pair[0])


def is_brush_archive(paths: list[str]) -> bool:
    return bool(_masks(paths))


def _tasks(archive: SafeZip, paths: list[str]) -> dict[str, dict[str, Any]]:
    """The tasks of the Label Studio JSON exports in the archive, by task id."""
    tasks: dict[str, dict[str, Any]] = {}
    for path in paths:
        if not path.lower().endswith(".json") or PurePosixPath(path).name.startswith("."):
            continue
        content = archive.read(path)
        try:
            not_utf8_check(content)
            data = json.loads(content.decode("utf-8-sig"))
        except FileError as exc:
            raise FileError(ErrorDetail(path, exc.detail.code, f"{path}: {exc.detail.message}")) from exc
        except UnicodeDecodeError as exc:
            raise not_utf8_error(f"in {path} at byte {exc.start}", path) from exc
        except ValueError as exc:
            raise FileError(ErrorDetail(path, "json_syntax", f"{path} is not valid JSON: {exc}.")) from exc
        items = data if isinstance(data, list) else [data]
        for task in items:
            if isinstance(task, dict) and "id" in task and isinstance(task.get("data"), dict):
                tasks[str(task["id"])] = {"data": task["data"], "annotations": task.get("annotations") or []}
    return tasks


def _mask(archive: SafeZip, path: str, extension: str) -> np.ndarray:
    content = archive.read(path)
    try:
        if extension == "npy":
            array = np.load(io.BytesIO(content), allow_pickle=False)
        else:
            with Image.open(io.BytesIO(content)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise ValueError(f"{image.width}x{image.height} is more than {MAX_PIXELS:,} pixels")
                array = np.asarray(image.convert("L"))
    except (OSError, ValueError) as exc:
        raise FileError(
            ErrorDetail(path, "invalid_mask", f"{path} is not a mask Label Studio wrote ({exc}); export it again.")
        ) from exc
    if array.ndim != 2 or array.size > MAX_PIXELS:
        raise FileError(
            ErrorDetail(path, "invalid_mask", f"{path} holds an array of shape {array.shape}; a mask is 2-D.")
        )
    return array != 0


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    """One item per task: its JSON (when the archive has it), and the masks of the annotation
    the option `annotation` picks, traced to rings."""
    options = options or {}
    try:
        archive = SafeZip(file)
    except ValidationFailed as exc:
        raise FileError(*exc.details) from exc
    with archive:
        paths = [entry.path for entry in archive.entries if not entry.path.startswith("__MACOSX/")]
        tasks = _tasks(archive, paths)
        by_task: dict[str, list[tuple[str, re.Match[str]]]] = defaultdict(list)
        for path, match in _masks(paths):
            by_task[match["task"]].append((path, match))
        for index, (task_id, masks) in enumerate(sorted(by_task.items(), key=lambda pair: int(pair[0]))):
            task = tasks.get(task_id)
            annotation_ids = sorted({int(match["annotation"]) for _, match in masks})
            chosen: int | None = annotation_ids[0]
            if task is not None:
                annotations = task["annotations"]
                rule = options.get("annotation", "ground_truth_first")
                position, _ = _chosen_annotation(annotations, rule, lambda *parts, task=task_id: pointer(task, *parts))
                chosen = None if position is None else int(annotations[position].get("id", -1))
            kept = []
            for path, match in masks:
                if int(match["annotation"]) != chosen:
                    continue
                mask = _mask(archive, path, match["ext"])
                kept.append(
                    {
                        "file": path,
                        "tag": match["tag"],
                        "width": int(mask.shape[1]),
                        "height": int(mask.shape[0]),
                        "rings": mask_segmentation(mask),
                    }
                )
            yield RawItem(
                index=index,
                location=masks[0][0],
                data={"task": task_id, "task_data": task["data"] if task else None, "masks": kept},
            )


def _class(config: LabelConfigIndex, tag: str, mapping: Mapping[str, str]) -> IndexedEntry | None:
    """The class of `<control name>-<label>` (either may hold `-`): the first split that names one."""
    parts = tag.split("-")
    for cut in range(1, len(parts)):
        from_name, label = "-".join(parts[:cut]), "-".join(parts[cut:])
        target = mapping.get(f"{from_name}:{label}") or mapping.get(label)
        if isinstance(target, str) and config.root(target.lower()) is not None:
            return config.root(target.lower())
        entry = config.by_schema_id.get(ls_schema_id(from_name, label))
        if entry is not None and entry.parent_id is None:
            return entry
        key = key_from_text(label)
        found = [e for e in config.roots.values() if e.is_geometry and (e.title == label or e.key == key)]
        if found:
            return next((e for e in found if e.type == EntryType.SEGMENTATION), found[0])
    return None


def convert(
    data: Any,
    config: LabelConfigIndex,
    *,
    index: int = 0,
    match_by: str = "name",
    options: Mapping[str, Any] | None = None,
) -> Converted:
    """A task's masks as segmentations of its image."""
    options = options or {}
    first = data["masks"][0]["file"] if data["masks"] else f"task {data['task']}"
    if data["task_data"] is None:
        return Converted(
            annotation=None,
            errors=[
                ErrorDetail(
                    first,
                    "no_task_json",
                    f"The mask files name Label Studio task {data['task']}, not its image: add the project's JSON "
                    "export from Label Studio (Export, JSON) to the ZIP, beside the masks, and upload it again.",
                    params=(data["task"],),
                )
            ],
        )
    row, errors = media_row({"data": data["task_data"]}, index, options)
    if row is None:
        return Converted(annotation=None, errors=errors)
    reference = MediaRef(name=row.name, url=row.url)
    shapes: list[Shape] = []
    size: SizeCheck | None = None
    for mask in data["masks"]:
        entry = _class(config, mask["tag"], options.get("label_mapping") or {})
        if entry is None or entry.type != EntryType.SEGMENTATION:
            known = ", ".join(repr(e.title) for e in config.roots.values() if e.type == EntryType.SEGMENTATION)
            what = (
                "is not a class" if entry is None else f"names {entry.key!r}, a {entry.type}, not a segmentation class"
            )
            errors.append(
                ErrorDetail(
                    mask["file"],
                    "label_not_in_config",
                    f"The mask's control and label {mask['tag']!r} {what} of the project's label configuration; "
                    f"add it, map the label with the option label_mapping, or use one of: {known or 'none'}.",
                    params=(mask["tag"],),
                )
            )
            continue
        if not mask["rings"]:
            errors.append(
                ErrorDetail(
                    mask["file"],
                    "empty_brush",
                    "The mask paints no area (strokes one pixel thin have none); remove the file or paint wider.",
                )
            )
            continue
        size = size or SizeCheck(width=mask["width"], height=mask["height"], path=mask["file"], subject="The mask")
        shapes.append(
            Shape(
                key=entry.key,
                type=entry.type,
                points=mask["rings"],
                schema_id=entry.schema_id,
                entry_id=entry.id,
            )
        )
    if errors:
        return Converted(annotation=None, errors=errors, reference=reference, reference_path=row.location)
    annotation = MediaAnnotation(media=reference, shapes=shapes, keep_data=not options.get("replace", False))
    return Converted(annotation=annotation, reference=reference, reference_path=row.location, size_check=size)


FORMAT = ImportFormat(
    name="label_studio_brush",
    label="Label Studio brush masks (PNG / NumPy)",
    description="Label Studio's BRUSH_TO_PNG or BRUSH_TO_NUMPY export as one ZIP, with the project's JSON export "
    "beside the masks: each mask becomes a segmentation of its task's image.",
    file_kinds=("zip",),
    schema=None,
    item_schema=ItemSchema({"type": "object", "required": ["task", "masks"]}),
    read=read,
    convert=convert,
    options={
        "match_by": "name",
        "image_field": None,
        "label_mapping": {},
        "annotation": "ground_truth_first",
        "replace": False,
    },
    option_schemas={
        "image_field": IMAGE_FIELD_OPTION,
        "label_mapping": LABEL_MAPPING_OPTION,
        "annotation": ANNOTATION_OPTION,
        "replace": {
            "type": "boolean",
            "description": "With true each media's labels are replaced, with false added to.",
        },
    },
    options_check=options_check,
    takes_options=True,
    archive_reader=is_brush_archive,
    nothing_hint="A brush archive holds Label Studio's mask files (task-<id>-annotation-<id>-by-<who>-<control>-"
    "<label>-<n>.png or .npy) and the project's JSON export.",
)
