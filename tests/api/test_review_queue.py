"""Issue 18, point 5: the review queue. Reviewers get the next completed task they did not complete
themselves, reserved with the labeling lease so that no two reviewers get the same task; a rejected
task goes back to whoever completed it, with the comment; the project page counts to review,
accepted and rejected, and shows Review only to those who may review."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from labeling import services
from labeling.models import ReviewVerdict, Task, TaskState
from tests.api.conftest import World
from tests.api.test_task_reservations import annotator, more_tasks
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def reviewer(world: World, name: str) -> Any:
    user: Any = UserFactory(username=name)
    MembershipFactory(user=user, organization=world.organization, role="reviewer")
    world.project.members.add(user)
    return user


def completed_by(user: Any, tasks: list[Task]) -> list[Task]:
    """Each task reserved and completed by `user`, as the labeling page does it."""
    done = []
    for task in tasks:
        assert services.task_reserve(task=task, user=user)
        done.append(services.task_complete(task=task, user=user))
    return done


def api_client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def page_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the queue --------------------------------------------------------------------------------


def test_next_to_review_is_a_completed_task_reserved_for_the_reviewer(world: World):
    tasks = more_tasks(world, 2)
    ann, rev = annotator(world, "ann"), reviewer(world, "rev")
    completed_by(ann, [tasks[1]])

    handed = services.task_review_next_reserve(user=rev, project=world.project)

    assert handed is not None
    assert handed.pk == tasks[1].pk
    stored = Task.objects.get(pk=handed.pk)
    assert stored.state == TaskState.COMPLETED
    assert stored.reserved_by_id == rev.pk
    assert stored.reserved_until is not None
    assert stored.reserved_until > timezone.now()


def test_two_reviewers_never_get_the_same_task_to_review(world: World):
    tasks = more_tasks(world, 2)
    ann, rev, eve = annotator(world, "ann"), reviewer(world, "rev"), reviewer(world, "eve")
    completed_by(ann, tasks[:2])

    first = services.task_review_next_reserve(user=rev, project=world.project)
    second = services.task_review_next_reserve(user=eve, project=world.project)
    third = services.task_review_next_reserve(user=reviewer(world, "zed"), project=world.project)

    assert first is not None
    assert second is not None
    assert first.pk != second.pk
    assert third is None


def test_a_reviewer_resumes_their_own_review_reservation(world: World):
    tasks = more_tasks(world, 2)
    ann, rev = annotator(world, "ann"), reviewer(world, "rev")
    completed_by(ann, tasks[:2])

    first = services.task_review_next_reserve(user=rev, project=world.project)
    again = services.task_review_next_reserve(user=rev, project=world.project)

    assert first is not None
    assert again is not None
    assert again.pk == first.pk


def test_the_review_queue_never_hands_a_reviewer_a_task_they_completed(world: World):
    tasks = more_tasks(world, 1)
    rev = reviewer(world, "rev")
    completed_by(rev, [tasks[0]])

    assert services.task_review_next_reserve(user=rev, project=world.project) is None
    assert services.task_review_next_reserve(user=reviewer(world, "eve"), project=world.project) is not None


def test_the_review_queue_hands_out_no_open_nor_reviewed_task(world: World):
    tasks = more_tasks(world, 2)
    ann, rev = annotator(world, "ann"), reviewer(world, "rev")
    (done,) = completed_by(ann, [tasks[1]])
    services.task_review(task=done, accept=True, user=reviewer(world, "eve"))

    assert services.task_review_next_reserve(user=rev, project=world.project) is None


def test_an_expired_review_reservation_frees_the_task_for_another_reviewer(world: World):
    tasks = more_tasks(world, 1)
    ann, rev, eve = annotator(world, "ann"), reviewer(world, "rev"), reviewer(world, "eve")
    completed_by(ann, [tasks[0]])
    held = services.task_review_next_reserve(user=rev, project=world.project)
    assert held is not None
    assert services.task_review_next_reserve(user=eve, project=world.project) is None

    Task.objects.filter(pk=held.pk).update(reserved_until=timezone.now() - timedelta(seconds=1))

    taken = services.task_review_next_reserve(user=eve, project=world.project)
    assert taken is not None
    assert taken.pk == held.pk


def test_the_heartbeat_renews_a_review_reservation(world: World):
    tasks = more_tasks(world, 1)
    ann, rev = annotator(world, "ann"), reviewer(world, "rev")
    completed_by(ann, [tasks[0]])
    held = services.task_review_next_reserve(user=rev, project=world.project)
    assert held is not None
    soon = timezone.now() + timedelta(seconds=5)
    Task.objects.filter(pk=held.pk).update(reserved_until=soon)

    services.task_heartbeat(task=Task.objects.select_related("project").get(pk=held.pk), user=rev)

    stored = Task.objects.get(pk=held.pk)
    assert stored.reserved_by_id == rev.pk
    assert stored.reserved_until is not None
    assert stored.reserved_until > soon


# --- the verdict ------------------------------------------------------------------------------


def test_a_rejected_task_goes_back_to_its_annotator_with_the_comment(world: World):
    tasks = more_tasks(world, 2)
    ann, rev, bob = annotator(world, "ann"), reviewer(world, "rev"), annotator(world, "bob")
    completed_by(ann, [tasks[1]])
    held = services.task_review_next_reserve(user=rev, project=world.project)
    assert held is not None

    services.task_review(task=held, accept=False, comment="The left car is missing.", user=rev)

    stored = Task.objects.get(pk=held.pk)
    assert stored.state == TaskState.IN_PROGRESS
    assert stored.assignee_id == ann.pk
    assert stored.review_verdict == ReviewVerdict.REJECTED
    assert stored.review_comment == "The left car is missing."
    assert stored.reviewed_by_id == rev.pk
    assert stored.reserved_by_id is None
    # It is the annotator's, first in their queue, and nobody else's.
    mine = services.task_next_reserve(user=ann, project=world.project)
    assert mine is not None
    assert mine.pk == held.pk
    theirs = services.task_next_reserve(user=bob, project=world.project)
    assert theirs is None or theirs.pk != held.pk


def test_an_accepted_task_is_reviewed_and_stays_unassigned(world: World):
    tasks = more_tasks(world, 1)
    ann, rev = annotator(world, "ann"), reviewer(world, "rev")
    completed_by(ann, [tasks[0]])
    held = services.task_review_next_reserve(user=rev, project=world.project)
    assert held is not None

    services.task_review(task=held, accept=True, comment="", user=rev)

    stored = Task.objects.get(pk=held.pk)
    assert (stored.state, stored.review_verdict, stored.assignee_id, stored.reserved_by_id) == (
        TaskState.REVIEWED,
        ReviewVerdict.ACCEPTED,
        None,
        None,
    )


def test_a_reviewer_cannot_review_a_task_another_reviewer_holds(world: World):
    tasks = more_tasks(world, 1)
    ann, rev, eve = annotator(world, "ann"), reviewer(world, "rev"), reviewer(world, "eve")
    completed_by(ann, [tasks[0]])
    held = services.task_review_next_reserve(user=rev, project=world.project)
    assert held is not None
    client = api_client(eve)

    response = client.post(f"/api/tasks/{held.pk}/review", {"accept": True}, format="json")

    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "task_held"
    assert "rev" in response.json()["error"]["message"]
    assert Task.objects.get(pk=held.pk).state == TaskState.COMPLETED


# --- the API and the pages --------------------------------------------------------------------


def test_review_next_api_answers_the_reserved_task_then_no_content(world: World):
    tasks = more_tasks(world, 1)
    ann, rev = annotator(world, "ann"), reviewer(world, "rev")
    completed_by(ann, [tasks[0]])
    client = api_client(rev)

    first = client.post(f"/api/projects/{world.project.pk}/review/next")
    assert first.status_code == 200, first.content
    assert first.json()["id"] == str(tasks[0].pk)
    client.post(f"/api/tasks/{tasks[0].pk}/review", {"accept": True}, format="json")
    after = client.post(f"/api/projects/{world.project.pk}/review/next")

    assert after.status_code == 204


def test_review_next_api_refuses_an_annotator(world: World):
    response = world.client("annotator").post(f"/api/projects/{world.project.pk}/review/next")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_the_review_page_opens_the_next_task_to_review_and_the_labeling_page_offers_the_verdict(world: World):
    tasks = more_tasks(world, 1)
    ann, rev = annotator(world, "ann"), reviewer(world, "rev")
    completed_by(ann, [tasks[0]])
    client = page_client(rev)

    response = client.get(f"/projects/{world.project.pk}/review")

    assert response.status_code == 302
    assert response["Location"] == f"/tasks/{tasks[0].pk}/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert page.context["page_data"]["canReview"] is True
    assert page.context["page_data"]["reviewing"] is True
    assert page.context["page_data"]["heldByOther"] is False
    assert page.context["page_data"]["urls"]["reviewQueue"] == f"/projects/{world.project.pk}/review"
    assert Task.objects.get(pk=tasks[0].pk).reserved_by_id == rev.pk


def test_the_labeling_page_of_a_rejected_task_carries_the_comment_for_its_banner(world: World):
    tasks = more_tasks(world, 1)
    ann, rev = annotator(world, "ann"), reviewer(world, "rev")
    (done,) = completed_by(ann, [tasks[0]])
    services.task_review(task=done, accept=False, comment="Box the bicycle too.", user=rev)

    page = page_client(ann).get(f"/tasks/{done.pk}/")

    assert page.status_code == 200
    assert page.context["page_data"]["reviewComment"] == "Box the bicycle too."
    assert page.context["page_data"]["canLabel"] is True
    assert Task.objects.get(pk=done.pk).reserved_by_id == ann.pk


def test_the_project_page_counts_to_review_accepted_and_rejected(world: World):
    tasks = more_tasks(world, 4)
    ann, rev = annotator(world, "ann"), reviewer(world, "rev")
    done = completed_by(ann, tasks[1:5])
    services.task_review(task=done[0], accept=True, user=rev)
    services.task_review(task=done[1], accept=False, comment="Redo", user=rev)

    page = page_client(rev).get(f"/projects/{world.project.pk}/")

    assert page.context["review_counts"] == {"to_review": 2, "accepted": 1, "rejected": 1}
    assert b'id="start-review"' in page.content
    annotator_page = page_client(ann).get(f"/projects/{world.project.pk}/")
    assert b'id="start-review"' not in annotator_page.content
    assert annotator_page.context["queue"] == {"assigned": 1, "reserved": 0, "rejected": 1}


def test_an_annotators_home_counts_their_assigned_reserved_and_sent_back_tasks(world: World):
    tasks = more_tasks(world, 4)
    ann, rev = annotator(world, "ann"), reviewer(world, "rev")
    (done,) = completed_by(ann, [tasks[1]])
    services.task_review(task=done, accept=False, comment="Redo", user=rev)
    services.task_assign(task=tasks[2], assignee=ann)
    assert services.task_reserve(task=tasks[3], user=ann)

    home = page_client(ann).get("/")

    (project,) = [p for p in home.context["projects"] if p.pk == world.project.pk]
    # The sent-back task is assigned to them again, so it counts as assigned too.
    assert project.queue == {"assigned": 2, "reserved": 1, "rejected": 1}
    assert project.may_review is False
    assert b"/review" not in home.content
    reviewers_home = page_client(rev).get("/")
    assert f"/projects/{world.project.pk}/review".encode() in reviewers_home.content


def test_a_reviewers_page_heartbeat_renews_the_review_reservation_through_the_api(world: World):
    tasks = more_tasks(world, 1)
    ann, rev = annotator(world, "ann"), reviewer(world, "rev")
    completed_by(ann, [tasks[0]])
    held = services.task_review_next_reserve(user=rev, project=world.project)
    assert held is not None
    soon = timezone.now() + timedelta(seconds=5)
    Task.objects.filter(pk=held.pk).update(reserved_until=soon)

    response = api_client(rev).post(f"/api/tasks/{held.pk}/heartbeat", {"active_seconds": 3}, format="json")

    assert response.status_code == 200, response.content
    stored = Task.objects.get(pk=held.pk)
    assert stored.reserved_by_id == rev.pk
    assert stored.reserved_until is not None
    assert stored.reserved_until > soon
    assert stored.active_seconds == 3
