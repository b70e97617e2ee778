"""The DataGym format module: registry entry, verbatim schema, fast validator, streaming reader."""

from __future__ import annotations

import copy
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from formats import format_get, format_list
from formats.datagym import ITEM, ITEM_SCHEMA, SCHEMA, item_is_valid_fast, read
from formats.reading import FileError, TypedItem, item_plain
from labelsite.errors import ValidationFailed

SEED_DIR = Path("/work/shared/seeds")


def test_the_registry_lists_datagym_json():
    fmt = format_get(name="datagym")

    assert fmt in format_list()
    assert (fmt.label, fmt.file_kinds) == ("DataGym JSON", ("json",))


def test_the_registry_refuses_an_unknown_format():
    with pytest.raises(ValidationFailed) as caught:
        format_get(name="no_such_format")
    assert caught.value.code == "unknown_format"


def test_the_schema_keeps_datagyms_two_bugs():
    geometry = SCHEMA["items"]["properties"]["labels"]["patternProperties"][""]["items"]
    nested = geometry["properties"]["nested_geometries"]["patternProperties"][""]["items"]

    assert "" in SCHEMA["items"]["properties"]["global_classifications"]["patternProperties"]
    assert nested["properties"]["additionalProperties"] is False
    assert "additionalProperties" not in nested


# --- the fast validator agrees with jsonschema ------------------------------------------------

SECTION_4_4 = [
    {"internal_media_ID": "m1", "keepData": False, "global_classifications": {}, "labels": {}},
    {"labels": {"car": [{"polygon": [{"x": 1, "y": 1}, {"x": 2, "y": 2}]}]}},
    {"labels": {"bus": [{"rectangle": [{"x": 1, "y": 1, "w": 1}]}]}},
    {"keepData": "false"},
    {"internal_media_ID": 123},
    {"labels": {"poi": [{"point": [{"x": -1, "y": 1}]}]}},
    {"labels": {"poi": [{"point": [{"x": "12.5", "y": 1}]}]}},
    {"labels": {"car": [{"foo": 1}]}},
    {"global_classifications": {"weather": [{"daytime": ["day"]}]}},
    {"global_classifications": {"weather": ["sunny", {"a": ["x"]}, {"b": ["y"]}]}},
    {"labels": {"poi": [{"point": [{"x": 1, "y": 1}, {"x": 2, "y": 2}]}]}},
    {"labels": {"street": [{"line": [{"x": 1, "y": 1}]}]}},
    {"keepData": 1},
    {"labels": {"car": [{"polygon": []}]}},
    {"labels": {"poi": [{"point": [{"x": 1, "y": 1, "z": 1}]}]}},
    {"labels": {"car": {}}},
    {"global_classifications": {"weather": [1]}},
    {"global_classifications": {"weather": "sunny"}},
    {"labels": {"bus": [{"rectangle": [{"x": 1, "y": 1, "w": 1, "h": 1}] * 2}]}},
    {"labels": {"car": [{"geometry": [{"x": 1, "y": 2}, {"x": 1}]}]}},
    # schema-valid edge cases
    {"labels": {}},
    {"internal_media_ID": "m", "image_name": "a.jpg"},
    {"global_classifications": {"weather": []}},
    {"global_classifications": {"weather": [None, "x"]}},
    {"global_classifications": {"a": ["x", {"b": ["y", {"c": ["z"]}]}]}},
    {"labels": {"car": [{"classifications": {}}]}},
    {"labels": {"bus": [{"rectangle": [{"x": 1, "y": 1, "w": 1, "h": 1, "angle": 3}]}]}},
    {"labels": {"car": [{"nested_geometries": {"w": [{"foo": 1, "point": [{"x": 1, "y": 1}]}]}}]}},
    {"labels": {"car": [{"nested_geometries": {"w": [{"additionalProperties": 1}]}}]}},
    {"labels": {"car": [{"nested_geometries": 5}]}},
    {"labels": {"car": [{"nested_geometries": {"w": {}}}]}},
    {"labels": {"car": [{"image_segmentation": [1, 2]}]}},
    {"labels": {"poi": [{"point": [{"x": "12\n", "y": 1}]}]}},
    {"labels": {"poi": [{"point": [{"x": True, "y": 1}]}]}},
    {"labels": {"poi": [{"point": [{"x": 1.5e3, "y": "007"}]}]}},
    [],
    "item",
    None,
]

