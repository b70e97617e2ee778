"""Faults on the real stack: the broker restarts, the database drops its connections mid-batch.

Each test runs an import through real Celery worker processes (see `test_import_worker.py`),
injects the fault from the test while the job is in the phase named, and then asks for
exactly the labels of the file: none lost, none written twice.

- The broker: the test starts a Redis server of its own on a free port (never the machine's
  Redis, which other runs share), with an append-only file as a production broker has, and
  kills it with SIGKILL and starts it again mid-phase. It needs `redis-server` (the CI
  machine has it) and runs on both CI stacks, with the run's database: the SQLite run's
  embedded broker is a folder with no server to restart, and it deletes a message as soon as
  a worker takes it, so its one fault, a worker dying with the message, is the kill -9 test
  of `test_import_worker.py`, which runs on that broker.
- The database: on PostgreSQL the test terminates the worker's backend inside a write batch
  (`pg_terminate_backend`); on SQLite, whose equivalent fault is a database locked beyond
  the busy timeout, the test holds the write lock longer than the worker waits.
"""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection, connections

from imports.models import ImportJob, ImportStatus
from labeling.models import Label, Task
from projects.services import api_token_create
from tests.celery_broker import publishing_to
from tests.realstack.conftest import START_TIMEOUT_SECONDS, free_port, process_stop, wait_until
from tests.realstack.importstack import ImportStack, create_job

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

ITEMS = 300
LABELS = ITEMS * 5
#: Two labels per batch: the write phase is 750 short transactions, time to strike in one.
SLOW_WRITE = {"LABELSITE_IMPORT_WRITE_BATCH_LABELS": "2"}
#: Seconds the broker stays down: longer than the first reconnection attempts of the worker.
BROKER_DOWN_SECONDS = 3


def finished(job: ImportJob) -> bool:
    return job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.CANCELLED)


def assert_exact_labels(stack: ImportStack, job: ImportJob, items: int = ITEMS) -> None:
    assert job.status == ImportStatus.SUCCEEDED, f"{job.status}: {job.message}\n{stack.logs()}"
    counts, checksum, distinct = stack.landed(job)
    assert (counts, checksum) == stack.expected()
    assert sum(counts.values()) == distinct == job.labels_written == items * 5
    assert job.items_written == items


# --- Redis restarts ------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A redis-server of the test's own, persisted to an append-only file like a production broker."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        assert executable, "redis-server is needed for the broker fault tests (the CI machine has it)"
        command = [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        command += ["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no"]
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self.answers, timeout=START_TIMEOUT_SECONDS, message=f"redis-server on {self.port} did not start")

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: no goodbye to the clients, nothing saved beyond what the append-only file has."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            process_stop(self.process)


