"""`manage.py project_restore FILE [--organization NAME] [--new-ids]` (backups/services.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backups.services import project_restore
from labelsite.errors import DomainError


class Command(BaseCommand):
    help = (
        "Restore a project from an archive of project_dump, in one transaction. Ids are kept "
        "(a restore into a fresh database); --new-ids makes a copy beside the original. "
        "See docs/operations.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the archive written by project_dump")
        parser.add_argument(
            "--organization", help="the organisation to restore into (created when missing; default: the dump's)"
        )
        parser.add_argument(
            "--new-ids", action="store_true", help="give everything fresh ids: a copy next to the original"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            with path.open("rb") as archive:
                result = project_restore(
                    archive_file=archive, organization_name=options["organization"], new_ids=options["new_ids"]
                )
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
        except DomainError as exc:
            where = "; ".join(f"{d.path}: {d.message}" for d in exc.details)
            raise CommandError(f"{path}: {exc.message}" + (f" ({where})" if where else "")) from exc
        counts = result.counts
        project = result.project
        self.stdout.write(
            f"Restored project {project.name!r} ({project.pk}) into {project.organization.name!r}: "
            f"{counts.datasets} datasets, {counts.media} media ({counts.files} files), "
            f"{counts.tasks} tasks, {counts.labels} labels, "
            f"{counts.prediction_outcomes} prediction outcomes."
        )
        if result.users_missing:
            names = ", ".join(sorted(result.users_missing))
            self.stdout.write(
                f"{len(result.users_missing)} user(s) of the dump do not exist here ({names}): their labels have "
                "no author, their tasks no assignee and they are not members. Create them and restore again "
                "to keep those links."
            )
