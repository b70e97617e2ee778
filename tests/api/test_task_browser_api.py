"""The task browser's API: filters, sort, search, saved views, bulk actions (in the request and as a
background job), who may do what, and organisations kept apart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from labeling.browser_services import task_bulk_job_run
from labeling.models import Label, LabelSource, Task, TaskBulkJob, TaskState, TaskView
from tests.api.conftest import World
from tests.factories import MediaFactory, TaskFactory

pytestmark = pytest.mark.django_db


def _add(world: World, name: str, **media: Any) -> Task:
    task: Any = TaskFactory(project=world.project, media=MediaFactory(dataset=world.dataset, name=name, **media))
    return task


def _names(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["media"]["name"] for row in response.json()["results"]]


@pytest.fixture
def tasks(world: World) -> dict[str, Task]:
    """street.jpg (the world's, one car label) and five more, each with something to find it by."""
    from projects.models import LabelEntry

    configuration = world.project.label_configuration
    car = configuration.entries.get(key="car")
    # Free-text questions, global and under the class: what the search reads besides names and keys.
    LabelEntry.objects.create(configuration=configuration, key="notes", title="Notes", type="freetext", schema_id="n1")
    LabelEntry.objects.create(
        configuration=configuration, parent=car, key="comment", title="Comment", type="freetext", schema_id="c1"
    )
    made = {
        "alpha": _add(world, "alpha.png", global_key="KEY-alpha", external_id="ext-1", metadata={"split": "train"}),
        "beta": _add(world, "beta.png", global_key="key-beta", external_id="ext-2", metadata={"split": "valid"}),
        "gamma": _add(world, "gamma.png", metadata={"split": "train"}),
        "delta": _add(world, "delta.png"),
        "omega": _add(world, "omega.png"),
    }
    Task.objects.filter(pk=made["alpha"].pk).update(state=TaskState.COMPLETED, completed_by=world.annotator)
    Task.objects.filter(pk=made["beta"].pk).update(
        assignee=world.annotator, answers={"notes": {"value": "Blurry tram"}}
    )
    for _ in range(3):
        Label.objects.create(task=made["gamma"], entry=car, points=[[1, 1], [2, 2]])
    Label.objects.create(
        task=made["delta"], entry=car, points=[[1, 1], [2, 2]], source=LabelSource.PREDICTION, score=0.42
    )
    Label.objects.create(
        task=made["omega"], entry=car, points=[[1, 1], [2, 2]], source=LabelSource.PREDICTION, score=0.91
    )
    Label.objects.create(
        task=made["omega"],
        entry=car,
        points=[[1, 1], [2, 2]],
        answers={"color": {"value": "blue"}, "comment": {"value": "Red scratch"}},
        import_job_id="00000000-0000-0000-0000-00000000000a",
    )
    return made


def test_filters_narrow_the_list(world: World, tasks: dict[str, Task]) -> None:
    client = world.client("admin")
    url = f"/api/projects/{world.project.id}/tasks"
    assert client.get(url).json()["count"] == 6
    assert _names(client.get(f"{url}?state=completed")) == ["alpha.png"]
    assert sorted(_names(client.get(f"{url}?state=completed,backlog"))) == sorted(
        ["street.jpg", "alpha.png", "beta.png", "gamma.png", "delta.png", "omega.png"]
    )
    assert _names(client.get(f"{url}?assignee={world.annotator.pk}")) == ["beta.png"]
    assert _names(client.get(f"{url}?completed_by={world.annotator.pk}")) == ["alpha.png"]
    assert _names(client.get(f"{url}?global_key=key-")) == ["alpha.png", "beta.png"]
    assert _names(client.get(f"{url}?external_id=ext-2")) == ["beta.png"]
    assert _names(client.get(f"{url}?meta.split=train")) == ["alpha.png", "gamma.png"]
    assert _names(client.get(f"{url}?has_predictions=true")) == ["delta.png", "omega.png"]
    assert _names(client.get(f"{url}?score_min=0.5")) == ["omega.png"]
    assert _names(client.get(f"{url}?label_class=car&class_min=2")) == ["gamma.png"]
    assert _names(client.get(f"{url}?label_class=car&class_max=0")) == ["alpha.png", "beta.png", "delta.png"]
    assert _names(client.get(f"{url}?labels_min=1&labels_max=1")) == ["street.jpg", "omega.png"]
    assert _names(client.get(f"{url}?import_job=00000000-0000-0000-0000-00000000000a")) == ["omega.png"]
    assert _names(client.get(f"{url}?dataset={world.dataset.id}&name=ALPHA")) == ["alpha.png"]


def test_each_row_carries_its_counts_predictions_and_import_jobs(world: World, tasks: dict[str, Task]) -> None:
    rows = {
        row["media"]["name"]: row
        for row in world.client("admin").get(f"/api/projects/{world.project.id}/tasks").json()["results"]
    }
    assert rows["gamma.png"]["label_counts"] == {"car": 3}
    assert rows["omega.png"]["label_counts"] == {"car": 1}
    assert rows["omega.png"]["predictions"] == {"count": 1, "score_min": 0.91, "score_max": 0.91}
    assert rows["omega.png"]["import_job_ids"] == ["00000000-0000-0000-0000-00000000000a"]
    assert rows["beta.png"]["assignee"]["username"] == world.annotator.username
    assert rows["alpha.png"]["dataset"]["name"] == "Street photos"
    assert rows["alpha.png"]["thumbnail_url"] == f"/media/{tasks['alpha'].media_id}/thumbnail"


def test_sort_by_a_column_either_way(world: World, tasks: dict[str, Task]) -> None:
    client = world.client("admin")
    url = f"/api/projects/{world.project.id}/tasks"
    ascending = _names(client.get(f"{url}?sort=name"))
    assert ascending == sorted(ascending)
    assert _names(client.get(f"{url}?sort=-name")) == ascending[::-1]
    # Tasks nobody is assigned to come last, whichever the direction.
    assert _names(client.get(f"{url}?sort=-assignee"))[0] == "beta.png"
    assert _names(client.get(f"{url}?sort=assignee"))[0] == "beta.png"


def test_search_finds_names_keys_external_ids_and_answers(world: World, tasks: dict[str, Task]) -> None:
    client = world.client("admin")
    url = f"/api/projects/{world.project.id}/tasks?search="
    assert _names(client.get(f"{url}gamm")) == ["gamma.png"]
    assert _names(client.get(f"{url}KEY-BETA")) == ["beta.png"]
    assert _names(client.get(f"{url}ext-1")) == ["alpha.png"]
    assert _names(client.get(f"{url}blurry")) == ["beta.png"]  # the task's free-text answer
    assert _names(client.get(f"{url}red scr")) == ["omega.png"]  # a label's free-text answer
    assert _names(client.get(f"{url}blue")) == []  # an option is no free text
    assert _names(client.get(f"{url}nothing-like-this")) == []


def test_paging_with_limit_and_offset(world: World, tasks: dict[str, Task]) -> None:
    client = world.client("admin")
    url = f"/api/projects/{world.project.id}/tasks?sort=name"
    first = client.get(f"{url}&limit=4").json()
    second = client.get(f"{url}&limit=4&offset=4").json()
    assert first["count"] == second["count"] == 6
    assert len(first["results"]) == 4
    assert len(second["results"]) == 2
    assert client.get(f"{url}&limit=100000").status_code == 200  # capped, never all at once
    assert len(client.get(f"{url}&limit=100000").json()["results"]) == 6


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("state=finished", "state"),
        ("sort=colour", "sort"),
        ("assignee=bob", "assignee"),
        ("score_min=high", "score_min"),
        ("label_class=unicorn", "label_class"),
        ("import_job=nope", "import_job"),
        ("updated_from=yesterday", "updated_from"),
        ("colour=red", "colour"),
        ("search=" + "x" * 201, "search"),
    ],
)
def test_a_bad_parameter_answers_400_naming_it(world: World, query: str, path: str) -> None:
    response = world.client("admin").get(f"/api/projects/{world.project.id}/tasks?{query}")
    assert response.status_code == 400
    assert path in [detail["path"] for detail in response.json()["error"]["details"]]


