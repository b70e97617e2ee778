"""The labeling pages without a browser: start labeling, the task list, the page's data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from labeling.models import Task, TaskState
from tests.factories import MembershipFactory, ProjectFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def annotator(project: Any) -> Any:
    user: Any = UserFactory()
    MembershipFactory(user=user, organization=project.organization, role="annotator")
    project.members.add(user)
    return user


@pytest.fixture
def client_of(annotator: Any) -> Client:
    client = Client()
    client.force_login(annotator)
    return client


def start(client: Client, project: Any) -> str:
    response = client.get(reverse("project-label-start", kwargs={"project_id": project.pk}))
    assert response.status_code == 302
    return str(response["Location"])


def test_start_labeling_opens_open_tasks_assigned_to_me_first_then_unassigned_ones_oldest_first(
    project: Any, annotator: Any, client_of: Client
) -> None:
    someone_else: Any = UserFactory()
    unassigned_old: Any = TaskFactory(project=project)
    TaskFactory(project=project, assignee=someone_else)
    TaskFactory(project=project, assignee=annotator, state=TaskState.COMPLETED)
    mine: Any = TaskFactory(project=project, assignee=annotator, state=TaskState.WAITING)
    assert start(client_of, project) == reverse("task-label", kwargs={"task_id": mine.pk})
    Task.objects.filter(pk=mine.pk).update(state=TaskState.SKIPPED)
    assert start(client_of, project) == reverse("task-label", kwargs={"task_id": unassigned_old.pk})


def test_start_labeling_without_open_tasks_goes_to_the_task_list(project: Any, client_of: Client) -> None:
    TaskFactory(project=project, state=TaskState.COMPLETED)
    assert start(client_of, project) == reverse("project-task-list", kwargs={"project_id": project.pk})


def test_task_list_filters_by_state_and_assignee(project: Any, annotator: Any) -> None:
    admin: Any = UserFactory()
    MembershipFactory(user=admin, organization=project.organization, role="admin")
    client = Client()
    client.force_login(admin)
    TaskFactory(project=project, media__name="open.png")
    TaskFactory(project=project, media__name="done.png", state=TaskState.COMPLETED)
    TaskFactory(project=project, media__name="mine.png", assignee=annotator)
    url = reverse("project-task-list", kwargs={"project_id": project.pk})
    everything = client.get(url).content.decode()
    assert all(name in everything for name in ["open.png", "done.png", "mine.png"])
    completed = client.get(url, {"state": "completed"}).content.decode()
    assert "done.png" in completed
    assert "open.png" not in completed
    theirs = client.get(url, {"assignee": str(annotator.pk)}).content.decode()
    assert "mine.png" in theirs
    assert "open.png" not in theirs
    nobody = client.get(url, {"assignee": "none", "state": "backlog"}).content.decode()
    assert "open.png" in nobody
    assert "mine.png" not in nobody


def test_task_list_shows_an_annotator_only_their_own_tasks(project: Any, annotator: Any, client_of: Client) -> None:
    TaskFactory(project=project, media__name="open.png")
    TaskFactory(project=project, media__name="mine.png", assignee=annotator)
    TaskFactory(project=project, media__name="done-by-me.png", completed_by=annotator, state=TaskState.COMPLETED)
    html = client_of.get(reverse("project-task-list", kwargs={"project_id": project.pk})).content.decode()
    assert "mine.png" in html
    assert "done-by-me.png" in html
    assert "open.png" not in html


def test_task_list_with_a_bad_filter_in_its_link_says_so_and_shows_every_task(project: Any, client_of: Client) -> None:
    response = client_of.get(reverse("project-task-list", kwargs={"project_id": project.pk}), {"state": "finished"})
    assert response.status_code == 200
    assert "is not a task state" in response.content.decode()


def test_labeling_page_hands_its_data_to_the_script(project: Any, client_of: Client) -> None:
    first: Any = TaskFactory(project=project)
    second: Any = TaskFactory(project=project, media__name="<b>second</b>.png")
    response = client_of.get(reverse("task-label", kwargs={"task_id": second.pk}))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<b>second</b>" not in html
    start_tag = '<script id="labeling-data" type="application/json">'
    data = json.loads(html.split(start_tag, 1)[1].split("</script>", 1)[0])
    assert data["task"]["id"] == str(second.pk)
    # A URL media's own URL (projects/media_urls.py).
    assert data["image"] == {"url": second.media.url, "width": 640, "height": 480}
    assert data["document"]["version"] == 0
    assert data["urls"]["previous"] == reverse("task-label", kwargs={"task_id": first.pk})
    assert data["urls"]["next"] is None
    assert data["urls"]["annotation"] == f"/api/tasks/{second.pk}/annotation"
    assert data["canLabel"] is True
    assert data["canReview"] is False


def test_tasks_of_projects_one_may_not_see_answer_404(client_of: Client) -> None:
    hidden: Any = TaskFactory(project=ProjectFactory())
    assert client_of.get(reverse("task-label", kwargs={"task_id": hidden.pk})).status_code == 404
    project_id = hidden.project_id
    assert client_of.get(reverse("project-task-list", kwargs={"project_id": project_id})).status_code == 404
    assert client_of.get(reverse("project-label-start", kwargs={"project_id": project_id})).status_code == 404


def test_project_page_links_to_start_labeling(project: Any, client_of: Client) -> None:
    html = client_of.get(reverse("project-detail", kwargs={"project_id": project.pk})).content.decode()
    assert reverse("project-label-start", kwargs={"project_id": project.pk}) in html


def test_previous_and_next_follow_created_at_then_id_through_tasks_created_at_the_same_instant(project: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from labeling.selectors import task_neighbours_get

    tasks: list[Any] = [TaskFactory(project=project) for _ in range(5)]
    TaskFactory()  # another project's task is never a neighbour
    instant = timezone.now()
    Task.objects.filter(pk__in=[t.pk for t in tasks[1:4]]).update(created_at=instant)  # a bulk import's tie
    Task.objects.filter(pk=tasks[0].pk).update(created_at=instant - timedelta(seconds=1))
    Task.objects.filter(pk=tasks[4].pk).update(created_at=instant + timedelta(seconds=1))
    tied = sorted(tasks[1:4], key=lambda t: t.pk)
    order = [tasks[0], *tied, tasks[4]]

    for position, task in enumerate(order):
        previous, following = task_neighbours_get(task=Task.objects.get(pk=task.pk))
        assert (previous.pk if previous else None) == (order[position - 1].pk if position else None)
        assert (following.pk if following else None) == (order[position + 1].pk if position < 4 else None)
