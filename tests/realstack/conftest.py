"""Fixtures of the real-stack tier: real processes (a Celery worker, moto's S3 server).

A child process gets the environment of the test run with the database, broker, storage
and var dir of the test spelled out, so that it works on exactly what the test sees.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings

# Chromium for the browser tests that need the worker too (test_import_flow_browser.py).
from tests.browser.conftest import browser, page  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
#: Not the development key, so that the system checks and the worker's start-up check pass.
CHILD_SECRET_KEY = "labelsite-realstack-tests-secret-key-0123456789abcdef"
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
LOG_TAIL_LINES = 200


def wait_until(condition: Callable[[], bool], *, timeout: float, message: str, interval: float = 0.1) -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{message} (waited {timeout:.0f}s)")
        time.sleep(interval)


def child_env(**overrides: str) -> dict[str, str]:
    """The test run's environment without the switches a child must get explicitly."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "AWS_STORAGE_BUCKET_NAME", "MEDIA_ROOT", "DEBUG"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="labelsite.settings",
        SECRET_KEY=CHILD_SECRET_KEY,
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(REPO_ROOT),
    )
    env.update(overrides)
    return env


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """A DATABASE_URL that names the database of these connection settings."""
    engine = settings_dict["ENGINE"]
    name = str(settings_dict["NAME"])
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(name).resolve()}"
    if engine.startswith("django.db.backends.postgresql"):
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(settings_dict.get("PASSWORD") or "", safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{credentials}{host}:{port}/{quote(name, safe='')}"
    raise NotImplementedError(f"No DATABASE_URL for the engine {engine}")


def broker_folders_create() -> None:
    """kombu's filesystem broker needs its folders; the web side and the worker share them."""
    if django_settings.CELERY_BROKER_URL != "filesystem://":
        return
    options = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for key in ("data_folder_in", "data_folder_out", "control_folder", "processed_folder"):
        Path(str(options[key])).mkdir(parents=True, exist_ok=True)


def process_start(command: list[str], *, env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a child of the repository, leading a process group of its own, its output in `log_path`."""
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def process_stop(process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM) -> None:
    """Ask the process to stop, then kill its whole group (it leads one) if it lingers."""
    if process.poll() is None:
        process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the Celery worker --------------------------------------------------------------------------


@dataclass
class CeleryWorker:
    process: subprocess.Popen[bytes]
    log_path: Path
    media_root: Path
    database_url: str
    broker_url: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self) -> str:
        return "\n".join(self.log().splitlines()[-LOG_TAIL_LINES:])

    def is_ready(self) -> bool:
        return " ready." in self.log()


CELERY_WORKER_KEY = pytest.StashKey[CeleryWorker]()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryWorker]:
    """One worker process for the session, on the test database, the broker and a media folder.

    It depends on `django_db_setup`, so it starts once the test database exists and stops
    before the database is dropped (PostgreSQL refuses to drop a database in use). Tests
    that use it must commit their data (`transactional_db`) for the worker to see it.
    """
    from django.db import connections

    folder = tmp_path_factory.mktemp("celery-worker")
    media_root = folder / "media"
    media_root.mkdir()
    log_path = folder / "worker.log"
    broker_folders_create()
    url = database_url(connections["default"].settings_dict)
    broker = str(django_settings.CELERY_BROKER_URL)
    env = child_env(
        DATABASE_URL=url,
        CELERY_BROKER_URL=broker,
        LABELSITE_VAR_DIR=str(django_settings.VAR_DIR),
        MEDIA_ROOT=str(media_root),
        # Model servers of the tests listen on loopback (tests/realstack/test_ml_prelabel_worker.py).
        LABELSITE_ML_HOST_ALLOWLIST="127.0.0.1",
    )
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "labelsite",
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        "-Q",
        "celery",
        "--loglevel=INFO",
        "-n",
        f"realstack-{os.getpid()}@%h",
        # No waiting for other workers to answer: the worker is ready sooner.
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]
    process = process_start(command, env=env, log_path=log_path)
    worker = CeleryWorker(
        process=process, log_path=log_path, media_root=media_root, database_url=url, broker_url=broker
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not worker.is_ready():
            if process.poll() is not None:
                pytest.fail(f"The Celery worker exited with code {process.returncode}:\n{worker.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"The Celery worker was not ready after {START_TIMEOUT_SECONDS}s:\n{worker.log_tail()}")
            time.sleep(0.1)
        yield worker
    finally:
        # SIGTERM is Celery's warm shutdown: the running task finishes, then the pool stops.
        process_stop(process, sig=signal.SIGTERM)


@pytest.fixture
def celery_worker(celery_worker_process: CeleryWorker, request: pytest.FixtureRequest, settings: Any) -> CeleryWorker:
    """The session's worker, with this test's default storage set to the worker's media folder."""
    if celery_worker_process.process.poll() is not None:
        pytest.fail(f"The Celery worker has died:\n{celery_worker_process.log_tail()}")
    request.node.stash[CELERY_WORKER_KEY] = celery_worker_process
    settings.MEDIA_ROOT = celery_worker_process.media_root
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    return celery_worker_process


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used the worker shows the worker's log."""
    report = yield
    worker = item.stash.get(CELERY_WORKER_KEY, None)
    if worker is not None and report.failed:
        report.sections.append((f"Celery worker log ({call.when}, last {LOG_TAIL_LINES} lines)", worker.log_tail()))
    return report


# --- an S3 server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key: str = "realstack-access-key"
    secret_key: str = "realstack-secret-key"
    region_name: str = "us-east-1"

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region_name,
        )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # an error page is an answer
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3-compatible server in a process of its own, on a free port."""
    port = free_port()
    executable = BIN_DIR / "moto_server"
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "moto.server"]
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    process = process_start([*command, "-H", "127.0.0.1", "-p", str(port)], env=child_env(), log_path=log_path)
    server = S3Server(endpoint_url=f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _answers(server.endpoint_url + "/"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto_server did not answer on port {port}:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield server
    finally:
        process_stop(process, sig=signal.SIGTERM)


# --- import stacks (a project, its import file, workers on a queue of their own) -----------------

from tests.realstack.importstack import import_stack  # noqa: E402, F401 (a fixture for every module here)
