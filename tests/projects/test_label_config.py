"""The label configuration service: parsing both forms, DataGym's rules, replace and read back."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from labeling.models import Label
from labelsite.errors import ValidationFailed
from projects.label_config import (
    EntrySpec,
    OptionSpec,
    label_config_clear,
    label_config_datagym_entries,
    label_config_index,
    label_config_is_empty,
    label_config_parse,
    label_config_replace,
    label_config_tree,
    label_config_validate,
)
from projects.models import LabelConfiguration, LabelEntry, Project
from projects.services import project_create
from tests.factories import LabelFactory, OrganizationFactory, ProjectFactory, TaskFactory

pytestmark = pytest.mark.django_db

# Section 3.5 of the DataGym reference: what the SDK's LabelConfig builder sends, verbatim.
DATAGYM_BUILDER_OUTPUT: list[dict[str, Any]] = [
    {
        "entryKey": "car",
        "entryValue": "Car",
        "children": [
            {
                "entryKey": "car_type",
                "entryValue": "Type",
                "children": [],
                "required": True,
                "options": {"a": "A", "b": "B"},
                "type": "select",
            }
        ],
        "color": "red",
        "shortcut": 1,
        "type": "rectangle",
    },
    {
        "entryKey": "comment",
        "entryValue": "Comment",
        "children": [],
        "required": False,
        "maxLength": 10,
        "type": "freetext",
    },
]

# Section 4.5: bus rectangle, car polygon (select car_type, point wheel), global select
# weather (select daytime), street line, poi point.
SECTION_4_5_CONFIG: list[dict[str, Any]] = [
    {"key": "bus", "title": "Bus", "type": "rectangle", "color": "yellow", "shortcut": "1"},
    {
        "key": "car",
        "title": "Car",
        "type": "polygon",
        "color": "blue",
        "shortcut": "2",
        "children": [
            {
                "key": "car_type",
                "title": "Type",
                "type": "select",
                "options": [{"key": "suv", "label": "SUV"}, {"key": "van", "label": "Van"}],
            },
            {"key": "wheel", "title": "Wheel", "type": "point", "color": "black"},
        ],
    },
    {
        "key": "weather",
        "title": "Weather",
        "type": "select",
        "required": True,
        "options": [{"key": "sunny", "label": "Sunny"}, {"key": "rainy", "label": "Rainy"}],
        "children": [
            {
                "key": "daytime",
                "title": "Daytime",
                "type": "select",
                "options": [{"key": "day", "label": "Day"}, {"key": "night", "label": "Night"}],
            }
        ],
    },
    {"key": "street", "title": "Street", "type": "line", "shortcut": "3"},
    {"key": "poi", "title": "Point of interest", "type": "point", "shortcut": "4"},
]


def new_configuration() -> LabelConfiguration:
    project = cast(Project, ProjectFactory())
    return project.label_configuration


def entry(key: str = "car", type: str = "rectangle", **fields: Any) -> dict[str, Any]:
    return {"key": key, "title": fields.pop("title", key.title() or "Untitled"), "type": type, **fields}


def datagym_entry(key: str = "car", type: str = "rectangle", **fields: Any) -> dict[str, Any]:
    return {"entryKey": key, "entryValue": fields.pop("entryValue", "Car"), "type": type, **fields}


def problems(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(path, code) of every problem that replace reports for `entries`; [] when it accepts them."""
    try:
        label_config_replace(configuration=new_configuration(), entries=entries)
    except ValidationFailed as exc:
        found = [(exc.code, detail.path, detail.code) for detail in exc.details]
    else:
        return []
    assert {code for code, _, _ in found} == {"invalid_label_configuration"}
    return [(path, code) for _, path, code in found]


def details(entries: list[dict[str, Any]]) -> list[Any]:
    with pytest.raises(ValidationFailed) as caught:
        label_config_replace(configuration=new_configuration(), entries=entries)
    return caught.value.details


def without_ids(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**{k: v for k, v in node.items() if k != "id"}, "children": without_ids(node["children"])} for node in tree
    ]


# --- parsing ------------------------------------------------------------------------------


