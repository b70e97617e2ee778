"""Template tags of the team figures, for the project page (projects may not import labeling).

`{% project_team_figures project as figures %}` gives `templates/projects/_team_figures.html`
what it draws: the range (from `?figures_from=` and `?figures_to=`, else the last 30 days), a
row of totals per member and a stacked bar chart of the tasks each member completed per day,
laid out here as SVG coordinates so that the page needs no script (the CSP allows none inline)
and no chart library. Admins and reviewers see the whole team, anyone else their own figures,
as the API decides (`team_figures_get_for_user`).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from django import template
from django.urls import reverse

from labeling.selectors import (
    Figures,
    TeamFigures,
    team_figures_get_for_user,
    user_may_review,
)
from labelsite.errors import DomainError, ValidationFailed
from projects.models import Project

register = template.Library()

#: Member colours, told apart by most eyes (Sasha Trubetskoy's list, the labeling page's first
#: class colour first); they repeat after ten members, whose names the legend and table give.
PALETTE = (
    "#4363d8",
    "#e6194b",
    "#3cb44b",
    "#f58231",
    "#911eb4",
    "#469990",
    "#9a6324",
    "#f032e6",
    "#808000",
    "#000075",
)

# The chart's drawing area, in SVG user units (the SVG scales to the card's width).
CHART_WIDTH = 720
CHART_HEIGHT = 220
PLOT_LEFT = 40
PLOT_RIGHT = CHART_WIDTH - 8
PLOT_TOP = 10
PLOT_BOTTOM = CHART_HEIGHT - 28
#: At most this many day labels under the bars.
DAY_LABELS = 10
#: What a cell shows for a figure that has no value (no task, no verdict): an en dash.
NO_FIGURE = "\u2013"


@register.simple_tag(takes_context=True)
def project_team_figures(context: template.Context, project: Project) -> dict[str, Any] | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return None
    error = ""
    try:
        date_from = _date(request.GET.get("figures_from", ""), "From")
        date_to = _date(request.GET.get("figures_to", ""), "To")
        figures = team_figures_get_for_user(user=user, project_id=project.pk, date_from=date_from, date_to=date_to)
    except DomainError as problem:
        error = f"{problem.message} Showing the last 30 days instead."
        figures = team_figures_get_for_user(user=user, project_id=project.pk)
    members = [
        {
            "user_id": member.user_id,
            "username": member.username,
            "color": PALETTE[index % len(PALETTE)],
            **_display(member.totals),
        }
        for index, member in enumerate(figures.members)
    ]
    query = f"?date_from={figures.date_from}&date_to={figures.date_to}"
    return {
        "whole_team": user_may_review(user=user, project=project),
        "date_from": figures.date_from,
        "date_to": figures.date_to,
        "error": error,
        "members": members,
        "chart": _chart(figures, {member["user_id"]: member["color"] for member in members}),
        "csv_url": reverse("api-team-figures", kwargs={"project_id": project.pk}) + query + "&format=csv",
    }


def _date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(code="invalid", message=f"{name} “{value[:20]}” is no date; give YYYY-MM-DD.") from None


def _display(figures: Figures) -> dict[str, Any]:
    rate = figures.acceptance_rate
    return {
        "tasks_completed": figures.tasks_completed,
        "labels_made": figures.labels_made,
        "median": _duration(figures.median_active_seconds),
        "median_seconds": figures.median_active_seconds,
        "reviews_accepted": figures.reviews_accepted,
        "reviews_rejected": figures.reviews_rejected,
        "acceptance": NO_FIGURE if rate is None else f"{round(rate * 100)} %",
        "reviews_done": figures.reviews_done,
    }


def _duration(seconds: float | None) -> str:
    """`42 s`, `3 min 5 s`, `2 h 10 min`; a dash for none."""
    if seconds is None:
        return NO_FIGURE
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _axis_step(largest: int) -> int:
    """A round step (1, 2, 5, 10, 20, 50 ...) that divides the axis up to `largest` in at most 4."""
    rough = max(1, math.ceil(largest / 4))
    magnitude = 10 ** (len(str(rough)) - 1)
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= rough)


def _chart(figures: TeamFigures, colors: dict[int, str]) -> dict[str, Any]:
    """Stacked bars of tasks completed per day, one colour per member, as SVG coordinates."""
    dates = figures.dates
    per_day: dict[date, list[tuple[Any, int]]] = {day: [] for day in dates}
    for member in figures.members:
        for of_day in member.days:
            if of_day.tasks_completed and of_day.day in per_day:
                per_day[of_day.day].append((member, of_day.tasks_completed))
    largest = max((sum(count for _, count in stack) for stack in per_day.values()), default=0)
    if not largest:
        return {"empty": True}
    step = _axis_step(largest)
    top = step * math.ceil(largest / step)
    scale = (PLOT_BOTTOM - PLOT_TOP) / top
    slot = (PLOT_RIGHT - PLOT_LEFT) / len(dates)
    width = max(slot * 0.7, 1.0)
    every = math.ceil(len(dates) / DAY_LABELS)
    bars, labels = [], []
    for index, day in enumerate(dates):
        x = PLOT_LEFT + index * slot + (slot - width) / 2
        base = float(PLOT_BOTTOM)
        for member, count in per_day[day]:
            height = count * scale
            base -= height
            bars.append(
                {
                    "x": round(x, 2),
                    "y": round(base, 2),
                    "width": round(width, 2),
                    "height": round(height, 2),
                    "color": colors[member.user_id],
                    "username": member.username,
                    "date": day,
                    "count": count,
                }
            )
        if (len(dates) - 1 - index) % every == 0:  # counted from the last day, which is always labelled
            labels.append({"x": round(x + width / 2, 2), "text": f"{day.day} {day:%b}"})
    ticks = []
    for value in range(0, top + 1, step):
        y = PLOT_BOTTOM - value * scale
        ticks.append({"y": round(y, 2), "value": value, "text_y": round(y + 4, 2)})
    legend = [
        {"username": member.username, "color": colors[member.user_id]}
        for member in figures.members
        if member.totals.tasks_completed
    ]
    return {
        "empty": False,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": PLOT_LEFT,
        "right": PLOT_RIGHT,
        "bottom": PLOT_BOTTOM,
        "label_y": PLOT_BOTTOM + 18,
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
        "legend": legend,
    }
