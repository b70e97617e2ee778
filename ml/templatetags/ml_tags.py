"""Template tags of model servers, for the project page (projects may not import ml).

`{% project_ml_backends project as ml %}` gives the project's admins its connected model
servers, recent pre-label jobs and predictions by model version; None to anyone else.
"""

from __future__ import annotations

from typing import Any

from django import template

from ml.api import backend_data, prelabel_job_data
from ml.models import ACTIVE_STATUSES
from ml.selectors import backend_list, prediction_versions, prelabel_job_list
from projects.models import Project
from projects.selectors import user_is_org_admin

register = template.Library()

#: Past pre-label jobs listed on the project page.
HISTORY_SIZE = 10


@register.simple_tag(takes_context=True)
def project_ml_backends(context: template.Context, project: Project) -> dict[str, Any] | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    if (
        user is None
        or not user.is_authenticated
        or not user_is_org_admin(user=user, organization=project.organization_id)
    ):
        return None
    return {
        "backends": [backend_data(b) for b in backend_list(project=project)],
        "jobs": [prelabel_job_data(j) for j in prelabel_job_list(project=project)[:HISTORY_SIZE]],
        "versions": prediction_versions(project=project),
        "running": [status.value for status in ACTIVE_STATUSES],
    }


@register.simple_tag
def project_prediction_versions(project: Project) -> list[dict[str, Any]]:
    """For the project's Overview (every member): per model version, its predictions waiting and
    how often annotators accepted, edited or deleted them, with the share kept unchanged."""
    versions = prediction_versions(project=project)
    for version in versions:
        decided = version["accepted"] + version["edited"] + version["deleted"]
        version["decided"] = decided
        version["accepted_share"] = round(100 * version["accepted"] / decided) if decided else None
    return versions