def test_parse_accepts_the_datagym_builder_output_verbatim():
    specs = label_config_parse(entries=DATAGYM_BUILDER_OUTPUT)
    assert [s.key for s in specs] == ["car", "comment"]
    car, comment = specs
    assert (car.type, car.color, car.shortcut, car.form) == ("rectangle", "red", "1", "datagym")
    assert car.children[0].options == (OptionSpec(key="a", label="A"), OptionSpec(key="b", label="B"))
    assert car.children[0].required is True
    assert (comment.type, comment.max_length) == ("freetext", 10)
    assert label_config_validate(entries=specs) == []


def test_replace_stores_the_datagym_builder_output():
    configuration = new_configuration()
    label_config_replace(configuration=configuration, entries=DATAGYM_BUILDER_OUTPUT)
    tree = label_config_tree(configuration=configuration)
    assert [(n["key"], n["type"], n["shortcut"]) for n in tree] == [
        ("car", "rectangle", "1"),
        ("comment", "freetext", ""),
    ]
    assert [o["key"] for o in tree[0]["children"][0]["options"]] == ["a", "b"]


def test_parse_reads_datagym_types_case_insensitively_and_image_segmentation_as_segmentation():
    specs = label_config_parse(
        entries=[datagym_entry("road", "IMAGE_SEGMENTATION"), datagym_entry("box", "Rectangle", entryValue="Box")]
    )
    assert [s.type for s in specs] == ["segmentation", "rectangle"]


def test_parse_collects_every_shape_error_with_its_path():
    with pytest.raises(ValidationFailed) as caught:
        label_config_parse(
            entries=[
                {"title": "No key", "type": "point"},
                {"key": "car", "title": "Car", "type": "boat", "required": "yes"},
                "not an object",
                {"entryKey": "x", "entryValue": "X", "type": "select", "options": ["a"], "shortcut": [1]},
            ]
        )
    found = {(d.path, d.code) for d in caught.value.details}
    assert found == {
        ("entries[0].key", "required"),
        ("entries[1].type", "unknown_type"),
        ("entries[1].required", "invalid_type"),
        ("entries[2]", "invalid_type"),
        ("entries[3].options[0]", "invalid_type"),
        ("entries[3].shortcut", "invalid_type"),
    }


def test_parse_accepts_a_one_digit_string_or_an_integer_as_shortcut():
    specs = label_config_parse(entries=[datagym_entry("a", shortcut="7"), datagym_entry("b", shortcut=8)])
    assert [s.shortcut for s in specs] == ["7", "8"]