def test_an_annotator_sees_only_their_own_tasks_and_a_reviewer_all(world: World, tasks: dict[str, Task]) -> None:
    url = f"/api/projects/{world.project.id}/tasks"
    assert sorted(_names(world.client("annotator").get(url))) == ["alpha.png", "beta.png"]
    assert world.client("reviewer").get(url).json()["count"] == 6


def test_another_organisation_sees_nothing(world: World, tasks: dict[str, Task]) -> None:
    other = world.client("other_org")
    assert other.get(f"/api/projects/{world.project.id}/tasks").status_code == 404
    assert other.get(f"/api/projects/{world.project.id}/task-views").status_code == 404
    body = {"action": "unassign", "task_ids": [str(tasks["beta"].pk)]}
    assert other.post(f"/api/projects/{world.project.id}/tasks/bulk", body, format="json").status_code == 404
    job = TaskBulkJob.objects.create(project=world.project, action="unassign")
    assert other.get(f"/api/task-bulk-jobs/{job.id}").status_code == 404
    view = TaskView.objects.create(project=world.project, owner=world.admin, name="Mine", shared=True)
    assert other.patch(f"/api/task-views/{view.id}", {"name": "x"}, format="json").status_code == 404
    assert other.delete(f"/api/task-views/{view.id}").status_code == 404
    assert Task.objects.get(pk=tasks["beta"].pk).assignee_id == world.annotator.pk


