"""DataGym import semantics (reference/datagym.md section 4) through the inline service."""

from __future__ import annotations

import pytest

from imports.services import import_items_inline
from labeling.models import Label, Task
from labelsite.errors import NotFound, ValidationFailed
from tests.imports.conftest import item

pytestmark = pytest.mark.django_db

FULL_EXAMPLE_LABELS = {
    "car": [
        {
            "polygon": [{"x": 57, "y": 412}, {"x": 54.5, "y": "463"}, {"x": 130, "y": 524}],
            "classifications": {"car_type": [None]},
            "nested_geometries": {"wheel": [{"point": [{"x": 60, "y": 500}], "classifications": {}}]},
        }
    ],
    "bus": [{"rectangle": [{"x": 272, "y": 302, "w": 324, "h": 169}], "classifications": {}}],
    "street": [{"line": [{"x": 57, "y": 412}, {"x": 54, "y": 463}]}],
    "poi": [{"point": [{"x": 57, "y": 412}], "classifications": {}}],
}


def full_example(task):
    return item(
        task,
        keepData=False,
        global_classifications={"weather": ["sunny", {"daytime": ["day"]}]},
        labels=FULL_EXAMPLE_LABELS,
    )


def labels_by_class(task) -> dict[str, list[Label]]:
    found: dict[str, list[Label]] = {}
    for label in Label.objects.filter(task=task).select_related("entry").order_by("id"):
        found.setdefault(label.entry.key, []).append(label)
    return found


def schema_error(project, items) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        import_items_inline(project=project, items=items)
    assert caught.value.code == "schema_invalid"
    assert Label.objects.count() == 0
    return caught.value


# --- 4.5 the full example ----------------------------------------------------------------------


def test_import_full_example_writes_one_label_per_geometry_with_points_in_pixels(configured_project, task):
    result = import_items_inline(project=configured_project, items=[full_example(task)])

    assert (result.items, result.labels_written, result.tasks_updated) == (1, 5, 1)
    labels = labels_by_class(task)
    assert labels["car"][0].points == [[57, 412], [54.5, 463], [130, 524]]
    assert labels["bus"][0].points == [[272, 302], [596, 471]]
    assert labels["street"][0].points == [[57, 412], [54, 463]]
    assert labels["poi"][0].points == [[57, 412]]
    assert all(label.source == "import" for group in labels.values() for label in group)


def test_import_nests_the_wheel_under_its_car(configured_project, task):
    import_items_inline(project=configured_project, items=[full_example(task)])

    labels = labels_by_class(task)
    assert labels["wheel"][0].parent_id == labels["car"][0].id
    assert labels["wheel"][0].points == [[60, 500]]
    assert labels["car"][0].parent_id is None


def test_import_stores_answers_of_geometries_and_global_answers(configured_project, task):
    import_items_inline(project=configured_project, items=[full_example(task)])

    car = labels_by_class(task)["car"][0]
    assert car.answers == {"car_type": {"value": None}}
    task.refresh_from_db()
    assert task.answers["weather"] == {"value": "sunny", "answers": {"daytime": {"value": "day"}}}
    # Every global question gets a value, empty when not given.
    assert task.answers["tags"] == {"value": []}
    assert task.answers["comment"] == {"value": None}
    assert task.has_import is True


def test_import_accepts_string_coordinates(configured_project, task):
    labels = {"poi": [{"point": [{"x": "12", "y": "7"}]}]}
    import_items_inline(project=configured_project, items=[item(task, labels=labels)])

    assert labels_by_class(task)["poi"][0].points == [[12, 7]]


def test_import_reads_coordinates_by_class_type_not_by_property_name(configured_project, task):
    labels = {"street": [{"polygon": [{"x": 1, "y": 2}, {"x": 3, "y": 4}, {"x": 5, "y": 6}]}]}
    import_items_inline(project=configured_project, items=[item(task, labels=labels)])

    street = labels_by_class(task)["street"][0]
    assert street.points == [[1, 2], [3, 4], [5, 6]]
    assert street.valid is True


