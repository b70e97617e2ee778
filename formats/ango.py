"""Ango Hub label JSON (the "Ango Import Format"): a list with one element per asset.

An element names its asset by `externalId` (every media with that external id gets the
labels), `data` (the asset URL or file name) or `assetId` (our media id); each element is
matched by the kind the option `match_by` names when it carries it, else by the one it carries
(`externalId`, then `assetId`, then `data`), so one file may mix them. Its `objects` and
`classifications` (also accepted under `answer: {objects, classifications}`) name categories
by `schemaId`, kept verbatim from the category schema
(`projects.config_converters.ango_schema_to_entries`), or by `title` only when that title is
unique. Geometry is in pixels: `bounding-box {x, y, width, height}`, `polygon` / `polyline`
`[[x, y], ...]`, `point [x, y]`, `segmentation {zones: [{region, holes}]}`. A classification's
`answer` is the option *value* (a list for checkbox and multi-dropdown), or the text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import IO, Any

import orjson

from formats.label_studio import media_name, read_json_tasks
from formats.reading import BOOLEAN_OPTION, Converted, ImportFormat, ItemSchema, RawItem, pointer
from formats.writing import ExportFormat, ExportItem, ExportSource, points_flat, ring_holds, ring_shells, rings_of
from labeling.annotation import Answer, MediaAnnotation, MediaRef, Shape, rectangle_hull, rectangle_points
from labelsite.errors import ErrorDetail
from projects.label_config import IndexedEntry, LabelConfigIndex
from projects.models import EntryType

_CATEGORY = {"type": "object", "properties": {"schemaId": {"type": "string"}, "title": {"type": "string"}}}
ITEM_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Ango label import element",
    "type": "object",
    "anyOf": [{"required": ["externalId"]}, {"required": ["data"]}, {"required": ["assetId"]}],
    "properties": {
        "externalId": {"type": "string"},
        "data": {"type": "string"},
        "assetId": {"type": "string"},
        "objects": {"type": "array", "items": _CATEGORY},
        "classifications": {"type": "array", "items": _CATEGORY},
        "answer": {"type": "object"},
    },
}
ITEM = ItemSchema(ITEM_SCHEMA)
_GEOMETRY_KEYS = {
    "bounding-box": EntryType.RECTANGLE,
    "polygon": EntryType.POLYGON,
    "polyline": EntryType.LINE,
    "point": EntryType.POINT,
    "segmentation": EntryType.SEGMENTATION,
}


def read(file: IO[bytes], *, options: Mapping[str, Any] | None = None) -> Iterator[RawItem]:
    return read_json_tasks(file)


def sniff(head: bytes) -> bool:
    text = head[:4096]
    # An element names its asset by externalId or assetId, or by `data` and its categories by schemaId.
    named = b'"externalId"' in text or b'"assetId"' in text or (b'"data"' in text and b'"schemaId"' in text)
    return named and b'"dataRow"' not in text


def _xy_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(c, int | float) for c in p) for p in value
    )


class _Converter:
    def __init__(self, config: LabelConfigIndex, index: int) -> None:
        self.config = config
        self.index = index
        self.errors: list[ErrorDetail] = []

    def error(self, parts: tuple[object, ...], code: str, message: str) -> None:
        self.errors.append(ErrorDetail(pointer(self.index, *parts), code, message))

    def category(
        self, obj: Mapping[str, Any], candidates: list[IndexedEntry], parts: tuple[object, ...]
    ) -> IndexedEntry | None:
        schema_id, title = obj.get("schemaId"), obj.get("title")
        if isinstance(schema_id, str) and schema_id:
            found = next((e for e in candidates if e.schema_id == schema_id), None)
            if found is None:
                self.error((*parts, "schemaId"), "unknown_schema_id",
                           f"No category of the project has the schemaId {schema_id!r}.")  # fmt: skip
            return found
        matches = [e for e in candidates if e.title == title]
        if len(matches) == 1:
            return matches[0]
        code, message = (
            ("ambiguous_title", f"Several categories are titled {title!r}; name this one by its schemaId.")
            if matches
            else ("unknown_title", f"No category of the project is titled {title!r}; give its schemaId.")
        )
        self.error(parts, code, message)
        return None

    def answer(self, entry: IndexedEntry, obj: Mapping[str, Any], parts: tuple[object, ...]) -> Answer:
        given = obj.get("answer")
        value: Any = None
        if entry.type == EntryType.FREETEXT:
            if isinstance(given, str):
                value = given
            else:
                self.error((*parts, "answer"), "wrong_answer_type", f"{entry.title!r} is a text question; answer text.")
        else:
            values = given if isinstance(given, list) else [given]
            if entry.type == EntryType.SELECT and isinstance(given, list):
                self.error((*parts, "answer"), "wrong_answer_type", f"{entry.title!r} takes one option value.")
            keys = []
            for position, item in enumerate(values):
                option = next((o for o in entry.options if item in (o.label, o.key)), None)
                if option is None:
                    labels = ", ".join(repr(o.label) for o in entry.options)
                    place = (*parts, "answer", position) if isinstance(given, list) else (*parts, "answer")
                    self.error(place, "unknown_answer", f"{item!r} is not an option of {entry.title!r}; use {labels}.")
                else:
                    keys.append(option.key)
            value = keys if entry.type == EntryType.CHECKLIST else (keys[0] if keys else None)
        children = self.answers(entry, obj.get("classifications"), (*parts, "classifications"))
        return Answer(key=entry.key, value=value, answers=children, schema_id=entry.schema_id)

    def answers(self, parent: IndexedEntry | None, given: Any, parts: tuple[object, ...]) -> list[Answer]:
        if not given:
            return []
        questions = (
            [e for e in self.config.roots.values() if e.is_classification]
            if parent is None
            else [c for c in self.config.children_of(parent.id) if c.is_classification]
        )
        answers = []
        for position, obj in enumerate(given):
            entry = self.category(obj, questions, (*parts, position))
            if entry is not None:
                answers.append(self.answer(entry, obj, (*parts, position)))
        return answers

    def shape(self, obj: Mapping[str, Any], parts: tuple[object, ...]) -> Shape | None:
        entry = self.category(obj, [e for e in self.config.roots.values() if e.is_geometry], parts)
        if entry is None:
            return None
        kinds = [k for k in _GEOMETRY_KEYS if k in obj]
        if kinds != [k for k, t in _GEOMETRY_KEYS.items() if t == entry.type]:
            message = f"{entry.title!r} is a {entry.type} tool; give its geometry under its own key only."
            self.error(parts, "wrong_geometry", message)
            return None
        kind, value = kinds[0], obj[kinds[0]]
        points: Any = None
        if (
            kind == "bounding-box"
            and isinstance(value, Mapping)
            and all(isinstance(value.get(k), int | float) for k in ("x", "y", "width", "height"))
        ):
            points = rectangle_points(value["x"], value["y"], value["width"], value["height"])
        elif kind in ("polygon", "polyline") and _xy_list(value) and len(value) >= (3 if kind == "polygon" else 2):
            points = value
        elif kind == "point" and _xy_list([value]):
            points = [value]
        elif kind == "segmentation" and isinstance(value, Mapping) and isinstance(value.get("zones"), list):
            points = []
            for zone in value["zones"]:
                rings = [zone.get("region"), *(zone.get("holes") or [])] if isinstance(zone, Mapping) else [None]
                if not all(_xy_list(r) and len(r or ()) >= 3 for r in rings):
                    points = None
                    break
                points.extend(rings)
        if not points:
            self.error((*parts, kind), "invalid_geometry", f"The {kind} of {entry.title!r} is not valid Ango geometry.")
            return None
        return Shape(
            key=entry.key,
            type=entry.type,
            points=points,
            answers=self.answers(entry, obj.get("classifications"), (*parts, "classifications")),
            schema_id=entry.schema_id,
            entry_id=entry.id,
        )


#: match_by -> the element's key that names the asset that way, in the order an element's own
#: reference is taken when it lacks the job's kind (the pipeline's `match_by_item`).
_REFERENCE_KEYS = {"external_id": "externalId", "id": "assetId", "name": "data"}


def _reference_key(data: Mapping[str, Any], match_by: str) -> str | None:
    """The key whose value names this element's asset: the job's kind, else the first it carries."""
    for kind in (match_by, *_REFERENCE_KEYS):
        key = _REFERENCE_KEYS.get(kind)
        if key is not None and isinstance(data.get(key), str) and data[key]:
            return key
    return None


def media_reference(data: Mapping[str, Any], match_by: str) -> MediaRef:
    """Every reference the element carries; the pipeline looks up the job's kind, or the element's
    own (`externalId`, then `assetId`, then `data`) when it lacks that one."""

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) and value else None

    url = text("data")
    return MediaRef(
        external_id=text("externalId"),
        media_id=text("assetId"),
        name=media_name(url) if url else None,
        url=url,
    )


def convert(
    data: Any,
    config: LabelConfigIndex,
    *,
    index: int = 0,
    match_by: str = "external_id",
    options: Mapping[str, Any] | None = None,
) -> Converted:
    """One element as a `MediaAnnotation`; `overwrite` (default false) replaces stored labels."""
    options = options or {}
    reference = media_reference(data, match_by)
    converter = _Converter(config, index)
    wanted = _reference_key(data, match_by)
    if wanted is None:
        message = "Name the element's asset by 'externalId', 'data' (its URL or file name) or 'assetId'."
        converter.error((), "asset_reference", message)
    body = data.get("answer") if isinstance(data.get("answer"), Mapping) else data
    base: tuple[object, ...] = ("answer",) if body is not data else ()
    shapes = [
        shape
        for position, obj in enumerate(body.get("objects") or [])
        if (shape := converter.shape(obj, (*base, "objects", position))) is not None
    ]
    answers = converter.answers(None, body.get("classifications"), (*base, "classifications"))
    where = pointer(index, wanted or "externalId")
    if converter.errors:
        return Converted(annotation=None, errors=converter.errors, reference=reference, reference_path=where)
    return Converted(
        annotation=MediaAnnotation(
            media=reference, answers=answers, shapes=shapes, keep_data=not options.get("overwrite", False)
        ),
        reference=reference,
        reference_path=where,
    )


FORMAT = ImportFormat(
    name="ango",
    label="Ango Hub label JSON",
    description="Ango Hub's import format: one element per asset (externalId, data or assetId) with objects and "
    "classifications by schemaId; answers are option values.",
    file_kinds=("json",),
    schema=None,
    item_schema=ITEM,
    read=read,
    convert=convert,
    options={"match_by": "external_id", "overwrite": False},
    match_by_item=True,
    option_schemas={
        "overwrite": {
            **BOOLEAN_OPTION,
            "description": "With true each asset's labels are replaced, with false added to.",
        }
    },
    sniff=sniff,
    takes_options=True,
)


# --- the writer ----------------------------------------------------------------------------------

#: Our geometry type -> Ango's geometry key.
_ANGO_KEYS: dict[str, str] = {str(value): key for key, value in _GEOMETRY_KEYS.items()}


def _zones(points: Any) -> list[dict[str, Any]]:
    """A segmentation's rings as Ango zones: each outline with the holes inside it."""
    rings = [[[x, y] for x, y in ring] for ring in rings_of(EntryType.SEGMENTATION, points)]
    shells = [[[x, y] for x, y in ring] for ring in ring_shells(rings_of(EntryType.SEGMENTATION, points))]
    zones: list[dict[str, Any]] = [{"region": shell, "holes": []} for shell in shells]
    for ring in rings:
        if ring in shells:
            continue
        home = next((zone for zone in zones if ring_holds(zone["region"], ring[0])), None)
        if home is not None:
            home["holes"].append(ring)
    return zones


