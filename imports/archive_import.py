"""ZIP uploads of label files: each label file of an archive becomes an import of its own,
unless the format reads a whole archive (`ImportFormat.archive_reader`: one dataset export is
one job, whose file is the archive).

The upload answers at once, as for any file: the request only reads the archive's directory
(to refuse an unsafe or bomb-like archive and, when no format is named, to detect the format
from the first label file). The worker then unpacks, before validation: the job takes the
first label file (by path), and every further label file becomes a sibling job with the same
options, which waits for its organisation's turn (`imports.services.import_jobs_admit`); each is
validated, reported and written on its own (all or nothing per label file, as if uploaded one
by one); cancelling the first job, which stands for the upload, cancels the siblings that have
not started. Entries are streamed from the archive to
storage through `SafeZip`, which checks paths, sizes and ratios; other entries (images, READMEs)
are left in the archive, which stays in storage beside the jobs (`summary["archive"]["stored"]`)
for formats that read files from it.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import IO, Any

from django.core.files.base import File
from django.db import transaction
from django.utils import timezone

from formats import ImportFormat, format_detect, format_list
from formats.reading import ARCHIVE_OPTION
from imports.models import ImportJob, ImportJobError, ImportStatus
from labelsite.archives import SafeZip, archive_entry_ignored
from labelsite.errors import ErrorDetail, ValidationFailed

ARCHIVE_KINDS = ("zip",)
#: The message of an archive's job cancelled with the archive's first job, before it started.
CANCELLED_WITH_THE_UPLOAD = "Cancelled with the upload of its archive (its first import); nothing was read."


def is_archive_name(name: str) -> bool:
    return PurePosixPath(name.lower()).suffix.lstrip(".") in ARCHIVE_KINDS


def archive_label_files(archive: SafeZip, kinds: tuple[str, ...]) -> list[str]:
    """The entries of `archive` that are label files of `kinds`, by path."""
    return sorted(
        entry.path
        for entry in archive.entries
        if not archive_entry_ignored(entry.path) and PurePosixPath(entry.path.lower()).suffix.lstrip(".") in kinds
    )


def _no_label_files(kinds: tuple[str, ...], archive: SafeZip) -> ValidationFailed:
    seen = ", ".join(entry.path for entry in archive.entries[:5]) or "nothing"
    message = (
        f"The archive holds no label file (.{', .'.join(kinds)}); it has {seen}"
        f"{' …' if len(archive.entries) > 5 else ''}. Put the label files in the ZIP, or upload them directly."
    )
    return ValidationFailed(
        code="archive_without_labels", message=message, details=[ErrorDetail("file", "archive_without_labels", message)]
    )


def _head(archive: SafeZip, path: str) -> bytes:
    with contextlib.closing(archive.open_entry(path)) as chunks:
        return next(chunks, b"")[:4096]


def archive_format_detect(file: IO[bytes]) -> ImportFormat | None:
    """The format that reads the whole archive when exactly one has files in it (a VOC export's
    `Annotations/*.xml`, whatever notes sort before them), else the format of its first label
    file, as for a file on its own."""
    kinds = tuple(sorted({kind for fmt in format_list() for kind in fmt.file_kinds}))
    with SafeZip(file) as archive:
        whole = _whole_archive_format(archive)
        if whole is not None:
            file.seek(0)
            return whole
        paths = archive_label_files(archive, kinds)
        if not paths:
            raise _no_label_files(kinds, archive)
        found = format_detect(file_name=paths[0], head=_head(archive, paths[0]))
    file.seek(0)
    return found


def _entry_paths(archive: SafeZip) -> list[str]:
    return [entry.path for entry in archive.entries if not archive_entry_ignored(entry.path)]


def _whole_archive_format(archive: SafeZip) -> ImportFormat | None:
    """The format that reads this archive whole (`ImportFormat.archive_reader`), if exactly one does."""
    paths = _entry_paths(archive)
    found = [fmt for fmt in format_list() if fmt.archive_reader is not None and fmt.archive_reader(paths)]
    return found[0] if len(found) == 1 else None


def archive_check(file: IO[bytes], fmt: ImportFormat) -> None:
    """Refuse at upload an archive that is unsafe or holds no label file of `fmt`."""
    with SafeZip(file) as archive:
        if fmt.archive_reader is not None:
            # Named, a format that reads whole archives also takes one of just its label files
            # (LabelMe's JSON files without their images), which detection leaves to the sniff.
            if not fmt.archive_reader(_entry_paths(archive)) and not archive_label_files(archive, fmt.file_kinds):
                message = f"The archive is not a {fmt.label}. {fmt.nothing_hint}".strip()
                raise ValidationFailed(
                    code="archive_without_labels",
                    message=message,
                    details=[ErrorDetail("file", "archive_without_labels", message)],
                )
        elif not archive_label_files(archive, fmt.file_kinds):
            raise _no_label_files(fmt.file_kinds, archive)
    file.seek(0)


class _EntryReader(io.RawIOBase):
    """A file-like view of an archive entry's chunks, for storage backends to read from."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _store_entry(job: ImportJob, archive: SafeZip, path: str) -> None:
    """Stream one entry to storage as `job`'s file (named by the job, never by the entry)."""
    extension = PurePosixPath(path.lower()).suffix.lstrip(".")
    with contextlib.closing(archive.open_entry(path)) as chunks:
        stream = io.BufferedReader(_EntryReader(chunks), buffer_size=1024 * 1024)
        job.file.save(f"{job.id}.{extension}", File(stream, name=f"{job.id}.{extension}"), save=False)
    job.file_size = job.file.size


