"""bench/load_test.py works, end to end, on a tiny run: gunicorn, Celery workers, an import.

No timing is asserted (the figures are in docs/benchmarks.md); what is checked is that the
script drives the real stack and counts honestly: the saves it sends wrong on purpose are
counted as errors, exactly, and nothing else is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from labeling.models import Label, LabelSource, Task
from tests.realstack.conftest import REPO_ROOT, child_env, database_url

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

ANNOTATORS = 3
INVALID_SAVES = 1
IMAGES = 200


def test_load_script_counts_refused_saves_as_errors_and_nothing_else(tmp_path: Path) -> None:
    from django.db import connections

    result_path = tmp_path / "result.json"
    env = child_env(
        DATABASE_URL=database_url(connections["default"].settings_dict),
        CELERY_BROKER_URL=str(settings.CELERY_BROKER_URL),
        LABELSITE_VAR_DIR=str(tmp_path / "var"),
        MEDIA_ROOT=str(tmp_path / "var" / "media"),
        CELERY_TASK_DEFAULT_QUEUE=f"load-test-{os.getpid()}",
    )
    command = [sys.executable, "bench/load_test.py", "--annotators", str(ANNOTATORS), "--tasks-each", "2"]
    command += ["--n", str(IMAGES), "--workers", "1", "--gunicorn-workers", "1", "--gunicorn-threads", "2"]
    command += ["--think", "0.1", "--baseline", "1", "--invalid-saves", str(INVALID_SAVES)]
    command += ["--min-saves-each", "4", "--json-out", str(result_path)]
    finished = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    result = json.loads(result_path.read_text())

    assert result["import"]["status"] == "succeeded"
    assert result["import"]["labels"] == IMAGES * 10
    # Each annotator's first save names a class that does not exist: the server refuses it
    # with 400, and the script counts exactly those, no more and no fewer.
    assert result["errors_by_kind"] == {"save 400": ANNOTATORS * INVALID_SAVES}
    assert result["errors"] == ANNOTATORS * INVALID_SAVES
    saves = sum(phase["save"]["count"] for phase in result["phases"].values())
    opens = sum(phase["open"]["count"] for phase in result["phases"].values())
    assert saves >= ANNOTATORS * 4
    assert opens >= ANNOTATORS
    # The script's own claim of what was saved, checked here independently: the tasks with
    # hand-drawn labels are exactly the ones it says it saved, all of them annotators' tasks.
    saved_tasks = Label.objects.filter(source=LabelSource.MANUAL).values("task_id").distinct().count()
    assert saved_tasks == result["tasks_saved"] > 0
    assert not Task.objects.filter(labels__source=LabelSource.MANUAL, assignee__isnull=True).exists()
