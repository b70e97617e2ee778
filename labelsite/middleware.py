"""Request middleware shared by every app."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

_REPEATED_SLASHES = re.compile(r"/{2,}")


class CollapseSlashesMiddleware:
    """Collapse repeated slashes in the path before URL resolution.

    The `datagym` client sends `//api/v1/config/<id>`. The development server collapses
    the leading slashes itself, but gunicorn passes PATH_INFO through unchanged, and the
    path would then match no route.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "//" in request.path_info:
            request.path_info = _REPEATED_SLASHES.sub("/", request.path_info)
            request.path = _REPEATED_SLASHES.sub("/", request.path)
        return self.get_response(request)
