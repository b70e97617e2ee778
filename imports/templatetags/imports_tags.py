"""Template tags of imports, for pages of other apps (projects may not import imports).

`{% project_imports project as imports %}` on the project's Import tab gives the upload form's
choices and the project's past imports, for admins; None for anyone else.
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from formats import format_list
from imports import selectors
from imports.api import format_data
from imports.views import MATCH_BY_LABELS
from projects.models import Project
from projects.selectors import user_is_org_admin

register = template.Library()


@register.filter
def location_breaks(location: str) -> SafeString:
    """An error's place with a line-break opportunity after each `/` and `, `, so that a long
    JSON pointer wraps between its parts, never mid-word (static/imports/job.js does the same)."""
    escaped = str(conditional_escape(location))
    return mark_safe(escaped.replace("/", "/<wbr>").replace(", ", ", <wbr>"))  # noqa: S308 - escaped above


#: Past imports listed on the project page.
HISTORY_SIZE = 20


@register.simple_tag(takes_context=True)
def project_imports(context: template.Context, project: Project) -> dict[str, Any] | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user_is_org_admin(user=user, organization=project.organization_id):
        return None
    formats = [format_data(fmt) for fmt in format_list()]
    for data in formats:
        data["example_options_text"] = json.dumps(data["example_options"]) if data["example_options"] else ""
    return {
        "formats": formats,
        # What the form's script needs to say which format a chosen file is (static/imports/form.js).
        "detect": [{"name": f["name"], "label": f["label"], "kinds": f["file_kinds"]} for f in formats],
        "match_by": MATCH_BY_LABELS,
        "jobs": list(selectors.import_job_list_for_project(project=project)[:HISTORY_SIZE]),
        "running": selectors.RUNNING_STATUSES,
    }