@pytest.fixture
def redis_broker(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of our own, and this process's Celery app publishing to it (then to the run's broker)."""
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    try:
        with publishing_to(server.url):
            yield server
    finally:
        server.stop()


#: The cases: chunks of 30 items (ten validate and ten write tasks go through the broker, and
#: the restart falls between and inside them), struck while validating or while writing; and
#: one file validated by a single task that ends while the broker is down, so that the
#: message which queues the write phase is sent to a dead broker.
REDIS_CASES = {
    "validating": (ImportStatus.VALIDATING, ITEMS, {"LABELSITE_IMPORT_CHUNK_ITEMS": "30", **SLOW_WRITE}),
    "writing": (ImportStatus.WRITING, ITEMS, {"LABELSITE_IMPORT_CHUNK_ITEMS": "30", **SLOW_WRITE}),
    "validation-ends-while-down": (ImportStatus.VALIDATING, 2000, {}),
}


@pytest.mark.parametrize("case", list(REDIS_CASES))
def test_a_redis_restart_mid_import_loses_no_label_and_writes_none_twice(import_stack, redis_broker, case):
    phase, items, worker_env = REDIS_CASES[case]
    stack = import_stack(items)
    stack.worker_start(CELERY_BROKER_URL=redis_broker.url, **worker_env)
    job = create_job(stack, write_when_valid=True)
    if case == "validating":
        job = stack.wait_for(job, lambda j: finished(j) or j.items_validated >= 30, "no validation")
    elif case == "writing":
        job = stack.wait_for(job, lambda j: finished(j) or j.labels_written >= 100, "no write")
    else:
        job = stack.wait_for(job, lambda j: j.status != ImportStatus.QUEUED, "no validation")
    assert job.status == phase, job.message

    redis_broker.kill()
    if case == "validation-ends-while-down":
        job = stack.wait_for(job, lambda j: j.status != ImportStatus.VALIDATING, "validation did not end")
        assert job.status == ImportStatus.VALIDATED, job.message
    time.sleep(BROKER_DOWN_SECONDS)
    redis_broker.start()
    job.refresh_from_db()
    assert not finished(job), "the import ended while the broker was down: the fault hit nothing"

    def finished_under_supervision(j: ImportJob) -> bool:
        stack.restart_exited()
        return finished(j)

    job = stack.wait_for(job, finished_under_supervision, "the import did not finish after the broker came back")

    assert_exact_labels(stack, job, items)
    logs = stack.logs(tail=None)
    assert "Cannot connect to redis" in logs or "Connection to broker lost" in logs


# --- the database drops its connections -----------------------------------------------------------

WORKER_APPLICATION = "labelsite-fault-worker"


def postgres_terminate_in_transaction(application: str, *, timeout: float) -> int:
    """Terminate the backend of `application` while it is inside a transaction; answers its pid."""
    terminated: list[int] = []

    def strike() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = current_database() AND xact_start IS NOT NULL"
                " AND pid <> pg_backend_pid()",
                [application],
            )
            terminated.extend(pid for ok, pid in cursor.fetchall() if ok)
        return bool(terminated)

    wait_until(strike, timeout=timeout, message=f"{application} was never seen inside a transaction", interval=0.005)
    return terminated[0]


def sqlite_lock(path: str, *, seconds: float, held: threading.Event | None = None) -> None:
    """Hold SQLite's write lock for `seconds`: every other writer waits, then fails "database is locked"."""
    # No busy timeout of our own: SQLite's busy handler sleeps longer and longer, and a worker
    # that begins its next batch right after each commit would win the lock until the end.
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                holder.execute("BEGIN EXCLUSIVE")
                break
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.0005)
        if held is not None:
            held.set()
        time.sleep(seconds)
        holder.execute("ROLLBACK")
    finally:
        holder.close()


def test_database_connections_dropped_mid_batch_roll_it_back_and_the_job_resumes_exactly(import_stack):
    vendor = connection.vendor
    # SQLite writes a small batch in about a millisecond: four times the items, so that the
    # strikes land long before the end.
    items = ITEMS if vendor == "postgresql" else 4 * ITEMS
    stack = import_stack(items)
    if vendor == "postgresql":
        # A heartbeat that never goes stale within the test: the retried task must find the job
        # released by the failed one (on a new connection), not wait to take it over.
        worker_env = {
            "DATABASE_URL": f"{stack_database_url()}?application_name={WORKER_APPLICATION}",
            "LABELSITE_IMPORT_STALE_SECONDS": "600",
        }
    else:
        worker_env = {"DATABASE_BUSY_TIMEOUT_MS": "500"}
    stack.worker_start(**worker_env, **SLOW_WRITE)
    job = create_job(stack, write_when_valid=True)

    # Three strikes: the first once 100 labels are written, each next one as soon as the job
    # writes again, so that they fall on different statements of a batch (the lock, the COPY
    # of the labels, the checkpoint) and long before the end even on a fast SQLite.
    written = 99
    for _ in range(3):
        job = stack.wait_for(job, lambda j, after=written: finished(j) or j.labels_written > after, "no write")
        assert job.status == ImportStatus.WRITING, job.message
        if vendor == "postgresql":
            postgres_terminate_in_transaction(WORKER_APPLICATION, timeout=60)
        else:
            sqlite_lock(str(connections["default"].settings_dict["NAME"]), seconds=2)
        job.refresh_from_db()
        written = job.labels_written
    job = stack.wait_for(job, finished, "the import did not resume after the faults")

    assert_exact_labels(stack, job, items)
    # Each strike failed a batch and its task was retried. (On SQLite a retry may also wait
    # for the job's heartbeat to go stale: releasing the job failed too while the file was locked.)
    log = (stack.tmp_path / "worker-0.log").read_text(errors="replace")
    failed = [line for line in log.splitlines() if "retry: Retry in" in line and "OperationalError" in line]
    assert len(failed) >= 3, stack.logs()


def stack_database_url() -> str:
    from tests.realstack.conftest import database_url

    return database_url(connections["default"].settings_dict)


# --- the API while the database fails ---------------------------------------------------------------


