"""What every page's navigation needs to know about the signed-in person."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from projects.selectors import organization_list_for_admin


def navigation(request: HttpRequest) -> dict[str, Any]:
    """`administers`: whether the person administers an organisation, the rule the setup pages
    (datasets, members, API tokens, new project) enforce with `organization_get_for_admin`, so the
    top bar shows only the entries they may open. A callable: templates call it only when used."""
    user = getattr(request, "user", None)
    return {
        "administers": lambda: bool(user is not None and organization_list_for_admin(user=user).exists()),
    }