# --- the rules, one by one ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param([entry(key="")], [("entries[0].key", "key_length")], id="empty key"),
        pytest.param([entry(key="k" * 57)], [("entries[0].key", "key_length")], id="key of 57 characters"),
        pytest.param([entry(key="car.type")], [("entries[0].key", "key_pattern")], id="key with a dot"),
        pytest.param([entry(title="")], [("entries[0].title", "title_length")], id="empty title"),
        pytest.param([entry(title="t" * 129)], [("entries[0].title", "title_length")], id="title of 129 characters"),
        pytest.param([entry(title="Car\x07")], [("entries[0].title", "title_pattern")], id="title with a control char"),
        pytest.param(
            [datagym_entry(entryValue="t" * 57)], [("entries[0].title", "title_length")], id="datagym title too long"
        ),
        pytest.param(
            [datagym_entry(entryValue="Car/Bus")], [("entries[0].title", "title_pattern")], id="datagym title pattern"
        ),
        pytest.param(
            [entry("car"), entry("bus"), entry("Car")], [("entries[2].key", "duplicate_root_key")], id="Car and car"
        ),
        pytest.param(
            [entry("car", children=[entry("size", "select"), entry("SIZE", "freetext")])],
            [("entries[0].children[1].key", "duplicate_key")],
            id="same key twice in one tree",
        ),
        pytest.param(
            [entry("car", children=[entry("Car", "select")])],
            [("entries[0].children[0].key", "duplicate_key")],
            id="child with the key of its root",
        ),
        pytest.param(
            [entry("car", shortcut="1"), entry("bus", children=[entry("wheel", "point", shortcut="1")])],
            [("entries[1].children[0].shortcut", "duplicate_shortcut")],
            id="shortcut used twice",
        ),
        pytest.param([entry(shortcut="12")], [("entries[0].shortcut", "shortcut_pattern")], id="two-digit shortcut"),
        pytest.param([entry(shortcut="é")], [("entries[0].shortcut", "shortcut_pattern")], id="accented shortcut"),
        pytest.param([entry(shortcut="+")], [("entries[0].shortcut", "shortcut_pattern")], id="symbol shortcut"),
        pytest.param(
            [entry("car", shortcut="b"), entry("bus", shortcut="B")],
            [("entries[1].shortcut", "duplicate_shortcut")],
            id="letter shortcut used twice in two cases",
        ),
        pytest.param([entry("polygon")], [("entries[0].key", "forbidden_keyword")], id="forbidden polygon"),
        pytest.param([entry("imageId")], [("entries[0].key", "forbidden_keyword")], id="forbidden imageId"),
        pytest.param(
            [entry("weather", "select", children=[entry("sun", "point")])],
            [("entries[0].children[0].type", "geometry_nesting")],
            id="geometry under a classification",
        ),
        pytest.param(
            [entry("car", children=[entry("wheel", "point", children=[entry("bolt", "point")])])],
            [("entries[0].children[0].children[0].type", "geometry_nesting")],
            id="geometry three levels down",
        ),
        pytest.param(
            [
                entry(
                    "a",
                    "select",
                    children=[
                        entry(
                            "b",
                            "select",
                            children=[
                                entry("c", "select", children=[entry("d", "select", children=[entry("e", "select")])])
                            ],
                        )
                    ],
                )
            ],
            [("entries[0].children[0].children[0].children[0].children[0]", "depth")],
            id="five levels",
        ),
        pytest.param(
            [datagym_entry("comment", "freetext", entryValue="Comment")],
            [("entries[0].max_length", "freetext_max_length")],
            id="datagym freetext without maxLength",
        ),
        pytest.param(
            [entry("comment", "freetext", max_length=0)],
            [("entries[0].max_length", "freetext_max_length")],
            id="freetext max_length 0",
        ),
        pytest.param(
            [entry("comment", "freetext", max_length=256)],
            [("entries[0].max_length", "freetext_max_length_range")],
            id="freetext max_length 256",
        ),
        pytest.param(
            [entry("size", "select", options=[{"key": "", "label": "Empty"}])],
            [("entries[0].options[0].key", "option_key_required")],
            id="empty option key",
        ),
        pytest.param(
            [entry("size", "checklist", options=[{"key": "big"}, {"key": "small"}, {"key": "big"}])],
            [("entries[0].options[2].key", "duplicate_option_key")],
            id="duplicate option key",
        ),
        pytest.param(
            [entry("size", "select", options={"big!": "Big"})],
            [("entries[0].options[0].key", "option_key_pattern")],
            id="option key pattern",
        ),
        pytest.param(
            [entry("car", options=[{"key": "a"}])],
            [("entries[0].options", "options_not_allowed")],
            id="options on a geometry",
        ),
        pytest.param(
            [
                entry("car", schema_id="s-1"),
                entry("size", "select", options=[{"key": "a", "schema_id": "s-1"}]),
            ],
            [("entries[1].options[0].schema_id", "duplicate_schema_id")],
            id="schema id used twice",
        ),
        pytest.param(
            [entry("car", schema_id="s" * 65)], [("entries[0].schema_id", "schema_id_length")], id="long schema id"
        ),
        pytest.param([entry("car", "radio")], [("entries[0].type", "unknown_type")], id="unknown type"),
    ],
)
def test_replace_rejects_a_broken_rule_at_its_path(entries, expected):
    assert problems(entries) == expected


@pytest.mark.parametrize(
    "entries",
    [
        pytest.param([entry("freetext", "freetext")], id="freetext is not forbidden (DataGym's typo)"),
        pytest.param([entry("Polygon")], id="forbidden keywords are case-sensitive"),
        pytest.param(
            [entry("car", children=[entry("size", "select")]), entry("bus", children=[entry("size", "select")])],
            id="same key in two trees",
        ),
        pytest.param([entry("car", children=[entry("wheel", "point")])], id="geometry under a root geometry"),
        pytest.param(
            [
                entry(
                    "a",
                    "select",
                    children=[entry("b", "select", children=[entry("c", "select", children=[entry("d", "select")])])],
                )
            ],
            id="four levels",
        ),
        pytest.param([entry("k" * 56, title="t" * 128)], id="longest key and title"),
        pytest.param([datagym_entry(entryValue="Crème brûlée (x)?")], id="datagym title with accents"),
        pytest.param([entry("car", shortcut="0"), entry("bus", shortcut="")], id="shortcut 0 and none"),
    ],
)
def test_replace_accepts_configurations_within_the_rules(entries):
    assert problems(entries) == []


