"""Saving a configuration from the editor keeps the labels of entries that stay and says what goes."""

from __future__ import annotations

from typing import Any

import pytest

from labeling.models import Label
from labelsite.errors import Conflict, ValidationFailed
from projects.label_config import label_config_replace, label_config_tree
from projects.models import LabelEntry
from projects.services import label_config_change_impact, label_config_problems, label_config_save
from tests.factories import LabelFactory, ProjectFactory, TaskFactory

pytestmark = pytest.mark.django_db

CONFIG: list[dict[str, Any]] = [
    {
        "key": "car",
        "title": "Car",
        "type": "rectangle",
        "children": [
            {
                "key": "colour",
                "title": "Colour",
                "type": "select",
                "options": [{"key": "red", "label": "Red"}, {"key": "blue", "label": "Blue"}],
            }
        ],
    },
    {"key": "person", "title": "Person", "type": "point"},
    {"key": "weather", "title": "Weather", "type": "select", "options": [{"key": "sun", "label": "Sun"}]},
]


@pytest.fixture
def labelled_project() -> Any:
    project: Any = ProjectFactory()
    label_config_replace(configuration=project.label_configuration, entries=CONFIG)
    task = TaskFactory(project=project, answers={"weather": {"value": "sun", "answers": {}}})
    car = LabelEntry.objects.get(key="car")
    person = LabelEntry.objects.get(key="person")
    LabelFactory(task=task, entry=car, answers={"colour": {"value": "red", "answers": {}}})
    LabelFactory(task=task, entry=car, answers={"colour": {"value": "blue", "answers": {}}})
    LabelFactory(task=task, entry=person)
    return project


def current_tree(project: Any) -> list[dict[str, Any]]:
    return label_config_tree(configuration=project.label_configuration)


def test_save_keeps_labels_of_entries_that_stay_and_renames_them(labelled_project: Any) -> None:
    tree = current_tree(labelled_project)
    tree[0]["title"] = "Vehicle"
    tree[0]["key"] = "vehicle"
    tree.append({"key": "tree", "title": "Tree", "type": "polygon"})

    _, impact = label_config_save(configuration=labelled_project.label_configuration, entries=tree)

    assert not impact.loses_work
    assert Label.objects.count() == 3
    assert LabelEntry.objects.get(key="vehicle").labels.count() == 2
    assert [e["key"] for e in current_tree(labelled_project)] == ["vehicle", "person", "weather", "tree"]


def test_impact_counts_labels_of_removed_classes_and_answers_of_removed_options(labelled_project: Any) -> None:
    tree = current_tree(labelled_project)
    del tree[1]  # person: 1 label
    tree[0]["children"][0]["options"] = [tree[0]["children"][0]["options"][1]]  # red goes: 1 answer
    tree[1]["options"] = []  # weather: sun goes, 1 global answer

    impact = label_config_change_impact(configuration=labelled_project.label_configuration, new_entries=tree)

    assert impact.removed_classes == [{"key": "person", "title": "Person", "type": "point", "label_count": 1}]
    assert sorted((o["option_key"], o["answer_count"]) for o in impact.removed_options) == [("red", 1), ("sun", 1)]
    assert impact.labels_lost == 1
    assert impact.answers_lost == 2


def test_save_refuses_to_lose_labels_without_confirmation(labelled_project: Any) -> None:
    tree = current_tree(labelled_project)
    del tree[1]

    with pytest.raises(Conflict) as error:
        label_config_save(configuration=labelled_project.label_configuration, entries=tree)

    assert error.value.code == "labels_would_be_lost"
    assert error.value.params[0]["labels_lost"] == 1
    assert Label.objects.count() == 3


def test_confirmed_save_deletes_only_the_removed_class_labels(labelled_project: Any) -> None:
    tree = current_tree(labelled_project)
    del tree[1]

    label_config_save(configuration=labelled_project.label_configuration, entries=tree, confirm_loss=True)

    assert Label.objects.count() == 2
    assert not LabelEntry.objects.filter(key="person").exists()


def test_type_change_counts_as_removing_the_class(labelled_project: Any) -> None:
    tree = current_tree(labelled_project)
    tree[1]["type"] = "polygon"

    impact = label_config_change_impact(configuration=labelled_project.label_configuration, new_entries=tree)

    assert impact.labels_lost == 1


def test_renaming_a_question_key_reports_its_answers_as_lost(labelled_project: Any) -> None:
    tree = current_tree(labelled_project)
    tree[0]["children"][0]["key"] = "paint"

    impact = label_config_change_impact(configuration=labelled_project.label_configuration, new_entries=tree)

    assert impact.removed_questions == [{"key": "colour", "title": "Colour", "answer_count": 2}]


def test_problems_are_those_of_the_service_with_paths() -> None:
    entries = [
        {
            "key": "car",
            "title": "Car",
            "type": "rectangle",
            "children": [{"key": "bad!", "title": "X", "type": "select"}],
        }
    ]

    problems = label_config_problems(entries=entries)

    assert [(p.path, p.code) for p in problems] == [("entries[0].children[0].key", "key_pattern")]
    other: Any = ProjectFactory()
    with pytest.raises(ValidationFailed) as error:
        label_config_replace(configuration=other.label_configuration, entries=entries)
    assert error.value.details == problems
