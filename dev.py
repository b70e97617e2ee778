#!/usr/bin/env python3
"""The two commands: `python3 dev.py up` runs Labelsite, `python3 dev.py test` checks it.

Standard library only, so that it runs with the system Python on a fresh machine: it makes
`.venv`, installs the pinned requirements (again only when they change), and then calls the
tools inside `.venv`.

    python3 dev.py up          migrate, seed the demo, serve on 127.0.0.1:8000 with a worker
    python3 dev.py test [...]  migrations check, ruff, mypy, import contracts, pytest (extra arguments go to pytest)

With no environment set, everything lives under `var/` (or $LABELSITE_VAR_DIR): SQLite and
the filesystem broker. DATABASE_URL and CELERY_BROKER_URL switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import venv
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
PYTHON = VENV_BIN / "python"
HOST_PORT = "127.0.0.1:8000"
# Seconds a child gets to stop after Ctrl-C before it is killed.
STOP_GRACE_SECONDS = 15


def say(message: str) -> None:
    print(f"[dev.py] {message}", flush=True)


# --- the virtualenv ------------------------------------------------------------------------


def requirements_digest(path: Path) -> str:
    """A hash of a requirements file and every file it includes with -r / -c."""
    digest = hashlib.sha256()
    seen: set[Path] = set()

    def feed(file: Path) -> None:
        file = file.resolve()
        if file in seen:
            return
        seen.add(file)
        text = file.read_text()
        digest.update(str(file.name).encode() + b"\0" + text.encode() + b"\0")
        for line in text.splitlines():
            match = re.match(r"^\s*-(?:r|c|-requirement|-constraint)[\s=]+(\S+)", line)
            if match:
                feed(file.parent / match.group(1))

    feed(path)
    digest.update(sys.version.encode())
    return digest.hexdigest()


def venv_ensure(requirements: str, *, no_deps: bool = False) -> None:
    """Create .venv if missing and install `requirements` unless its hash is unchanged.

    `no_deps` installs the listed packages without their own dependencies (for a package
    whose pins are broken, such as the datagym client: see requirements-nodeps.txt).
    """
    if not PYTHON.exists():
        say(f"creating {VENV.relative_to(ROOT)} with {sys.executable}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    path = ROOT / requirements
    digest = requirements_digest(path)
    stamp = VENV / f".installed-{path.name}.sha256"
    if stamp.exists() and stamp.read_text().strip() == digest:
        return
    say(f"installing {requirements} into .venv")
    result = subprocess.run(
        [
            str(PYTHON),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            *(["--no-deps"] if no_deps else []),
            "-r",
            str(path),
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0:
        stamp.unlink(missing_ok=True)
        sys.exit(f"[dev.py] pip install -r {requirements} failed (exit {result.returncode})")
    stamp.write_text(digest + "\n")


# --- the environment -------------------------------------------------------------------------


def var_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("LABELSITE_VAR_DIR") or ROOT / "var")


def broker_url(env: Mapping[str, str]) -> str:
    return env.get("CELERY_BROKER_URL") or env.get("REDIS_URL") or "filesystem://"


def var_dir_prepare(env: Mapping[str, str]) -> None:
    """SQLite can't create its folder and kombu's filesystem broker can't create its queues."""
    base = var_dir(env)
    base.mkdir(parents=True, exist_ok=True)
    if broker_url(env) == "filesystem://":
        for name in ("queue", "control", "processed"):
            (base / "broker" / name).mkdir(parents=True, exist_ok=True)


def without_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def describe_stack(env: Mapping[str, str], *, testing: bool) -> tuple[str, str]:
    database_url = env.get("DATABASE_URL")
    if database_url:
        database = without_password(database_url)
        if testing:
            database += " (pytest-django tests in test_<name>)"
    else:
        name = "test.sqlite3" if testing else "labelsite.sqlite3"
        database = f"SQLite at {var_dir(env) / name}"
    broker = broker_url(env)
    broker = (
        f"filesystem broker under {var_dir(env) / 'broker'}" if broker == "filesystem://" else without_password(broker)
    )
    return database, broker


def run(command: Sequence[str], *, env: Mapping[str, str]) -> int:
    say("$ " + " ".join(str(part) for part in command))
    return subprocess.run(list(command), cwd=ROOT, env=dict(env), stdin=subprocess.DEVNULL, check=False).returncode


# --- dev.py test -------------------------------------------------------------------------------


