"""The stack a bench runs on, chosen before Django reads its settings.

    --stack postgres   PostgreSQL + Redis: the bench's own database and Redis db (DATABASE_URL and
                       CELERY_BROKER_URL override them)
    --stack sqlite     the embedded default, as `python3 dev.py up` runs it on a fresh machine:
                       SQLite (WAL) and kombu's filesystem broker, both under a var dir of the
                       bench's own, emptied first; DATABASE_URL, CELERY_BROKER_URL and REDIS_URL
                       are ignored

Without `--stack`, a bench keeps its own default (PostgreSQL for the large benches), and
DATABASE_URL set in the environment means PostgreSQL. On SQLite there is no database server:
the database's work is done inside the processes that query it, so the worker CPU a bench
reports includes it and the "PostgreSQL CPU" figure is absent.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

STACKS = ("sqlite", "postgres")


def stack_argument(parser: argparse.ArgumentParser, *, default: str) -> None:
    """Add `--stack` to a bench's parser (so that --help lists it); `stack_choose` reads it first."""
    parser.add_argument(
        "--stack",
        choices=STACKS,
        default=default,
        help="sqlite: the embedded default (SQLite, filesystem broker); postgres: PostgreSQL, Redis"
        f" (default: {default})",
    )


def stack_choose(argv: list[str], *, default: str) -> str:
    """The stack named by `--stack` in `argv`, else PostgreSQL if DATABASE_URL is set, else `default`."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--stack", choices=STACKS)
    known, _ = parser.parse_known_args(argv)
    if known.stack:
        return str(known.stack)
    return "postgres" if os.environ.get("DATABASE_URL") else default


def stack_environ(stack: str, *, database_url: str, broker_url: str, var_dir: Path) -> None:
    """Set the environment for `stack` (before `django.setup()`): on PostgreSQL the bench's
    database and broker unless the environment names others; on SQLite `var_dir` for the
    database file, the broker's folders and the media, and nothing of a server's."""
    if stack == "postgres":
        os.environ.setdefault("DATABASE_URL", database_url)
        os.environ.setdefault("CELERY_BROKER_URL", broker_url)
        return
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    # A bench's child processes (started with this environment) keep their parent's var dir.
    var_dir = Path(os.environ.setdefault("LABELSITE_BENCH_SQLITE_DIR", str(var_dir)))
    os.environ["LABELSITE_VAR_DIR"] = str(var_dir)
    os.environ["MEDIA_ROOT"] = str(var_dir / "media")


def sqlite_var_dir_reset(var_dir: Path) -> None:
    """An empty var dir as a fresh machine has it: no database file, empty broker folders
    (which kombu's filesystem transport cannot create itself, as dev.py knows)."""
    for name in ("labelsite.sqlite3", "labelsite.sqlite3-wal", "labelsite.sqlite3-shm"):
        (var_dir / name).unlink(missing_ok=True)
    shutil.rmtree(var_dir / "broker", ignore_errors=True)
    shutil.rmtree(var_dir / "media", ignore_errors=True)
    for name in ("queue", "control", "processed"):
        (var_dir / "broker" / name).mkdir(parents=True, exist_ok=True)


def database_file_bytes(var_dir: Path) -> int:
    """Bytes of the SQLite database with its write-ahead log."""
    return sum(
        (var_dir / name).stat().st_size
        for name in ("labelsite.sqlite3", "labelsite.sqlite3-wal")
        if (var_dir / name).exists()
    )
