"""What every page view shares: domain errors become the HTTP answers of a page."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from labelsite.errors import NotFound, PermissionDenied

T = TypeVar("T")


def or_http_error(call: Callable[[], T]) -> T:
    """Run a selector or service; NotFound becomes a 404 page and PermissionDenied a 403."""
    try:
        return call()
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.message) from exc


#: The site's icon (pages link it as static/img/favicon.svg).
FAVICON = settings.BASE_DIR / "static" / "img" / "favicon.svg"


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico for the browsers and tools that ask for it without reading the page's link:
    the same SVG, instead of a 404 (or a redirect to the login page) in every log."""
    return HttpResponse(FAVICON.read_bytes(), content_type="image/svg+xml")