def test_import_accepts_the_deprecated_geometry_key(configured_project, task):
    labels = {
        "car": [{"geometry": [{"x": 1, "y": 2}, {"x": 3, "y": 4}, {"x": 5, "y": 6}]}],
        "bus": [{"geometry": [{"x": 1, "y": 2, "w": 10, "h": 20}]}],
    }
    import_items_inline(project=configured_project, items=[item(task, labels=labels)])

    found = labels_by_class(task)
    assert found["car"][0].points == [[1, 2], [3, 4], [5, 6]]
    assert found["bus"][0].points == [[1, 2], [11, 22]]


def test_import_skips_items_without_internal_media_id(configured_project, task):
    items = [{"labels": {"poi": [{"point": [{"x": 1, "y": 1}]}]}}, item(task, labels=FULL_EXAMPLE_LABELS)]
    result = import_items_inline(project=configured_project, items=items)

    assert (result.items, result.items_skipped, result.labels_written) == (2, 1, 5)


def test_import_ignores_unknown_top_level_keys(configured_project, task):
    result = import_items_inline(project=configured_project, items=[item(task, image_name="a.jpg", labels={})])

    assert result.labels_written == 0


# --- keepData ------------------------------------------------------------------------------------


def test_import_with_keep_data_adds_to_existing_labels(configured_project, task):
    import_items_inline(project=configured_project, items=[full_example(task)])
    import_items_inline(project=configured_project, items=[item(task, keepData=True, labels=FULL_EXAMPLE_LABELS)])

    assert Label.objects.filter(task=task).count() == 10


def test_import_without_keep_data_key_adds_like_keep_data_true(configured_project, task):
    import_items_inline(project=configured_project, items=[full_example(task)])
    import_items_inline(project=configured_project, items=[item(task, labels=FULL_EXAMPLE_LABELS)])

    assert Label.objects.filter(task=task).count() == 10


def test_import_with_keep_data_false_replaces_labels_and_global_answers(configured_project, task):
    import_items_inline(project=configured_project, items=[full_example(task)])
    replacement = item(task, keepData=False, labels={"poi": [{"point": [{"x": 1, "y": 1}]}]})
    import_items_inline(project=configured_project, items=[replacement])

    assert list(labels_by_class(task)) == ["poi"]
    task.refresh_from_db()
    assert task.answers["weather"]["value"] is None


def test_import_with_keep_data_keeps_a_stored_answer_that_the_item_leaves_empty(configured_project, task):
    import_items_inline(project=configured_project, items=[full_example(task)])
    import_items_inline(
        project=configured_project, items=[item(task, global_classifications={"weather": [None], "comment": ["hi"]})]
    )

    task.refresh_from_db()
    assert task.answers["weather"]["value"] == "sunny"
    assert task.answers["comment"]["value"] == "hi"


def test_a_later_item_with_keep_data_false_wipes_an_earlier_one_for_the_same_media(configured_project, task):
    first = item(task, labels=FULL_EXAMPLE_LABELS)
    second = item(task, keepData=False, labels={"street": FULL_EXAMPLE_LABELS["street"]})
    import_items_inline(project=configured_project, items=[first, second])

    assert list(labels_by_class(task)) == ["street"]


def test_keep_data_false_touches_only_the_named_media(configured_project, make_task):
    kept, replaced = make_task(), make_task()
    import_items_inline(project=configured_project, items=[full_example(kept), full_example(replaced)])
    import_items_inline(project=configured_project, items=[item(replaced, keepData=False, labels={})])

    assert Label.objects.filter(task=kept).count() == 5
    assert Label.objects.filter(task=replaced).count() == 0


# --- lenient classification checks -------------------------------------------------------------


def test_import_clears_an_unknown_select_option_and_marks_it_invalid(configured_project, task):
    import_items_inline(project=configured_project, items=[item(task, global_classifications={"weather": ["snow"]})])

    task.refresh_from_db()
    assert task.answers["weather"]["value"] is None
    assert task.answers["weather"]["valid"] is False


