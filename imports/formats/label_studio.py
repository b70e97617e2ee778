"""Label Studio tasks as JSON: a list of tasks or one task (reference/label-studio.md).

A task is `{"data": {...}, "annotations": [...], "predictions": [...]}`; an item without
`data` is all data (no labels). `completions` is the pre-1.0 name of `annotations`.

- Media: the task's image is `data[<image_field>]` (option `image_field`; default the first
  URL-like value of `data`). It matches a media of the project by name (the URL's last part,
  without Label Studio's `8-hex-` upload prefix), and when none matches the pipeline creates
  a URL media from it (`creates_media`).
- Labels: of the annotations, the one marked `ground_truth` (else the first not cancelled)
  becomes our labels; every prediction becomes shapes with source `prediction`, its `score`
  (a region's own `score` wins) and `model_version`. Prediction answers fill only questions
  the annotation leaves unanswered.
- Results: `rectanglelabels` (rotated boxes only onto a polygon class), `polygonlabels`,
  `keypointlabels` map to classes; `choices` and `textarea` to questions, global or, when the
  result's `id` is a region's, to that region's class. Percent coordinates become pixels
  with the result's `original_width` / `original_height`.
- Mapping: option `label_mapping` `{"<from_name>:<value>" or "<value>" or "<from_name>": key}`
  first; then the schema ids `ls:<from_name>:<value>` / `ls:<from_name>` that a configuration
  made from Label Studio XML carries; then a class whose title or key is the value. A label
  the configuration does not have is an error that names it (Label Studio stores it silently).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import ijson

from imports.formats.base import Converted, FileError, ImportFormat, ItemSchema, RawItem, pointer
from imports.jsonsplit import DepthGuard, JsonTooDeep
from imports.media_rows import MediaRow
from labeling.annotation import Answer, MediaAnnotation, MediaRef, Shape, rectangle_points
from labelsite.errors import ErrorDetail
from projects.config_converters import key_from_text, ls_schema_id
from projects.label_config import IndexedEntry, LabelConfigIndex
from projects.models import EntryType

_RESULT = {
    "type": "object",
    "required": ["type", "value"],
    "properties": {
        "type": {"type": "string"},
        "from_name": {"type": "string"},
        "to_name": {"type": "string"},
        "value": {"type": "object"},
        "original_width": {"type": "number", "exclusiveMinimum": 0},
        "original_height": {"type": "number", "exclusiveMinimum": 0},
        "score": {"type": ["number", "null"]},
    },
}
_ANNOTATION = {
    "type": "object",
    "required": ["result"],
    "properties": {
        "result": {"type": "array", "items": _RESULT},
        "ground_truth": {"type": "boolean"},
        "was_cancelled": {"type": "boolean"},
        "score": {"type": ["number", "null"]},
        "model_version": {"type": ["string", "number", "null"]},
    },
}
ITEM_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Label Studio task",
    "type": "object",
    "properties": {
        "data": {"type": "object"},
        "annotations": {"type": "array", "items": _ANNOTATION},
        "completions": {"type": "array", "items": _ANNOTATION},
        "predictions": {"type": "array", "items": _ANNOTATION},
    },
}
ITEM = ItemSchema(ITEM_SCHEMA)

GEOMETRY_RESULTS = {
    "rectanglelabels": EntryType.RECTANGLE.value,
    "polygonlabels": EntryType.POLYGON.value,
    "keypointlabels": EntryType.POINT.value,
}
QUESTION_RESULTS = {"choices", "textarea"}
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


# --- reading ------------------------------------------------------------------------------


def _first_byte(file: IO[bytes]) -> tuple[bytes, bytes]:
    head = file.read(65536)
    if isinstance(head, str):
        raise TypeError("open the import file in binary mode")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    while not head.strip():
        more = file.read(65536)
        if not more:
            raise FileError(ErrorDetail("", "empty_file", "The file is empty; upload a JSON list of tasks."))
        head += more
    return head, head.lstrip()[:1]


class _Prefixed:
    def __init__(self, head: bytes, file: IO[bytes]) -> None:
        self._head, self._file = head, file
        self._guard = DepthGuard()

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        if self._head:
            data, self._head = self._head, b""
        else:
            data = self._file.read(size)
        self._guard.feed(data)
        return data


def json_syntax_error(exc: Exception) -> FileError:
    return FileError(
        ErrorDetail(
            path="file",
            code="json_syntax",
            message=f"The file is not valid JSON: {str(exc).splitlines()[0] if str(exc) else 'invalid JSON'}.",
        )
    )


def read_json_tasks(file: IO[bytes]) -> Iterator[RawItem]:
    """Stream the items of a JSON list, or yield the single object of a one-task file."""
    head, first = _first_byte(file)
    if first == b"{":
        body = head + file.read()
        try:
            DepthGuard().feed(body)
            data = json.loads(body)
        except JsonTooDeep as exc:
            raise json_too_deep_error(exc) from exc
        except ValueError as exc:
            raise json_syntax_error(exc) from exc
        yield RawItem(index=0, location=pointer(0), data=data)
        return
    if first != b"[":
        raise FileError(
            ErrorDetail(
                "line 1",
                "not_tasks",
                f"A Label Studio file holds a JSON list of tasks or one task, but it starts with {first!r}.",
            )
        )
    index = 0
    try:
        for data in ijson.items(_Prefixed(head, file), "item", use_float=True):
            yield RawItem(index=index, location=pointer(index), data=data)
            index += 1
    except ijson.JSONError as exc:
        raise json_syntax_error(exc) from exc
    except JsonTooDeep as exc:
        raise json_too_deep_error(exc) from exc


def json_too_deep_error(exc: JsonTooDeep) -> FileError:
    return FileError(
        ErrorDetail(
            path=f"byte {exc.offset}",
            code="json_too_deep",
            message=f"The file nests deeper than {exc.limit} levels (at byte {exc.offset}); no task is that deep.",
        )
    )


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    return read_json_tasks(file)


def sniff(head: bytes) -> bool:
    text = head[:4096]
    if b"internal_media_ID" in text or b"row_data" in text:
        return False
    return any(key in text for key in (b'"data"', b'"annotations"', b'"completions"', b'"predictions"'))


# --- media ------------------------------------------------------------------------------


def _url_like(value: Any) -> bool:
    if not isinstance(value, str) or not value or "\n" in value:
        return False
    lowered = value.lower().split("?", 1)[0]
    return "://" in value or value.startswith("/") or lowered.endswith(_IMAGE_EXTENSIONS)


def media_name(url: str) -> str:
    """The media name a task's image URL matches: its last path part, without the upload prefix."""
    name = unquote(PurePosixPath(urlsplit(url).path).name) or url
    if "/upload/" in url:
        name = _UPLOAD_PREFIX.sub("", name)
    return name


