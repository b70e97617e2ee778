"""Tasks, annotations and single labels through the native API."""

from __future__ import annotations

from typing import Any

import pytest

from labeling.models import Label, TaskState
from tests.api.conftest import World


def _set_state(world: World, state: str, assignee=None) -> None:
    world.task.state = state
    world.task.assignee = assignee
    world.task.save(update_fields=["state", "assignee"])


def test_task_list_filters_by_state_and_assignee(world: World):
    client = world.client("admin")
    url = f"/api/projects/{world.project.id}/tasks"
    assert client.get(url).json()["count"] == 1
    assert client.get(f"{url}?state=completed").json()["count"] == 0
    assert client.get(f"{url}?assignee=none").json()["count"] == 1
    _set_state(world, TaskState.IN_PROGRESS, world.annotator)
    assert client.get(f"{url}?assignee={world.annotator.pk}&state=in_progress").json()["count"] == 1
    mine = world.client("annotator").get(f"{url}?assignee=me").json()
    assert [t["id"] for t in mine["results"]] == [str(world.task.id)]
    bad = client.get(f"{url}?state=finished")
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["path"] == "state"


def test_task_get_includes_its_media(world: World):
    body = world.client("annotator").get(f"/api/tasks/{world.task.id}").json()
    assert body["media"]["name"] == "street.jpg"
    assert body["state"] == "backlog"


def test_admin_assigns_and_unassigns(world: World):
    client = world.client("admin")
    response = client.post(f"/api/tasks/{world.task.id}/assign", {"user_id": world.reviewer.pk}, format="json")
    assert response.json()["assignee_id"] == world.reviewer.pk
    response = client.post(f"/api/tasks/{world.task.id}/assign", {"user_id": None}, format="json")
    assert response.json()["assignee_id"] is None


