"""Media that an import creates: Label Studio tasks (JSON, CSV, TSV, TXT) and Labelbox data rows.

A format with `creates_media` returns, per item, a `MediaRow` (`Converted.new_media`). The
pipeline hands a batch of them to `media_rows_create`, which creates the URL media that do
not exist yet (matched by URL, then by global key) in the target dataset, gives them a task
in every project the dataset is connected to, and returns one `MediaRowOutcome` per row:
the media and task, or why the row failed. Row failures never fail the batch (Labelbox's
bulk semantics): a duplicate global key fails only its own row with
`Duplicate global key: '<key>'`.

Global keys follow Labelbox's rules (reference/labelbox-ango.md 1.2): at most 200
characters, no leading or trailing whitespace, letters, digits, space and
`! _ . * ' ( ) & $ @ = ; / : + , ? -`; unique per organisation, compared case-insensitively
(the database enforces it with `media_unique_live_global_key`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models.functions import Lower

from labeling.models import Task
from labelsite.errors import ErrorDetail
from labelsite.netguard import url_shape_problem
from projects.models import Dataset, Media, MediaSource, Project
from projects.services import _media_bulk_insert, media_name_from_url

GLOBAL_KEY_MAX_LENGTH = 200
_GLOBAL_KEY_RE = re.compile(r"[A-Za-z0-9 !_.*'()&$@=;/:+,?-]+")
_MIME_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "bmp": "image/bmp"}


@dataclass(slots=True)
class MediaRow:
    """One media an import item asks for; `url` names the image, the rest is stored with it."""

    location: str
    url: str
    name: str = ""
    global_key: str | None = None
    external_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    #: Where the global key is (a JSON pointer), when it is not at `location`.
    key_location: str = ""

    def global_key_place(self) -> str:
        return self.key_location or self.location

    def media_name(self) -> str:
        return (self.name or media_name_from_url(self.url) or "media")[:255]


@dataclass(slots=True)
class MediaRowOutcome:
    row: MediaRow
    media_id: Any = None
    task_id: Any = None
    created: bool = False
    errors: list[ErrorDetail] = field(default_factory=list)


def duplicate_global_key(path: str, key: str) -> ErrorDetail:
    return ErrorDetail(path=path, code="duplicate_global_key", message=f"Duplicate global key: '{key}'", params=(key,))


def global_key_errors(key: Any, path: str) -> list[ErrorDetail]:
    """What is wrong with a global key by itself (not its uniqueness)."""
    if not isinstance(key, str) or not key:
        return [ErrorDetail(path, "invalid_global_key", "A global key is a non-empty string.")]
    problems = []
    if len(key) > GLOBAL_KEY_MAX_LENGTH:
        problems.append(f"at most {GLOBAL_KEY_MAX_LENGTH} characters (it has {len(key)})")
    if key != key.strip():
        problems.append("no leading or trailing whitespace")
    if not _GLOBAL_KEY_RE.fullmatch(key):
        bad = sorted(set(_GLOBAL_KEY_RE.sub("", key)))
        problems.append(f"only letters, digits, space and ! _ . * ' ( ) & $ @ = ; / : + , ? - (not {''.join(bad)!r})")
    if problems:
        return [ErrorDetail(path, "invalid_global_key", f"Global key {key!r} breaks the rules: {'; '.join(problems)}.")]
    return []


def url_errors(url: Any, path: str) -> list[ErrorDetail]:
    """A media URL must be http(s) (an `s3://` URL must be given in virtual-hosted https style)."""
    if not isinstance(url, str) or not url.strip():
        return [ErrorDetail(path, "missing_url", "Give the image's URL.")]
    parts = urlsplit(url)
    if parts.scheme == "s3":
        return [
            ErrorDetail(
                path,
                "s3_url",
                f"{url!r}: s3 assets must start with 'https'; use https://<bucket>.s3.<region>.amazonaws.com/<key>.",
            )
        ]
    problem = url_shape_problem(url)
    if problem:
        return [
            ErrorDetail(path, "invalid_url", f"{url!r} cannot be a media URL: {problem}; give the image's https URL.")
        ]
    return []


def media_row_errors(row: MediaRow) -> list[ErrorDetail]:
    """What is wrong with a row by itself: its URL (labelsite.netguard's rules) and its global key."""
    errors = url_errors(row.url, row.location)
    if row.global_key is not None:
        errors += global_key_errors(row.global_key, row.global_key_place())
    return errors


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
        _media_bulk_insert(dataset=dataset, media=to_create)
        media_ids = {o.media_id for o in outcomes if o.media_id is not None}
        Task.objects.bulk_create(
            [Task(project=project, media_id=media_id) for media_id in media_ids], ignore_conflicts=True
        )
        tasks = dict(Task.objects.filter(project=project, media_id__in=media_ids).values_list("media_id", "id"))
        for outcome in outcomes:
            if outcome.media_id is not None:
                outcome.task_id = tasks.get(outcome.media_id)
    return outcomes


__all__ = [
    "GlobalKeyChecker",
    "MediaRow",
    "MediaRowOutcome",
    "duplicate_global_key",
    "global_key_errors",
    "media_row_errors",
    "media_rows_create",
    "media_rows_dataset",
    "media_rows_dataset_errors",
    "url_errors",
]
