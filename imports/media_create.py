"""Create the media that an import's rows ask for (`formats.media_rows.MediaRow`), in bulk.

The pipeline hands a batch of rows to `media_rows_create`, which creates the URL media that do
not exist yet (matched by URL, then by global key) in the target dataset, gives them a task
in every project the dataset is connected to, and returns one `MediaRowOutcome` per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models.functions import Lower

from formats.media_rows import MediaRow, MediaRowOutcome, duplicate_global_key
from labeling.models import Task
from labelsite.errors import ErrorDetail
from labelsite.table_statistics import table_statistics_refresh_after_write
from projects.models import Dataset, Media, MediaSource, Project
from projects.services import _media_bulk_insert

_MIME_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "bmp": "image/bmp"}


class GlobalKeyChecker:
    """Finds duplicate global keys in one upload (first wins) and against live media, in bulk."""

    def __init__(self, *, organization_id: Any) -> None:
        self.organization_id = organization_id
        self.seen: set[str] = set()

    def check(self, rows: Sequence[MediaRow]) -> dict[int, ErrorDetail]:
        """Position in `rows` -> the duplicate error; remembers the keys for later chunks."""
        keys = {row.global_key.lower() for row in rows if row.global_key}
        taken = set(
            Media.objects.filter(organization_id=self.organization_id, deleted_at__isnull=True)
            .annotate(key_lower=Lower("global_key"))
            .filter(key_lower__in=keys)
            .values_list("key_lower", flat=True)
        )
        errors: dict[int, ErrorDetail] = {}
        for position, row in enumerate(rows):
            if not row.global_key:
                continue
            lowered = row.global_key.lower()
            if lowered in taken or lowered in self.seen:
                errors[position] = duplicate_global_key(row.global_key_place(), row.global_key)
            self.seen.add(lowered)
        return errors


def media_rows_dataset_errors(*, project: Project, dataset_id: Any) -> list[ErrorDetail]:
    """Why the option `dataset_id` cannot receive the new media: it must be a live dataset
    connected to the project (a dataset of another organisation is simply not found)."""
    if dataset_id in (None, ""):
        return []
    try:
        wanted = uuid.UUID(str(dataset_id))
    except ValueError:
        wanted = None
    if wanted is None or not project.datasets.filter(pk=wanted, deleted_at__isnull=True).exists():
        return [
            ErrorDetail(
                "options.dataset_id",
                "dataset_not_found",
                f"No dataset {dataset_id!r} is connected to the project; connect it first, or leave dataset_id "
                "empty to use the project's first dataset.",
                params=(str(dataset_id),),
            )
        ]
    return []


def media_rows_dataset(*, project: Project, dataset_id: Any = None) -> Dataset:
    """The dataset new media go to: the one named by the options, else the project's first
    connected dataset, else a new dataset `<project> imports` connected to the project."""
    datasets = project.datasets.filter(deleted_at__isnull=True)
    if dataset_id:
        return datasets.get(pk=dataset_id)
    found = datasets.order_by("name").first()
    if found is not None:
        return found
    from projects.services import dataset_connect, dataset_create

    dataset = dataset_create(organization=project.organization, name=f"{project.name} imports"[:128])
    dataset_connect(dataset=dataset, project=project)
    return dataset


def media_rows_create(*, project: Project, dataset: Dataset, rows: Iterable[MediaRow]) -> list[MediaRowOutcome]:
    """Find or create the media of `rows` (URL media, not fetched now) and their project tasks.

    A row without a global key whose URL is already a live media of the dataset (or of an
    earlier row) reuses it: Label Studio tasks name the same image many times. A row with a
    global key is a Labelbox data row, whose identity is the key: it is always created,
    unless its key is taken (or repeats an earlier row's), which fails that row only.
    """
    outcomes = [MediaRowOutcome(row=row) for row in rows]
    with transaction.atomic():
        urls = {o.row.url for o in outcomes}
        by_url = {
            m.url: m
            for m in Media.objects.filter(dataset=dataset, deleted_at__isnull=True, url__in=urls).only(
                "id", "url", "global_key"
            )
        }
        checker = GlobalKeyChecker(organization_id=dataset.organization_id)
        fresh = [o for o in outcomes if o.row.global_key or o.row.url not in by_url]
        for position, error in checker.check([o.row for o in fresh]).items():
            fresh[position].errors.append(error)
        to_create: list[Media] = []
        created_by_url: dict[str, Media] = {}
        for outcome in outcomes:
            if outcome.errors:
                continue
            row = outcome.row
            media = None if row.global_key else by_url.get(row.url) or created_by_url.get(row.url)
            if media is None:
                extension = row.url.rsplit(".", 1)[-1].lower() if "." in row.url else ""
                media = Media(
                    organization_id=dataset.organization_id,
                    dataset=dataset,
                    name=row.media_name(),
                    source=MediaSource.URL,
                    url=row.url,
                    mime_type=_MIME_TYPES.get(extension, ""),
                    global_key=row.global_key or None,
                    external_id=row.external_id[:255],
                    metadata=row.metadata,
                    attachments=row.attachments,
                    width=row.width,
                    height=row.height,
                )
                if not row.global_key:
                    created_by_url[row.url] = media
                to_create.append(media)
                outcome.created = True
            outcome.media_id = media.id
        _media_bulk_insert(dataset=dataset, media=to_create, probe=False)  # probed when the job ends
        media_ids = {o.media_id for o in outcomes if o.media_id is not None}
        Task.objects.bulk_create(
            [Task(project=project, media_id=media_id) for media_id in media_ids], ignore_conflicts=True
        )
        table_statistics_refresh_after_write(table=Task._meta.db_table, rows=len(media_ids))
        tasks = dict(Task.objects.filter(project=project, media_id__in=media_ids).values_list("media_id", "id"))
        for outcome in outcomes:
            if outcome.media_id is not None:
                outcome.task_id = tasks.get(outcome.media_id)
    return outcomes