def test_freetext_in_our_form_defaults_to_255_characters():
    configuration = new_configuration()
    label_config_replace(configuration=configuration, entries=[entry("comment", "freetext")])
    assert LabelEntry.objects.get(configuration=configuration).max_length == 255


def test_validate_reports_every_problem_at_once():
    found = problems(
        [
            entry("Car", shortcut="1"),
            entry("car", shortcut="2"),
            entry("label", shortcut="1"),
            entry("weather", "select", children=[entry("sun", "point")]),
        ]
    )
    assert found == [
        ("entries[1].key", "duplicate_root_key"),
        ("entries[2].key", "forbidden_keyword"),
        ("entries[2].shortcut", "duplicate_shortcut"),
        ("entries[3].children[0].type", "geometry_nesting"),
    ]


def test_shape_errors_and_rule_errors_come_back_together():
    found = problems([{"title": "No key", "type": "point"}, entry("car", shortcut="11")])
    assert found == [("entries[0].key", "required"), ("entries[1].shortcut", "shortcut_pattern")]


def test_errors_carry_datagym_params_and_a_message():
    by_code = {
        d.code: d
        for d in details(
            [
                entry("Car", shortcut="1"),
                entry("car", shortcut="1"),
                entry("polygon"),
                entry("weather", "select", children=[entry("area", "segmentation")]),
                datagym_entry("comment", "FREETEXT", entryValue="Comment"),
                entry("x" * 57),
            ]
        )
    }
    assert by_code["duplicate_root_key"].params == ("Label entry", "entryKey:", "car")
    assert by_code["duplicate_shortcut"].params == ("Shortcut", "value:", "1")
    assert by_code["forbidden_keyword"].params == ("polygon",)
    assert by_code["geometry_nesting"].params == ("image_segmentation",)
    assert by_code["freetext_max_length"].params == ("FREETEXT",)
    assert by_code["key_length"].params == ("Entry Key", "56", "1")
    assert all(d.message.endswith(".") and len(d.message) > 20 for d in by_code.values())


def test_validate_reports_an_unknown_type_in_a_hand_made_spec():
    errors = label_config_validate(entries=[EntrySpec(key="car", title="Car", type="boat")])
    assert [(e.path, e.code, e.params) for e in errors] == [("entries[0].type", "unknown_type", ("entry type",))]


def test_a_rejected_replace_keeps_the_old_configuration():
    configuration = new_configuration()
    label_config_replace(configuration=configuration, entries=[entry("bus")])
    with pytest.raises(ValidationFailed):
        label_config_replace(configuration=configuration, entries=[entry("car"), entry("CAR")])
    assert [n["key"] for n in label_config_tree(configuration=configuration)] == ["bus"]


def test_replace_rejects_entries_that_are_not_a_list():
    with pytest.raises(ValidationFailed) as caught:
        label_config_replace(configuration=new_configuration(), entries="car")
    assert [(d.path, d.code) for d in caught.value.details] == [("entries", "invalid_type")]


# --- writing and reading back ---------------------------------------------------------------


def test_section_4_5_config_round_trips_through_replace_tree_replace():
    configuration = new_configuration()
    label_config_replace(configuration=configuration, entries=SECTION_4_5_CONFIG)
    first = label_config_tree(configuration=configuration)

    assert [n["key"] for n in first] == ["bus", "car", "weather", "street", "poi"]
    car = first[1]
    assert [(c["key"], c["type"]) for c in car["children"]] == [("car_type", "select"), ("wheel", "point")]
    assert first[2]["children"][0]["key"] == "daytime"
    assert [o["key"] for o in car["children"][0]["options"]] == ["suv", "van"]

    other = new_configuration()
    label_config_replace(configuration=other, entries=copy.deepcopy(first))
    second = label_config_tree(configuration=other)
    assert without_ids(second) == without_ids(first)