def task_data(item: Mapping[str, Any]) -> dict[str, Any]:
    data = item.get("data")
    return dict(data) if isinstance(data, Mapping) else dict(item)


def image_reference(data: Mapping[str, Any], image_field: str | None) -> tuple[str, Any]:
    """(the data key, its value) of the task's image."""
    if image_field:
        return image_field, data.get(image_field)
    for key, value in data.items():
        if _url_like(value):
            return key, value
    return "", None


# --- conversion -------------------------------------------------------------------------


def _choices(values: list[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:12])
    return shown + (f" and {len(values) - 12} more" if len(values) > 12 else "") if shown else "none are configured"


class _Converter:
    def __init__(self, config: LabelConfigIndex, options: Mapping[str, Any]) -> None:
        self.config = config
        self.mapping: Mapping[str, str] = options.get("label_mapping") or {}
        self.errors: list[ErrorDetail] = []

    # resolving

    def _mapped(self, *keys: str) -> IndexedEntry | None:
        for key in keys:
            target = self.mapping.get(key)
            if isinstance(target, str):
                entry = self.config.root(target.lower())
                if entry is not None:
                    return entry
        return None

    def geometry_entry(self, from_name: str, value: str, wanted: str, path: str) -> IndexedEntry | None:
        entry = self._mapped(f"{from_name}:{value}", value) or self.config.by_schema_id.get(
            ls_schema_id(from_name, value)
        )
        if entry is None:
            key = key_from_text(value)
            found = [e for e in self.config.roots.values() if e.is_geometry and (e.title == value or e.key == key)]
            typed = [e for e in found if e.type == wanted]
            entry = (typed or found)[0] if (typed or found) else None
        if entry is None:
            known = [e.title for e in self.config.roots.values() if e.is_geometry]
            self.errors.append(
                ErrorDetail(
                    path,
                    "label_not_in_config",
                    f"The label {value!r} (from_name {from_name!r}) is not a class of the project's label "
                    f"configuration; add it, map it with the option label_mapping, or use one of: {_choices(known)}.",
                    params=(value,),
                )
            )
        return entry

    def question_entry(self, from_name: str, path: str, parent: IndexedEntry | None) -> IndexedEntry | None:
        if parent is not None:
            key = (self.mapping.get(from_name) or key_from_text(from_name)).lower()
            child = self.config.child(parent.id, key) or self.config.by_schema_id.get(
                f"{ls_schema_id(from_name)}@{parent.key}"[:64]
            )
            if child is not None and child.is_classification:
                return child
            return None
        entry = self._mapped(from_name) or self.config.by_schema_id.get(ls_schema_id(from_name))
        if entry is None:
            entry = self.config.root(key_from_text(from_name))
        if entry is None or not entry.is_classification or entry.parent_id is not None:
            known = [e.key for e in self.config.roots.values() if e.is_classification]
            self.errors.append(
                ErrorDetail(
                    path,
                    "question_not_in_config",
                    f"The control {from_name!r} is not a question of the project's label configuration; add it, "
                    f"map it with the option label_mapping, or use one of: {_choices(known)}.",
                    params=(from_name,),
                )
            )
            return None
        return entry

    # answers

    def answer(self, entry: IndexedEntry, result: Mapping[str, Any], path: str) -> Answer | None:
        value = result.get("value") or {}
        if entry.type == EntryType.FREETEXT:
            text = value.get("text")
            texts = [text] if isinstance(text, str) else [t for t in (text or []) if isinstance(t, str)]
            answer_text = "\n".join(texts)
            too_long = entry.max_length is not None and len(answer_text) > entry.max_length
            if too_long:
                self.errors.append(
                    ErrorDetail(
                        f"{path}/value/text",
                        "text_too_long",
                        f"The text for {entry.key!r} has {len(answer_text)} characters; at most {entry.max_length}.",
                    )
                )
            return Answer(key=entry.key, value=answer_text or None, schema_id=entry.schema_id)
        given = value.get("choices")
        if not isinstance(given, list) or not all(isinstance(c, str) for c in given):
            self.errors.append(
                ErrorDetail(f"{path}/value/choices", "invalid_choices", "choices is a list of option values.")
            )
            return None
        keys: list[str] = []
        for position, choice in enumerate(given):
            option = next(
                (o for o in entry.options if choice in (o.label, o.key) or o.key == key_from_text(choice)), None
            )
            if option is None:
                self.errors.append(
                    ErrorDetail(
                        f"{path}/value/choices/{position}",
                        "choice_not_in_config",
                        f"{choice!r} is not an option of {entry.key!r}; use one of: "
                        f"{_choices([o.label for o in entry.options])}.",
                        params=(choice,),
                    )
                )
                continue
            keys.append(option.key)
        if entry.type == EntryType.SELECT:
            if len(keys) > 1:
                self.errors.append(
                    ErrorDetail(
                        f"{path}/value/choices",
                        "single_choice",
                        f"{entry.key!r} takes one choice; the result has {len(keys)}.",
                    )
                )
            return Answer(key=entry.key, value=keys[0] if keys else None, schema_id=entry.schema_id)
        return Answer(key=entry.key, value=keys, schema_id=entry.schema_id)

    # geometry

    def shapes(self, result: Mapping[str, Any], path: str, source: str, score: Any, version: str) -> list[Shape]:
        kind = str(result["type"]).lower()
        value = result["value"]
        from_name = str(result.get("from_name") or "")
        width, height = result.get("original_width"), result.get("original_height")
        if not width or not height:
            self.errors.append(
                ErrorDetail(
                    path,
                    "missing_original_size",
                    "A region needs original_width and original_height to turn its percentages into pixels; "
                    "export the tasks from Label Studio with them, or add them to the result.",
                )
            )
            return []
        labels = value.get(kind)
        if not isinstance(labels, list) or not labels:
            self.errors.append(
                ErrorDetail(f"{path}/value/{kind}", "missing_labels", f"A {kind} region names its label in {kind}.")
            )
            return []
        shapes = []
        for position, label in enumerate(labels):
            entry = self.geometry_entry(
                from_name, str(label), GEOMETRY_RESULTS[kind], f"{path}/value/{kind}/{position}"
            )
            if entry is None:
                continue
            points = self.points(kind, value, entry, float(width), float(height), path)
            if points is None:
                continue
            region_score = result.get("score")
            shapes.append(
                Shape(
                    key=entry.key,
                    type=entry.type,
                    points=points,
                    source=source,
                    score=float(region_score) if isinstance(region_score, int | float) else score,
                    model_version=version,
                    schema_id=entry.schema_id,
                    entry_id=entry.id,
                )
            )
        return shapes

    def _numbers(self, value: Mapping[str, Any], names: tuple[str, ...], path: str) -> list[float] | None:
        numbers = []
        for name in names:
            number = value.get(name)
            if isinstance(number, bool) or not isinstance(number, int | float):
                self.errors.append(ErrorDetail(f"{path}/value/{name}", "invalid_number", f"{name} must be a number."))
                return None
            numbers.append(float(number))
        return numbers

    def points(
        self, kind: str, value: Mapping[str, Any], entry: IndexedEntry, width: float, height: float, path: str
    ) -> list[Any] | None:
        def px(x: float, y: float) -> list[float]:
            return [round(x * width / 100, 3), round(y * height / 100, 3)]

        mismatch = ErrorDetail(
            path,
            "geometry_type_mismatch",
            f"A {kind} region cannot be stored in {entry.key!r}, which is a {entry.type}.",
            params=(entry.type,),
        )
        if kind == "rectanglelabels":
            numbers = self._numbers(value, ("x", "y", "width", "height"), path)
            if numbers is None:
                return None
            x, y, w, h = numbers
            rotation = float(value.get("rotation") or 0)
            if entry.type == EntryType.RECTANGLE and rotation % 360 == 0:
                (x1, y1), (x2, y2) = px(x, y), px(x + w, y + h)
                return rectangle_points(x1, y1, x2 - x1, y2 - y1)
            if entry.type == EntryType.POLYGON:
                # Label Studio rotates about the top-left corner, in pixel space.
                x0, y0 = x * width / 100, y * height / 100
                wp, hp = w * width / 100, h * height / 100
                cos, sin = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
                corners = [(0.0, 0.0), (wp, 0.0), (wp, hp), (0.0, hp)]
                return [[round(x0 + cx * cos - cy * sin, 3), round(y0 + cx * sin + cy * cos, 3)] for cx, cy in corners]
            if entry.type == EntryType.RECTANGLE:
                self.errors.append(
                    ErrorDetail(
                        f"{path}/value/rotation",
                        "rotated_rectangle",
                        f"The box is rotated by {rotation:g} degrees; a rectangle class cannot hold it. Map the "
                        "label to a polygon class with the option label_mapping.",
                    )
                )
                return None
            self.errors.append(mismatch)
            return None
        if kind == "polygonlabels":
            if entry.type not in (EntryType.POLYGON, EntryType.LINE):
                self.errors.append(mismatch)
                return None
            raw = value.get("points")
            if not isinstance(raw, list) or not all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(c, int | float) for c in p) for p in raw
            ):
                self.errors.append(ErrorDetail(f"{path}/value/points", "invalid_points", "points is [[x, y], ...]."))
                return None
            fewest = 3 if entry.type == EntryType.POLYGON else 2
            if len(raw) < fewest:
                self.errors.append(
                    ErrorDetail(
                        f"{path}/value/points",
                        "too_few_points",
                        f"A {entry.type} needs at least {fewest} points; this one has {len(raw)}.",
                    )
                )
                return None
            return [px(float(p[0]), float(p[1])) for p in raw]
        if entry.type != EntryType.POINT:
            self.errors.append(mismatch)
            return None
        numbers = self._numbers(value, ("x", "y"), path)
        return None if numbers is None else [px(numbers[0], numbers[1])]

    # one annotation or prediction

    def results(
        self, results: list[Any], path: str, *, source: str, score: Any, version: str
    ) -> tuple[list[Shape], dict[str, Answer]]:
        shapes: list[Shape] = []
        regions: dict[str, Shape] = {}
        answers: dict[str, Answer] = {}
        questions: list[tuple[int, Mapping[str, Any]]] = []
        for position, result in enumerate(results):
            kind = str(result["type"]).lower()
            place = f"{path}/{position}"
            if kind in GEOMETRY_RESULTS:
                made = self.shapes(result, place, source, score, version)
                shapes.extend(made)
                if made and result.get("id") is not None:
                    regions[str(result["id"])] = made[0]
            elif kind in QUESTION_RESULTS:
                questions.append((position, result))
            else:
                self.errors.append(
                    ErrorDetail(
                        f"{place}/type",
                        "unsupported_result",
                        f"Results of type {kind!r} cannot be imported; use rectanglelabels, polygonlabels, "
                        "keypointlabels, choices or textarea.",
                        params=(kind,),
                    )
                )
        for position, result in questions:
            place = f"{path}/{position}"
            from_name = str(result.get("from_name") or "")
            region = regions.get(str(result.get("id"))) if result.get("id") is not None else None
            if region is not None:
                parent = self.config.entries[region.entry_id] if region.entry_id else None
                child = self.question_entry(from_name, place, parent)
                if child is not None:
                    answer = self.answer(child, result, place)
                    if answer is not None:
                        region.answers = [a for a in region.answers if a.key != answer.key] + [answer]
                    continue
            entry = self.question_entry(from_name, f"{place}/from_name", None)
            if entry is not None:
                answer = self.answer(entry, result, place)
                if answer is not None:
                    answers[entry.key] = answer
        return shapes, answers


