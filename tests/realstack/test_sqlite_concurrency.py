"""The default SQLite settings let the web process and workers write at the same time."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.realstack.conftest import REPO_ROOT, child_env, wait_until

pytestmark = pytest.mark.realstack

WRITERS = 3
WRITES_PER_WRITER = 200
RUN_TIMEOUT_SECONDS = 120

# Each transaction reads before it writes: under SQLite's default DEFERRED transactions two
# such writers fail at once with "database is locked" (a read lock cannot be upgraded while
# another connection writes); IMMEDIATE transactions and the busy timeout make them queue.
WRITER_SCRIPT = """
import sys, time
from pathlib import Path

import django

django.setup()
from django.db import transaction

from projects.models import Organization

prefix, count, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
(folder / f"ready-{prefix}").touch()
while not (folder / "go").exists():
    time.sleep(0.01)
for number in range(count):
    with transaction.atomic():
        Organization.objects.filter(name__startswith=prefix).count()
        Organization.objects.create(name=f"{prefix}-{number}")
"""


def test_default_sqlite_lets_concurrent_processes_write_without_locking_errors(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    env = child_env(LABELSITE_VAR_DIR=str(var_dir))  # no DATABASE_URL: the default SQLite file
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    database = var_dir / "labelsite.sqlite3"
    assert database.is_file()

    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, f"writer{index}", str(WRITES_PER_WRITER), str(tmp_path)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(WRITERS)
    ]
    try:
        wait_until(
            lambda: (
                all((tmp_path / f"ready-writer{index}").exists() for index in range(WRITERS))
                or any(writer.poll() is not None for writer in writers)
            ),
            timeout=RUN_TIMEOUT_SECONDS,
            message="The writers did not start",
            interval=0.02,
        )
        (tmp_path / "go").touch()
        started = time.monotonic()
        outputs = [writer.communicate(timeout=RUN_TIMEOUT_SECONDS) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()

    for writer, (_, stderr) in zip(writers, outputs, strict=True):
        assert "database is locked" not in stderr, stderr[-2000:]
        assert writer.returncode == 0, stderr
    with sqlite3.connect(database) as connection:
        (journal_mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        rows = dict(
            connection.execute(
                "SELECT substr(name, 1, instr(name, '-') - 1), count(*) FROM projects_organization "
                "WHERE name LIKE 'writer%' GROUP BY 1"
            ).fetchall()
        )
    assert journal_mode == "wal"
    assert rows == {f"writer{index}": WRITES_PER_WRITER for index in range(WRITERS)}
    assert time.monotonic() - started < RUN_TIMEOUT_SECONDS
