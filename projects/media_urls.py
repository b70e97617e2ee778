"""The one address of a media's image, for pages and exports alike.

Uploaded and S3 media are shown through `/media/<id>/file` (`projects.views.media_file`),
which checks access on every request: uploaded files stream from the storage (never a public
storage URL), S3-source media redirect to a short-lived signed URL. A URL media's address is
its own URL: it is public already (anyone holding it can fetch it, and the pages hand it to
the browser, never to the server), so a detour through our view would add a redirect and no
protection. Exports write the same addresses, absolute (a file leaves the site).

The site's base for absolute URLs is `LABELSITE_PUBLIC_URL` when the operator sets it (the
address users reach, e.g. behind a proxy), else the address of the request that started the
export; an export with neither (a management command) writes the path alone.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from projects.models import MediaSource


def site_url(*, request: HttpRequest | None = None) -> str:
    """The site's public base without a trailing slash (`https://labels.example.com`), or ""."""
    configured = str(getattr(settings, "LABELSITE_PUBLIC_URL", "") or "")
    if configured:
        return configured.rstrip("/")
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return ""


def media_file_path(*, media_id: Any) -> str:
    """The access-checked path of a media's image (`/media/<id>/file`)."""
    return reverse("media-file", args=[media_id])


def media_image_url(*, media_id: Any, source: str, url: str, base: str = "") -> str:
    """The address of a media's image: a URL media's own URL; for uploaded and S3 media the
    access-checked path, under `base` when given (exports; see `site_url`)."""
    if source == MediaSource.URL and url:
        return url
    return f"{base}{media_file_path(media_id=media_id)}"
