"""Issue 18, point 7: the team figures endpoint, `/api/projects/{id}/team-figures` (JSON and CSV).
The work behind the figures is done through the API, as the labeling page and the review page do it.
Admins and reviewers see everyone; an annotator sees their own row only; another organisation sees
nothing of ours."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from labeling.models import Label, Task
from tests.api.conftest import World
from tests.api.test_task_reservations import annotator, more_tasks
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def as_user(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def label_and_complete(user: Any, task: Task, *, boxes: int, seconds: int) -> None:
    """What the labeling page does: save boxes with the active time counted, then complete."""
    client = as_user(user)
    added = [{"uid": f"b{n}", "key": "car", "points": [[n, n], [n + 5, n + 5]]} for n in range(boxes)]
    version = Task.objects.get(pk=task.pk).version
    saved = client.patch(
        f"/api/tasks/{task.id}/annotation",
        {"version": version, "added": added, "active_seconds": seconds},
        format="json",
    )
    assert saved.status_code == 200, saved.content
    assert client.post(f"/api/tasks/{task.id}/complete").status_code == 200


def review(reviewer: Any, task: Task, *, accept: bool) -> None:
    answer = as_user(reviewer).post(
        f"/api/tasks/{task.id}/review", {"accept": accept, "comment": "" if accept else "Box the mirror"}, format="json"
    )
    assert answer.status_code == 200, answer.content


@pytest.fixture
def worked(world: World) -> dict[str, Any]:
    """ann labels and completes three tasks (two accepted, one sent back), bob one (accepted)."""
    tasks = more_tasks(world, 4)
    ann, bob = annotator(world, "ann"), annotator(world, "bob")
    label_and_complete(ann, tasks[0], boxes=2, seconds=30)
    label_and_complete(ann, tasks[1], boxes=1, seconds=50)
    label_and_complete(ann, tasks[2], boxes=3, seconds=100)
    label_and_complete(bob, tasks[3], boxes=4, seconds=20)
    review(world.reviewer, tasks[0], accept=True)
    review(world.reviewer, tasks[1], accept=True)
    review(world.reviewer, tasks[2], accept=False)
    review(world.reviewer, tasks[3], accept=True)
    return {"ann": ann, "bob": bob, "today": timezone.now().date().isoformat()}


def url(world: World, query: str = "") -> str:
    return f"/api/projects/{world.project.id}/team-figures{query}"


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {member["username"]: member for member in body["members"]}


def test_an_admin_sees_every_members_figures_of_today(world: World, worked: dict[str, Any]):
    answer = world.client("admin").get(url(world))

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["date_to"] == worked["today"]
    assert body["timezone"] == "UTC"
    members = by_name(body)
    # the project's members, and whoever did something in the range
    assert set(members) == {"ann", "bob", world.reviewer.username, world.annotator.username}
    ann = members["ann"]
    assert ann["totals"] == {
        "tasks_completed": 3,
        "labels_made": 6,
        "median_active_seconds": 50.0,
        "reviews_accepted": 2,
        "reviews_rejected": 1,
        "acceptance_rate": 0.6667,
        "reviews_done": 0,
    }
    assert [day["date"] for day in ann["days"]] == [worked["today"]]
    assert ann["days"][0]["tasks_completed"] == 3
    assert members["bob"]["totals"]["labels_made"] == 4
    assert members["bob"]["totals"]["acceptance_rate"] == 1.0
    assert members[world.reviewer.username]["totals"]["reviews_done"] == 4
    assert members[world.annotator.username]["totals"]["tasks_completed"] == 0


def test_a_reviewer_and_an_organisation_token_see_everyone_too(world: World, worked: dict[str, Any]):
    for actor in ("reviewer", "org_token"):
        answer = world.client(actor).get(url(world))
        assert answer.status_code == 200, answer.content
        assert {"ann", "bob"} <= set(by_name(answer.json())), actor


def test_a_member_filter_keeps_one_member(world: World, worked: dict[str, Any]):
    answer = world.client("admin").get(url(world, f"?member={worked['bob'].pk}"))

    assert [member["username"] for member in answer.json()["members"]] == ["bob"]


def test_an_annotator_sees_only_their_own_row(world: World, worked: dict[str, Any]):
    ann = as_user(worked["ann"])

    own = ann.get(url(world))
    assert own.status_code == 200
    assert [member["username"] for member in own.json()["members"]] == ["ann"]
    assert own.json()["members"][0]["totals"]["tasks_completed"] == 3
    assert ann.get(url(world, f"?member={worked['ann'].pk}")).status_code == 200
    other = ann.get(url(world, f"?member={worked['bob'].pk}"))
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "permission_denied"
    # the CSV holds the same one row
    rows = list(csv.DictReader(io.StringIO(ann.get(url(world, "?format=csv")).content.decode())))
    assert {row["username"] for row in rows} == {"ann"}


def test_another_organisation_sees_nothing_of_ours(world: World, worked: dict[str, Any]):
    assert world.client("other_org").get(url(world)).status_code == 404
    as_csv = world.client("other_org").get(url(world, "?format=csv"))
    # an error asked for as CSV is the JSON error, and says so
    assert (as_csv.status_code, as_csv["Content-Type"]) == (404, "application/json")
    assert as_csv.json()["error"]["code"] == "not_found"
    # a member of another organisation who worked there is in none of our figures
    stranger: Any = UserFactory(username="stranger")
    MembershipFactory(user=stranger, organization=world.other_organization, role="admin")
    assert as_user(stranger).get(url(world)).status_code == 404
    answer = world.client("admin").get(url(world, f"?member={stranger.pk}"))
    assert answer.status_code == 200
    assert answer.json()["members"] == []
    assert world.client("anonymous").get(url(world)).status_code == 401


def test_the_csv_has_a_row_per_member_and_day(world: World, worked: dict[str, Any]):
    answer = world.client("admin").get(url(world, "?format=csv"))

    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/csv; charset=utf-8"
    assert answer["Content-Disposition"].startswith('attachment; filename="team-figures-')
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    assert list(rows[0]) == [
        "date",
        "user_id",
        "username",
        "tasks_completed",
        "labels_made",
        "median_active_seconds",
        "reviews_accepted",
        "reviews_rejected",
        "acceptance_rate",
        "reviews_done",
    ]
    ann = next(row for row in rows if row["username"] == "ann")
    assert ann == {
        "date": worked["today"],
        "user_id": str(worked["ann"].pk),
        "username": "ann",
        "tasks_completed": "3",
        "labels_made": "6",
        "median_active_seconds": "50.0",
        "reviews_accepted": "2",
        "reviews_rejected": "1",
        "acceptance_rate": "0.6667",
        "reviews_done": "0",
    }
    reviewer = next(row for row in rows if row["username"] == world.reviewer.username)
    assert (reviewer["tasks_completed"], reviewer["median_active_seconds"], reviewer["reviews_done"]) == ("0", "", "4")
    # members without a figure that day have no row
    assert world.annotator.username not in {row["username"] for row in rows}
    # Accept: text/csv asks for the same
    assert world.client("admin").get(url(world), HTTP_ACCEPT="text/csv").content == answer.content


def test_a_username_that_would_start_a_formula_is_text_in_the_csv(world: World):
    tasks = more_tasks(world, 1)
    plus: Any = UserFactory(username="+cmd")
    MembershipFactory(user=plus, organization=world.organization, role="annotator")
    world.project.members.add(plus)
    label_and_complete(plus, tasks[1], boxes=1, seconds=5)

    rows = list(csv.reader(io.StringIO(world.client("admin").get(url(world, "?format=csv")).content.decode())))
    assert "'+cmd" in [row[2] for row in rows]


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("?date_from=yesterday", "date_from"),
        ("?date_to=2026-13-01", "date_to"),
        ("?date_from=2026-12-06&date_to=2026-12-01", "date_from"),
        ("?date_from=2020-01-01&date_to=2026-12-01", "date_from"),
        ("?member=someone", "member"),
        ("?member=0", "member"),
        ("?date_to=0001-01-05", "date_to"),
        ("?date_from=9999-12-31&date_to=9999-12-31", "date_from"),
        ("?member=99999999999999999999", "member"),
    ],
)
def test_bad_ranges_and_members_answer_400_naming_the_parameter(world: World, query: str, path: str):
    answer = world.client("admin").get(url(world, query))

    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert path in [detail["path"] for detail in error["details"]], error


def test_a_range_without_work_lists_the_members_with_zeros(world: World, worked: dict[str, Any]):
    answer = world.client("admin").get(url(world, "?date_from=2020-01-01&date_to=2020-01-31"))

    body = answer.json()
    assert (body["date_from"], body["date_to"]) == ("2020-01-01", "2020-01-31")
    assert all(member["days"] == [] for member in body["members"])
    assert {member["username"] for member in body["members"]} == {
        "ann",
        "bob",
        world.reviewer.username,
        world.annotator.username,
    }
    assert all(member["totals"]["median_active_seconds"] is None for member in body["members"])


def test_labels_sent_back_by_a_whole_document_save_keep_the_day_they_were_made(world: World):
    ann = annotator(world, "ann")
    made = timezone.now() - timedelta(days=3)
    Label.objects.filter(pk=world.label.pk).update(author=ann, updated_by=ann, created_at=made)
    client = world.client("annotator")
    document = client.get(f"/api/tasks/{world.task.id}/annotation").json()
    document["labels"][0]["points"] = [[2, 2], [9, 9]]
    document["labels"].append({"key": "car", "points": [[20, 20], [30, 30]]})

    assert client.put(f"/api/tasks/{world.task.id}/annotation", document, format="json").status_code == 200

    kept, added = Label.objects.filter(task=world.task).order_by("id")
    assert (kept.pk, kept.created_at) == (world.label.pk, made)
    assert added.created_at > made
    members = by_name(world.client("admin").get(url(world)).json())
    assert [(day["date"], day["labels_made"]) for day in members["ann"]["days"]] == [(made.date().isoformat(), 1)]
    assert [(day["date"], day["labels_made"]) for day in members[world.annotator.username]["days"]] == [
        (timezone.now().date().isoformat(), 1)
    ]
