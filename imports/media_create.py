"""Create the media that an import's rows ask for (`formats.media_rows.MediaRow`), in bulk.

The pipeline hands a batch of rows to `media_rows_create`, which creates the URL media that do
not exist yet (matched by URL, then by global key) in the target dataset, gives them a task
in every project the dataset is connected to, and returns one `MediaRowOutcome` per row.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models.functions import Lower

from formats.media_rows import MediaRow, MediaRowOutcome, duplicate_global_key
from labeling.models import Task
from labelsite.bulk_insert import rows_insert
from labelsite.errors import ErrorDetail
from labelsite.table_statistics import table_statistics_refresh_after_write
from projects.models import Dataset, Media, MediaSource, Project
from projects.services import media_bulk_insert_new

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


#: Rounds of renaming a media whose name another writer took between our look and our insert.
NAME_RETRIES = 5


def media_rows_create(*, project: Project, dataset: Dataset, rows: Iterable[MediaRow]) -> list[MediaRowOutcome]:
    """Find or create the media of `rows` (URL media, not fetched now) and their project tasks.

    A row without a global key whose URL is already a live media of the dataset (or of an
    earlier row) reuses it: Label Studio tasks name the same image many times. A row with a
    global key is a Labelbox data row, whose identity is the key: it is always created,
    unless its key is taken (or repeats an earlier row's), which fails that row only.

    Safe while other writers (the other chunks of the same import) create media at once: the
    rows go in with `INSERT ... ON CONFLICT DO NOTHING` and the database's unique indexes decide
    (`media_unique_live_url`, `media_unique_live_global_key`); one lookup per batch then finds
    the media of each row, ours or theirs. A URL another writer created first is reused; a global
    key another took first fails its row, as a key taken before would.
    """
    outcomes = [MediaRowOutcome(row=row) for row in rows]
    with transaction.atomic():
        urls = {o.row.url for o in outcomes if not o.row.global_key}
        by_url = dict(
            Media.objects.filter(dataset=dataset, deleted_at__isnull=True, url__in=urls).values_list("url", "id")
        )
        checker = GlobalKeyChecker(organization_id=dataset.organization_id)
        keyed = [o for o in outcomes if o.row.global_key]
        for position, error in checker.check([o.row for o in keyed]).items():
            keyed[position].errors.append(error)
        planned: dict[str, Media] = {}  # by URL (keyless rows) or by lower-case key
        for outcome in outcomes:
            if outcome.errors:
                continue
            row = outcome.row
            if not row.global_key and row.url in by_url:
                outcome.media_id = by_url[row.url]
                continue
            wanted = row.global_key.lower() if row.global_key else row.url
            if wanted not in planned:
                planned[wanted] = _media_new(dataset, row)
        holding, _ = _media_insert(dataset, planned)
        counted: set[Any] = set()
        for outcome in outcomes:
            if outcome.errors or outcome.media_id is not None:
                continue
            row = outcome.row
            wanted = row.global_key.lower() if row.global_key else row.url
            media_id, mine = holding.get(wanted), planned[wanted].id
            if row.global_key and media_id != mine:
                # Another writer took the key after our check (another chunk of this import).
                outcome.errors.append(duplicate_global_key(row.global_key_place(), row.global_key))
                continue
            if media_id is None:
                outcome.errors.append(_name_unavailable(row))
                continue
            outcome.media_id = media_id
            # The first row of a media made now counts it created; the rest (and rows whose URL
            # another writer made first) found it.
            outcome.created = media_id == mine and media_id not in counted
            counted.add(media_id)
        found = {o.media_id for o in outcomes if o.media_id is not None and not o.created}
        if found:  # media that existed (or another writer made): their task in this project
            Task.objects.bulk_create(
                [Task(project=project, media_id=media_id) for media_id in found], ignore_conflicts=True
            )
            table_statistics_refresh_after_write(table=Task._meta.db_table, rows=len(found))
        media_ids = {o.media_id for o in outcomes if o.media_id is not None}
        tasks = dict(Task.objects.filter(project=project, media_id__in=media_ids).values_list("media_id", "id"))
        for outcome in outcomes:
            if outcome.media_id is not None:
                outcome.task_id = tasks.get(outcome.media_id)
    return outcomes


def _name_unavailable(row: MediaRow) -> ErrorDetail:
    return ErrorDetail(
        row.location,
        "media_name_unavailable",
        f"No free name for the media of {row.url!r} in the dataset after {NAME_RETRIES} tries (other imports were "
        "adding media of the same name); import the file again.",
    )


def _media_new(dataset: Dataset, row: MediaRow) -> Media:
    extension = row.url.rsplit(".", 1)[-1].lower() if "." in row.url else ""
    return Media(
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


def _media_insert(dataset: Dataset, planned: dict[str, Media]) -> tuple[dict[str, Any], set[Any]]:
    """Insert the planned media (by URL or lower-case global key) in URL order, so that writers
    at once take the index entries in the same order; answers the media id now holding each
    URL or key (ours or another writer's), and the ids of those inserted now. A media refused for
    its name alone (taken meanwhile) is renamed and tried again."""
    media = sorted(planned.values(), key=lambda m: (m.url, m.global_key or ""))
    holding: dict[str, Any] = {}
    ours: set[Any] = set()
    for _ in range(NAME_RETRIES):
        if not media:
            break
        inserted = media_bulk_insert_new(dataset=dataset, media=media)
        ours |= inserted
        holding.update(_media_holding(dataset, [m for m in media if m.id not in inserted]))
        holding.update({_planned_key(m): m.id for m in media if m.id in inserted})
        media = [m for m in media if _planned_key(m) not in holding]
        for item in media:  # its name went to a media made at the same time: look again
            item.name = _name_renumbered(item.name)
    return holding, ours


# --- media planned while validating (a staged chunk) ------------------------------------------------


@dataclass(slots=True)
class PlannedMedia:
    """A media an item creates, with the ids its chunk's validation gave it and its staged labels use."""

    row: MediaRow
    media_id: uuid.UUID
    task_id: uuid.UUID
    #: The item's index in the file.
    index: int = -1


class PlannedMediaTaken(Exception):
    """A planned media's URL or global key is held by a media made outside the job since it was
    validated (or its task has another id): the staged labels would name a task that is not it."""


def media_planned_ids(job_id: uuid.UUID, row: MediaRow) -> tuple[uuid.UUID, uuid.UUID]:
    """The media and task ids a job gives the media of `row`: the same for every row of the job that
    names the same URL (or global key), so that its chunks agree without asking each other."""
    key = _row_key(row)
    return uuid.uuid5(job_id, f"media\x1f{key}"), uuid.uuid5(job_id, f"task\x1f{key}")


def _row_key(row: MediaRow) -> str:
    return f"key\x1f{row.global_key.lower()}" if row.global_key else row.url


def media_rows_create_planned(*, project: Project, dataset: Dataset, planned: Sequence[PlannedMedia]) -> Counter[str]:
    """Create the media of a staged batch with their planned ids, and their tasks in `project`;
    answers how many were created and found (a URL an earlier chunk of the job made). Raises
    `PlannedMediaTaken` when one is not the planned media (the caller rolls back and reads the
    chunk again, which finds it as it is now)."""
    first: dict[str, PlannedMedia] = {}
    for item in planned:
        first.setdefault(item.row.global_key.lower() if item.row.global_key else item.row.url, item)
    with transaction.atomic():
        # The tasks first, with their planned ids: the receiver that gives the new media their
        # tasks in every connected project then leaves these. Their foreign key to the media is
        # checked once the media are in (a batch's transaction checks keys per statement).
        pairs = [(item.task_id, item.media_id) for item in first.values()]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            rows_insert(
                Task,
                arrays={"id": ("uuid", [t for t, _ in pairs]), "media_id": ("uuid", [m for _, m in pairs])},
                constants={"project_id": project.pk},
            )
        else:
            Task.objects.bulk_create(
                [Task(id=t, project_id=project.pk, media_id=m) for t, m in pairs], ignore_conflicts=True
            )
        holding, inserted = _media_insert(dataset, {key: _planned_media(dataset, item) for key, item in first.items()})
        if any(holding.get(key) != item.media_id for key, item in first.items()):
            raise PlannedMediaTaken
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the keys deferred above are checked now
        tasks = dict(
            Task.objects.filter(project=project, media_id__in=[item.media_id for item in first.values()]).values_list(
                "media_id", "id"
            )
        )
        if any(tasks.get(item.media_id) != item.task_id for item in first.values()):
            raise PlannedMediaTaken
    return Counter(media_created=len(inserted), media_reused=len(planned) - len(inserted))


def _planned_media(dataset: Dataset, item: PlannedMedia) -> Media:
    media = _media_new(dataset, item.row)
    media.id = item.media_id
    return media


def _planned_key(media: Media) -> str:
    return media.global_key.lower() if media.global_key else media.url


def _media_holding(dataset: Dataset, media: list[Media]) -> dict[str, Any]:
    """The live media that hold the URLs (in the dataset) or global keys (in the organisation) of `media`."""
    urls = [m.url for m in media if not m.global_key]
    keys = [m.global_key.lower() for m in media if m.global_key]
    holding: dict[str, Any] = {}
    if urls:
        holding.update(
            Media.objects.filter(
                dataset=dataset, deleted_at__isnull=True, global_key__isnull=True, source=MediaSource.URL, url__in=urls
            ).values_list("url", "id")
        )
    if keys:
        holding.update(
            Media.objects.filter(organization_id=dataset.organization_id, deleted_at__isnull=True)
            .annotate(key_lower=Lower("global_key"))
            .filter(key_lower__in=keys)
            .values_list("key_lower", "id")
        )
    return holding


def _name_renumbered(name: str) -> str:
    """`a.jpg` -> `a (2).jpg`, `a (2).jpg` -> `a (3).jpg`."""
    stem, dot, extension = name.rpartition(".")
    base, suffix = (stem, f".{extension}") if dot else (name, "")
    head, space, number = base.rpartition(" (")
    if space and number.endswith(")") and number[:-1].isdigit():
        return f"{head} ({int(number[:-1]) + 1}){suffix}"
    return f"{base} (2){suffix}"