# --- saved views ---------------------------------------------------------------------------------


def test_saved_views_are_private_unless_an_admin_shares_them(world: World) -> None:
    url = f"/api/projects/{world.project.id}/task-views"
    annotator, reviewer, admin = (world.client(role) for role in ("annotator", "reviewer", "admin"))
    mine = annotator.post(url, {"name": "My backlog", "query": {"state": "backlog", "sort": "-updated"}}, format="json")
    assert mine.status_code == 201, mine.content
    assert mine.json()["shared"] is False
    refused = annotator.post(url, {"name": "For all", "shared": True}, format="json")
    assert refused.status_code == 403
    shared = admin.post(url, {"name": "Done", "shared": True, "query": {"state": ["completed"]}}, format="json")
    assert shared.status_code == 201
    assert [view["name"] for view in annotator.get(url).json()] == ["Done", "My backlog"]
    assert [view["name"] for view in reviewer.get(url).json()] == ["Done"]
    view_id = shared.json()["id"]
    assert reviewer.patch(f"/api/task-views/{view_id}", {"name": "Mine now"}, format="json").status_code == 403
    assert reviewer.delete(f"/api/task-views/{mine.json()['id']}").status_code == 404
    renamed = admin.patch(f"/api/task-views/{view_id}", {"name": "Finished"}, format="json")
    assert renamed.json()["name"] == "Finished"
    assert annotator.delete(f"/api/task-views/{mine.json()['id']}").status_code == 204
    assert [view["name"] for view in annotator.get(url).json()] == ["Finished"]


