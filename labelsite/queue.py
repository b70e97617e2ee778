"""Queue a Celery task by its name: how services start background work.

Task modules import the services they run; a service that queues a task reaches it through
Celery's registry by the task's name instead of importing the task module, so no arrow runs
from a service back to its tasks (the import contract in pyproject.toml holds this).
"""

from __future__ import annotations

import threading
from typing import Any

from celery import current_app


def task_publish(
    name: str,
    *args: Any,
    retry_policy: dict[str, Any] | None = None,
    retry: bool = True,
    countdown: float | None = None,
) -> None:
    """Send the task `name` with `args` (run at once in-process when tasks are eager)."""
    task = _task(name)
    options: dict[str, Any] = {"retry": retry}
    if retry_policy is not None:
        options["retry_policy"] = retry_policy
    if countdown is not None:
        options["countdown"] = countdown
    task.apply_async(args=args, **options)


#: Celery's autodiscovery returns at once, importing nothing, in a thread that calls it while
#: another thread runs it: a threaded server's first requests that queue tasks wait here.
_DISCOVERY = threading.Lock()


def _task(name: str) -> Any:
    registry = current_app.tasks
    if name not in registry:
        # A worker imports every app's `tasks.py` as it starts (Celery's autodiscovery); a web
        # process or a management command does it here, the first time it queues a task.
        with _DISCOVERY:
            if name not in registry:
                current_app.loader.import_default_modules()
    return registry[name]


def tasks_eager() -> bool:
    """True when tasks run in-process as they are queued (tests; `CELERY_TASK_ALWAYS_EAGER`)."""
    return bool(current_app.conf.task_always_eager)