def _chosen_annotation(annotations: list[Any]) -> int | None:
    for position, annotation in enumerate(annotations):
        if annotation.get("ground_truth") and not annotation.get("was_cancelled"):
            return position
    for position, annotation in enumerate(annotations):
        if not annotation.get("was_cancelled"):
            return position
    return None


def media_row(item: Any, index: int, options: Mapping[str, Any]) -> tuple[MediaRow | None, list[ErrorDetail]]:
    """The media a task names (to match, or to create), or why it names none."""
    data = task_data(item) if isinstance(item, Mapping) else {}
    field_name, url = image_reference(data, options.get("image_field"))
    wrapped = isinstance(item, Mapping) and isinstance(item.get("data"), Mapping)
    path = pointer(index, "data", field_name) if wrapped else pointer(index, field_name)
    if not isinstance(url, str) or not url:
        wanted = f"the field {field_name!r}" if options.get("image_field") else "a URL-like value"
        return None, [
            ErrorDetail(
                path if field_name else pointer(index),
                "missing_image",
                f"The task's data has no image: it needs {wanted}; name the field with the option image_field.",
            )
        ]
    return MediaRow(location=path, url=url, name=media_name(url)), []


def convert(
    data: Any,
    config: LabelConfigIndex,
    *,
    index: int = 0,
    match_by: str = "name",
    options: Mapping[str, Any] | None = None,
) -> Converted:
    """One task as a `MediaAnnotation` for its image, with its located errors."""
    options = options or {}
    row, errors = media_row(data, index, options)
    if row is None:
        return Converted(annotation=None, errors=errors)
    reference = MediaRef(name=row.name, url=row.url)
    converter = _Converter(config, options)
    shapes: list[Shape] = []
    answers: dict[str, Answer] = {}
    if isinstance(data.get("data"), Mapping):
        key = "annotations" if "annotations" in data else "completions"
        annotations = data.get(key) or []
        chosen = _chosen_annotation(annotations)
        if chosen is not None:
            made, answers = converter.results(
                annotations[chosen]["result"],
                pointer(index, key, chosen, "result"),
                source="import",
                score=None,
                version="",
            )
            shapes.extend(made)
        for position, prediction in enumerate(data.get("predictions") or []):
            score = prediction.get("score")
            made, predicted = converter.results(
                prediction["result"],
                pointer(index, "predictions", position, "result"),
                source="prediction",
                score=float(score) if isinstance(score, int | float) else None,
                version=str(prediction.get("model_version") or ""),
            )
            shapes.extend(made)
            for question, answer in predicted.items():
                answers.setdefault(question, answer)
    if converter.errors:
        return Converted(annotation=None, errors=converter.errors, reference=reference, new_media=row)
    annotation = MediaAnnotation(
        media=reference,
        answers=list(answers.values()),
        shapes=shapes,
        keep_data=not options.get("replace", False),
    )
    return Converted(annotation=annotation, reference=reference, new_media=row)


FORMAT = ImportFormat(
    name="label_studio",
    label="Label Studio JSON",
    description=(
        "Label Studio tasks (a JSON list or one task): data with the image URL, annotations or completions and "
        "predictions with rectangles, polygons, keypoints, choices and text."
    ),
    file_kinds=("json",),
    schema=None,
    item_schema=ITEM,
    read=read,
    convert=convert,
    options={"match_by": "name", "image_field": None, "label_mapping": {}, "replace": False, "dataset_id": None},
    sniff=sniff,
    creates_media=True,
    takes_options=True,
)
