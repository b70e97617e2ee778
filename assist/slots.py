"""At most N assist computations at once on this machine, across every web process.

The tools run in the request (a worker round trip through the broker would cost more than
the tool, and would wait behind imports), so what keeps the site responsive is a bound: a
computation takes one of `LABELSITE_ASSIST_CONCURRENCY` slots, and at most
`LABELSITE_ASSIST_QUEUE` more requests wait (up to `LABELSITE_ASSIST_WAIT_SECONDS`) for one.
Others are refused at once with `AssistBusy` (429 and Retry-After): the page tries again.
So however many annotators click, at most N + queue web workers are busy with the tools and
the rest serve pages and saves.

A slot is an exclusive `flock` on a file under `LABELSITE_VAR_DIR/assist-slots/`: shared by
every process of the machine (gunicorn's workers, threads of the development server), and
freed by the kernel when its holder dies, so nothing leaks. Each machine counts its own slots,
which is right: the bound is about that machine's cores.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from django.conf import settings

from labelsite.errors import DomainError

#: How often a waiting request looks for a free slot again (seconds).
POLL_SECONDS = 0.01


class AssistBusy(DomainError):
    """Every slot is taken and the queue is full or the wait ran out; `retry_after` in seconds."""

    retry_after: int = 1


def _slot_dir() -> Path:
    """`LABELSITE_VAR_DIR/assist-slots`, or, where that cannot be written (a read-only install
    that keeps its files in S3), one folder in the system's temporary directory: every process of
    the machine falls back to the same one, so they still count the same slots."""
    directory = Path(settings.VAR_DIR) / "assist-slots"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if os.access(directory, os.W_OK):
            return directory
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"labelsite-assist-slots-{os.getuid()}"
    fallback.mkdir(mode=0o700, parents=True, exist_ok=True)
    return fallback


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding the file's exclusive lock, or None when another holds it."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def _release(descriptor: int) -> None:
    with suppress(OSError):
        fcntl.flock(descriptor, fcntl.LOCK_UN)
    os.close(descriptor)


def _first_free(paths: list[Path]) -> int | None:
    for path in paths:
        descriptor = _try_lock(path)
        if descriptor is not None:
            return descriptor
    return None


def _busy(message: str) -> AssistBusy:
    return AssistBusy(code="assist_busy", message=message)


@contextmanager
def assist_slot() -> Iterator[None]:
    """Hold one computing slot for the block; raises `AssistBusy` when none comes in time."""
    directory = _slot_dir()
    computing = int(settings.LABELSITE_ASSIST_CONCURRENCY)
    waiting = int(settings.LABELSITE_ASSIST_QUEUE)
    slots = [directory / f"slot-{index}.lock" for index in range(computing)]
    descriptor = _first_free(slots)
    ticket = None
    try:
        if descriptor is None:
            ticket = _first_free([directory / f"wait-{index}.lock" for index in range(waiting)])
            if ticket is None:
                raise _busy(
                    f"The assist tools are busy ({computing} running and {waiting} waiting on this server); "
                    "try again in a second (LABELSITE_ASSIST_CONCURRENCY, LABELSITE_ASSIST_QUEUE)."
                )
            deadline = time.monotonic() + float(settings.LABELSITE_ASSIST_WAIT_SECONDS)
            while descriptor is None:
                if time.monotonic() >= deadline:
                    raise _busy(
                        "The assist tools stayed busy for "
                        f"{settings.LABELSITE_ASSIST_WAIT_SECONDS:g} s (LABELSITE_ASSIST_WAIT_SECONDS); try again."
                    )
                time.sleep(POLL_SECONDS)
                descriptor = _first_free(slots)
            _release(ticket)
            ticket = None
        yield
    finally:
        if ticket is not None:
            _release(ticket)
        if descriptor is not None:
            _release(descriptor)
