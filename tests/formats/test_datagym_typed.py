"""The typed fast path of the DataGym reader (`formats.datagym_typed`): a chunk's parts decoded by
msgspec into structs answer exactly what the general converter answers for every item they take
(shapes, points to the last float, nesting, answers, validity, the media reference), take only
items the reference schema accepts, and leave every other item (and every item of a part msgspec
refuses) to the dict path with the item as the JSON parser gives it."""

from __future__ import annotations

import gc
import io
import json
import random
import weakref
from typing import Any

import ijson
import pytest

from formats import datagym
from formats.datagym_typed import item_typed, typed_part_items
from formats.jsonsplit import json_array_split, part_items
from formats.reading import TypedItem, item_plain
from tests.formats.test_datagym_fast import CONFIG, MATCH_BY, mutated, varied_item
from tests.imports.test_datagym_format import SECTION_4_4

pytestmark = pytest.mark.django_db


@pytest.fixture
def config(organization):
    from projects.label_config import label_config_index
    from projects.services import project_create

    project = project_create(organization=organization, name="Typed", label_configuration=CONFIG)
    return label_config_index(configuration=project.label_configuration)


def compact(value: Any) -> bytes:
    """JSON as tools write it compactly (the standard library's: orjson refuses ints beyond 64 bits)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def readable(item: Any) -> bool:
    """Whether a file of the item can be read in parts (ijson refuses integers beyond 64 bits,
    such as the generators' 10**400: the job then reads the whole file, as before)."""
    try:
        part_items(compact([item]))
    except ijson.JSONError:
        return False
    return True


def decoded(items: list[Any], *, per_part: int = 1, dumps: Any = compact) -> list[Any]:
    """The items as the reader gives them: parts of `per_part` items, each decoded the typed way."""
    found: list[Any] = []
    for start in range(0, len(items), per_part):
        found.extend(typed_part_items(dumps(items[start : start + per_part])))
    return found


def typed_convert(config, given: TypedItem, *, index: int, match_by: str) -> Any:
    """The typed path's own conversion (`datagym._item_fast` falls back to the dict path's)."""
    fast = datagym._fast_lookups(config)
    converter = datagym._FastConverter(fast, index)
    return item_typed(given.typed, match_by=match_by, fast=fast, converter=converter)


def valid_items(seed: int, count: int) -> list[dict[str, Any]]:
    """Varied items (`test_datagym_fast`) the schema accepts, in files read in parts."""
    rng = random.Random(seed)
    items = (varied_item(rng, n) for n in range(count))
    return [item for item in items if datagym.ITEM.reference.is_valid(item) and readable(item)]


def agree(config, items: list[Any], data: list[Any], match_by: str) -> int:
    """Assert the typed items convert as the general converter converts the items; answers how
    many the typed path took."""
    taken = 0
    for index, (item, given) in enumerate(zip(items, data, strict=True)):
        assert item_plain(given) == item  # the dict way sees the item as the file has it
        general = datagym._item_convert(item, config, index=index, match_by=match_by)
        assert datagym.convert(given, config, index=index, match_by=match_by) == general
        if given.__class__ is not TypedItem:
            continue
        fast = typed_convert(config, given, index=index, match_by=match_by)
        if fast is None:  # given up (an unknown class, a `geometry` list, ...): the dict way's answer above
            continue
        assert not general.errors, (index, general.errors)
        assert fast == general, (index, item)
        taken += 1
    return taken


def test_typed_items_convert_as_the_general_converter_does(config):
    items = valid_items(31, 1500)
    data = decoded(items)
    typed = sum(given.__class__ is TypedItem for given in data)
    assert 200 < typed < len(items), typed  # msgspec decodes most items, refuses some
    for match_by in MATCH_BY:
        taken = agree(config, items, data, match_by)
        assert 150 < taken < typed - 100, (match_by, taken)  # the conversion takes most, gives some up


def test_a_pretty_printed_file_converts_the_same(config):
    items = valid_items(37, 600)
    data = decoded(items, dumps=lambda part: json.dumps(part, indent=2).encode())
    assert agree(config, items, data, "id") > 100


def test_the_reference_examples_convert_the_same(config):
    items = [item for item in SECTION_4_4 if datagym.ITEM.reference.is_valid(item) and readable(item)]
    for match_by in MATCH_BY:
        agree(config, items, decoded(items), match_by)


def test_typed_items_are_only_items_the_schema_accepts(config):
    rng = random.Random(41)
    items = [item for item in (mutated(rng, varied_item(rng, n)) for n in range(3000)) if readable(item)]
    data = decoded(items)
    taken = refused = 0
    for index, (item, given) in enumerate(zip(items, data, strict=True)):
        assert item_plain(given) == item
        valid = datagym.ITEM.reference.is_valid(item)
        fast = typed_convert(config, given, index=index, match_by="id") if given.__class__ is TypedItem else None
        if fast is None:
            refused += not valid
            continue
        taken += 1
        assert valid, (index, item)
        assert fast == datagym._item_convert(item, config, index=index, match_by="id"), (index, item)
    assert taken > 150, taken
    assert refused > 300, refused


def test_digit_strings_become_the_numbers_the_converter_makes(config):
    item = {"internal_media_ID": "m1", "labels": {
        "bus": [{"rectangle": [{"x": "0012", "y": "0", "w": "3", "h": 4.5}]}],
        "lane": [{"line": [{"x": "9007199254740992", "y": 1}, {"x": 2, "y": "000"}]}],
    }}  # fmt: skip

    [given] = decoded([item])

    assert given.__class__ is TypedItem
    converted = datagym._item_fast(given, config, index=0, match_by="id")
    assert converted == datagym._item_convert(item, config, index=0, match_by="id")
    assert [shape.points for shape in converted.annotation.shapes] == [[[12, 0], [15, 4.5]], [[2**53, 1], [2, 0]]]


@pytest.mark.parametrize(
    "text",
    [
        # beyond 2**53: the dict way keeps the int as it is
        b'[{"internal_media_ID":"m1","labels":{"lane":[{"line":[{"x":"90071992547409930","y":1},{"x":2,"y":3}]}]}}]',
        # 19 digits and more: ijson's reading (`jsonsplit.part_items`)
        b'[{"internal_media_ID":"m1","labels":{"lane":[{"line":[{"x":1234567890123456789,"y":1},{"x":2,"y":3}]}]}}]',
        # spaces around the colon are not rewritten: msgspec refuses the string
        b'[{"internal_media_ID":"m1","labels":{"lane":[{"line":[{"x" : "12","y":1},{"x":2,"y":3}]}]}}]',
        # a lone surrogate: msgspec and orjson refuse it, ijson reads it
        b'[{"internal_media_ID":"m1","labels":{"lane":[{"line":[{"x":1,"y":1},{"x":2,"y":3}]}]},"n":"\\ud800"}]',
        # the nested objects' misplaced false schema (see `formats.datagym`)
        b'[{"internal_media_ID":"m1","labels":{"car":[{"polygon":[{"x":1,"y":1},{"x":2,"y":3},{"x":4,"y":0}],'
        b'"nested_geometries":{"wheel":[{"point":[{"x":1,"y":1}],"additionalProperties":false}]}}]}}]',
        # null where the schema wants an object
        b'[{"internal_media_ID":"m1","labels":{"car":[{"polygon":[{"x":1,"y":1},{"x":2,"y":3},{"x":4,"y":0}],'
        b'"classifications":null}]}}]',
    ],
)
def test_what_the_structs_refuse_goes_the_dict_way(config, text):
    [given] = typed_part_items(text)
    [plain] = part_items(text)

    assert item_plain(given) == plain
    converted = datagym.convert(given, config, index=0, match_by="id")
    assert converted == datagym.convert(plain, config, index=0, match_by="id")
    if given.__class__ is TypedItem:
        assert datagym._item_fast(given, config, index=0, match_by="id") == datagym._item_fast(
            plain, config, index=0, match_by="id"
        )


def test_a_digit_string_outside_a_coordinate_is_reported_where_it_is(config):
    item = {"internal_media_ID": "m1", "global_classifications": {"x": "12", 'a"x': "3"},
            "labels": {"car": [{"polygon": [{"x": 1, "y": 1}] * 3}]}}  # fmt: skip

    [given] = decoded([item])
    converted = datagym.convert(given, config, index=0, match_by="id")

    assert converted == datagym.convert(item, config, index=0, match_by="id")
    assert datagym._item_fast(given, config, index=0, match_by="id") is None
    assert [error.path for error in converted.errors] == [
        "/0/global_classifications/x",
        '/0/global_classifications/a"x',
    ]


def test_the_reader_gives_typed_items_and_places_errors_as_before(config):
    rng = random.Random(43)
    items = [
        {"internal_media_ID": f"m{n}", "global_classifications": {"weather": ["sunny"]},
         "labels": {"car": [{"polygon": [{"x": rng.uniform(0, 900), "y": rng.choice([1, "0012"])} for _ in range(4)],
                             "classifications": {"car_type": ["suv", {"car_size": ["big"]}]}}]}}
        for n in range(750)
    ]  # fmt: skip
    items[len(items) // 2]["labels"] = {"bus": [{"rectangle": [{"x": -1, "y": 0, "w": 1, "h": 1}]}]}
    body = compact(items)
    spans = datagym.split(io.BytesIO(body), every=500)  # parts of 250 items, as a job splits
    assert spans is not None

    raw = [item for span in spans for item in datagym.read_span(io.BytesIO(body), span)]

    assert [item.index for item in raw] == list(range(len(items)))
    assert [item_plain(item.data) for item in raw] == items
    kinds = [item.data.__class__ is TypedItem for item in raw]
    assert any(kinds), "parts without the bad item are typed"
    assert not kinds[len(items) // 2], "the part with the bad item is read the dict way"
    bad = raw[len(items) // 2]
    assert datagym.FORMAT.item_schema.errors(item_plain(bad.data), prefix=(bad.index,))


def test_a_split_file_without_parts_reads_plain_items(config):
    items = [{"internal_media_ID": f"m{n}", "labels": {}} for n in range(3)]
    body = compact(items)
    [span] = json_array_split(io.BytesIO(body), every=10, part_items=None)

    raw = list(datagym.read_span(io.BytesIO(body), span))

    assert [item_plain(item.data) for item in raw] == items


def test_a_configurations_lookups_and_cached_answers_go_with_it(organization):
    """A worker builds a configuration index per chunk: the answers cached while converting one
    chunk must not outlive its index (kept, they made each later chunk's conversion slower)."""
    from projects.label_config import label_config_index
    from projects.services import project_create

    project = project_create(organization=organization, name="Lookups", label_configuration=CONFIG)
    config = label_config_index(configuration=project.label_configuration)
    items = valid_items(11, 60)
    typed = [given for given in decoded(items) if given.__class__ is TypedItem]
    assert typed
    for index, given in enumerate(typed):
        typed_convert(config, given, index=index, match_by="id")
    fast = datagym._fast_lookups(config)
    assert fast.answer_lists, "the typed items' answers were cached"
    key = id(config)
    lookups, cached = weakref.ref(datagym._LOOKUPS[key]), weakref.ref(fast)
    del fast

    gc.disable()  # freed by reference counting as the index goes, not left to a collection
    try:
        del config
        assert key not in datagym._LOOKUPS
        assert lookups() is None
        assert cached() is None
    finally:
        gc.enable()