def test_a_view_with_a_bad_query_answers_400_with_the_place(world: World) -> None:
    response = world.client("annotator").post(
        f"/api/projects/{world.project.id}/task-views",
        {"name": "Broken", "query": {"state": "finished"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["path"] == "query.state"


# --- bulk actions ---------------------------------------------------------------------------------


def test_assigning_checked_tasks_round_robin_follows_their_order(world: World, tasks: dict[str, Task]) -> None:
    order = [tasks[name].pk for name in ("alpha", "beta", "gamma", "delta", "omega")]
    body = {
        "action": "assign",
        "params": {"user_ids": [world.annotator.pk, world.reviewer.pk]},
        "task_ids": [str(pk) for pk in order],
    }
    response = world.client("admin").post(f"/api/projects/{world.project.id}/tasks/bulk", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"action": "assign", "tasks": 5, "changed": 5}
    assignees = dict(Task.objects.filter(pk__in=order).values_list("pk", "assignee_id"))
    expected = [world.annotator.pk, world.reviewer.pk] * 3
    assert [assignees[pk] for pk in order] == expected[:5]


def test_unassign_set_state_and_send_to_review_end_reservations(world: World, tasks: dict[str, Task]) -> None:
    client = world.client("admin")
    url = f"/api/projects/{world.project.id}/tasks/bulk"
    beta = tasks["beta"]
    Task.objects.filter(pk=beta.pk).update(reserved_by=world.annotator, reserved_until=timezone.now())
    ids = [str(beta.pk)]
    assert client.post(url, {"action": "unassign", "task_ids": ids}, format="json").status_code == 200
    assert Task.objects.get(pk=beta.pk).assignee_id is None
    body = {"action": "set_state", "params": {"state": "skipped"}, "task_ids": ids}
    assert client.post(url, body, format="json").status_code == 200
    beta.refresh_from_db()
    assert (beta.state, beta.reserved_by_id) == (TaskState.SKIPPED, None)
    assert client.post(url, {"action": "send_to_review", "task_ids": ids}, format="json").status_code == 200
    beta.refresh_from_db()
    assert beta.state == TaskState.COMPLETED
    assert beta.completed_at is not None


def test_deleting_labels_keeps_predictions_and_the_other_way_round(world: World, tasks: dict[str, Task]) -> None:
    client = world.client("admin")
    url = f"/api/projects/{world.project.id}/tasks/bulk"
    omega = tasks["omega"]
    version = omega.version
    response = client.post(url, {"action": "delete_labels", "task_ids": [str(omega.pk)]}, format="json")
    assert response.json()["changed"] == 1
    assert list(Label.objects.filter(task=omega).values_list("source", flat=True)) == [LabelSource.PREDICTION]
    assert Task.objects.get(pk=omega.pk).version == version + 1
    client.post(url, {"action": "delete_predictions", "task_ids": [str(omega.pk)]}, format="json")
    assert not Label.objects.filter(task=omega).exists()
    assert Label.objects.filter(task=tasks["gamma"]).count() == 3  # not checked, not touched


def test_bulk_input_errors_name_their_place(world: World, tasks: dict[str, Task]) -> None:
    from tests.factories import UserFactory

    client = world.client("admin")
    url = f"/api/projects/{world.project.id}/tasks/bulk"
    stranger: Any = UserFactory()
    beta = [str(tasks["beta"].pk)]
    cases = [
        ({"action": "assign", "params": {"user_ids": [stranger.pk]}, "task_ids": beta}, "params.user_ids"),
        ({"action": "assign", "params": {}, "task_ids": beta}, "params.user_ids"),
        ({"action": "set_state", "params": {"state": "gone"}, "task_ids": beta}, "params.state"),
        ({"action": "unassign", "task_ids": [str(world.other_project.id)]}, "task_ids"),
        ({"action": "unassign"}, "task_ids"),
        ({"action": "unassign", "filter": {"state": "finished"}}, "state"),
        ({"action": "explode", "task_ids": beta}, "action"),
    ]  # fmt: skip
    for body, path in cases:
        response = client.post(url, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert path in [d["path"] for d in response.json()["error"]["details"]], (body, response.json())
    assert Task.objects.get(pk=tasks["beta"].pk).assignee_id == world.annotator.pk


@pytest.mark.parametrize("actor", ["reviewer", "annotator"])
def test_only_admins_run_bulk_actions(world: World, tasks: dict[str, Task], actor: str) -> None:
    client = world.client(actor)
    body = {"action": "unassign", "task_ids": [str(tasks["beta"].pk)]}
    response = client.post(f"/api/projects/{world.project.id}/tasks/bulk", body, format="json")
    assert response.status_code == 403
    job = TaskBulkJob.objects.create(project=world.project, action="unassign")
    assert client.get(f"/api/task-bulk-jobs/{job.id}").status_code == 404
    assert Task.objects.get(pk=tasks["beta"].pk).assignee_id == world.annotator.pk


def test_a_bulk_action_over_a_filter_runs_as_a_job_with_progress(
    world: World, tasks: dict[str, Task], eager_worker: None, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    import labeling.browser_services as browser_services

    monkeypatch.setattr(browser_services, "BULK_BATCH", 2)  # three batches, progress after each
    body = {
        "action": "assign",
        "params": {"user_ids": [world.annotator.pk, world.reviewer.pk]},
        "filter": {"state": "backlog", "sort": "name", "limit": "50"},
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = world.client("admin").post(f"/api/projects/{world.project.id}/tasks/bulk", body, format="json")
    assert response.status_code == 202, response.content
    job = world.client("admin").get(f"/api/task-bulk-jobs/{response.json()['id']}").json()
    assert (job["status"], job["total"], job["done"], job["progress"]) == ("succeeded", 5, 5, 1.0)
    backlog = Task.objects.filter(project=world.project, state=TaskState.BACKLOG).order_by("pk")
    assert [task.assignee_id for task in backlog] == [world.annotator.pk, world.reviewer.pk] * 2 + [world.annotator.pk]
    assert Task.objects.get(pk=tasks["alpha"].pk).assignee_id is None  # completed: not in the filter


def test_a_bulk_job_resumes_from_its_checkpoint(world: World, tasks: dict[str, Task]) -> None:
    ordered = list(Task.objects.filter(project=world.project).order_by("pk").values_list("pk", flat=True))
    job = TaskBulkJob.objects.create(
        project=world.project,
        created_by=world.admin,
        action="assign",
        params={"user_ids": [world.reviewer.pk], "state": ""},
        query={},
        status="running",
        total=6,
        done=3,
        last_task_id=ordered[2],
    )
    Task.objects.filter(project=world.project).update(assignee=None)
    # A running job whose worker is alive is left alone ...
    TaskBulkJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
    assert task_bulk_job_run(job_id=job.pk).done == 3
    # ... one whose heartbeat went stale (its worker died) is taken over from the checkpoint.
    TaskBulkJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    finished = task_bulk_job_run(job_id=job.pk)
    assert (finished.status, finished.done) == ("succeeded", 6)
    assignees = dict(Task.objects.filter(project=world.project).values_list("pk", "assignee_id"))
    assert [assignees[pk] for pk in ordered] == [None] * 3 + [world.reviewer.pk] * 3


def test_export_of_the_checked_tasks_writes_only_them(
    world: World,
    tasks: dict[str, Task],
    eager_worker: None,
    media_storage: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = world.client("admin")
    ids = [str(tasks["gamma"].pk), str(tasks["delta"].pk)]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/projects/{world.project.id}/exports",
            {"format": "datagym", "filters": {"task_ids": ids}},
            format="json",
        )
    assert response.status_code == 201, response.content
    job = client.get(f"/api/exports/{response.json()['id']}").json()
    assert (job["status"], job["tasks_total"]) == ("succeeded", 2)
    with django_capture_on_commit_callbacks(execute=True):
        by_query = client.post(
            f"/api/projects/{world.project.id}/exports",
            {"format": "datagym", "filters": {"tasks": {"search": "blurry"}}},
            format="json",
        )
    assert client.get(f"/api/exports/{by_query.json()['id']}").json()["tasks_total"] == 1
    bad = client.post(
        f"/api/projects/{world.project.id}/exports",
        {"format": "datagym", "filters": {"tasks": {"state": "finished"}}},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["path"] == "tasks/state"


def test_holder_and_absence_filters(world: World, tasks: dict[str, Task]) -> None:
    client = world.client("admin")
    url = f"/api/projects/{world.project.id}/tasks"
    soon = timezone.now() + timedelta(minutes=5)
    Task.objects.filter(pk=tasks["gamma"].pk).update(reserved_by=world.reviewer, reserved_until=soon)
    Task.objects.filter(pk=tasks["delta"].pk).update(reserved_by=world.reviewer, reserved_until=timezone.now())
    assert _names(client.get(f"{url}?holder={world.reviewer.pk}")) == ["gamma.png"]  # delta's lease ended
    assert "gamma.png" not in _names(client.get(f"{url}?holder=none"))
    assert "delta.png" in _names(client.get(f"{url}?holder=none"))
    assert _names(client.get(f"{url}?has_predictions=false&label_class=car")) == ["street.jpg", "gamma.png"]
    assert _names(client.get(f"{url}?assignee=none&state=completed")) == ["alpha.png"]
    assert _names(client.get(f"{url}?reviewed_by=none&name=alpha")) == ["alpha.png"]


def test_a_deleted_media_takes_its_task_out_of_the_browser(world: World, tasks: dict[str, Task]) -> None:
    from projects.models import Media

    Media.objects.filter(pk=tasks["alpha"].media_id).update(deleted_at=timezone.now())
    names = _names(world.client("admin").get(f"/api/projects/{world.project.id}/tasks"))
    assert "alpha.png" not in names
    assert len(names) == 5


def test_predictions_filter_by_model_version_and_sort_by_their_best_score(world: World, tasks: dict[str, Task]) -> None:
    """Issue 21 point 6: the browser filters and sorts by prediction score and model version."""
    car = Label.objects.filter(task=tasks["delta"]).first().entry  # type: ignore[union-attr]
    Label.objects.filter(source=LabelSource.PREDICTION).update(model_version="detector-1")
    Label.objects.create(
        task=tasks["alpha"],
        entry=car,
        points=[[1, 1], [2, 2]],
        source=LabelSource.PREDICTION,
        score=0.99,
        model_version="detector-2",
    )
    Label.objects.create(
        task=tasks["delta"],
        entry=car,
        points=[[1, 1], [2, 2]],
        source=LabelSource.PREDICTION,
        score=0.05,
        model_version="detector-2",
    )
    client = world.client("admin")
    url = f"/api/projects/{world.project.id}/tasks"
    assert _names(client.get(f"{url}?model_version=detector-2")) == ["alpha.png", "delta.png"]
    assert _names(client.get(f"{url}?model_version=detector-1&score_min=0.4&sort=name")) == ["delta.png", "omega.png"]
    assert _names(client.get(f"{url}?model_version=detector-2&score_min=0.4")) == ["alpha.png"]
    # best score first; tasks without a prediction last, whichever the direction
    best_first = _names(client.get(f"{url}?sort=-score"))
    assert best_first[:3] == ["alpha.png", "omega.png", "delta.png"]
    assert _names(client.get(f"{url}?sort=score"))[:3] == ["delta.png", "omega.png", "alpha.png"]
    assert set(best_first[3:]) == set(_names(client.get(f"{url}?has_predictions=false")))
    # the score of one model version only
    assert _names(client.get(f"{url}?sort=-score&model_version=detector-2"))[:2] == ["alpha.png", "delta.png"]
    answer = client.get(f"{url}?model_version={'x' * 129}")
    assert answer.status_code == 400
    assert answer.json()["error"]["details"][0]["path"] == "model_version"
