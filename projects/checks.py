"""System checks of the projects app: the operator's S3 sources (`LABELSITE_S3_SOURCES`)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from projects.s3_sources import S3_SOURCES_SETTING, app_storage_areas, s3_sources


@register()
def check_s3_sources(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """A malformed source is an error; a source that overlaps the app's own storage is a
    warning (its keys there are refused anyway, but the operator meant something else)."""
    try:
        sources = s3_sources()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="projects.E001")]
    messages: list[CheckMessage] = []
    for source in sources:
        for area in app_storage_areas():
            if source.bucket == area.bucket and (
                source.prefix.startswith(area.location) or area.location.startswith(source.prefix)
            ):
                messages.append(
                    Warning(
                        f"{S3_SOURCES_SETTING}[{source.name!r}] ({source.describe()}) overlaps Labelsite's own "
                        f"storage (bucket {area.bucket!r}, location {area.location!r}); keys inside it are refused.",
                        hint="Point the source at a bucket or prefix of the organisation's own images.",
                        id="projects.W001",
                    )
                )
    return messages