def annotation_put(url: str, token: str, version: int, labels: list[dict[str, Any]]) -> requests.Response:
    return requests.put(
        url,
        json={"answers": {}, "labels": labels},
        headers={"Authorization": f"Token {token}", "If-Match": str(version)},
        timeout=120,
    )


def test_the_api_answers_503_not_500_when_the_database_fails_mid_request(live_server, import_stack, monkeypatch):
    """PostgreSQL: the request's backend is terminated while it waits on a lock the test holds.
    SQLite: the test holds the write lock longer than the server's busy timeout."""
    stack = import_stack(1)
    task = Task.objects.get(project=stack.project)
    _, token = api_token_create(organization=stack.project.organization)
    url = f"{live_server.url}/api/tasks/{task.pk}/annotation"
    pole = [{"key": "poi", "type": "point", "points": [[4, 2]]}]
    answers: list[requests.Response] = []
    request = threading.Thread(target=lambda: answers.append(annotation_put(url, token, task.version, pole)))

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("LOCK TABLE labeling_task IN ACCESS EXCLUSIVE MODE")
            request.start()

            def terminate_waiting_backend() -> bool:
                # Inside a transaction pg_stat_activity is a snapshot: take a new one each time.
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
                return any(ok for (ok,) in cursor.fetchall())

            wait_until(terminate_waiting_backend, timeout=60, message="the API request never waited on the lock")
            cursor.execute("ROLLBACK")
            request.join(timeout=120)
    else:
        # The live server's connections are made from these settings, in its own threads.
        options = connections["default"].settings_dict["OPTIONS"]
        monkeypatch.setitem(options, "timeout", 0.3)
        busy = re.sub(r"busy_timeout=\d+", "busy_timeout=300", options["init_command"])
        monkeypatch.setitem(options, "init_command", busy)
        database = str(connections["default"].settings_dict["NAME"])
        held = threading.Event()
        holder = threading.Thread(target=sqlite_lock, args=(database,), kwargs={"seconds": 5, "held": held})
        holder.start()
        assert held.wait(timeout=60)
        request.start()
        request.join(timeout=120)
        holder.join()

    assert len(answers) == 1
    answer = answers[0]
    assert answer.status_code == 503, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json()["error"]["code"] == "database_unavailable"
    assert "Traceback" not in answer.text
    assert int(answer.headers["Retry-After"]) > 0
    assert not Label.objects.filter(task=task).exists()  # the failed save wrote nothing
    # Once the database answers again, the same save goes through.
    assert annotation_put(url, token, task.version, pole).status_code == 200
    assert Label.objects.filter(task=task).count() == 1


# --- two annotators save the same task at once -------------------------------------------------------

ROUNDS = 8


def save_at_once(
    barrier: threading.Barrier,
    answers: dict[str, requests.Response],
    who: str,
    url: str,
    token: str,
    version: int,
    x: int,
) -> None:
    barrier.wait(timeout=30)
    answers[who] = annotation_put(url, token, version, [{"key": "poi", "type": "point", "points": [[x, 1]]}])


def test_two_annotators_saving_the_same_version_at_once_one_wins_the_other_gets_409(live_server, import_stack):
    """Two threads PUT the same task at the same instant with the same If-Match version, eight
    times: each time exactly one save is stored and the other answers 409; nothing is lost silently."""
    stack = import_stack(1)
    task = Task.objects.get(project=stack.project)
    _, token = api_token_create(organization=stack.project.organization)
    url = f"{live_server.url}/api/tasks/{task.pk}/annotation"

    for round_number in range(ROUNDS):
        task.refresh_from_db()
        version = task.version
        barrier = threading.Barrier(2)
        answers: dict[str, requests.Response] = {}
        threads = [
            threading.Thread(target=save_at_once, args=(barrier, answers, who, url, token, version, x))
            for who, x in (("anna", 10), ("ben", 20))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

        statuses = sorted(answer.status_code for answer in answers.values())
        assert statuses == [200, 409], f"round {round_number}: {[a.text for a in answers.values()]}"
        winner = next(who for who, answer in answers.items() if answer.status_code == 200)
        loser = "ben" if winner == "anna" else "anna"
        assert answers[loser].json()["error"]["code"] == "version_conflict"
        stored = Label.objects.get(task=task).points
        assert stored == [[10 if winner == "anna" else 20, 1]]
        task.refresh_from_db()
        assert task.version == version + 1
