"""Dump a project to one archive and restore it, without loss (docs/operations.md).

The archive is a ZIP file (the standard library reads and writes it as a stream):

    manifest.json   format, version, the project's id, counts (written last)
    project.json    organisation, project, label configuration (entry ids, schema ids,
                    options), label iteration, datasets, member user names
    media.jsonl     one media per line: every column; `file` is the storage name
    files/<media id>/<file name>   the bytes of uploaded (LOCAL) media
    tasks.jsonl     one task per line: state, assignee, answers, version, review comment,
                    timestamps, who completed and reviewed it (verdict, times, active
                    seconds), and its labels (parents before children, with their answers,
                    points, rotation, source, score, model version, author and last editor:
                    predictions too)
    prediction_outcomes.jsonl   what became of each prediction (accepted, edited, deleted:
                    the figures per model version), with who and when

URL and S3 media are references: the dump holds the URL or `s3://bucket/key`, not the
bytes (the bucket or web server is backed up on its own). Uploaded files are stored in
the dump, so a project restores from its archive alone. Users are referred to by user
name: the restore links a label's author, a task's assignee and the project's members to
the users of that name in the target database and leaves the others empty (it reports how
many); it creates no users, memberships or tokens. Import and export job history is not
dumped; labels keep the id of the import job that wrote them.

Both ways stream: the dump reads tasks and their labels in chunks by primary key, the
restore inserts in batches while it reads the archive, so memory stays flat however large
the project is. The restore runs in one transaction: it lands whole or not at all.

Ids: by default the restore keeps every id (projects, datasets, media, tasks, entries,
labels), which is what a restore into a fresh database after a disaster needs: links,
scripts and DataGym clients go on working. `new_ids=True` gives everything fresh ids, for
a copy next to the original (e.g. into another organisation of the same database); the
schema ids of the configuration are kept either way, since they are the configuration's
own names for its entries.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import IO, Any

from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from labeling.models import Label, PredictionOutcome, Task
from labelsite.errors import AlreadyExists, ErrorDetail, ValidationFailed
from labelsite.ids import time_ordered_id
from labelsite.table_statistics import table_statistics_refresh_after_write
from projects.media_probe import media_probe_queue_on_commit
from projects.models import (
    Dataset,
    LabelConfiguration,
    LabelEntry,
    LabelIteration,
    Media,
    MediaSource,
    Organization,
    Project,
    media_upload_to,
)

DUMP_FORMAT = "labelsite-project-dump"
DUMP_VERSION = 1
OUTCOMES_MEMBER = "prediction_outcomes.jsonl"
CHUNK = 1000
FILE_COPY_BYTES = 1 << 20

_PROJECT_FIELDS: tuple[str, ...] = ("id", "name", "short_description", "description", "media_type", "created_at")
_PROJECT_FIELDS += ("updated_at", "archived_at")
_DATASET_FIELDS: tuple[str, ...] = ("id", "name", "short_description", "media_type", "created_at", "deleted_at")
_ENTRY_FIELDS: tuple[str, ...] = ("id", "parent_id", "position", "key", "title", "type", "schema_id", "color")
_ENTRY_FIELDS += ("shortcut", "required", "max_length", "options", "created_at")
_MEDIA_FIELDS: tuple[str, ...] = ("id", "dataset_id", "name", "source", "file", "url", "mime_type", "width")
_MEDIA_FIELDS += ("height", "global_key", "external_id", "metadata", "attachments", "created_at", "deleted_at")
_TASK_FIELDS: tuple[str, ...] = ("id", "media_id", "state", "answers", "has_import", "version", "review_comment")
_TASK_FIELDS += ("created_at", "updated_at")
_OUTCOME_FIELDS: tuple[str, ...] = ("label_id", "model_version", "score", "outcome", "created_at")
# Who did what (issue 18); a dump made before these columns lacks them and restores them empty.
# Reservations are not dumped: they are minutes long, and the restored project starts free.
_TASK_ATTRIBUTION = ("completed_at", "reviewed_at", "review_verdict", "active_seconds")
# A dump written before labels had `rotation` lacks it (same DUMP_VERSION: the field is additive);
# its labels restore with the column's default, unrotated, which is what they were.
_LABEL_FIELDS: tuple[str, ...] = ("id", "entry_id", "parent_id", "points", "rotation", "answers", "source", "score")
_LABEL_FIELDS += ("model_version", "import_job_id", "import_batch", "valid", "created_at", "updated_at")


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _row(obj: models.Model, names: Iterable[str]) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in names}


def _line(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


# --- dump ---------------------------------------------------------------------------------------


@dataclass
class DumpCounts:
    datasets: int = 0
    media: int = 0
    files: int = 0
    tasks: int = 0
    labels: int = 0
    prediction_outcomes: int = 0


def project_dump(*, project: Project, out: IO[bytes]) -> DumpCounts:
    """Write the project's archive to `out` (a file opened for binary writing)."""
    counts = DumpCounts()
    datasets = list(Dataset.objects.filter(projects=project).order_by("created_at", "id"))
    counts.datasets = len(datasets)
    usernames = _usernames()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        archive.writestr("project.json", json.dumps(_project_document(project, datasets, usernames), indent=1))
        media = Media.objects.filter(dataset__in=datasets)
        with archive.open("media.jsonl", "w", force_zip64=True) as member:
            for row in _chunked(media.order_by("id"), CHUNK):
                member.write(_line(_row(row, _MEDIA_FIELDS) | {"file": row.file.name or ""}))
                counts.media += 1
        for row in _chunked(media.filter(source=MediaSource.LOCAL).exclude(file="").order_by("id"), CHUNK):
            with row.file.open("rb") as source, archive.open(_file_member(row), "w", force_zip64=True) as member:
                while block := source.read(FILE_COPY_BYTES):
                    member.write(block)
            counts.files += 1
        with archive.open("tasks.jsonl", "w", force_zip64=True) as member:
            for tasks in _chunks(Task.objects.filter(project=project).order_by("id"), CHUNK):
                labels: dict[Any, list[dict[str, Any]]] = {task.pk: [] for task in tasks}
                # Parents before children: a child's id is always above its parent's, since
                # both the page and the importer write the parent first.
                for label in Label.objects.filter(task__in=tasks).order_by("task_id", "id"):
                    labels[label.task_id].append(
                        _row(label, _LABEL_FIELDS)
                        | {
                            "author": usernames.get(label.author_id),
                            "updated_by": usernames.get(label.updated_by_id),
                        }
                    )
                for task in tasks:
                    row = _row(task, _TASK_FIELDS + _TASK_ATTRIBUTION) | {
                        "assignee": usernames.get(task.assignee_id),
                        "completed_by": usernames.get(task.completed_by_id),
                        "reviewed_by": usernames.get(task.reviewed_by_id),
                    }
                    member.write(_line(row | {"labels": labels[task.pk]}))
                    counts.tasks += 1
                    counts.labels += len(labels[task.pk])
        with archive.open(OUTCOMES_MEMBER, "w", force_zip64=True) as member:
            outcomes = PredictionOutcome.objects.filter(project=project).order_by("id")
            for outcome in _chunked(outcomes, CHUNK):
                member.write(_line(_row(outcome, _OUTCOME_FIELDS) | {"user": usernames.get(outcome.user_id)}))
                counts.prediction_outcomes += 1
        manifest = {
            "format": DUMP_FORMAT,
            "version": DUMP_VERSION,
            "created_at": timezone.now().isoformat(),
            "project_id": str(project.pk),
            "counts": counts.__dict__,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
    return counts


def _usernames() -> dict[Any, str]:
    # Every user at once: a few thousand names at most, and no query per label.
    return dict(get_user_model().objects.values_list("pk", "username"))


def _project_document(project: Project, datasets: list[Dataset], usernames: dict[Any, str]) -> dict[str, Any]:
    configuration = LabelConfiguration.objects.filter(project=project).first()
    iteration = LabelIteration.objects.filter(project=project).first()
    entries = (
        LabelEntry.objects.filter(configuration=configuration).order_by("created_at", "position", "id")
        if configuration
        else LabelEntry.objects.none()
    )
    return {
        "organization": {"id": str(project.organization_id), "name": project.organization.name},
        "project": _row(project, _PROJECT_FIELDS),
        "members": sorted(usernames[pk] for pk in project.members.values_list("pk", flat=True)),
        "label_configuration": {"id": str(configuration.pk), "entries": [_row(e, _ENTRY_FIELDS) for e in entries]}
        if configuration
        else None,
        "label_iteration": {"id": str(iteration.pk), "created_at": _plain(iteration.created_at)} if iteration else None,
        "datasets": [_row(dataset, _DATASET_FIELDS) for dataset in datasets],
    }


def _file_member(media: Media) -> str:
    return f"files/{media.pk}/{PurePosixPath(str(media.file.name)).name}"


def _chunks(queryset: models.QuerySet[Any], size: int) -> Iterator[list[Any]]:
    """Keyset pages of an id-ordered queryset: one query per page, memory of one page."""
    last = None
    while True:
        page = list((queryset.filter(pk__gt=last) if last is not None else queryset)[:size])
        if not page:
            return
        yield page
        last = page[-1].pk


def _chunked(queryset: models.QuerySet[Any], size: int) -> Iterator[Any]:
    for page in _chunks(queryset, size):
        yield from page


# --- restore ------------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    project: Project
    counts: DumpCounts = field(default_factory=DumpCounts)
    #: user names of the dump that the target database does not have (left empty).
    users_missing: set[str] = field(default_factory=set)


class _Ids:
    """Old id -> id in the target: itself, or a fresh one per old id when `fresh`."""

    def __init__(self, *, fresh: bool) -> None:
        self.fresh = fresh
        self.seen: dict[str, uuid.UUID] = {}

    def __call__(self, old: str | None) -> uuid.UUID | None:
        if old is None:
            return None
        if not self.fresh:
            return uuid.UUID(old)
        new = self.seen.get(old)
        if new is None:
            # Time-ordered, in the dump's order: the restored media and tasks keep the order their
            # indexes are written in (labelsite/ids.py).
            new = self.seen[old] = time_ordered_id()
        return new


def project_restore(
    *, archive_file: IO[bytes], organization_name: str | None = None, new_ids: bool = False
) -> RestoreResult:
    """Restore a project from its archive into `organization_name` (default: the dump's).

    The organisation is created when missing. Raises `ValidationFailed` for an archive that
    is not a project dump (naming the member and line at fault) and `AlreadyExists` when
    ids of the dump are taken in this database (then `new_ids=True` makes a copy).
    """
    try:
        archive = zipfile.ZipFile(archive_file)
    except zipfile.BadZipFile as exc:
        raise _invalid("", f"This is not a project dump (a ZIP archive): {exc}.") from exc
    with archive:
        manifest = _json_member(archive, "manifest.json")
        if manifest.get("format") != DUMP_FORMAT or manifest.get("version") != DUMP_VERSION:
            raise _invalid(
                "manifest.json",
                f"Expected format {DUMP_FORMAT!r} version {DUMP_VERSION}, got {manifest.get('format')!r} "
                f"version {manifest.get('version')!r}: restore it with the Labelsite version that wrote it.",
            )
        document = _json_member(archive, "project.json")
        try:
            with transaction.atomic():
                return _restore(archive, document, organization_name=organization_name, new_ids=new_ids)
        except IntegrityError as exc:
            raise AlreadyExists(
                code="ids_taken",
                message="The dump clashes with what this database holds (a restore keeps ids, and dataset "
                "names are unique in an organisation): restore into an empty database, or with --new-ids "
                f"into another organisation. The database said: {str(exc).strip()}",
            ) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise _invalid("", f"The dump is damaged: {type(exc).__name__}: {exc}.") from exc


def _invalid(path: str, message: str) -> ValidationFailed:
    return ValidationFailed(code="invalid_dump", message=message, details=[] if not path else [_detail(path, message)])


def _detail(path: str, message: str) -> ErrorDetail:
    return ErrorDetail(path=path, code="invalid_dump", message=message)


def _json_member(archive: zipfile.ZipFile, name: str) -> dict[str, Any]:
    try:
        data = json.loads(archive.read(name))
    except KeyError as exc:
        raise _invalid(name, f"The dump has no {name}: it is not a complete project dump.") from exc
    except ValueError as exc:
        raise _invalid(name, f"{name} is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise _invalid(name, f"{name} must hold a JSON object.")
    return data


def _lines(archive: zipfile.ZipFile, name: str) -> Iterator[dict[str, Any]]:
    with archive.open(name) as member:
        for number, raw in enumerate(member, start=1):
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise _invalid(f"{name}:{number}", f"{name} line {number} is not valid JSON: {exc}.") from exc
            if not isinstance(data, dict):
                raise _invalid(f"{name}:{number}", f"{name} line {number} must hold a JSON object.")
            yield data


def _restore(
    archive: zipfile.ZipFile, document: dict[str, Any], *, organization_name: str | None, new_ids: bool
) -> RestoreResult:
    uuids = _Ids(fresh=new_ids)
    users = {name: pk for pk, name in get_user_model().objects.values_list("pk", "username")}
    missing: set[str] = set()

    def user_id(name: str | None) -> int | None:
        if name is None:
            return None
        if name not in users:
            missing.add(name)
        return users.get(name)

    dumped_org = document["organization"]
    name = organization_name or dumped_org["name"]
    organization = Organization.objects.filter(name=name).first()
    if organization is None:
        org_id = uuids(dumped_org["id"]) or uuid.uuid4()
        if Organization.objects.filter(pk=org_id).exists():
            org_id = uuid.uuid4()  # the organisation was renamed since: a new one by that name
        organization = Organization.objects.create(id=org_id, name=name)

    project_row = dict(document["project"])
    project_row["id"] = uuids(project_row["id"])
    project = Project(organization=organization, **project_row)
    _insert(Project, [project])
    member_ids = [user_id(member) for member in document.get("members", [])]
    Project.members.through.objects.bulk_create(
        [Project.members.through(project_id=project.pk, user_id=pk) for pk in member_ids if pk is not None]
    )
    iteration = document.get("label_iteration")
    if iteration:
        _insert(
            LabelIteration,
            [LabelIteration(id=uuids(iteration["id"]), project=project, created_at=iteration["created_at"])],
        )
    configuration_doc = document.get("label_configuration")
    if configuration_doc:
        configuration = LabelConfiguration(
            id=uuids(configuration_doc["id"]), project=project, updated_at=timezone.now()
        )
        _insert(LabelConfiguration, [configuration])
        entries = []
        for raw in configuration_doc["entries"]:
            row = dict(raw)
            row["id"], row["parent_id"] = uuids(row["id"]), uuids(row["parent_id"])
            entries.append(LabelEntry(configuration=configuration, **row))
        _insert(LabelEntry, entries)
        entry_ids = {entry.id for entry in entries}
    else:
        entry_ids = set()
    result = RestoreResult(project=project, users_missing=missing)
    datasets = []
    for raw in document["datasets"]:
        row = dict(raw)
        row["id"] = uuids(row["id"])
        datasets.append(Dataset(organization=organization, **row))
    _insert(Dataset, datasets)
    # The plain through table: the services' "dataset connected" signal would create tasks.
    Dataset.projects.through.objects.bulk_create(
        [Dataset.projects.through(dataset_id=dataset.pk, project_id=project.pk) for dataset in datasets]
    )
    result.counts.datasets = len(datasets)

    names = set(archive.namelist())
    batch: list[Media] = []
    for row in _lines(archive, "media.jsonl"):
        old_id = row["id"]
        row["id"], row["dataset_id"] = uuids(row["id"]), uuids(row["dataset_id"])
        stored = row.pop("file") or ""
        media = Media(organization=organization, **row)
        member = f"files/{old_id}/{PurePosixPath(stored).name}" if stored else ""
        if member in names:
            with archive.open(member) as content:
                media.file.name = default_storage.save(media_upload_to(media, PurePosixPath(stored).name), content)
            result.counts.files += 1
        else:
            media.file.name = stored
        batch.append(media)
        if len(batch) >= CHUNK:
            _insert(Media, batch)
            result.counts.media += len(batch)
            batch = []
    _insert(Media, batch)
    result.counts.media += len(batch)
    # The restored media are read again by the worker (sizes, thumbnails) once this commits.
    media_probe_queue_on_commit(organization_id=organization.pk)

    job_ids = _Ids(fresh=new_ids)
    # A dump written before outcomes were dumped has none (same DUMP_VERSION: the member is
    # additive). With new ids, the labels the outcomes name are renumbered as they are written;
    # only those are remembered, so memory follows the outcomes, not the labels.
    outcome_rows = list(_lines(archive, OUTCOMES_MEMBER)) if OUTCOMES_MEMBER in names else []
    renumbered: dict[int, int] = dict.fromkeys((int(row["label_id"]) for row in outcome_rows), 0)
    tasks: list[Task] = []
    labels: list[Label] = []
    for row in _lines(archive, "tasks.jsonl"):
        task_labels = row.pop("labels")
        row["id"], row["media_id"] = uuids(row["id"]), uuids(row["media_id"])
        assignee = user_id(row.pop("assignee"))
        completed_by, reviewed_by = user_id(row.pop("completed_by", None)), user_id(row.pop("reviewed_by", None))
        tasks.append(
            Task(project=project, assignee_id=assignee, completed_by_id=completed_by, reviewed_by_id=reviewed_by, **row)
        )
        label_ids: set[int] = set()  # a parent is a label of the same task, before its children
        for raw in task_labels:
            label_row = dict(raw)
            author = user_id(label_row.pop("author"))
            updated_by = user_id(label_row.pop("updated_by", None))
            label_row["entry_id"] = uuids(label_row["entry_id"])
            # The label table has no constraint on these two (see `Label.entry`): checked here.
            if label_row["entry_id"] not in entry_ids:
                raise ValueError(f"label {label_row['id']} names the class {raw['entry_id']}, which the dump lacks")
            if label_row["parent_id"] is not None and label_row["parent_id"] not in label_ids:
                raise ValueError(
                    f"label {label_row['id']} names the parent {label_row['parent_id']}, not a label before it"
                )
            label_ids.add(label_row["id"])
            label_row["import_job_id"] = job_ids(label_row["import_job_id"])
            labels.append(Label(task_id=row["id"], author_id=author, updated_by_id=updated_by, **label_row))
        if len(tasks) >= CHUNK:
            _flush_tasks(tasks, labels, result.counts, new_ids=new_ids, renumbered=renumbered)
            tasks, labels = [], []
    _flush_tasks(tasks, labels, result.counts, new_ids=new_ids, renumbered=renumbered)
    _outcomes_restore(outcome_rows, project=project, user_id=user_id, renumbered=renumbered, new_ids=new_ids)
    result.counts.prediction_outcomes = len(outcome_rows)
    if not new_ids:
        _sequences_reset()
    result.project = Project.objects.get(pk=project.pk)
    return result


def _flush_tasks(
    tasks: list[Task], labels: list[Label], counts: DumpCounts, *, new_ids: bool, renumbered: dict[int, int]
) -> None:
    """Insert a chunk of tasks and their labels; with `new_ids`, note in `renumbered` the new id of
    each label it has as a key (the ones prediction outcomes name)."""
    if new_ids and labels:
        # Fresh label ids for the whole chunk in one query; a parent comes before its
        # children (in the dump's order), so its new id is known when a child names it.
        fresh = iter(_label_ids(len(labels)))
        chunk: dict[int, int] = {}
        for label in labels:
            old = label.pk
            chunk[old] = label.id = next(fresh)
            label.parent_id = chunk[label.parent_id] if label.parent_id is not None else None
            if old in renumbered:
                renumbered[old] = label.id
    _insert(Task, tasks)
    _insert(Label, labels)
    counts.tasks += len(tasks)
    counts.labels += len(labels)


def _outcomes_restore(
    rows: list[dict[str, Any]],
    *,
    project: Project,
    user_id: Any,
    renumbered: dict[int, int],
    new_ids: bool,
) -> None:
    """The project's prediction outcomes. With new ids, an outcome names its label's new id; an
    outcome of a deleted prediction (its label is gone) gets an id of its own from the labels'
    sequence, so it can never be taken for a label of the copy."""
    if new_ids:
        gone = [old for old, new in renumbered.items() if not new]
        renumbered.update(zip(gone, _label_ids(len(gone)) if gone else [], strict=True))
    outcomes = []
    for row in rows:
        data = dict(row)
        user = user_id(data.pop("user", None))
        if new_ids:
            data["label_id"] = renumbered[int(data["label_id"])]
        outcomes.append(PredictionOutcome(project=project, user_id=user, **data))
    for start in range(0, len(outcomes), CHUNK):
        _insert(PredictionOutcome, outcomes[start : start + CHUNK])


def _label_ids(count: int) -> list[int]:
    from labeling.services import label_ids_reserve

    return label_ids_reserve(count=count)


def _insert(model: type[models.Model], objects: list[Any]) -> None:
    """INSERT the rows as they are: `bulk_create` would overwrite the timestamps (auto_now)."""
    if not objects:
        return
    # Every column as dumped; a key the dump does not carry (a prediction outcome's own id) is the database's.
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and getattr(objects[0], f.attname) is None)]
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    table = connection.ops.quote_name(str(model._meta.db_table))
    rows = [[f.get_db_prep_save(f.to_python(getattr(obj, f.attname)), connection) for f in fields] for obj in objects]
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608 - our names
    # A restored project is imported into and labelled next: the planner must know its rows.
    table_statistics_refresh_after_write(table=str(model._meta.db_table), rows=len(objects))


def _sequences_reset() -> None:
    """After rows with their own ids: the next label id the database hands out is above them."""
    from django.core.management.color import no_style

    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [Label]):
            cursor.execute(statement)
