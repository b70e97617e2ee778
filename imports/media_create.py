"""Create the media that an import's rows ask for (`formats.media_rows.MediaRow`), in bulk.

The pipeline hands a batch of rows to `media_rows_create`, which creates the URL media that do
not exist yet (matched by URL, then by global key) in the target dataset, gives them a task
in every project the dataset is connected to, and returns one `MediaRowOutcome` per row.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models.functions import Lower

from formats.media_rows import MediaRow, MediaRowOutcome, duplicate_global_key
from labeling.models import Task
from labelsite.bulk_insert import db_uuid, json_values_sql, rows_insert
from labelsite.errors import ErrorDetail
from labelsite.table_statistics import table_statistics_refresh_after_write
from projects.models import Dataset, Media, MediaSource, Project
from projects.services import media_bulk_insert_new, media_inserted_announce

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


#: A staged media (`imports.pipeline` writes one per item that creates a media, as JSON): the
#: planned media and task ids (hex), the item's index, then the `MediaRow`'s fields.
PLANNED_FIELDS = ("media_id", "task_id", "index", "location", "url", "name", "global_key", "external_id",
                  "metadata", "attachments", "width", "height", "key_location")  # fmt: skip
_ID, _TASK, _INDEX, _LOCATION, _URL, _NAME, _KEY, _EXTERNAL, _METADATA, _ATTACHMENTS, _WIDTH, _HEIGHT, _ = range(
    len(PLANNED_FIELDS)
)


def planned_record(media_id: uuid.UUID, task_id: uuid.UUID, index: int, row: MediaRow) -> list[Any]:
    """The staged form of a media planned for item `index` (`PLANNED_FIELDS`)."""
    return [media_id.hex, task_id.hex, index, row.location, row.url, row.name, row.global_key, row.external_id,
            row.metadata, row.attachments, row.width, row.height, row.key_location]  # fmt: skip


def planned_index(record: list[Any]) -> int:
    """The index in the file of the item a staged media record was planned for."""
    return int(record[_INDEX])


def _record_key(record: list[Any]) -> str:
    """What makes a planned media one, as `_media_holding` answers: its lower-case global key, else its URL."""
    return record[_KEY].lower() if record[_KEY] else record[_URL]


def media_rows_create_planned(
    *,
    project: Project,
    dataset: Dataset,
    records: Sequence[list[Any]],
    answers: Mapping[uuid.UUID, str],
    statistics: bool = True,
) -> tuple[Counter[str], set[uuid.UUID]]:
    """Create the media of a staged batch (`records`, see `PLANNED_FIELDS`) with their planned ids,
    and their tasks in `project` with theirs and the batch's answers (`answers`: the JSON text of
    each task's tree, `labeling.services.tasks_answers_new`); answers how many media were created
    and found (a URL an earlier chunk of the job made), and the tasks made now, which need no
    update of their answers. Raises `PlannedMediaTaken` when one is not the planned media
    or its task not the planned task (the caller rolls back and reads the chunk again, which finds
    it as it is now). Chunks are staged on both databases.

    Straight from the staged records to one INSERT per table, with no model object per row: the
    media (names made free first; a name another writer took meanwhile is renumbered and tried
    again), then the tasks of this project, which the media's other connected projects get from the
    usual signal (`media_created`, this project left out: its tasks are the planned ones).

    `statistics`: ask for fresh planner statistics of the media and task tables (after the
    commit, by `table_statistics_refresh_after_write`'s rule). A job asks after its first batch
    only and once more when it ends: asked after every batch, the rule analyzed both tables after
    each of the first ten batches of 5,000 (2 of the 10 s of PostgreSQL's CPU of 100,000 tasks),
    and the statements here plan alike whatever the statistics say (index lookups, inserts)."""
    first: dict[str, list[Any]] = {}
    for record in records:
        first.setdefault(_record_key(record), record)
    wanted = list(first.values())
    with transaction.atomic():
        inserted = _planned_media_insert(dataset, wanted)
        if len(inserted) < len(wanted):
            # Made by an earlier chunk of the job (the same planned id), else by someone else.
            others = [r for r in wanted if r[_ID] not in inserted]
            holding = _planned_holding(dataset, others)
            if any(holding.get(_record_key(r)) != r[_ID] for r in others):
                raise PlannedMediaTaken
        made = _planned_tasks_insert(project, wanted, answers)
        if len(made) < len(wanted):
            others = [r for r in wanted if r[_TASK] not in made]
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT media_id, id FROM {Task._meta.db_table} WHERE project_id = %s "  # noqa: S608 - our names
                    f"AND media_id IN ({json_values_sql('uuid')})",
                    [db_uuid(project.pk), orjson.dumps([r[_ID] for r in others]).decode()],
                )
                tasks = {_hex(media_id): _hex(task_id) for media_id, task_id in cursor.fetchall()}
            if any(tasks.get(r[_ID]) != r[_TASK] for r in others):
                raise PlannedMediaTaken
        if inserted:
            media_inserted_announce(
                dataset=dataset, media_ids=[uuid.UUID(r[_ID]) for r in wanted if r[_ID] in inserted],
                tasks_made_in=(project.pk,), statistics=statistics,
            )  # fmt: skip
        if made and statistics:
            table_statistics_refresh_after_write(table=Task._meta.db_table, rows=len(made))
    counts = Counter(media_created=len(inserted), media_reused=len(records) - len(inserted))
    return counts, {uuid.UUID(task_id) for task_id in made}


def _planned_media_insert(dataset: Dataset, records: list[list[Any]]) -> set[str]:
    """Insert the planned media that no live media holds yet (URL, global key, name) in URL order,
    so that writers at once take the index entries in the same order; answers the ids (hex) of
    those inserted. A media refused for its name alone (taken meanwhile) is renamed and tried again."""
    pending = sorted(records, key=lambda r: (r[_URL], r[_KEY] or ""))
    names = {r[_ID]: _planned_name(r) for r in pending}
    inserted: set[str] = set()
    for _ in range(NAME_RETRIES):
        if not pending:
            break
        _planned_names_free(dataset, pending, names)
        rows = rows_insert(
            Media,
            arrays={
                "id": ("uuid", [r[_ID] for r in pending]),
                "name": ("varchar", [names[r[_ID]] for r in pending]),
                "url": ("varchar", [r[_URL] for r in pending]),
                "mime_type": ("varchar", [_mime_type(r[_URL]) for r in pending]),
                "global_key": ("varchar", [r[_KEY] or None for r in pending]),
                "external_id": ("varchar", [(r[_EXTERNAL] or "")[:255] for r in pending]),
                "metadata": ("jsonb", [orjson.dumps(r[_METADATA] or {}).decode() for r in pending]),
                "attachments": ("jsonb", [orjson.dumps(r[_ATTACHMENTS] or []).decode() for r in pending]),
                "width": ("integer", [r[_WIDTH] for r in pending]),
                "height": ("integer", [r[_HEIGHT] for r in pending]),
            },
            constants={
                "organization_id": dataset.organization_id,
                "dataset_id": dataset.pk,
                "source": MediaSource.URL,
            },
        )
        inserted |= {row[0].hex for row in rows}
        refused = [r for r in pending if r[_ID] not in inserted]
        if not refused:
            break
        holding = _planned_holding(dataset, refused)
        pending = [r for r in refused if _record_key(r) not in holding]
        for record in pending:  # its name went to a media made at the same time: look again
            names[record[_ID]] = _name_renumbered(names[record[_ID]])
    return inserted


def _hex(value: Any) -> str:
    """A UUID column's value as hex: a UUID on PostgreSQL, its hex already on SQLite."""
    return value.hex if isinstance(value, uuid.UUID) else str(value)


def _planned_name(record: list[Any]) -> str:
    return MediaRow(location="", url=record[_URL], name=record[_NAME] or "").media_name()


def _mime_type(url: str) -> str:
    return _MIME_TYPES.get(url.rsplit(".", 1)[-1].lower(), "") if "." in url else ""


def _planned_names_free(dataset: Dataset, records: list[list[Any]], names: dict[str, str]) -> None:
    """Give each planned media whose name is taken in the dataset (or by an earlier one) a numbered
    suffix, as `projects.services` does for the media it inserts."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT name FROM {Media._meta.db_table} WHERE dataset_id = %s AND deleted_at IS NULL "  # noqa: S608
            f"AND name IN ({json_values_sql()})",
            [db_uuid(dataset.pk), orjson.dumps([names[r[_ID]] for r in records]).decode()],
        )
        taken = {name for (name,) in cursor.fetchall()}
    for record in records:
        name = names[record[_ID]]
        if name in taken:
            stem, dot, extension = name.rpartition(".")
            base, suffix = (stem, f".{extension}") if dot else (name, "")
            counter = 2
            while f"{base} ({counter}){suffix}" in taken:
                counter += 1
            name = names[record[_ID]] = f"{base} ({counter}){suffix}"
        taken.add(name)


def _planned_holding(dataset: Dataset, records: list[list[Any]]) -> dict[str, str]:
    """The live media (ids in hex) holding the URLs or global keys of planned media, by `_record_key`."""
    holding = _media_holding(
        dataset,
        [Media(url=r[_URL], global_key=r[_KEY] or None, source=MediaSource.URL) for r in records],
    )
    return {key: media_id.hex for key, media_id in holding.items()}


def _planned_tasks_insert(project: Project, records: list[list[Any]], answers: Mapping[uuid.UUID, str]) -> set[str]:
    """The planned tasks of `project` (one per planned media) as the batch's write leaves a task:
    its answers, imported, version 1; answers the ids (hex) inserted now."""
    ids = [uuid.UUID(r[_TASK]) for r in records]
    rows = rows_insert(
        Task,
        arrays={
            "id": ("uuid", ids),
            "media_id": ("uuid", [r[_ID] for r in records]),
            "answers": ("jsonb", [answers.get(task_id, "{}") for task_id in ids]),
        },
        constants={"project_id": project.pk, "has_import": True, "version": 1},
    )
    return {row[0].hex for row in rows}


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