def test_import_keeps_a_too_long_free_text_marked_invalid(configured_project, task):
    text = "far too long for ten"
    import_items_inline(project=configured_project, items=[item(task, global_classifications={"comment": [text]})])

    task.refresh_from_db()
    assert task.answers["comment"] == {"value": text, "valid": False}


def test_import_keeps_unknown_options_of_a_non_required_checklist_as_valid(configured_project, task):
    import_items_inline(project=configured_project, items=[item(task, global_classifications={"tags": ["a", "zz"]})])

    task.refresh_from_db()
    assert task.answers["tags"] == {"value": ["a", "zz"]}


def test_import_marks_a_required_question_left_empty_invalid_without_failing(configured_project, task):
    result = import_items_inline(project=configured_project, items=[item(task, global_classifications={})])

    task.refresh_from_db()
    assert result.tasks_updated == 1
    assert task.answers["weather"]["valid"] is False


def test_import_marks_a_polygon_read_from_one_point_invalid(configured_project, task):
    labels = {"car": [{"point": [{"x": 1, "y": 2}]}]}
    import_items_inline(project=configured_project, items=[item(task, labels=labels)])

    car = labels_by_class(task)["car"][0]
    assert car.points == [[1, 2]]
    assert car.valid is False


def test_import_creates_a_geometry_without_points_from_an_object_with_only_classifications(configured_project, task):
    labels = {"car": [{"classifications": {"car_type": ["suv"]}}]}
    import_items_inline(project=configured_project, items=[item(task, labels=labels)])

    car = labels_by_class(task)["car"][0]
    assert (car.points, car.answers, car.valid) == ([], {"car_type": {"value": "suv"}}, False)


# --- matching media ------------------------------------------------------------------------------


def test_import_matches_media_by_name_when_asked(configured_project, make_task):
    task = make_task(name="street_042.jpg")
    items = [{"internal_media_ID": "street_042.jpg", "labels": {"poi": [{"point": [{"x": 1, "y": 1}]}]}}]
    import_items_inline(project=configured_project, items=items, options={"match_by": "name"})

    assert Label.objects.filter(task=task).count() == 1


def test_import_matches_media_by_name_from_a_datagym_export_item(configured_project, make_task):
    task = make_task(name="awesome_image.jpg")
    items = [{"internal_media_ID": "id-on-another-server", "external_media_ID": "awesome_image.jpg", "labels": {}}]
    result = import_items_inline(project=configured_project, items=items, options={"match_by": "name"})

    assert result.tasks_updated == 1
    assert Task.objects.get(pk=task.pk).has_import is True


def test_import_matches_media_by_external_id_and_global_key(configured_project, make_task):
    by_external = make_task(external_id="ext-7")
    by_key = make_task(global_key="key-9")
    poi = {"poi": [{"point": [{"x": 1, "y": 1}]}]}
    import_items_inline(
        project=configured_project,
        items=[{"internal_media_ID": "ext-7", "labels": poi}],
        options={"match_by": "external_id"},
    )
    import_items_inline(
        project=configured_project,
        items=[{"internal_media_ID": "key-9", "labels": poi}],
        options={"match_by": "global_key"},
    )

    assert Label.objects.filter(task=by_external).count() == 1
    assert Label.objects.filter(task=by_key).count() == 1


def test_import_rejects_an_ambiguous_media_name(configured_project, make_task, dataset):
    make_task(name="same.jpg")
    other = type(dataset).objects.create(organization=dataset.organization, name="second")
    other.projects.add(configured_project)
    from tests.factories import MediaFactory, TaskFactory

    TaskFactory(project=configured_project, media=MediaFactory(dataset=other, name="same.jpg"))
    with pytest.raises(ValidationFailed) as caught:
        import_items_inline(
            project=configured_project, items=[{"internal_media_ID": "same.jpg"}], options={"match_by": "name"}
        )
    assert caught.value.code == "media_ambiguous"


# --- 4.6 semantic errors: nothing is written, the error names the key -----------------------------


def semantic_error(project, items, error=ValidationFailed):
    with pytest.raises(error) as caught:
        import_items_inline(project=project, items=items)
    assert Label.objects.count() == 0
    return caught.value