def test_assigning_someone_outside_the_organisation_answers_400(world: World):
    from tests.factories import UserFactory

    stranger: Any = UserFactory()
    response = world.client("admin").post(f"/api/tasks/{world.task.id}/assign", {"user_id": stranger.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "user_id"


def test_annotator_may_not_take_a_task_someone_else_has(world: World):
    _set_state(world, TaskState.IN_PROGRESS, world.reviewer)
    response = world.client("annotator").post(
        f"/api/tasks/{world.task.id}/assign", {"user_id": world.annotator.pk}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_complete_with_a_required_question_unanswered_answers_400(world: World):
    from projects.models import LabelEntry

    LabelEntry.objects.filter(key="weather").update(required=True)
    response = world.client("annotator").post(f"/api/tasks/{world.task.id}/complete")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "required_unanswered"
    assert response.json()["error"]["details"][0]["path"] == "answers.weather"


def test_skipping_a_completed_task_answers_409(world: World):
    _set_state(world, TaskState.COMPLETED, world.annotator)
    response = world.client("annotator").post(f"/api/tasks/{world.task.id}/skip")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "task_state"


def test_review_rejection_sends_the_task_back_with_the_comment(world: World):
    _set_state(world, TaskState.COMPLETED)
    response = world.client("reviewer").post(
        f"/api/tasks/{world.task.id}/review", {"accept": False, "comment": "Box the second car too."}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["state"] == "in_progress"
    assert response.json()["review_comment"] == "Box the second car too."


def test_review_acceptance_marks_the_task_reviewed(world: World):
    _set_state(world, TaskState.COMPLETED)
    response = world.client("reviewer").post(f"/api/tasks/{world.task.id}/review", {"accept": True}, format="json")
    assert response.json()["state"] == "reviewed"


def test_reviewing_an_open_task_answers_409(world: World):
    response = world.client("reviewer").post(f"/api/tasks/{world.task.id}/review", {"accept": True}, format="json")
    assert response.status_code == 409


def test_annotator_may_not_change_a_completed_task_of_someone_else(world: World):
    _set_state(world, TaskState.COMPLETED, world.reviewer)
    client = world.client("annotator")
    document: dict[str, Any] = {"answers": {}, "labels": []}
    assert client.put(f"/api/tasks/{world.task.id}/annotation", document, format="json").status_code == 403
    assert client.patch(f"/api/labels/{world.label.id}", {"points": [[0, 0], [1, 1]]}, format="json").status_code == 403


def test_annotator_may_change_a_completed_task_assigned_to_them(world: World):
    _set_state(world, TaskState.COMPLETED, world.annotator)
    response = world.client("annotator").put(
        f"/api/tasks/{world.task.id}/annotation", {"answers": {}, "labels": [], "version": 0}, format="json"
    )
    assert response.status_code == 200


def test_annotation_round_trip_with_nested_answers(world: World):
    client = world.client("annotator")
    document: dict[str, Any] = {
        "version": 0,
        "answers": {"weather": {"value": "rainy"}},
        "labels": [{"key": "car", "points": [[1, 2], [30, 40]], "answers": {"color": {"value": "red"}}}],
    }
    saved = client.put(f"/api/tasks/{world.task.id}/annotation", document, format="json")
    assert saved.status_code == 200
    assert saved["ETag"] == '"1"'
    stored = client.get(f"/api/tasks/{world.task.id}/annotation").json()
    assert stored["version"] == 1
    assert stored["answers"] == {"weather": {"value": "rainy"}}
    assert [(label["key"], label["answers"]) for label in stored["labels"]] == [("car", {"color": {"value": "red"}})]


def test_invalid_annotation_answers_every_problem_with_its_path(world: World):
    document: dict[str, Any] = {
        "version": 0,
        "answers": {"weather": {"value": "snowy"}},
        "labels": [{"key": "car", "points": [[1, 2]]}, {"key": "bus", "points": [[1, 2], [3, 4]]}],
    }
    response = world.client("annotator").put(f"/api/tasks/{world.task.id}/annotation", document, format="json")
    assert response.status_code == 400
    paths = {detail["path"] for detail in response.json()["error"]["details"]}
    assert {"answers.weather.value", "labels[0].points", "labels[1].key"} <= paths


def test_two_saves_of_the_same_version_the_second_answers_409(world: World):
    document = {"version": 0, "answers": {"weather": {"value": "sunny"}}, "labels": []}
    first = world.client("annotator").put(f"/api/tasks/{world.task.id}/annotation", document, format="json")
    assert first.status_code == 200
    second = world.client("admin").put(f"/api/tasks/{world.task.id}/annotation", document, format="json")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "version_conflict"
    assert world.client("admin").get(f"/api/tasks/{world.task.id}/annotation").json()["version"] == 1


def test_if_match_header_names_the_expected_version(world: World):
    client = world.client("annotator")
    url = f"/api/tasks/{world.task.id}/annotation"
    document: dict[str, Any] = {"answers": {}, "labels": []}
    assert client.put(url, document, format="json", HTTP_IF_MATCH='"0"').status_code == 200
    assert client.put(url, document, format="json", HTTP_IF_MATCH='"0"').status_code == 409
    assert client.put(url, document, format="json", HTTP_IF_MATCH="banana").status_code == 400


def test_create_label_with_nested_answer_bumps_the_task_version(world: World):
    response = world.client("annotator").post(
        f"/api/tasks/{world.task.id}/labels",
        {"key": "car", "points": [[5, 5], [9, 9]], "answers": {"color": {"value": "blue"}}, "version": 0},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["key"], body["type"], body["task_version"]) == ("car", "rectangle", 1)
    assert body["answers"] == {"color": {"value": "blue"}}
    assert Label.objects.filter(task=world.task).count() == 2


def test_create_label_of_unknown_class_answers_located_error(world: World):
    response = world.client("annotator").post(
        f"/api/tasks/{world.task.id}/labels", {"key": "bus", "points": [[5, 5], [9, 9]], "version": 0}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_label"
    assert response.json()["error"]["details"][0]["path"] == "key"


def test_create_label_with_a_stale_version_answers_409(world: World):
    response = world.client("annotator").post(
        f"/api/tasks/{world.task.id}/labels", {"key": "car", "points": [[5, 5], [9, 9]], "version": 7}, format="json"
    )
    assert response.status_code == 409


def test_create_label_under_a_parent_of_another_task_answers_400(world: World):
    from tests.factories import LabelFactory

    elsewhere: Any = LabelFactory(entry=world.label.entry)
    response = world.client("annotator").post(
        f"/api/tasks/{world.task.id}/labels",
        {"key": "car", "points": [[5, 5], [9, 9]], "parent_id": elsewhere.id, "version": 0},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "parent_id"


def test_update_label_points_and_answers(world: World):
    response = world.client("annotator").patch(
        f"/api/labels/{world.label.id}",
        {"points": [[2, 2], [8, 8]], "answers": {"color": {"value": "red"}}, "version": 0},
        format="json",
    )
    assert response.status_code == 200
    world.label.refresh_from_db()
    assert world.label.points == [[2, 2], [8, 8]]
    assert world.label.answers == {"color": {"value": "red"}}
    assert response.json()["task_version"] == 1


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"points": [[2, 2]]}, "points"),
        ({"answers": {"color": {"value": "green"}}}, "answers.color.value"),
        ({"key": "weather"}, "key"),
    ],
)
def test_update_label_with_invalid_changes_answers_located_error(world: World, changes, path):
    response = world.client("annotator").patch(
        f"/api/labels/{world.label.id}", {**changes, "version": 0}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == path


def test_delete_label_answers_the_new_task_version(world: World):
    response = world.client("annotator").delete(f"/api/labels/{world.label.id}", HTTP_IF_MATCH='"0"')
    assert response.status_code == 200
    assert response.json() == {"task_version": 1}
    assert not Label.objects.filter(pk=world.label.id).exists()


def test_label_of_another_organisation_answers_404(world: World):
    response = world.client("other_org").delete(f"/api/labels/{world.label.id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
