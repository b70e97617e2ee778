"""Tasks are queued by name (labelsite/queue.py), also from a threaded server's many threads at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: A fresh process (no task module imported yet) where eight threads look a task up at once, as
#: the thumbnails of a page of media are asked for on a threaded server's first requests.
THREADS_AT_ONCE = """
import threading
import django
django.setup()
from labelsite.queue import _task
barrier = threading.Barrier(8)
failures = []
def look_up():
    barrier.wait()
    try:
        _task("projects.media_thumbnails_create")
    except Exception as exc:
        failures.append(repr(exc))
threads = [threading.Thread(target=look_up) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(failures), failures[:1])
"""


def test_a_task_looked_up_by_name_from_many_threads_at_once_is_found_in_every_one(tmp_path: Path) -> None:
    # Celery's autodiscovery returns at once, importing nothing, in every thread but the one
    # running it: the others got NotRegistered, and the thumbnail view a 500.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "labelsite.settings",
        "DEBUG": "1",
        "LABELSITE_VAR_DIR": str(tmp_path),
    }
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-c", THREADS_AT_ONCE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "0 []", result.stdout
