"""Template tags of exports, for the project page (projects may not import imports).

`{% project_exports project as exports %}` gives the export form's choices and the
project's past exports to admins and reviewers; None to anyone else.
"""

from __future__ import annotations

from typing import Any

from django import template

from exports.api import export_format_data, export_job_data
from exports.models import ExportStatus
from exports.reader import DEFAULT_STATES
from exports.selectors import export_job_list
from formats import export_format_list
from labeling.models import TaskState
from projects.models import Dataset, Project
from projects.selectors import user_role

register = template.Library()

#: Past exports listed on the project page.
HISTORY_SIZE = 20


@register.simple_tag(takes_context=True)
def project_exports(context: template.Context, project: Project) -> dict[str, Any] | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or user_role(user=user, organization=project.organization_id) not in ("admin", "reviewer"):
        return None
    jobs = [export_job_data(job) for job in export_job_list(project=project)[:HISTORY_SIZE]]
    return {
        "formats": [export_format_data(fmt) for fmt in export_format_list()],
        "states": [
            {"value": value, "label": label, "checked": value in DEFAULT_STATES} for value, label in TaskState.choices
        ],
        "datasets": list(Dataset.objects.filter(projects=project, deleted_at__isnull=True).order_by("name")),
        "jobs": jobs,
        "running": [ExportStatus.QUEUED.value, ExportStatus.RUNNING.value],
    }
