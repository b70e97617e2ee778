"""Issue 18, point 7: team figures. Per member and per UTC day: tasks completed, labels made, the
median active time per completed task, the verdicts on their work (and the acceptance rate), and
the reviews they gave; computed in the database, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from labeling.models import Label, LabelSource, ReviewVerdict, Task, TaskState
from labeling.selectors import (
    TEAM_FIGURES_MAX_DAYS,
    MemberFigures,
    TeamFigures,
    team_figures_get,
    team_figures_range,
)
from labelsite.errors import ValidationFailed
from projects.models import Project
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY_1 = date(2026, 11, 2)
DAY_2 = date(2026, 11, 3)


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def member(organization: Any, project: Project, name: str, role: str = "annotator") -> Any:
    user: Any = UserFactory(username=name)
    MembershipFactory(user=user, organization=organization, role=role)
    project.members.add(user)
    return user


def completed(project: Project, user: Any, when: datetime, active_seconds: int) -> Task:
    task: Any = TaskFactory(project=project)
    Task.objects.filter(pk=task.pk).update(
        state=TaskState.COMPLETED, completed_by=user, completed_at=when, active_seconds=active_seconds
    )
    task.refresh_from_db()
    return task


def reviewed(task: Task, reviewer: Any, when: datetime, *, accept: bool) -> None:
    Task.objects.filter(pk=task.pk).update(
        state=TaskState.REVIEWED if accept else TaskState.IN_PROGRESS,
        reviewed_by=reviewer,
        reviewed_at=when,
        review_verdict=ReviewVerdict.ACCEPTED if accept else ReviewVerdict.REJECTED,
    )


def labels(task: Task, author: Any, when: datetime, count: int, source: str = LabelSource.MANUAL) -> None:
    entry = task.project.label_configuration.entries.first()
    if entry is None:
        from projects.label_config import label_config_replace

        label_config_replace(
            configuration=task.project.label_configuration,
            entries=[{"key": "car", "title": "Car", "type": "rectangle"}],
        )
        entry = task.project.label_configuration.entries.get()
    made = Label.objects.bulk_create(
        [Label(task=task, entry=entry, points=[[1, 1], [4, 4]], author=author, source=source) for _ in range(count)]
    )
    Label.objects.filter(pk__in=[label.pk for label in made]).update(created_at=when)


def row(figures: TeamFigures, name: str) -> MemberFigures:
    return next(member for member in figures.members if member.username == name)


@pytest.fixture
def team() -> dict[str, Any]:
    """Two annotators and a reviewer at work on two days, with work elsewhere that must not count."""
    organization: Any = OrganizationFactory()
    project: Any = ProjectFactory(organization=organization, name="Streets")
    alice = member(organization, project, "alice")
    bob = member(organization, project, "bob")
    rita = member(organization, project, "rita", role="reviewer")
    idle = member(organization, project, "idle")

    # alice: three tasks on day 1 (10, 30, 20 s), two on day 2 (100, 40 s)
    alice_day_1 = [completed(project, alice, at(DAY_1, 9 + n), seconds) for n, seconds in enumerate((10, 30, 20))]
    for seconds in (100, 40):
        completed(project, alice, at(DAY_2, 10), seconds)
    # bob: four tasks on day 2 (5, 1, 9, 7 s), the last in its final second; one more a second later (day 3)
    bob_tasks = [completed(project, bob, at(DAY_2, 8), seconds) for seconds in (5, 1, 9)]
    bob_tasks.append(completed(project, bob, at(DAY_2, 23, 59, 59), 7))
    completed(project, bob, at(DAY_2 + timedelta(days=1)), 1000)
    # rita reviews on day 2: two of alice's day-1 tasks accepted, one sent back; one of bob's accepted
    reviewed(alice_day_1[0], rita, at(DAY_2, 14), accept=True)
    reviewed(alice_day_1[1], rita, at(DAY_2, 14), accept=True)
    reviewed(alice_day_1[2], rita, at(DAY_2, 15), accept=False)
    reviewed(bob_tasks[0], rita, at(DAY_2, 16), accept=True)
    # labels: alice 5 on day 1, bob 2 on day 2 and 3 the day before the range; an import's labels have no author
    labels(alice_day_1[0], alice, at(DAY_1, 9), 5)
    labels(bob_tasks[0], bob, at(DAY_2, 8), 2)
    labels(bob_tasks[1], bob, at(DAY_1 - timedelta(days=1), 8), 3)
    labels(bob_tasks[2], None, at(DAY_2, 8), 4, source=LabelSource.IMPORT)

    # another project of the organisation: alice's work there is not this project's
    elsewhere: Any = ProjectFactory(organization=organization)
    labels(completed(elsewhere, alice, at(DAY_1), 999), alice, at(DAY_1), 7)
    return {"project": project, "alice": alice, "bob": bob, "rita": rita, "idle": idle}


def test_figures_per_member_and_day(team: dict[str, Any]):
    figures = team_figures_get(project=team["project"], date_from=DAY_1, date_to=DAY_2)

    assert [member.username for member in figures.members] == ["alice", "bob", "idle", "rita"]
    alice = row(figures, "alice")
    assert [day.day for day in alice.days] == [DAY_1, DAY_2]
    day_1, day_2 = alice.days
    assert (day_1.tasks_completed, day_1.labels_made, day_1.median_active_seconds) == (3, 5, 20)
    assert (day_1.reviews_accepted, day_1.reviews_rejected, day_1.acceptance_rate) == (0, 0, None)
    # the verdicts count on the day they were given
    assert (day_2.tasks_completed, day_2.labels_made, day_2.median_active_seconds) == (2, 0, 70)
    assert (day_2.reviews_accepted, day_2.reviews_rejected, day_2.acceptance_rate) == (2, 1, 0.6667)
    totals = alice.totals
    assert (totals.tasks_completed, totals.labels_made, totals.median_active_seconds) == (5, 5, 30)
    assert (totals.reviews_accepted, totals.reviews_rejected, totals.reviews_done) == (2, 1, 0)

    bob = row(figures, "bob")
    assert [day.day for day in bob.days] == [DAY_2]
    # 23:59:59 UTC is still day 2; the task a second later and the labels of the day before are not in the range
    assert (bob.totals.tasks_completed, bob.totals.labels_made, bob.totals.median_active_seconds) == (4, 2, 6)
    assert (bob.totals.reviews_accepted, bob.totals.acceptance_rate) == (1, 1.0)

    rita = row(figures, "rita")
    assert rita.totals.reviews_done == 4
    assert rita.totals.tasks_completed == 0
    assert [(day.day, day.reviews_done) for day in rita.days] == [(DAY_2, 4)]
    # a member with nothing in the range is listed with zeros
    idle = row(figures, "idle")
    assert idle.days == []
    assert idle.totals.tasks_completed == 0
    assert idle.totals.median_active_seconds is None


def test_figures_of_one_day_and_of_one_member(team: dict[str, Any]):
    figures = team_figures_get(project=team["project"], date_from=DAY_2, date_to=DAY_2, member_ids=[team["alice"].pk])

    assert [member.username for member in figures.members] == ["alice"]
    alice = figures.members[0]
    assert (alice.totals.tasks_completed, alice.totals.labels_made, alice.totals.median_active_seconds) == (2, 0, 70)
    assert (alice.totals.reviews_accepted, alice.totals.reviews_rejected) == (2, 1)
    assert figures.dates == [DAY_2]


def test_the_day_after_the_range_holds_only_the_late_task(team: dict[str, Any]):
    day_3 = DAY_2 + timedelta(days=1)
    figures = team_figures_get(project=team["project"], date_from=day_3, date_to=day_3)

    assert [(m.username, m.totals.tasks_completed, m.totals.median_active_seconds) for m in figures.members] == [
        ("alice", 0, None),
        ("bob", 1, 1000),
        ("idle", 0, None),
        ("rita", 0, None),
    ]


def test_medians_match_postgresqls_percentile_cont(team: dict[str, Any]):
    """The window-function median is PostgreSQL's own median, for every member and day."""
    if connection.vendor != "postgresql":
        # SQLite has no percentile_cont; the known values of the tests above hold the median there.
        assert connection.vendor == "sqlite"
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT completed_by_id, (completed_at AT TIME ZONE 'UTC')::date,
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY active_seconds)
               FROM labeling_task WHERE project_id = %s AND completed_by_id IS NOT NULL
               GROUP BY 1, 2""",
            [team["project"].pk],
        )
        expected = {(user_id, day): median for user_id, day, median in cursor.fetchall()}
    figures = team_figures_get(project=team["project"], date_from=DAY_1, date_to=DAY_2 + timedelta(days=1))
    found = {
        (member.user_id, day.day): day.median_active_seconds
        for member in figures.members
        for day in member.days
        if day.tasks_completed
    }
    assert found == expected


def test_the_range_defaults_to_the_last_30_days_and_is_bounded():
    date_from, date_to = team_figures_range(date_from=None, date_to=date(2026, 12, 6))
    assert (date_from, date_to) == (date(2026, 11, 7), date(2026, 12, 6))
    assert team_figures_range(date_from=DAY_1, date_to=DAY_1) == (DAY_1, DAY_1)
    with pytest.raises(ValidationFailed) as reversed_range:
        team_figures_range(date_from=DAY_2, date_to=DAY_1)
    assert reversed_range.value.details[0].path == "date_from"
    with pytest.raises(ValidationFailed) as too_long:
        team_figures_range(date_from=DAY_1 - timedelta(days=TEAM_FIGURES_MAX_DAYS), date_to=DAY_1)
    assert "at most 366" in too_long.value.message
