import pytest

from demo.management.commands.seed_demo import DEMO_CONFIGURATION
from labeling.models import Label, TaskState
from labeling.selectors import task_annotation_get
from labeling.services import task_annotation_replace, task_complete_checked
from labelsite.errors import Conflict, ValidationFailed
from projects.label_config import label_config_replace
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def task():
    task = TaskFactory()
    label_config_replace(configuration=task.project.label_configuration, entries=DEMO_CONFIGURATION)
    return task


CAR_WITH_WHEEL = {
    "key": "car",
    "type": "polygon",
    "points": [[57, 412], [54.5, 463], [130, 524]],
    "answers": {"car_type": {"value": "suv"}},
    "children": [{"key": "wheel", "type": "point", "points": [[60, 500]]}],
}


def test_replace_stores_nested_geometries_with_their_parent_and_reads_them_back(task):
    document = {
        "answers": {"weather": {"value": "sunny", "answers": {"daytime": {"value": "day"}}}},
        "labels": [CAR_WITH_WHEEL, {"key": "bus", "type": "rectangle", "points": [[272, 302], [596, 471]]}],
    }
    stored = task_annotation_replace(task=task, document=document, expected_version=0)
    assert stored["version"] == 1
    assert stored["answers"]["weather"]["answers"]["daytime"]["value"] == "day"
    car = next(label for label in stored["labels"] if label["key"] == "car")
    assert car["points"] == [[57, 412], [54.5, 463], [130, 524]]
    assert [child["key"] for child in car["children"]] == ["wheel"]
    wheel = Label.objects.get(entry__key="wheel")
    assert wheel.parent is not None
    assert wheel.parent.entry.key == "car"
    assert task_annotation_get(task=task) == stored


def test_replace_reports_every_problem_with_its_path(task):
    document = {
        "answers": {"weather": {"value": "snowy"}, "mood": {"value": "x"}},
        "labels": [
            {"key": "car", "type": "polygon", "points": [[1, 1], [2, 2]]},
            {"key": "truck", "type": "rectangle", "points": [[0, 0], [1, 1]]},
            {**CAR_WITH_WHEEL, "answers": {"car_type": {"value": "bike"}}},
        ],
    }
    with pytest.raises(ValidationFailed) as caught:
        task_annotation_replace(task=task, document=document)
    paths = {detail.path: detail.code for detail in caught.value.details}
    assert paths == {
        "answers.weather.value": "unknown_option",
        "answers.mood": "unknown_question",
        "labels[0].points": "invalid_points",
        "labels[1].key": "unknown_class",
        "labels[2].answers.car_type.value": "unknown_option",
    }
    assert not Label.objects.exists()


def test_a_save_over_a_newer_version_is_refused_not_applied(task):
    task_annotation_replace(task=task, document={"labels": [CAR_WITH_WHEEL]}, expected_version=0)
    with pytest.raises(Conflict):
        task_annotation_replace(task=task, document={"labels": []}, expected_version=0)
    assert Label.objects.filter(task=task).count() == 2


def test_complete_is_blocked_by_an_unanswered_required_question(task):
    task_annotation_replace(task=task, document={"labels": [{**CAR_WITH_WHEEL, "answers": {}}]})
    with pytest.raises(ValidationFailed) as caught:
        task_complete_checked(task=task)
    assert [detail.path for detail in caught.value.details] == ["labels[0].answers.car_type"]
    task_annotation_replace(task=task, document={"labels": [CAR_WITH_WHEEL]})
    assert task_complete_checked(task=task).state == TaskState.COMPLETED


def test_replace_refuses_an_integer_beyond_the_float_range_instead_of_crashing(task):
    # Found by tests/security/test_datagym_validator_fuzzing.py: math.isfinite(10**400) raised
    # OverflowError in the shared geometry rules (a 500 on PUT /api/tasks/{id}/annotation).
    document = {"answers": {}, "labels": [{**CAR_WITH_WHEEL, "points": [[10**400, 1], [2, 2], [3, 1]]}]}
    with pytest.raises(ValidationFailed) as caught:
        task_annotation_replace(task=task, document=document)
    assert {detail.path: detail.code for detail in caught.value.details} == {"labels[0].points": "invalid_points"}
    assert not Label.objects.exists()
