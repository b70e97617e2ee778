"""The fast path of the DataGym reader (`datagym._item_fast`) answers exactly what the general
converter (`datagym._item_convert`) answers, for every item it takes: the same shapes (class,
points to the last float, nesting, validity), the same answers (values, child answers, validity),
the same media reference. Every other item (unknown keys, a box on a point class, too few points,
out-of-range coordinates) it leaves to the general converter, which places each error: `convert`
gives the general answer for those."""

from __future__ import annotations

import copy
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection

from formats import datagym
from labeling import services
from projects.label_config import label_config_index
from projects.services import project_create
from tests.imports.test_datagym_format import SECTION_4_4

pytestmark = pytest.mark.django_db

MATCH_BY = ["id", "name", "external_id", "global_key"]


def _select(key: str, options: list[str], children: list[dict[str, Any]] | None = None,
            required: bool = False) -> dict[str, Any]:  # fmt: skip
    return {"entryKey": key, "entryValue": key.title(), "type": "select", "required": required,
            "options": {o: o.title() for o in options}, "children": children or []}  # fmt: skip


def _geometry(key: str, kind: str, children: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entryKey": key, "entryValue": key.title(), "type": kind, "children": children}


CHECKLIST = {"entryKey": "flags", "entryValue": "Flags", "type": "checklist", "required": True,
             "options": {"parked": "Parked", "occluded": "Occluded"}}  # fmt: skip
CONFIG: list[dict[str, Any]] = [
    _geometry("bus", "rectangle", [_select("bus_line", ["l1", "l2"], required=True)]),
    _geometry(
        "car",
        "polygon",
        [
            _select("car_type", ["suv", "van"], [_select("car_size", ["small", "big"])]),
            CHECKLIST,
            _geometry("wheel", "point", [_select("wheel_state", ["ok", "flat"])]),
            _geometry(
                "plate",
                "rectangle",
                [{"entryKey": "plate_text", "entryValue": "Text", "type": "freetext", "maxLength": 5}],
            ),
            _geometry("mask", "image_segmentation", []),
        ],
    ),
    _geometry("lane", "line", []),
    _geometry("person", "point", [_select("pose", ["stand", "sit"], [_select("age", ["child", "adult"])])]),
    _geometry("area", "image_segmentation", []),
    _select("weather", ["sunny", "rainy"], [_select("daytime", ["day", "night"])]),
    {"entryKey": "note", "entryValue": "Note", "type": "freetext", "maxLength": 20},
]
KINDS = {"bus": "rectangle", "car": "polygon", "lane": "line", "person": "point", "wheel": "point",
         "plate": "rectangle"}  # fmt: skip


def _coordinate(rng: random.Random) -> Any:
    return rng.choice([rng.uniform(0, 900), rng.randint(0, 900), "12", "0007", 10**400, 2**60, 0, 0.0])


def _object(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "rectangle":
        box: dict[str, Any] = {"x": _coordinate(rng), "y": rng.uniform(0, 9), "w": 3.5, "h": rng.randint(1, 9)}
        if rng.random() < 0.05:
            box["angle"] = 3  # an extra key: an error
        if rng.random() < 0.05:
            del box["h"]
            return {"geometry": [box]}  # not a box: four keys are needed
        return {rng.choice(["rectangle"] * 6 + ["geometry"]): [box] * rng.choice([1] * 12 + [2])}
    count = {"polygon": rng.choice([2, 3, 5, 9]), "line": rng.choice([1, 2, 4]), "point": rng.choice([1] * 9 + [2])}
    points = [{"x": _coordinate(rng) if rng.random() < 0.1 else rng.uniform(0, 900), "y": rng.randint(0, 500)}
              for _ in range(count[kind])]  # fmt: skip
    if rng.random() < 0.1:
        return {kind: points[:1], "geometry": points[1:]}  # several properties: concatenated
    if rng.random() < 0.03:
        points.append({"x": 1, "y": 2, "w": 3, "h": 4})  # a box on a point class: an error
        return {"geometry": points}
    return {kind: points}


def _answer(rng: random.Random, options: list[str], child: tuple[str, list[str]] | None) -> list[Any]:
    value: list[Any] = [rng.choice([*options, *options, "nope", None])]
    if rng.random() < 0.1:
        value.append(rng.choice(options))
    if child is not None and rng.random() < 0.6:
        value.insert(1, {rng.choice([child[0]] * 9 + ["stranger"]): [rng.choice(child[1])]})
    return value


def _classifications(rng: random.Random, key: str) -> dict[str, Any] | None:
    if rng.random() < 0.2:
        return rng.choice([None, {}])
    answers: dict[str, Any] = {
        "bus": {"bus_line": _answer(rng, ["l1", "l2"], None)},
        "car": {
            "car_type": _answer(rng, ["suv", "van"], ("car_size", ["small", "big"])),
            "flags": rng.sample(["parked", "occluded", "nope"], rng.randint(0, 2)),
        },
        "person": {"pose": _answer(rng, ["stand", "sit"], ("age", ["child", "adult"]))},
        "wheel": {"wheel_state": _answer(rng, ["ok", "flat"], None)},
        "plate": {"plate_text": [rng.choice(["B-1", "B-12345", "x"])]},
        "lane": {},
    }[key]
    if answers and rng.random() < 0.3:
        answers.pop(rng.choice(list(answers)))
    if rng.random() < 0.04:
        answers["unknown_question"] = ["x"]
    return answers


def varied_item(rng: random.Random, number: int) -> dict[str, Any]:
    labels: dict[str, list[dict[str, Any]]] = {}
    for _ in range(rng.randint(0, 6)):
        key = rng.choice(
            ["bus", "car", "car", "lane", "person", "area"] + (["stranger"] if rng.random() < 0.05 else [])
        )
        kind = KINDS.get(key, "polygon")
        obj = _object(rng, kind)
        answers = _classifications(rng, key) if key in KINDS else None
        if answers is not None:
            obj["classifications"] = answers
        if key == "car" and rng.random() < 0.4:
            nested: dict[str, list[dict[str, Any]]] = {}
            for _ in range(rng.randint(1, 3)):
                child = rng.choice(["wheel", "plate", "mask"] + (["lane"] if rng.random() < 0.05 else []))
                child_obj = _object(rng, KINDS.get(child, "polygon"))
                if child in KINDS and rng.random() < 0.7:
                    child_obj["classifications"] = _classifications(rng, child) or {}
                nested.setdefault(child, []).append(child_obj)
            obj["nested_geometries"] = nested
        labels.setdefault(key, []).append(obj)
    item: dict[str, Any] = {"internal_media_ID": f"m{number}", "labels": labels}
    if rng.random() < 0.9:
        item["global_classifications"] = {"weather": _answer(rng, ["sunny", "rainy"], ("daytime", ["day", "night"]))}
        if rng.random() < 0.3:
            item["global_classifications"]["note"] = [rng.choice(["short", "a note far too long to keep"])]
    if rng.random() < 0.5:
        item["keepData"] = rng.choice([True, False])
    if rng.random() < 0.1:
        item["external_media_ID"] = f"name-{number}"
    if rng.random() < 0.03:
        del item["internal_media_ID"]
    return item


def compare(config, items: list[Any], match_by: str) -> int:
    """Assert both paths agree on every item the fast one takes; answers how many it took."""
    taken = 0
    for index, data in enumerate(items):
        before = copy.deepcopy(data)
        general = datagym._item_convert(data, config, index=index, match_by=match_by)
        fast = datagym._item_fast(data, config, index=index, match_by=match_by)
        assert datagym.convert(data, config, index=index, match_by=match_by) == general
        assert data == before  # neither path changes the item
        if fast is None:
            continue
        taken += 1
        assert not general.errors, (index, general.errors)
        assert fast == general, (index, data)
    return taken


@pytest.fixture
def config(organization):
    project = project_create(organization=organization, name="Fast", label_configuration=CONFIG)
    return label_config_index(configuration=project.label_configuration)


def test_the_fast_path_agrees_with_the_converter_on_varied_items(config):
    rng = random.Random(19)
    items = [item for item in (varied_item(rng, n) for n in range(1500)) if datagym.ITEM.reference.is_valid(item)]
    assert len(items) > 500
    for match_by in MATCH_BY:
        taken = compare(config, items, match_by)
        assert 150 < taken < len(items) - 150, (match_by, taken)  # both paths are exercised


def test_the_fast_path_agrees_on_the_reference_examples(config):
    items = [item for item in SECTION_4_4 if datagym.ITEM.reference.is_valid(item)]
    for match_by in MATCH_BY:
        compare(config, items, match_by)


def test_errors_come_from_the_general_converter(config):
    item = {"internal_media_ID": "m1", "labels": {"car": [{"polygon": [{"x": 1, "y": 1}] * 3,
            "classifications": {"car_type": ["suv", {"stranger": ["x"]}]}}]}}  # fmt: skip

    converted = datagym.convert(item, config, index=4)

    assert datagym._item_fast(item, config, index=4, match_by="id") is None
    assert [(e.path, e.code) for e in converted.errors] == [
        ("/4/labels/car/0/classifications/car_type/1/stranger", "unknown_entry")
    ]


# --- the fast path checks the schema as it converts -------------------------------------------

WRONG_VALUES: list[Any] = [-1, -0.5, True, None, " 12", "1_2", "+3", "١٢", "12\n", 2**70, 10**400, [], {}, "x"]


def _dicts(value: Any, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every object inside `value`, outermost first."""
    if isinstance(value, dict):
        found.append(value)
        for child in value.values():
            _dicts(child, found)
    elif isinstance(value, list):
        for child in value:
            _dicts(child, found)
    return found


def mutated(rng: random.Random, item: dict[str, Any]) -> dict[str, Any]:
    """The item with one thing changed at random, often into something the schema refuses."""
    item = copy.deepcopy(item)
    objects = _dicts(item, [])
    target = rng.choice(objects)
    if not target:
        target["additionalProperties"] = 1
        return item
    key = rng.choice(list(target))
    roll = rng.random()
    if roll < 0.55:
        target[key] = rng.choice(WRONG_VALUES)
    elif roll < 0.7 and isinstance(target[key], list):
        value = target[key]
        value.extend(copy.deepcopy(value[:1]) or [rng.choice(WRONG_VALUES)])  # one more element
    elif roll < 0.8 and isinstance(target[key], list):
        target[key] = []
    elif roll < 0.9:
        target[rng.choice(["foo", "additionalProperties", "image_segmentation", "rectangle", "w", "x"])] = rng.choice(
            [*WRONG_VALUES, [{"x": 1, "y": 2}]]
        )
    else:
        del target[key]
    return item


def test_the_fast_path_takes_only_items_the_schema_accepts(config):
    rng = random.Random(23)
    items = [mutated(rng, varied_item(rng, n)) for n in range(3000)]
    taken = refused = 0
    for index, data in enumerate(items):
        fast = datagym._item_fast(data, config, index=index, match_by="id")
        valid = datagym.ITEM.reference.is_valid(data)
        if fast is None:
            refused += not valid
            continue
        taken += 1
        assert valid, (index, data)
        assert fast == datagym._item_convert(data, config, index=index, match_by="id"), (index, data)
    assert taken > 150, taken  # both kinds of item are exercised
    assert refused > 300, refused


def test_the_pipeline_takes_the_fast_path_without_a_second_schema_check(config):
    item = {"internal_media_ID": "m1", "keepData": True,
            "labels": {"lane": [{"line": [{"x": 1, "y": 2}, {"x": "3", "y": 4.5}]}]}}  # fmt: skip
    fmt = datagym.FORMAT

    converted = fmt.convert_item_checked(item, config, index=0, match_by="id", options={"keep_data": False})

    assert converted == fmt.convert_item(item, config, index=0, match_by="id", options={"keep_data": False})
    assert converted is not None
    assert converted.annotation is not None
    assert converted.annotation.keep_data is False  # the job's option still decides
    assert converted.annotation.shapes[0].points == [[1, 2], [3, 4.5]]
    assert fmt.convert_item_checked({**item, "keepData": "yes"}, config, index=0, match_by="id") is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the staged COPY data is PostgreSQL's path only")
def test_the_fast_path_stages_the_same_copy_bytes_as_the_converter(config):
    """The staged rows (`labeling.services._import_label_copy`) encode an answer list once per
    batch by the identity of its answers, which the fast path shares and the converter makes anew:
    both must give the same bytes."""
    rng = random.Random(31)
    items = [item for item in (varied_item(rng, n) for n in range(800)) if datagym.ITEM.reference.is_valid(item)]
    fast, general = [], []
    for index, data in enumerate(items):
        made = datagym._item_fast(data, config, index=index, match_by="id")
        if made is not None and made.annotation is not None:
            fast.append(made.annotation)
            general.append(datagym._item_convert(data, config, index=index, match_by="id").annotation)
    assert len(fast) > 150
    tasks = [uuid.UUID(int=number % 120 + 1) for number in range(len(fast))]  # some tasks get several items
    now = datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC)

    def staged(annotations: list[Any]) -> bytes:
        shapes_by_task, _ = services._batch_plan(list(zip(tasks, annotations, strict=True)))
        count = services._shapes_count(shapes_by_task)
        return services._import_label_copy(
            shapes_by_task,
            ids=list(range(1, count + 1)),
            now=now,
            import_job_id=uuid.UUID(int=5),
            import_batch=0,
            author_id=None,
        )

    assert staged(fast) == staged(general)