class _Elements:
    """Tasks as Ango import elements, categories by schemaId and title, answers by option value."""

    def __init__(self, source: ExportSource) -> None:
        self.config = source.config
        self.include_predictions = source.include_predictions

    def classifications(self, answers: list[Answer], parent_id: Any) -> list[dict[str, Any]]:
        written = []
        questions = {entry.key: entry for entry in self.config.questions_of(parent_id)}
        for answer in answers:
            entry = questions.get(answer.key)
            if entry is None or answer.value is None or answer.value == []:
                continue
            labels = {str(o.get("key")): str(o.get("label") or o.get("key")) for o in entry.options}
            value: Any
            if entry.type == EntryType.FREETEXT:
                value = str(answer.value)
            elif isinstance(answer.value, list):
                value = [labels.get(str(key), str(key)) for key in answer.value]
            else:
                value = labels.get(str(answer.value), str(answer.value))
            written.append({"schemaId": entry.schema_id, "title": entry.title, "answer": value})
            children = self.classifications(answer.answers, entry.id)
            if children:
                written[-1]["classifications"] = children
        return written

    def geometry(self, shape: Shape) -> Any:
        pairs = [[x, y] for x, y in points_flat(shape.points)] if shape.type != EntryType.SEGMENTATION else []
        if shape.type == EntryType.RECTANGLE and len(pairs) >= 2:
            # Ango's bounding-box has no rotation: a turned box is its axis-aligned hull (docs/formats.md).
            x, y, w, h = rectangle_hull(pairs[:2], shape.rotation)
            return {"x": x, "y": y, "width": w, "height": h}
        if shape.type == EntryType.POINT and pairs:
            return pairs[0]
        if shape.type in (EntryType.POLYGON, EntryType.LINE) and pairs:
            return pairs
        if shape.type == EntryType.SEGMENTATION:
            zones = _zones(shape.points)
            return {"zones": zones} if zones else None
        return None

    def element(self, item: ExportItem) -> dict[str, Any]:
        element: dict[str, Any] = (
            {"externalId": item.external_id} if item.external_id else {"assetId": str(item.media_id)}
        )
        element["data"] = item.media_url or item.media_name
        objects = []
        # Ango objects do not nest: nested geometries are left out (docs/formats.md).
        for shape in item.annotation.shapes:
            if shape.source == "prediction" and not self.include_predictions:
                continue
            entry = self.config.by_id.get(shape.entry_id or "")
            geometry = self.geometry(shape)
            if entry is None or geometry is None:
                continue
            obj: dict[str, Any] = {"schemaId": entry.schema_id, "title": entry.title, _ANGO_KEYS[shape.type]: geometry}
            classifications = self.classifications(shape.answers, entry.id)
            if classifications:
                obj["classifications"] = classifications
            objects.append(obj)
        element["objects"] = objects
        element["classifications"] = self.classifications(item.annotation.answers, None)
        return element


def ango_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    """A JSON list of Ango import elements, one per task."""
    elements = _Elements(source)
    out.write(b"[")
    first = True
    for chunk in source.chunks():
        for item in chunk:
            out.write((b"" if first else b",") + orjson.dumps(elements.element(item)))
            first = False
        yield
    out.write(b"]")


EXPORT_FORMAT = ExportFormat(
    name="ango",
    label="Ango Hub JSON",
    description="Ango's label import format: one element per image (externalId, else assetId) with objects "
    "(bounding-box, polygon, polyline, point, segmentation zones) and classifications by schemaId and title.",
    extension="json",
    content_type="application/json",
    write=ango_write,
)
