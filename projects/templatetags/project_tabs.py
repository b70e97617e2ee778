"""The project's breadcrumbs, title and tabs, the same on every tab (Overview, Tasks, Data, Import,
Export, Settings and the pages under them).

`{% project_tabs project "data" %}` (optionally `crumb="Label configuration"` for a page under a
tab) renders templates/projects/_project_tabs.html with the tabs the user may open, chosen by
`projects.selectors.project_tab_list`: the rules the tabs' views enforce.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from projects.models import Project
from projects.selectors import project_tab_list, user_may_review_project

register = template.Library()


@register.inclusion_tag("projects/_project_tabs.html", takes_context=True)
def project_tabs(context: template.Context, project: Project, active: str, crumb: str = "") -> dict[str, Any]:
    user = context["request"].user
    tabs = [
        {
            "key": key,
            "label": label,
            "url": reverse(url_name, kwargs={"project_id": project.pk}),
            "current": key == active,
        }
        for key, label, url_name in project_tab_list(user=user, project=project)
    ]
    current = next((tab for tab in tabs if tab["current"]), None)
    return {
        "project": project,
        "tabs": tabs,
        "current": current,
        "crumb": crumb,
        "can_review": user_may_review_project(user=user, project=project),
    }