_ODD_VALUES: list[Any] = [
    -1, -0.5, 0, 3, 2.5, "12", "12a", "", "x", True, False, None, {}, [], [None], ["a"], {"x": 1},
    {"x": 1, "y": 2}, {"x": 1, "y": 2, "w": 3, "h": 4}, [{"x": 1, "y": 2}], ["a", {"b": ["c"]}], [1],
]  # fmt: skip
_ODD_KEYS = ["foo", "w", "h", "x", "z", "additionalProperties", "polygon", "classifications", "nested_geometries"]


def _point(rng: random.Random) -> dict[str, Any]:
    return {
        "x": rng.choice([rng.randint(0, 999), rng.random() * 500, str(rng.randint(0, 99))]),
        "y": rng.randint(0, 99),
    }


def _classification(rng: random.Random, depth: int = 0) -> list[Any]:
    first = rng.choice([None, "opt"])
    shape = rng.randint(0, 3)
    if shape == 0:
        return []
    if shape == 1 or depth > 2:
        return [first]
    if shape == 2:
        return [first, "b", "c"]
    return [first, {"child": _classification(rng, depth + 1)}]


def _geometry(rng: random.Random, nested: bool = False) -> dict[str, Any]:
    kind = rng.choice(["polygon", "line", "point", "rectangle", "geometry"])
    obj: dict[str, Any]
    if kind == "polygon":
        obj = {"polygon": [_point(rng) for _ in range(rng.randint(3, 8))]}
    elif kind == "line":
        obj = {"line": [_point(rng) for _ in range(rng.randint(2, 5))]}
    elif kind == "point":
        obj = {"point": [_point(rng)]}
    elif kind == "rectangle":
        obj = {"rectangle": [{**_point(rng), "w": rng.randint(1, 50), "h": str(rng.randint(1, 50))}]}
    else:
        obj = {"geometry": [_point(rng) for _ in range(rng.randint(0, 4))]}
    if rng.random() < 0.6:
        obj["classifications"] = {"q": _classification(rng)}
    if not nested and rng.random() < 0.3:
        obj["nested_geometries"] = {"wheel": [_geometry(rng, nested=True) for _ in range(rng.randint(0, 2))]}
    return obj


def generate_item(rng: random.Random) -> dict[str, Any]:
    item: dict[str, Any] = {"internal_media_ID": f"m{rng.randint(0, 9)}"}
    if rng.random() < 0.7:
        item["keepData"] = rng.random() < 0.5
    item["global_classifications"] = {"weather": _classification(rng)}
    item["labels"] = {key: [_geometry(rng) for _ in range(rng.randint(0, 3))] for key in ("car", "bus")}
    return item


def _containers(value: Any, found: list[Any]) -> list[Any]:
    if isinstance(value, dict | list):
        found.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            _containers(child, found)
    return found


def mutate(item: dict[str, Any], rng: random.Random) -> Any:
    mutated = copy.deepcopy(item)
    target = rng.choice(_containers(mutated, []))
    if isinstance(target, dict):
        action = rng.choice(["set", "delete", "add"]) if target else "add"
        if action == "delete":
            del target[rng.choice(list(target))]
        elif action == "set":
            target[rng.choice(list(target))] = copy.deepcopy(rng.choice(_ODD_VALUES))
        else:
            target[rng.choice(_ODD_KEYS)] = copy.deepcopy(rng.choice(_ODD_VALUES))
    elif target:
        position = rng.randrange(len(target))
        if rng.random() < 0.5:
            target[position] = copy.deepcopy(rng.choice(_ODD_VALUES))
        else:
            del target[position]
    else:
        target.append(copy.deepcopy(rng.choice(_ODD_VALUES)))
    return mutated