def test_import_rejects_an_unknown_media_id(configured_project, task):
    error = semantic_error(configured_project, [full_example(task), {"internal_media_ID": "nope"}], NotFound)

    assert (error.code, error.params) == ("media_not_found", ())
    assert error.details[0].path == "#/1/internal_media_ID"


def test_import_rejects_media_of_a_dataset_not_connected_to_the_project(configured_project):
    from tests.factories import MediaFactory

    stranger = MediaFactory()
    error = semantic_error(configured_project, [{"internal_media_ID": str(stranger.id)}], NotFound)

    assert error.code == "media_not_found"


@pytest.mark.parametrize(
    ("fields", "key", "path"),
    [
        ({"global_classifications": {"colour": ["red"]}}, "colour", "#/0/global_classifications/colour"),
        ({"global_classifications": {"car": ["x"]}}, "car", "#/0/global_classifications/car"),
        ({"labels": {"truck": [{}]}}, "truck", "#/0/labels/truck"),
        ({"labels": {"weather": [{}]}}, "weather", "#/0/labels/weather"),
        ({"labels": {"wheel": [{}]}}, "wheel", "#/0/labels/wheel"),
        ({"labels": {"car": [{"classifications": {"size": ["l"]}}]}}, "size", "#/0/labels/car/0/classifications/size"),
        (
            {"labels": {"car": [{"nested_geometries": {"door": [{}]}}]}},
            "door",
            "#/0/labels/car/0/nested_geometries/door",
        ),
        (
            {"labels": {"car": [{"nested_geometries": {"car_type": [{}]}}]}},
            "car_type",
            "#/0/labels/car/0/nested_geometries/car_type",
        ),
        (
            {"global_classifications": {"weather": ["sunny", {"season": ["summer"]}]}},
            "season",
            "#/0/global_classifications/weather/1/season",
        ),
    ],
)
def test_import_rejects_unknown_keys_naming_them(configured_project, task, fields, key, path):
    error = semantic_error(configured_project, [item(task, **fields)])

    assert (error.code, error.params) == ("unknown_entry", (key,))
    assert error.details[0].path == path
    assert repr(key) in error.message


def test_import_rejects_a_box_on_a_polygon_class(configured_project, task):
    labels = {"car": [{"rectangle": [{"x": 1, "y": 2, "w": 3, "h": 4}]}]}
    error = semantic_error(configured_project, [item(task, labels=labels)])

    assert (error.code, error.params) == ("geometry_type_mismatch", ("POLYGON",))
    assert error.details[0].path == "#/0/labels/car/0/rectangle/0"


def test_import_rejects_a_rectangle_with_an_extra_key(configured_project, task):
    labels = {"bus": [{"rectangle": [{"x": 1, "y": 2, "w": 3, "h": 4, "angle": 5}]}]}
    error = semantic_error(configured_project, [item(task, labels=labels)])

    assert (error.code, error.params) == ("rectangle_extra_key", ("RECTANGLE",))
    assert "angle" in error.message


def test_import_reports_every_semantic_error_with_the_first_as_the_code(configured_project, task):
    items = [{"internal_media_ID": "nope", "labels": {"truck": [{}]}}, item(task, labels={"plane": [{}]})]
    error = semantic_error(configured_project, items, NotFound)

    assert [d.code for d in error.details] == ["media_not_found", "unknown_entry", "unknown_entry"]


# --- 4.4 schema errors: every one, located, nothing written ------------------------------------