def test_schema_ids_are_kept_verbatim_when_given_and_generated_when_not():
    configuration = new_configuration()
    label_config_replace(
        configuration=configuration,
        entries=[
            entry("car", schema_id="ckx-car-01"),
            entry("size", "select", options=[{"key": "big", "schema_id": "ckx-big"}, {"key": "small"}]),
        ],
    )
    car, size = label_config_tree(configuration=configuration)
    assert car["schema_id"] == "ckx-car-01"
    assert size["schema_id"]
    assert size["schema_id"] != car["schema_id"]
    assert size["options"][0]["schema_id"] == "ckx-big"
    assert size["options"][1]["schema_id"] not in {"", None, "ckx-big"}


def test_keys_are_stored_lower_case_in_order():
    configuration = new_configuration()
    label_config_replace(
        configuration=configuration, entries=[entry("Bus"), entry("Car", children=[entry("Car_Type", "select")])]
    )
    rows = LabelEntry.objects.filter(configuration=configuration)
    assert sorted((r.key, r.position) for r in rows) == [("bus", 0), ("car", 1), ("car_type", 0)]


def test_replace_deletes_the_labels_of_the_old_entries():
    project = ProjectFactory()
    configuration = project.label_configuration
    label_config_replace(configuration=configuration, entries=[entry("car"), entry("bus")])
    car = LabelEntry.objects.get(configuration=configuration, key="car")
    task = TaskFactory(project=project)
    LabelFactory(task=task, entry=car)
    LabelFactory(task=task, entry=car)
    other_project_label = LabelFactory(entry=_entry_of_another_project())

    label_config_replace(configuration=configuration, entries=[entry("bus")])

    assert not Label.objects.filter(task=task).exists()
    assert Label.objects.filter(pk=other_project_label.pk).exists()
    assert [n["key"] for n in label_config_tree(configuration=configuration)] == ["bus"]


def _entry_of_another_project() -> LabelEntry:
    configuration = new_configuration()
    label_config_replace(configuration=configuration, entries=[entry("car")])
    return LabelEntry.objects.get(configuration=configuration)


def test_clear_empties_the_configuration_and_deletes_its_labels():
    project = ProjectFactory()
    configuration = project.label_configuration
    assert label_config_is_empty(configuration=configuration)
    label_config_replace(configuration=configuration, entries=SECTION_4_5_CONFIG)
    assert not label_config_is_empty(configuration=configuration)
    LabelFactory(
        task=TaskFactory(project=project), entry=LabelEntry.objects.get(configuration=configuration, key="bus")
    )

    label_config_clear(configuration=configuration)

    assert label_config_is_empty(configuration=configuration)
    assert not Label.objects.filter(task__project=project).exists()


def test_datagym_entries_have_the_shape_of_the_put_response():
    configuration = new_configuration()
    label_config_replace(
        configuration=configuration,
        entries=[*DATAGYM_BUILDER_OUTPUT, datagym_entry("road", "image_segmentation", entryValue="Road")],
    )
    car, comment, road = label_config_datagym_entries(configuration=configuration)
    car_type = car["children"][0]
    assert car["lcEntryParentId"] is None
    assert car_type["lcEntryParentId"] == car["id"]
    assert (car["entryKey"], car["entryValue"], car["type"], car["color"], car["shortcut"]) == (
        "car",
        "Car",
        "RECTANGLE",
        "red",
        "1",
    )
    assert (car_type["type"], car_type["required"], car_type["options"]) == ("SELECT", True, {"a": "A", "b": "B"})
    assert (car_type["color"], car_type["shortcut"], car_type["maxLength"]) == (None, None, None)
    assert (comment["type"], comment["maxLength"], comment["options"]) == ("FREETEXT", 10, {})
    assert road["type"] == "IMAGE_SEGMENTATION"
    assert isinstance(car["timestamp"], int)
    assert car["timestamp"] > 1_600_000_000_000
    assert set(car) == {
        "id", "lcEntryParentId", "entryKey", "entryValue", "type", "color", "shortcut",
        "timestamp", "maxLength", "required", "options", "children",
    }  # fmt: skip


