"""Hypothesis against the DataGym import validator: random items built around the real item
shape (valid items, the same items mutated, and any JSON at all) never crash the fast
pydantic check, the jsonschema reference, the error report or the converter, and the fast
check accepts exactly the items the reference accepts.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats.datagym import ITEM, convert, item_is_valid_fast
from projects.label_config import LabelConfigIndex, label_config_index

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: The keys of tests/imports/conftest.py's DATAGYM_CONFIG, and keys it does not have.
GEOMETRY_KEYS = ["bus", "car", "street", "poi", "wheel", "unknown"]
QUESTION_KEYS = ["weather", "daytime", "tags", "comment", "car_type", "unknown"]
OPTION_KEYS = ["sunny", "rainy", "day", "night", "a", "b", "suv", "van", "nope"]

# --- JSON values -------------------------------------------------------------------------------

#: Numbers as a JSON parser hands them over: ints of any size, finite and infinite floats
#: (ijson reads 1e400 as inf), never NaN (not JSON).
numbers = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(),
    st.sampled_from([0, 2**53 + 1, 2**64, 10**30, 10**400, -(10**400)]),
    st.floats(allow_nan=False),
)
text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "0", "12", "007", "1\n", "12.5", "-1", " 1", "١٢", "9" * 5000, "x", "\ud800"]),
)
#: Values that have broken validators before: huge numbers, long digit strings, lone surrogates,
#: look-alike digits, trailing newlines, booleans where numbers go, deep classifications.
hostile = st.sampled_from(
    [
        10**400,
        -(10**400),
        float("inf"),
        float("-inf"),
        -0.0,
        2**64,
        True,
        None,
        "9" * 5000,
        "1\n",
        "\ud800",
        "١٢",
        [],
        {},
        [None, {"a": [None, {"b": ["x"]}]}],
        {"additionalProperties": 1},
    ]
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
any_json = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6) | st.sampled_from(GEOMETRY_KEYS), children, max_size=4),
    ),
    max_leaves=20,
)

# --- the item shape ----------------------------------------------------------------------------

#: What the schema allows for a coordinate: numbers >= 0 of any size, strings of digits of any length.
coordinate = st.one_of(
    st.integers(min_value=0, max_value=10_000),
    st.floats(min_value=0, max_value=10_000, allow_nan=False),
    st.integers(min_value=0, max_value=10_000).map(str),
    st.integers(min_value=0),
    st.floats(min_value=0, allow_nan=False),
    st.sampled_from([2**64, 10**30, 10**400, float("inf"), "9" * 400, "9" * 5000, "0" * 5000 + "1", "1\n"]),
)
point = st.fixed_dictionaries({"x": coordinate, "y": coordinate})
box = st.fixed_dictionaries({"x": coordinate, "y": coordinate, "w": coordinate, "h": coordinate})


def classification(depth: int = 2) -> st.SearchStrategy[list[Any]]:
    first = st.one_of(st.none(), st.sampled_from(OPTION_KEYS), st.text(max_size=12))
    if depth == 0:
        return st.lists(st.sampled_from(OPTION_KEYS), max_size=3)
    children = st.dictionaries(
        st.sampled_from(QUESTION_KEYS), st.deferred(lambda: classification(depth - 1)), max_size=2
    )
    return st.one_of(
        st.tuples(first).map(list),
        st.tuples(first, st.one_of(children, st.sampled_from(OPTION_KEYS))).map(list),
        st.tuples(first, st.sampled_from(OPTION_KEYS), st.lists(st.sampled_from(OPTION_KEYS), max_size=2)).map(
            lambda parts: [parts[0], parts[1], *parts[2]]
        ),
        st.builds(list),
    )


classifications = st.dictionaries(st.sampled_from(QUESTION_KEYS), classification(), max_size=3)
shapes = {
    "point": st.lists(point, min_size=1, max_size=1),
    "line": st.lists(point, min_size=2, max_size=4),
    "polygon": st.lists(point, min_size=3, max_size=5),
    "rectangle": st.lists(box, min_size=1, max_size=1),
    "geometry": st.lists(st.one_of(point, box), min_size=1, max_size=4),
}
geometry_fields = st.sampled_from(sorted(shapes)).flatmap(
    lambda name: st.fixed_dictionaries({name: shapes[name]}, optional={"classifications": classifications})
)
nested_geometry = geometry_fields
geometry = geometry_fields.flatmap(
    lambda fields: st.fixed_dictionaries(
        {},
        optional={
            "nested_geometries": st.dictionaries(
                st.sampled_from(GEOMETRY_KEYS), st.lists(nested_geometry, max_size=2), max_size=2
            )
        },
    ).map(lambda extra: {**fields, **extra})
)
valid_items = st.fixed_dictionaries(
    {"internal_media_ID": st.text(max_size=8)},
    optional={
        "keepData": st.booleans(),
        "global_classifications": classifications,
        "labels": st.dictionaries(st.sampled_from(GEOMETRY_KEYS), st.lists(geometry, max_size=3), max_size=3),
    },
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a JSON value: keys of objects and indexes of arrays."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(paths(child, (*prefix, index)))
    return found


@st.composite
def mutated_items(draw: st.DrawFn) -> Any:
    """A valid item with one place replaced, removed, or given an extra key or element."""
    item = copy.deepcopy(draw(valid_items))  # never mutate what a strategy may hand out again
    place = draw(st.sampled_from(paths(item)))
    if not place:
        return draw(any_json)
    parent: Any = item
    for step in place[:-1]:
        parent = parent[step]
    last = place[-1]
    action = draw(st.sampled_from(["replace", "hostile", "remove", "extra"]))
    if action == "replace":
        parent[last] = draw(any_json)
    elif action == "hostile":
        parent[last] = draw(hostile.map(copy.deepcopy))
    elif action == "remove":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][draw(st.sampled_from(["x", "w", "z", "additionalProperties", "classifications", "foo"]))] = draw(
            any_json
        )
    elif isinstance(parent[last], list):
        parent[last].append(draw(any_json))
    else:
        parent[last] = [parent[last]]
    return item


items = st.one_of(valid_items, mutated_items(), any_json)


@pytest.fixture
def config_index(configured_project: Any) -> LabelConfigIndex:
    return label_config_index(configuration=configured_project.label_configuration)


def test_the_fast_validator_accepts_exactly_what_jsonschema_accepts_and_nothing_crashes(
    config_index: LabelConfigIndex,
) -> None:
    verdicts: set[bool] = set()

    @FUZZ
    @given(data=items)
    def check(data: Any) -> None:
        reference = bool(ITEM.reference.is_valid(data))
        assert item_is_valid_fast(data) == reference, data
        errors = ITEM.errors(data)
        assert (errors == []) == reference, errors
        if reference:
            converted = convert(data, config_index)  # may report errors; must not raise
            assert converted is not None
        verdicts.add(reference)

    check()
    assert verdicts == {True, False}  # the strategies reach both sides


def test_valid_items_are_valid() -> None:
    @FUZZ
    @given(data=valid_items)
    def check(data: Any) -> None:
        assert ITEM.reference.is_valid(data), data

    check()
