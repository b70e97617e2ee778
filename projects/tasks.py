"""Celery tasks of the projects app: thin, by id, each calling one service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from projects.media_probe import MEDIA_PROBE_RUN, media_probe_run
from projects.models import Media, MediaSource
from projects.thumbnails import media_thumbnail_create


@shared_task(name="projects.media_thumbnails_create")
def media_thumbnails_create(media_ids: list[str]) -> None:
    """Make the thumbnails of these media; deleted media and media without a file are skipped."""
    media_list = Media.objects.filter(id__in=media_ids, source=MediaSource.LOCAL, deleted_at__isnull=True).exclude(
        file=""
    )
    for media in media_list:
        media_thumbnail_create(media=media)


@shared_task(name=MEDIA_PROBE_RUN, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=5)
def media_probe_run_task(organization_id: str) -> None:
    """One batch of the organisation's media probes (size and thumbnail); it queues the next."""
    media_probe_run(organization_id=organization_id)
