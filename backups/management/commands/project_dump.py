"""`manage.py project_dump PROJECT_ID FILE`: write a project's archive (backups/services.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from backups.services import project_dump
from projects.models import Project


class Command(BaseCommand):
    help = (
        "Dump a project (configuration, datasets and media references, the bytes of uploaded "
        "images, tasks, labels, answers and predictions) to a ZIP archive that project_restore reads. "
        "See docs/operations.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_id", help="the project's id (a UUID, as in its URL)")
        parser.add_argument("file", type=Path, help="the archive to write, e.g. street-scenes.zip ('-' is refused)")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.select_related("organization").filter(pk=_uuid(options["project_id"])).first()
        if project is None:
            raise CommandError(f"No project with the id {options['project_id']}: see the id in the project's URL.")
        path: Path = options["file"]
        partial = path.with_name(path.name + ".partial")
        try:
            with partial.open("wb") as out, _snapshot():
                counts = project_dump(project=project, out=out)
            partial.replace(path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self.stdout.write(
            f"Dumped project {project.name!r} ({project.pk}) to {path}: {counts.datasets} datasets, "
            f"{counts.media} media ({counts.files} files), {counts.tasks} tasks, {counts.labels} labels, "
            f"{counts.prediction_outcomes} prediction outcomes."
        )


@contextlib.contextmanager
def _snapshot() -> Iterator[None]:
    """On PostgreSQL, one read-only snapshot: what is saved during the dump is all in or all out.

    SQLite gets no transaction: ours take the write lock at BEGIN, which would stop every
    save for as long as the dump runs (docs/operations.md says to dump it when quiet)."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        connection.cursor().execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _uuid(value: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CommandError(f"{value!r} is not a project id: give the UUID shown in the project's URL.") from None
