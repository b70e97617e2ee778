"""A real gunicorn server on the test's database, as the README deploys it (DEBUG off, sync workers).

For what only a real server shows: how much of a request body it reads before it answers, and
how much memory its worker process takes for a request (its peak resident set, `VmHWM`, which
the test resets before the request with `/proc/<pid>/clear_refs`).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connections

from tests.realstack.conftest import (
    BIN_DIR,
    START_TIMEOUT_SECONDS,
    _answers,
    broker_folders_create,
    child_env,
    database_url,
    free_port,
    process_start,
    process_stop,
)

MIB = 1024 * 1024
SEND_CHUNK = MIB


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"/proc/{pid}/status has no {field}")


def child_pid(pid: int) -> int:
    """The one child process of `pid` (gunicorn's worker; the pool process of a Celery worker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, f"process {pid} has the children {children}"
    return int(children[0])


def peak_reset(pid: int) -> int:
    """Reset the process's peak resident set to its current one (bytes), which is returned."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status_kib(pid, "VmRSS") * 1024


def peak(pid: int) -> int:
    """The process's peak resident set since the last `peak_reset` (bytes)."""
    return _status_kib(pid, "VmHWM") * 1024


@dataclass
class WebServer:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    log_path: Path
    media_root: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def worker_pid(self) -> int:
        """The one gunicorn worker (the arbiter forks it; it serves every request)."""
        return child_pid(self.process.pid)

    def peak_reset(self) -> int:
        return peak_reset(self.worker_pid())

    def peak(self) -> int:
        return peak(self.worker_pid())


@contextlib.contextmanager
def web_server_running(*, media_root: Path, log_path: Path, workers: int = 1, **env: str) -> Iterator[WebServer]:
    """gunicorn serving labelsite on a free port of 127.0.0.1, on the test database and broker
    (`workers` processes: more than one to serve requests truly at once)."""
    broker_folders_create()
    port = free_port()
    child = child_env(
        DATABASE_URL=database_url(connections["default"].settings_dict),
        CELERY_BROKER_URL=str(django_settings.CELERY_BROKER_URL),
        LABELSITE_VAR_DIR=str(django_settings.VAR_DIR),
        MEDIA_ROOT=str(media_root),
        ALLOWED_HOSTS="127.0.0.1",
        # glibc's default raises its mmap threshold after a large block is freed, so that a later
        # request's buffers come from memory the process kept and its peak would not show them.
        # Fixed at 128 KiB, every large buffer is mapped on its own and given back when freed.
        MALLOC_MMAP_THRESHOLD_=str(128 * 1024),
        **env,
    )
    command = [
        str(BIN_DIR / "gunicorn"),
        "labelsite.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--worker-class=sync",
        "--timeout=120",
    ]
    process = process_start(command, env=child, log_path=log_path)
    server = WebServer(
        process=process, url=f"http://127.0.0.1:{port}", port=port, log_path=log_path, media_root=media_root
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _answers(server.url + "/api/import-formats"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer on port {port}:\n{server.log()}")
            time.sleep(0.2)
        yield server
    finally:
        process_stop(process, sig=signal.SIGTERM)


def raw_request(server: WebServer, head: bytes, body: bytes = b"", *, timeout: float) -> bytes:
    """Send `head` (request line and headers), then `body`, on a socket of its own, and return
    what the server answers until it closes the connection, or until `timeout` (then the server
    is still waiting for the body). The body is sent by a thread while the answer is read, as a
    browser does, so that an answer the server gives before it has read the body is seen."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:

        def send() -> None:
            # A server that answered without reading the rest closes the connection under us.
            with contextlib.suppress(OSError):
                sock.sendall(head)
                view = memoryview(body)
                for start in range(0, len(body), SEND_CHUNK):
                    sock.sendall(view[start : start + SEND_CHUNK])

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
        sender.join(timeout)
        return answer