@pytest.mark.parametrize(
    ("items", "path", "text"),
    [
        ([], "#", "Must have at least 1 item, not 0. The file needs at least one item."),
        (
            [{"labels": {"car": [{"polygon": [{"x": 1, "y": 1}, {"x": 2, "y": 2}]}]}}],
            "#/0/labels/car/0/polygon",
            "Must have at least 3 items, not 2.",
        ),
        (
            [{"labels": {"bus": [{"rectangle": [{"x": 1, "y": 1, "w": 1}]}]}}],
            "#/0/labels/bus/0/rectangle/0",
            'Must have the key "h".',
        ),
        ([{"keepData": "false"}], "#/0/keepData", 'Must be true or false (a JSON boolean), not the string "false".'),
        ([{"internal_media_ID": 123}], "#/0/internal_media_ID", "Must be a string, not the number 123."),
        (
            [{"labels": {"poi": [{"point": [{"x": -1, "y": 1}]}]}}],
            "#/0/labels/poi/0/point/0/x",
            "Must be at least 0, not the number -1.",
        ),
        (
            [{"labels": {"poi": [{"point": [{"x": "12.5", "y": 1}]}]}}],
            "#/0/labels/poi/0/point/0/x",
            'Must match the pattern ^[0-9]+$, not the string "12.5".',
        ),
        ([{"labels": {"car": [{"foo": 1}]}}], "#/0/labels/car/0", 'Must not have the key "foo".'),
        ([{"global_classifications": {"weather": [{"daytime": ["day"]}]}}], "#/0/global_classifications/weather/0", ""),
        (
            [{"global_classifications": {"weather": ["s", {"a": ["x"]}, {"b": ["y"]}]}}],
            "#/0/global_classifications/weather/2",
            "",
        ),
        (
            [{"labels": {"poi": [{"point": [{"x": 1, "y": 1}, {"x": 2, "y": 2}]}]}}],
            "#/0/labels/poi/0/point",
            "Must have at most 1 item, not 2.",
        ),
        (
            [{"labels": {"street": [{"line": [{"x": 1, "y": 1}]}]}}],
            "#/0/labels/street/0/line",
            "Must have at least 2 items, not 1.",
        ),
        (
            [{"labels": {"poi": [{"point": [{"x": 1, "y": 1, "z": 1}]}]}}],
            "#/0/labels/poi/0/point/0",
            "Must have at most 2 keys, not 3.",
        ),
        ([{"labels": {"car": {}}}], "#/0/labels/car", "Must be a list, not an object."),
        ([{"global_classifications": {"weather": [1]}}], "#/0/global_classifications/weather/0", ""),
        (
            [{"global_classifications": {"weather": "sunny"}}],
            "#/0/global_classifications/weather",
            'Must be a list, not the string "sunny".',
        ),
        (
            [{"labels": {"bus": [{"rectangle": [{"x": 1, "y": 1, "w": 1, "h": 1}] * 2}]}}],
            "#/0/labels/bus/0/rectangle",
            "Must have at most 1 item, not 2.",
        ),
        ([{"labels": {"car": [{"geometry": [{"x": 1, "y": 2}, {"x": 1}]}]}}], "#/0/labels/car/0/geometry/1", ""),
    ],
)
def test_import_rejects_schema_violations_with_their_json_pointer(configured_project, items, path, text):
    error = schema_error(configured_project, items)

    assert [d.path for d in error.details] == [path]
    assert text in error.details[0].message
    # Plain words, never jsonschema's own phrasing.
    for raw in ("is not of type", "is a required property", "was unexpected", "is not valid under", "is too "):
        assert raw not in error.details[0].message
    assert error.message == "Schema validation failed with 1 error(s)"


def test_import_reports_schema_errors_of_every_item(configured_project):
    items = [{"keepData": 1}, {"labels": {"car": [{"polygon": []}]}}]
    error = schema_error(configured_project, items)

    assert [d.path for d in error.details] == ["#/0/keepData", "#/1/labels/car/0/polygon"]
    assert error.message == "Schema validation failed with 2 error(s)"


def test_import_checks_the_schema_before_any_media_or_key(configured_project):
    items = [{"internal_media_ID": "nope", "labels": {"truck": [{"line": [{"x": 1, "y": 1}]}]}}]
    error = schema_error(configured_project, items)

    assert error.details[0].path == "#/0/labels/truck/0/line"


def test_import_rejects_a_body_that_is_not_an_array(configured_project):
    with pytest.raises(ValidationFailed) as caught:
        import_items_inline(project=configured_project, items={"internal_media_ID": "x"})
    assert caught.value.code == "not_an_array"
