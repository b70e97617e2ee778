"""Issue 18, points 1-3: opening a task reserves it for a lease, next-task never hands out a task
someone else holds, an expired lease frees it, an admin sees and releases reservations; completing
and reviewing record who and when, the page's active time adds up, labels keep their author and
last editor."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.utils import timezone

from exports.reader import ExportFilters, ExportReader
from formats import export_format_get
from labeling import services
from labeling.models import Label, Task, TaskState
from tests.api.conftest import World
from tests.factories import MediaFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def more_tasks(world: World, count: int) -> list[Task]:
    """`count` more open tasks in the world's project, oldest first after the world's own task."""
    for index in range(count):
        MediaFactory(dataset=world.dataset, name=f"extra-{index:02d}.jpg")
    from labeling.services import task_create_for_media

    media_ids = list(world.dataset.media.exclude(pk=world.media.pk).values_list("pk", flat=True))
    task_create_for_media(dataset=world.dataset, media_ids=media_ids)
    return list(Task.objects.filter(project=world.project).order_by("created_at", "id"))


def annotator(world: World, name: str) -> Any:
    user: Any = UserFactory(username=name)
    MembershipFactory(user=user, organization=world.organization, role="annotator")
    world.project.members.add(user)
    return user


# --- reservations -----------------------------------------------------------------------------


def test_next_task_never_hands_out_a_task_reserved_by_someone_else(world: World):
    more_tasks(world, 3)
    ann, bob = annotator(world, "ann"), annotator(world, "bob")

    first = services.task_next_reserve(user=ann, project=world.project)
    second = services.task_next_reserve(user=bob, project=world.project)

    assert first is not None
    assert second is not None
    assert first.pk != second.pk
    assert Task.objects.get(pk=first.pk).reserved_by_id == ann.pk
    assert Task.objects.get(pk=second.pk).reserved_by_id == bob.pk


def test_next_task_resumes_the_users_own_reservation(world: World):
    more_tasks(world, 3)
    ann = annotator(world, "ann")

    first = services.task_next_reserve(user=ann, project=world.project)
    again = services.task_next_reserve(user=ann, project=world.project)

    assert first is not None
    assert again is not None
    assert again.pk == first.pk


def test_next_task_never_hands_out_a_task_assigned_to_someone_else(world: World):
    tasks = more_tasks(world, 1)
    ann, bob = annotator(world, "ann"), annotator(world, "bob")
    Task.objects.filter(pk=tasks[0].pk).update(assignee=bob)

    handed = services.task_next_reserve(user=ann, project=world.project)

    assert handed is not None
    assert handed.pk == tasks[1].pk
    assert services.task_next_reserve(user=annotator(world, "cid"), project=world.project) is None


def test_next_task_offers_the_tasks_assigned_to_me_first(world: World):
    tasks = more_tasks(world, 2)
    ann = annotator(world, "ann")
    Task.objects.filter(pk=tasks[2].pk).update(assignee=ann)

    handed = services.task_next_reserve(user=ann, project=world.project)

    assert handed is not None
    assert handed.pk == tasks[2].pk


def test_an_expired_reservation_frees_the_task(world: World):
    more_tasks(world, 0)
    ann, bob = annotator(world, "ann"), annotator(world, "bob")
    taken = services.task_next_reserve(user=ann, project=world.project)
    assert taken is not None
    assert services.task_next_reserve(user=bob, project=world.project) is None

    Task.objects.filter(pk=taken.pk).update(reserved_until=timezone.now() - timedelta(seconds=1))

    handed = services.task_next_reserve(user=bob, project=world.project)
    assert handed is not None
    assert handed.pk == taken.pk
    assert Task.objects.get(pk=taken.pk).reserved_by_id == bob.pk


def test_the_lease_lasts_the_configured_seconds_and_a_heartbeat_renews_it(world: World, settings: Any):
    settings.LABELSITE_TASK_LEASE_SECONDS = 120
    ann = annotator(world, "ann")
    before = timezone.now()
    assert services.task_reserve(task=world.task, user=ann)
    task = Task.objects.get(pk=world.task.pk)
    assert task.reserved_until is not None
    assert before + timedelta(seconds=119) <= task.reserved_until <= timezone.now() + timedelta(seconds=121)

    Task.objects.filter(pk=task.pk).update(reserved_until=timezone.now() + timedelta(seconds=5))
    services.task_heartbeat(task=task, user=ann, active_seconds=30)

    task.refresh_from_db()
    assert task.reserved_until is not None
    assert task.reserved_until > timezone.now() + timedelta(seconds=100)
    assert task.active_seconds == 30


def test_opening_another_task_gives_back_the_one_i_held(world: World):
    tasks = more_tasks(world, 1)
    ann = annotator(world, "ann")
    assert services.task_reserve(task=tasks[0], user=ann)
    assert services.task_reserve(task=tasks[1], user=ann)

    assert Task.objects.get(pk=tasks[0].pk).reserved_by_id is None
    assert Task.objects.get(pk=tasks[1].pk).reserved_by_id == ann.pk


def test_an_admin_opening_a_reserved_task_does_not_take_it(world: World):
    ann = annotator(world, "ann")
    assert services.task_reserve(task=world.task, user=ann)

    assert not services.task_reserve(task=world.task, user=world.admin)
    assert Task.objects.get(pk=world.task.pk).reserved_by_id == ann.pk


def test_a_save_renews_the_savers_reservation_and_adds_active_time(world: World):
    ann = annotator(world, "ann")
    services.task_annotation_replace(
        task=world.task, document={"answers": {}, "labels": []}, user=ann, expected_version=0, active_seconds=12
    )

    task = Task.objects.get(pk=world.task.pk)
    assert task.reserved_by_id == ann.pk
    assert task.active_seconds == 12


def test_completing_records_who_and_when_and_ends_the_reservation(world: World):
    ann = annotator(world, "ann")
    services.task_reserve(task=world.task, user=ann)
    Task.objects.filter(pk=world.task.pk).update(answers={"weather": {"value": "sunny"}})
    task = Task.objects.select_related("project").get(pk=world.task.pk)

    services.task_complete_checked(task=task, user=ann)

    task.refresh_from_db()
    assert (task.state, task.completed_by_id, task.reserved_by_id) == (TaskState.COMPLETED, ann.pk, None)
    assert task.completed_at is not None
    assert timezone.now() - task.completed_at < timedelta(minutes=1)


# --- the API ---------------------------------------------------------------------------------


def test_the_task_api_shows_who_holds_the_task(world: World):
    ann = annotator(world, "ann")
    services.task_reserve(task=world.task, user=ann)

    body = world.client("admin").get(f"/api/tasks/{world.task.id}").json()

    assert body["holder"]["username"] == "ann"
    assert body["holder"]["kind"] == "reserved"
    assert body["reserved_by"] == {"id": ann.pk, "username": "ann"}
    assert body["reserved_until"] is not None


def test_an_admin_releases_a_reservation_and_the_task_is_free_again(world: World):
    ann = annotator(world, "ann")
    services.task_reserve(task=world.task, user=ann)

    response = world.client("admin").post(f"/api/tasks/{world.task.id}/release")

    assert response.status_code == 200
    assert response.json()["holder"] is None
    assert Task.objects.get(pk=world.task.pk).reserved_by_id is None
    handed = services.task_next_reserve(user=world.annotator, project=world.project)
    assert handed is not None
    assert handed.pk == world.task.pk


def test_an_annotator_may_not_release_someone_elses_reservation(world: World):
    ann = annotator(world, "ann")
    services.task_reserve(task=world.task, user=ann)

    response = world.client("annotator").post(f"/api/tasks/{world.task.id}/release")

    assert response.status_code == 403
    assert Task.objects.get(pk=world.task.pk).reserved_by_id == ann.pk


def test_a_heartbeat_of_an_annotator_whose_task_someone_else_took_answers_409_naming_them(world: World):
    ann = annotator(world, "ann")
    services.task_reserve(task=world.task, user=ann)

    response = world.client("annotator").post(
        f"/api/tasks/{world.task.id}/heartbeat", {"active_seconds": 20}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "task_held"
    assert "ann" in response.json()["error"]["message"]
    assert Task.objects.get(pk=world.task.pk).active_seconds == 0


def test_a_heartbeat_counts_at_most_a_leases_worth_of_time(world: World, settings: Any):
    settings.LABELSITE_TASK_LEASE_SECONDS = 60

    response = world.client("annotator").post(
        f"/api/tasks/{world.task.id}/heartbeat", {"active_seconds": 100_000}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["active_seconds"] == 60
    assert response.json()["holder"]["user_id"] == world.annotator.pk


def test_completing_and_reviewing_through_the_api_record_who_and_the_verdict(world: World):
    Task.objects.filter(pk=world.task.pk).update(answers={"weather": {"value": "sunny"}})
    assert world.client("annotator").post(f"/api/tasks/{world.task.id}/complete").status_code == 200

    response = world.client("reviewer").post(
        f"/api/tasks/{world.task.id}/review", {"accept": False, "comment": "Box the cyclist too."}, format="json"
    )

    body = response.json()
    assert body["completed_by"]["id"] == world.annotator.pk
    assert body["completed_at"] is not None
    assert body["reviewed_by"]["id"] == world.reviewer.pk
    assert (body["review_verdict"], body["state"]) == ("rejected", "in_progress")
    assert body["reviewed_at"] is not None


# --- labels keep their author and last editor ------------------------------------------------------


def test_a_label_sent_back_with_its_id_keeps_its_author_and_records_who_changed_it(world: World):
    ann = annotator(world, "ann")
    client = world.client("annotator")
    url = f"/api/tasks/{world.task.id}/annotation"
    Label.objects.filter(pk=world.label.pk).update(author=ann, updated_by=ann)
    document = client.get(url).json()
    document["labels"][0]["points"] = [[2, 2], [9, 9]]
    document["labels"].append({"key": "car", "points": [[20, 20], [30, 30]]})

    saved = client.put(url, document, format="json")

    assert saved.status_code == 200, saved.json()
    kept, added = Label.objects.filter(task=world.task).order_by("id")
    assert kept.pk == world.label.pk
    assert (kept.author_id, kept.updated_by_id) == (ann.pk, world.annotator.pk)
    assert (added.author_id, added.updated_by_id) == (world.annotator.pk, world.annotator.pk)


def test_an_unchanged_label_keeps_its_last_editor(world: World):
    ann = annotator(world, "ann")
    Label.objects.filter(pk=world.label.pk).update(author=ann, updated_by=ann)
    client = world.client("annotator")
    url = f"/api/tasks/{world.task.id}/annotation"
    document = client.get(url).json()
    document["answers"] = {"weather": {"value": "sunny"}}

    assert client.put(url, document, format="json").status_code == 200

    label = Label.objects.get(task=world.task)
    assert (label.author_id, label.updated_by_id) == (ann.pk, ann.pk)


def test_patching_a_label_records_its_last_editor(world: World):
    response = world.client("reviewer").patch(
        f"/api/labels/{world.label.id}", {"points": [[0, 0], [4, 4]], "version": 0}, format="json"
    )

    assert response.status_code == 200
    assert Label.objects.get(pk=world.label.pk).updated_by_id == world.reviewer.pk


# --- exports carry who and how long -----------------------------------------------------------------


def _export(world: World, name: str) -> bytes:
    out = io.BytesIO()
    reader = ExportReader(project=world.project, filters=ExportFilters(states=("completed", "reviewed")))
    for _ in export_format_get(name=name).write(reader, out):
        pass
    return out.getvalue()


@pytest.fixture
def finished(world: World) -> World:
    """The world's task labeled by the annotator (12 active seconds), completed, accepted by the reviewer."""
    Label.objects.filter(pk=world.label.pk).update(author=world.annotator)
    Task.objects.filter(pk=world.task.pk).update(answers={"weather": {"value": "sunny"}}, active_seconds=12)
    task = Task.objects.select_related("project").get(pk=world.task.pk)
    services.task_complete_checked(task=task, user=world.annotator)
    services.task_review(task=task, accept=True, user=world.reviewer)
    return world


def test_label_studio_json_carries_completed_by_as_the_user_id_and_lead_time(finished: World):
    (task,) = orjson.loads(_export(finished, "label_studio"))

    annotation = task["annotations"][0]
    assert annotation["completed_by"] == finished.annotator.pk
    assert annotation["lead_time"] == 12.0


def test_csv_carries_who_created_each_label_and_who_completed_and_reviewed_the_task(finished: World):
    rows = list(csv.DictReader(io.StringIO(_export(finished, "csv").decode())))

    assert [row["created_by"] for row in rows] == [finished.annotator.username]
    assert rows[0]["completed_by"] == finished.annotator.username
    assert rows[0]["reviewed_by"] == finished.reviewer.username
    assert (rows[0]["review_verdict"], rows[0]["lead_time"]) == ("accepted", "12")
