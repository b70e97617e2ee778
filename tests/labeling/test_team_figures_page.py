"""Issue 18, point 7: the team figures' card (templates/labeling/_team_figures_card.html), on its
own page and loaded by the project page (templates/projects/_team_figures.html): a table of each
member's totals and a bar chart of the tasks each completed per day, drawn by the server as SVG;
the whole team for admins and reviewers, their own figures for annotators."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from labeling.templatetags.team_figures_tags import NO_FIGURE, _axis_step, _duration
from tests.api.conftest import World, fast_password_hashing, world
from tests.api.test_team_figures_api import worked

__all__ = ["fast_password_hashing", "worked", "world"]

pytestmark = pytest.mark.django_db


def page_of(user: Any, world: World, query: str = "") -> str:
    client = Client()
    client.force_login(user)
    answer = client.get(f"/projects/{world.project.id}/team-figures{query}")
    assert answer.status_code == 200
    return answer.content.decode()


def table_rows(html: str) -> dict[str, tuple[str, ...]]:
    """Member -> the cells of their row, as text."""
    body = html.split('id="team-figures-table"', 1)[1].split("</table>", 1)[0]
    rows = {}
    for name, cells in re.findall(r'<tr data-member="([^"]+)"[^>]*>(.*?)</tr>', body, flags=re.S):
        rows[name] = tuple(
            re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)
        )
    return rows


def bars(html: str) -> list[tuple[str, str, int]]:
    return [
        (member, day, int(count))
        for member, day, count in re.findall(
            r'<rect class="team-figures__bar"[^>]*data-member="([^"]+)" data-date="([^"]+)" data-count="(\d+)"', html
        )
    ]


def test_an_admin_sees_the_whole_teams_table_and_chart(world: World, worked: dict[str, Any]):
    html = page_of(world.admin, world)

    assert "Team figures" in html
    rows = table_rows(html)
    assert set(rows) == {"ann", "bob", world.reviewer.username, world.annotator.username}
    assert rows["ann"][1:] == ("3", "6", "50 s", "2", "1", "67 %", "0")
    assert rows[world.reviewer.username][1:] == ("0", "0", NO_FIGURE, "0", "0", NO_FIGURE, "4")
    today = timezone.now().date().isoformat()
    assert sorted(bars(html)) == [("ann", today, 3), ("bob", today, 1)]
    assert f"/api/projects/{world.project.id}/team-figures?date_from=" in html


def test_a_reviewer_sees_the_whole_team_and_an_annotator_only_themselves(world: World, worked: dict[str, Any]):
    assert {"ann", "bob"} <= set(table_rows(page_of(world.reviewer, world)))

    html = page_of(worked["ann"], world)
    assert "Your figures" in html
    assert set(table_rows(html)) == {"ann"}
    assert [member for member, _, _ in bars(html)] == ["ann"]
    assert "bob" not in html


def test_a_range_without_work_says_so_and_a_bad_date_is_explained(world: World, worked: dict[str, Any]):
    html = page_of(world.admin, world, "?figures_from=2020-01-01&figures_to=2020-01-31")
    assert 'id="team-figures-chart-empty"' in html
    assert 'value="2020-01-01"' in html

    html = page_of(world.admin, world, "?figures_from=soon")
    assert "From “soon” is no date; give YYYY-MM-DD. Showing the last 30 days instead." in html
    assert len(bars(html)) == 2

    html = page_of(world.admin, world, "?figures_from=2026-12-06&figures_to=2026-01-01")
    assert "after it ends" in html
    html = page_of(world.admin, world, "?figures_to=0001-01-01")
    assert "date_to 0001-01-01 is out of range" in html


def test_durations_and_axis_steps_read_well():
    assert [_duration(s) for s in (None, 6.5, 59.4, 65, 3600 * 2 + 610)] == [
        NO_FIGURE,
        "6 s",
        "59 s",
        "1 min 5 s",
        "2 h 10 min",
    ]
    assert [_axis_step(n) for n in (1, 3, 4, 5, 9, 17, 40, 41, 230)] == [1, 1, 1, 2, 5, 5, 10, 20, 100]


def test_the_project_page_loads_the_card_from_its_page(world: World, worked: dict[str, Any]):
    client = Client()
    client.force_login(world.admin)
    html = client.get(f"/projects/{world.project.id}/").content.decode()

    assert f'data-src="/projects/{world.project.id}/team-figures"' in html
    assert "/static/projects/team-figures.js" in html
    # the project page itself counts nothing
    assert 'id="team-figures-table"' not in html


def test_the_figures_page_is_a_members_page(world: World, worked: dict[str, Any]):
    client = Client()
    client.force_login(world.other_organization.memberships.get().user)
    assert client.get(f"/projects/{world.project.id}/team-figures").status_code == 404
    assert Client().get(f"/projects/{world.project.id}/team-figures").status_code == 302
