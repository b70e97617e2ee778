"""What every page view shares: domain errors become the HTTP answers of a page."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404

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