def command_test(pytest_args: list[str]) -> int:
    venv_ensure("requirements-dev.txt")
    venv_ensure("requirements-nodeps.txt", no_deps=True)
    env = dict(os.environ)
    var_dir_prepare(env)
    database, broker = describe_stack(env, testing=True)
    say(f"database: {database}")
    say(f"broker:   {broker}")
    # The system checks refuse the development secret with DEBUG off; this step only
    # compares models with migrations, so it runs in development mode.
    steps: list[tuple[list[str], dict[str, str]]] = [
        ([str(PYTHON), "manage.py", "makemigrations", "--check", "--dry-run"], {**env, "DEBUG": "1"}),
        ([str(VENV_BIN / "ruff"), "check", "."], env),
        ([str(VENV_BIN / "ruff"), "format", "--check", "."], env),
        ([str(VENV_BIN / "mypy"), "."], env),
        ([str(VENV_BIN / "lint-imports"), "--no-cache"], env),
        ([str(PYTHON), "-m", "pytest", *pytest_args], env),
    ]
    for command, step_env in steps:
        started = time.monotonic()
        code = run(command, env=step_env)
        say(f"exit {code} after {time.monotonic() - started:.1f}s")
        if code != 0:
            say(f"FAILED: {' '.join(command)}")
            return code
    say("all checks passed")
    return 0


# --- dev.py up ---------------------------------------------------------------------------------


def seed_demo(env: Mapping[str, str]) -> int:
    """Run seed_demo, streaming its output; a demo that exists already is not an error."""
    command = [str(PYTHON), "manage.py", "seed_demo"]
    say("$ " + " ".join(command))
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    for line in process.stdout:
        output.append(line)
        print(line, end="", flush=True)
    code = process.wait()
    text = "".join(output).lower()
    if code != 0 and ("exists" in text or "unknown command" in text):
        say("seed_demo did not seed (see above); starting anyway")
        return 0
    return code


def children_stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """Ask each child to stop (as Ctrl-C would), then kill what is left of its process group."""
    for name, child in children.items():
        if child.poll() is None:
            say(f"stopping {name}")
            # runserver stops on SIGINT; Celery's main process does a warm shutdown on SIGTERM.
            child.send_signal(signal.SIGTERM if name == "worker" else signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
    for child in children.values():
        # Each child leads its own group: this reaches the reloader's server and the worker's pool.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


#: Seconds before `up` starts a worker that exited again (not in a tight loop if it cannot start).
WORKER_RESTART_SECONDS = 2


def command_up() -> int:
    venv_ensure("requirements.txt")
    env = dict(os.environ)
    env.setdefault("DEBUG", "1")  # serves static files, allows the development secret
    env.setdefault("PYTHONUNBUFFERED", "1")
    var_dir_prepare(env)
    database, broker = describe_stack(env, testing=False)
    say(f"database: {database}")
    say(f"broker:   {broker}")
    code = run([str(PYTHON), "manage.py", "migrate", "--no-input"], env=env)
    if code != 0:
        return code
    code = seed_demo(env)
    if code != 0:
        return code

    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    commands = {
        "web": [str(PYTHON), "manage.py", "runserver", HOST_PORT],
        "worker": [str(VENV_BIN / "celery"), "-A", "labelsite", "worker", "--loglevel=INFO", "--concurrency=2"],
    }
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            say(f"starting {name}: {' '.join(command)}")
            # A session of its own, so that Ctrl-C reaches the children only through us and
            # both stop in order.
            children[name] = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, start_new_session=True
            )
        say(f"Labelsite runs on http://{HOST_PORT}/ ; Ctrl-C stops the server and the worker")
        while not stopping:
            ended = [(name, child.returncode) for name, child in children.items() if child.poll() is not None]
            for name, returncode in ended:
                if name != "worker":
                    say(f"{name} exited with code {returncode}; stopping the rest")
                    return returncode or 1
                # As a supervisor would: Celery's worker can exit when the broker vanishes at
                # an unlucky moment, and a new one resumes the imports it left.
                say(f"worker exited with code {returncode}; starting it again")
                time.sleep(WORKER_RESTART_SECONDS)
                children[name] = subprocess.Popen(
                    commands[name], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, start_new_session=True
                )
            time.sleep(0.3)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        children_stop(children)


USAGE = "usage: python3 dev.py up | python3 dev.py test [pytest arguments]"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"up", "test"}:
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] == "up":
        if len(argv) > 1:
            print(USAGE, file=sys.stderr)
            return 2
        return command_up()
    return command_test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
