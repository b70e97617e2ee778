"""DataGym's fast path on typed items: a chunk's parts decoded by msgspec straight into structs.

The dict fast path (`datagym._item_fast`) reads what orjson parsed and checks every point in
Python: the type and range of each coordinate, the keys of each point object. Here msgspec (in
C) decodes a part of 250 items into structs whose types and constraints are the item schema's
for the common items, so a part it decodes is schema-checked already, and the conversion only
reads the structs: `[[p.x, p.y] for p in points]`.

What a struct takes is narrower than the schema, never wider; anything else makes msgspec
refuse the part, whose items then go the dict way (`plain`), item by item, as before:
- coordinates are ints in [0, 2**53] or floats >= 0. Digit strings (`"x": "12"`, which the schema
  allows) are rewritten into numbers in the part's bytes first (`_digits_as_numbers`, what
  `datagym._number` makes of them); other strings are refused;
- a point object has exactly `x` and `y`, a box exactly `x`, `y`, `w`, `h`; `polygon` has at least
  3 points, `line` 2, `point` exactly 1, `rectangle` exactly one box;
- a root geometry object has no key beyond the schema's; a nested one may (the schema's quirk,
  see `formats.datagym`), and is given up on when it has `additionalProperties`;
- `classifications`, `global_classifications` are objects (their answers are checked as the dict
  path checks them), `nested_geometries` an object of lists of nested objects, `keepData` a bool,
  `internal_media_ID` a string; `null` anywhere a struct field is refused.

A decoded item can still be given up on by the conversion (an unknown class, a deprecated
`geometry` list, several geometry properties in one object, whose order a struct does not keep):
then `TypedItem.plain()` parses its part with orjson and the item goes the dict way. Both ways
make the same shapes and answers (`tests/formats/test_datagym_typed.py`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
import orjson
from msgspec import UNSET, Meta, Struct, UnsetType

from formats.jsonsplit import has_long_number, part_items
from formats.reading import Converted, TypedItem
from labeling.annotation import Answer, MediaAnnotation, MediaRef, Shape, rectangle_points
from projects.label_config import EntryType, IndexedEntry

#: Below this an int is a float exactly (`datagym._FAST_INT_MAX`); larger ones go the dict way.
_INT_MAX = 2**53

_Coordinate = Annotated[int, Meta(ge=0, le=_INT_MAX)] | Annotated[float, Meta(ge=0)]


class _Point(Struct, forbid_unknown_fields=True):
    x: _Coordinate
    y: _Coordinate


class _Box(Struct, forbid_unknown_fields=True):
    x: _Coordinate
    y: _Coordinate
    w: _Coordinate
    h: _Coordinate


_Polygon = Annotated[list[_Point], Meta(min_length=3)]
_Line = Annotated[list[_Point], Meta(min_length=2)]
_OnePoint = Annotated[list[_Point], Meta(min_length=1, max_length=1)]
_OneBox = Annotated[list[_Box], Meta(min_length=1, max_length=1)]


class _Geometry(Struct):
    """What root and nested geometry objects both have."""

    polygon: _Polygon | UnsetType = UNSET
    line: _Line | UnsetType = UNSET
    point: _OnePoint | UnsetType = UNSET
    rectangle: _OneBox | UnsetType = UNSET
    classifications: msgspec.Raw | UnsetType = UNSET
    geometry: Any = UNSET


class _Nested(_Geometry):
    """A nested geometry object: other keys are allowed (and ignored) as the schema allows them."""

    additionalProperties: Any = UNSET


class _Root(_Geometry, forbid_unknown_fields=True):
    image_segmentation: list[Any] | UnsetType = UNSET
    nested_geometries: dict[str, list[_Nested]] | UnsetType = UNSET


class _Item(Struct):
    """An item: other keys are allowed (and ignored) as the schema allows them."""

    internal_media_ID: str | UnsetType = UNSET
    external_media_ID: Any = UNSET
    keepData: bool | UnsetType = UNSET
    global_classifications: msgspec.Raw | UnsetType = UNSET
    labels: dict[str, list[_Root]] | UnsetType = UNSET


_PART = msgspec.json.Decoder(list[_Item])

#: A digit-string coordinate of a point or a box: `"x":"0012"` -> `"x":12` (what `_number` makes
#: of it; leading zeros dropped, as a JSON number has none). A match that is no coordinate is a
#: member whose key ends in an escaped quote and `x` (`"a\\"x":"1"`), whose value a struct then
#: refuses or ignores, as it would the string. Runs of more than 16 digits (beyond `_INT_MAX`)
#: stay strings, which msgspec refuses; so do digit strings with spaces around the colon.
_DIGIT_COORDINATE = re.compile(rb'"([xywh])":"0*([0-9]{1,16})"')


def _digits_as_numbers(part: bytes) -> bytes:
    return _DIGIT_COORDINATE.sub(rb'"\1":\2', part) if b'":"' in part else part


class _Part:
    """A part's plain items (orjson's or ijson's), parsed when an item first asks for them."""

    __slots__ = ("_bytes", "_items")

    def __init__(self, part: bytes) -> None:
        self._bytes = part
        self._items: list[Any] | None = None

    def item(self, position: int) -> Any:
        if self._items is None:
            self._items = part_items(self._bytes)
        return self._items[position]


def typed_part_items(part: bytes) -> list[Any]:
    """The items of one part (a JSON array): `TypedItem`s when msgspec decodes the part into
    the structs, else the plain items (`jsonsplit.part_items`, which also words JSON errors)."""
    if not has_long_number(part):
        try:
            decoded = _PART.decode(_digits_as_numbers(part))
        except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
            pass
        else:
            plain = _Part(part)
            return [TypedItem(item, plain, position) for position, item in enumerate(decoded)]
    return part_items(part)