def import_archive_unpack(*, job: ImportJob, fmt: ImportFormat) -> list[ImportJob]:
    """Give a job uploaded as an archive its first label file, and queue the others as jobs.

    Returns the sibling jobs created, waiting for their turns (none for a job that is no
    archive, or was unpacked before a crash: the job's file is then the label file already, or
    whose format reads the whole archive); created cancelled when the job was cancelled
    meanwhile. Raises ValidationFailed for an archive that is unsafe or has no label file of
    the format."""
    if not is_archive_name(str(job.file.name)) or fmt.archive_reader is not None:
        return []  # a format that reads the whole archive gets it as the job's file
    archive_name = str(job.file.name)
    upload_name = job.file_name
    with job.file.storage.open(archive_name, "rb") as file, SafeZip(file) as archive:
        paths = archive_label_files(archive, fmt.file_kinds)
        if not paths:
            raise _no_label_files(fmt.file_kinds, archive)
        # Every job of the archive may read its other entries (masks) by path.
        options = {**job.options, ARCHIVE_OPTION: archive_name}
        siblings = [
            ImportJob(
                id=uuid.uuid4(),
                project_id=job.project_id,
                created_by_id=job.created_by_id,
                format=job.format,
                file_name=f"{upload_name}/{path}"[-255:],
                options=options,
            )
            for path in paths[1:]
        ]
        info = {"name": upload_name, "stored": archive_name, "label_files": paths}
        for sibling, path in zip(siblings, paths[1:], strict=True):
            _store_entry(sibling, archive, path)
            sibling.summary = {"archive": {**info, "entry": path, "first_job": str(job.pk)}}
        _store_entry(job, archive, paths[0])
    with transaction.atomic():
        # Holding the job's row: a cancel of the upload waits for the siblings, then finds them.
        if ImportJob.objects.select_for_update().values_list("cancel_requested", flat=True).get(pk=job.pk):
            for sibling in siblings:
                sibling.status, sibling.finished_at = ImportStatus.CANCELLED, timezone.now()
                sibling.message = CANCELLED_WITH_THE_UPLOAD
        ImportJob.objects.bulk_create(siblings)
        job.file_name = f"{upload_name}/{paths[0]}"[-255:]
        job.summary = {
            **job.summary,
            "archive": {**info, "entry": paths[0], "jobs": [str(s.pk) for s in siblings]},
        }
        job.options = options
        ImportJob.objects.filter(pk=job.pk).update(
            file=job.file.name, file_size=job.file_size, file_name=job.file_name, summary=job.summary, options=options
        )
    return siblings


def archive_errors_store(job: ImportJob, error: ValidationFailed) -> None:
    """Keep an archive's problems in the job's error report, located at the entry."""
    details = error.details or [ErrorDetail("file", error.code, error.message)]
    ImportJobError.objects.bulk_create(
        [ImportJobError(job=job, location=d.path[:512], code=d.code[:64], message=d.message) for d in details]
    )


__all__ = [
    "ARCHIVE_KINDS",
    "CANCELLED_WITH_THE_UPLOAD",
    "archive_check",
    "archive_errors_store",
    "archive_format_detect",
    "archive_label_files",
    "import_archive_unpack",
    "is_archive_name",
]