def test_datagym_entries_are_accepted_back_by_replace():
    configuration = new_configuration()
    label_config_replace(configuration=configuration, entries=DATAGYM_BUILDER_OUTPUT)
    response = label_config_datagym_entries(configuration=configuration)
    other = new_configuration()
    label_config_replace(configuration=other, entries=response)
    assert label_config_datagym_entries(configuration=other)[0]["children"][0]["options"] == {"a": "A", "b": "B"}


def test_project_create_stores_the_given_configuration():
    project = project_create(organization=OrganizationFactory(), name="Traffic", label_configuration=SECTION_4_5_CONFIG)
    assert len(label_config_tree(configuration=project.label_configuration)) == 5


# --- the resolver ---------------------------------------------------------------------------


def test_index_resolves_roots_children_and_schema_ids_from_one_query(django_assert_num_queries):
    configuration = new_configuration()
    config = copy.deepcopy(SECTION_4_5_CONFIG)
    config[1]["schema_id"] = "car-schema"
    config[1]["children"][0]["options"][0]["schema_id"] = "suv-schema"
    label_config_replace(configuration=configuration, entries=config)

    with django_assert_num_queries(1):
        index = label_config_index(configuration=configuration)

    assert list(index.roots) == ["bus", "car", "weather", "street", "poi"]
    car = index.roots["car"]
    assert index.by_schema_id["car-schema"] is car
    car_type = index.child(car.id, "car_type")
    assert car_type is not None
    assert car_type.option_keys == ("suv", "van")
    assert index.options_by_schema_id["suv-schema"] == (car_type.id, "suv")
    assert [c.key for c in index.children_of(car.id)] == ["car_type", "wheel"]
    assert index.child(car.id, "daytime") is None
    assert index.entries[car_type.id].parent_id == car.id
    assert index.roots["weather"].is_classification
    assert car.is_geometry


# --- bounded queries ------------------------------------------------------------------------


def big_config() -> list[dict[str, Any]]:
    """200 entries: 40 root geometries, each with a question that has a sub-question, and a nested point."""
    return [
        entry(
            f"class_{i}",
            "polygon",
            children=[
                entry(
                    "kind",
                    "select",
                    options=[{"key": "a"}, {"key": "b"}],
                    children=[
                        entry("detail", "checklist", options=[{"key": "x"}], children=[entry("note", "freetext")])
                    ],
                ),
                entry("part", "point"),
            ],
        )
        for i in range(40)
    ]


def test_replace_and_tree_of_200_entries_use_a_bounded_number_of_queries(django_assert_max_num_queries):
    configuration = new_configuration()
    label_config_replace(configuration=configuration, entries=big_config())
    assert LabelEntry.objects.filter(configuration=configuration).count() == 200

    # About one insert per tree level (SQLite splits a level into batches), never one per entry.
    with django_assert_max_num_queries(20):
        label_config_replace(configuration=configuration, entries=big_config())
    with django_assert_max_num_queries(1):
        tree = label_config_tree(configuration=configuration)
    with django_assert_max_num_queries(1):
        label_config_datagym_entries(configuration=configuration)
    assert len(tree) == 40
    assert tree[39]["children"][0]["children"][0]["children"][0]["key"] == "note"


# --- labels name their class without a database constraint: writers hold the configuration ---


@pytest.mark.django_db(transaction=True)
def test_a_replace_waits_for_a_label_writer_holding_the_configuration_then_changes_its_stamp():
    import threading
    import time

    from django.db import connection, transaction

    from projects.label_config import label_config_hold

    project = ProjectFactory()
    label_config_replace(configuration=project.label_configuration, entries=DATAGYM_BUILDER_OUTPUT)
    before = label_config_hold(project_id=project.pk)
    held = threading.Event()
    events: list[str] = []

    def writer() -> None:
        try:
            with transaction.atomic():
                assert label_config_hold(project_id=project.pk) == before
                held.set()
                time.sleep(0.5)  # writing labels with the classes it resolved
                events.append("writer committed")
        finally:
            connection.close()

    def replacer() -> None:
        try:
            held.wait(10)
            label_config_replace(
                configuration=LabelConfiguration.objects.get(project=project), entries=DATAGYM_BUILDER_OUTPUT
            )
            events.append("replaced")
        finally:
            connection.close()

    threads = [threading.Thread(target=writer), threading.Thread(target=replacer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert events == ["writer committed", "replaced"]
    assert label_config_hold(project_id=project.pk) != before  # a later writer sees the change