def media_reference_typed(item: _Item, match_by: str) -> MediaRef | None:
    """`datagym.media_reference` of a typed item."""
    value: Any = item.internal_media_ID
    if match_by == "name":
        external = item.external_media_ID
        if external.__class__ is str and external:
            value = external
    if value.__class__ is not str:
        return None
    return MediaRef.matched_by(match_by, value)


def _points(obj: _Geometry, entry_type: str) -> list[Any] | None:
    """The points of a geometry object for a class of `entry_type`, or None to give up."""
    polygon, line, point, rectangle = obj.polygon, obj.line, obj.point, obj.rectangle
    if obj.geometry is not UNSET:
        return None  # the deprecated list of points or boxes: the dict way
    found: list[_Point]
    if entry_type == EntryType.RECTANGLE:
        if not isinstance(rectangle, list) or polygon is not UNSET or line is not UNSET or point is not UNSET:
            return None
        box = rectangle[0]
        return rectangle_points(box.x, box.y, box.w, box.h)
    if entry_type == EntryType.POINT:
        if not isinstance(point, list) or polygon is not UNSET or line is not UNSET or rectangle is not UNSET:
            return None
        found = point
    elif entry_type == EntryType.POLYGON or entry_type == EntryType.LINE:
        if rectangle is not UNSET or point is not UNSET:
            return None
        if isinstance(polygon, list):
            if line is not UNSET:
                return None  # concatenated in the file's key order, which the struct does not keep
            found = polygon
        elif isinstance(line, list):
            found = line
        else:
            return None
        if entry_type == EntryType.POLYGON and len(found) < 3:
            return None
    else:
        return None
    return [[p.x, p.y] for p in found]


#: How many answer lists a configuration keeps (free texts are mostly unique).
_ANSWER_LISTS_MAX = 20_000


def answers_typed(
    fast: Any, converter: Any, owner: str, questions: Any, ordered: Any, given: msgspec.Raw | UnsetType
) -> tuple[list[Answer], bool] | None:
    """The answers to `ordered` from the JSON text of the classifications `given`, and whether all
    are valid; None to give up. Made by the dict path's `answers` once per distinct text and owner
    (the item's, or a class's); each shape gets its own list of the shared answers."""
    if given is UNSET:
        return converter.answers(questions, ordered, None)
    text = bytes(given)
    key = (owner, text)
    found = fast.answer_lists.get(key)
    if found is None:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:  # what orjson refuses goes the dict way (ijson's reading)
            return None
        if value.__class__ is not dict:  # `null` too: the schema wants an object
            return None
        found = converter.answers(questions, ordered, value)
        if found is None:
            return None
        if len(fast.answer_lists) > _ANSWER_LISTS_MAX:
            fast.answer_lists.clear()
        fast.answer_lists[key] = found
    return list(found[0]), found[1]


class _TypedConverter:
    """`datagym._FastConverter` on structs; each method answers None to give up."""

    def __init__(self, fast: Any, converter: Any) -> None:
        self.fast = fast
        self.converter = converter  # the dict path's `_FastConverter`: its answers and their cache

    def shape(self, entry: IndexedEntry, obj: _Geometry) -> Shape | None:
        if isinstance(obj, _Nested) and obj.additionalProperties is not UNSET:
            return None  # the misplaced false schema (see `formats.datagym`)
        points = _points(obj, entry.type)
        if points is None:
            return None
        fast = self.fast
        made = answers_typed(
            fast, self.converter, entry.id, fast.child_questions[entry.id], fast.lookups.questions[entry.id],
            obj.classifications,
        )  # fmt: skip
        if made is None:
            return None
        answers, valid = made
        shape = Shape(
            key=entry.key,
            type=entry.type,
            points=points,
            answers=answers,
            valid=valid,
            schema_id=entry.schema_id,
            entry_id=entry.id,
        )
        nested = obj.nested_geometries if isinstance(obj, _Root) else UNSET
        if isinstance(nested, dict) and not self.shapes(fast.child_geometries[entry.id], nested, shape.children):
            return None
        return shape

    def shapes(self, classes: dict[str, IndexedEntry], grouped: dict[str, Any], into: list[Shape]) -> bool:
        """Append the shapes of `grouped` (class key -> its objects) to `into`; False to give up."""
        for key, objects in grouped.items():
            entry = classes.get(key)
            if entry is None or entry.type == EntryType.SEGMENTATION:
                return False
            for obj in objects:
                shape = self.shape(entry, obj)
                if shape is None:
                    return False
                into.append(shape)
        return True


def item_typed(item: _Item, *, match_by: str, fast: Any, converter: Any) -> Converted | None:
    """`datagym.convert` of a typed item, or None to give it up (it then goes the dict way).
    `fast` and `converter` are the dict path's lookups and converter (`datagym._item_fast`)."""
    reference = media_reference_typed(item, match_by)
    if reference is None:
        return None
    made = answers_typed(
        fast, converter, "", fast.root_questions, fast.lookups.root_questions, item.global_classifications
    )
    if made is None:
        return None
    shapes: list[Shape] = []
    labels = item.labels
    if isinstance(labels, dict) and not _TypedConverter(fast, converter).shapes(fast.root_geometries, labels, shapes):
        return None
    return Converted(
        annotation=MediaAnnotation(
            media=reference, answers=made[0], shapes=shapes, keep_data=item.keepData is not False
        ),
        reference=reference,
    )