def corpus() -> list[Any]:
    rng = random.Random(20261123)
    generated = [generate_item(rng) for _ in range(150)]
    mutated = [mutate(item, rng) for item in generated for _ in range(3)]
    return SECTION_4_4 + generated + mutated


def test_the_fast_validator_accepts_and_rejects_exactly_what_jsonschema_does():
    items = corpus()
    disagreements = [item for item in items if item_is_valid_fast(item) != ITEM.reference.is_valid(item)]

    assert disagreements == []
    verdicts = {ITEM.reference.is_valid(item) for item in items}
    assert verdicts == {True, False}  # the corpus has both kinds


def test_generated_items_are_valid():
    rng = random.Random(7)
    assert all(item_is_valid_fast(generate_item(rng)) for _ in range(200))


def test_the_item_schema_is_the_seeds_items_subschema():
    seed = next(SEED_DIR.glob("000_*.txt"), None)
    assert ITEM_SCHEMA["type"] == "object"
    if seed is not None:  # the seed is outside the repository; compare when it is there
        text = seed.read_text()
        start = text.index('{\n  "$schema"')
        assert json.loads(text[start : text.index("```", start)]) == SCHEMA


# --- the reader ------------------------------------------------------------------------------


class CountingFile(io.BytesIO):
    """Counts the bytes handed out, to prove the reader streams."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.handed_out = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.handed_out += len(data)
        return data


def big_file(count: int) -> bytes:
    item = {"internal_media_ID": "m", "labels": {"car": [{"polygon": [{"x": 1, "y": 2}] * 20}]}}
    return json.dumps([item] * count).encode()


def test_the_reader_yields_one_item_at_a_time_without_reading_the_whole_file():
    data = big_file(5000)
    file = CountingFile(data)
    items = read(file)

    first = next(items)

    assert first.index == 0
    assert first.location == "/0"
    assert file.handed_out < len(data) / 4
    assert sum(1 for _ in items) == 4999


def test_the_reader_gives_numbers_as_floats_and_ints_not_decimals():
    (only,) = read(io.BytesIO(b'[{"labels": {"poi": [{"point": [{"x": 1.5, "y": 2}]}]}}]'))

    point = only.data["labels"]["poi"][0]["point"][0]
    assert (type(point["x"]), type(point["y"])) == (float, int)


def test_the_reader_places_a_syntax_error_far_into_the_file():
    data = big_file(3000).replace(b"}}, {", b"}},\n{")  # one item per line
    at = data.rindex(b", {", 0, len(data) - 200) + 2  # `, }{"x"` is a syntax error there
    broken = data[:at] + b"}" + data[at:]
    line = data[:at].count(b"\n") + 1
    column = at - data.rindex(b"\n", 0, at)
    items = read(io.BytesIO(broken))

    with pytest.raises(FileError) as caught:
        for _ in items:
            pass
    assert caught.value.detail.code == "json_syntax"
    assert caught.value.detail.path == f"line {line}, column {column}"


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"", "empty_file"), (b"  \n ", "empty_file"), (b'{"a": 1}', "not_an_array"), (b"[1, 2", "json_syntax")],
)
def test_the_reader_refuses_what_is_not_an_array_of_items(data, code):
    with pytest.raises(FileError) as caught:
        list(read(io.BytesIO(data)))
    assert caught.value.detail.code == code


def test_the_reader_skips_a_byte_order_mark():
    assert [raw.data for raw in read(io.BytesIO(b'\xef\xbb\xbf[{"a": 1}]'))] == [{"a": 1}]


@pytest.mark.parametrize("coordinate", [2**64, 10**400, "9" * 5000])
def test_the_fast_validator_accepts_huge_coordinates_as_jsonschema_does(coordinate: Any):
    # Found by tests/security/test_datagym_validator_fuzzing.py: a strict float refused ints
    # beyond the float range, which jsonschema accepts as numbers >= 0.
    item = {"labels": {"poi": [{"point": [{"x": coordinate, "y": 1}]}]}}
    assert item_is_valid_fast(item) is ITEM.reference.is_valid(item) is True


@pytest.mark.django_db
def test_a_coordinate_beyond_any_float_is_a_located_error_not_a_crash(configured_project: Any):
    # Found by the same fuzzing: int() raised ValueError on 5,000 digits, x + w OverflowError.
    from formats.datagym import convert
    from projects.label_config import label_config_index

    config = label_config_index(configuration=configured_project.label_configuration)
    for labels in (
        {"poi": [{"point": [{"x": "9" * 5000, "y": 1}]}]},
        {"bus": [{"rectangle": [{"x": "9" * 400, "y": 1, "w": 10**400, "h": 1}]}]},
    ):
        converted = convert({"internal_media_ID": "m", "labels": labels}, config)
        assert [(e.path, e.code) for e in converted.errors] == [
            (f"/0/labels/{next(iter(labels))}/0", "coordinate_out_of_range")
        ]


@pytest.mark.django_db
def test_a_coordinate_with_thousands_of_leading_zeros_is_its_number(configured_project: Any):
    # Found by the fuzzing too: int() counts leading zeros against its 4,300-digit limit.
    from formats.datagym import convert
    from projects.label_config import label_config_index

    config = label_config_index(configuration=configured_project.label_configuration)
    labels = {"poi": [{"point": [{"x": "0" * 5000 + "7", "y": 1}]}]}
    converted = convert({"internal_media_ID": "m", "labels": labels}, config)
    assert converted.errors == []
    assert converted.annotation is not None
    assert converted.annotation.shapes[0].points == [[7, 1]]


# --- chunks read a part at a time by orjson, as ijson would read them ---------------------------

#: Values where two JSON parsers may disagree, as raw JSON text.
TRICKY_VALUES = [
    "0.30000000000000004",
    "1e-7",
    "1.5E3",
    "-0",
    "123456789012345678",  # 18 digits: an int to both
    "9223372036854775808",  # 2**63: orjson reads an int, ijson refuses it
    "123456789012345678901234567890",  # beyond 64 bits: orjson reads a float, ijson refuses it
    '"\\ud800"',  # a lone surrogate: orjson refuses it, ijson reads "?"
    '"\\ud83d\\ude00 , ] } \\" \\\\"',
    "1e400",  # beyond a float: both refuse it
]


def _chunked_file(value: str, count: int = 30) -> bytes:
    point = '{{"point": [{{"x": {x}, "y": 2}}]}}'
    items = [
        f'{{"internal_media_ID": "m{i}", "labels": {{"poi": [{point.format(x=value if i == 17 else i)}]}}}}'
        for i in range(count)
    ]
    return ("[\n" + ",\n ".join(items) + "\n]").encode()


@pytest.mark.parametrize("value", TRICKY_VALUES)
def test_a_chunk_read_in_parts_gives_exactly_the_items_or_the_error_that_ijson_gives(value):
    import ijson

    from formats.datagym import read_span
    from formats.jsonsplit import json_array_split

    raw = _chunked_file(value)
    spans = json_array_split(io.BytesIO(raw), every=12, part_items=4)
    assert spans is not None
    assert [len(s.part_starts) for s in spans] == [2, 2, 1]
    try:
        expected: Any = list(ijson.items(io.BytesIO(raw), "item", use_float=True))
    except ijson.JSONError:
        expected = FileError

    read: Any = []
    try:
        for span in spans:
            read.extend(item.data for item in read_span(io.BytesIO(raw), span))
    except FileError:
        read = FileError

    plain = read if read is FileError else [item_plain(data) for data in read]
    assert plain == expected
    if expected is not FileError:
        assert [type(i["labels"]["poi"][0]["point"][0]["x"]) for i in plain] == [
            type(i["labels"]["poi"][0]["point"][0]["x"]) for i in expected
        ]
        # Parts decoded into structs (`formats.datagym_typed`) hold the same numbers.
        typed = [(data.typed, item) for data, item in zip(read, expected, strict=True) if data.__class__ is TypedItem]
        assert len(typed) >= 20
        for struct, item in typed:
            x = struct.labels["poi"][0].point[0].x
            assert (x, type(x)) == (
                item["labels"]["poi"][0]["point"][0]["x"],
                type(item["labels"]["poi"][0]["point"][0]["x"]),
            )
