"""Other tools' own code, run at test time to make the files their users bring.

A file we write by hand shows what we think a tool writes; the tool shows what it writes. Each
tool runs in a virtual environment of its own under `/tmp/labelsite-tools/` (never in our
`.venv`: Label Studio pins its own Django), made on first use and kept, keyed by a hash of its
requirements and of the Python version, so that changing a pin makes a new one. Tests that
need one are marked `thirdparty` (CI runs them); the first run installs the tool from PyPI.

- `tool_venv(name, requirements)`: the Python of that environment, made if missing.
- `tool_run(python, script, *args)`: runs one of the scripts beside this module with it and
  returns its standard output; a failure shows the script's standard error.
- `free_port()`: a free TCP port on 127.0.0.1 for a tool's server.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: Where the tools' environments are kept between runs.
TOOLS_DIR = Path("/tmp/labelsite-tools")
#: The scripts that run inside a tool's environment, and the files made with the tools.
HERE = Path(__file__).parent
#: How long one install may take (label-studio: about 130 s on this machine).
INSTALL_TIMEOUT = 900


def tool_venv(name: str, requirements: Sequence[str]) -> Path:
    """The Python of a virtual environment with exactly `requirements` installed, made once and
    reused (a lock lets parallel test runs wait for one install instead of racing)."""
    pins = "\n".join(sorted(requirements))
    key = hashlib.sha256(f"{sys.version_info[:2]}\n{pins}".encode()).hexdigest()[:12]
    home = TOOLS_DIR / f"{name}-{key}"
    python = home / "bin" / "python"
    ready = home / "labelsite-ready.json"
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    with open(TOOLS_DIR / f"{name}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists() and python.exists():
            return python
        shutil.rmtree(home, ignore_errors=True)  # a half-made environment of an interrupted run
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=120)
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        if install.returncode != 0:
            raise RuntimeError(f"pip install {' '.join(requirements)} failed:\n{install.stderr[-4000:]}")
        ready.write_text(json.dumps({"requirements": list(requirements), "seconds": time.monotonic() - started}))
    return python


def tool_run(python: Path, script: str, *args: str, timeout: float = 300, env: dict[str, str] | None = None) -> str:
    """Run `tests/thirdparty/<script>` with a tool's Python; its standard output."""
    done = subprocess.run(
        [str(python), str(HERE / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=tool_env(env),
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a tool: none of our settings (DJANGO_SETTINGS_MODULE, DATABASE_URL
    ...) reach it, since Label Studio is a Django project of its own."""
    kept = {name: os.environ[name] for name in ("PATH", "HOME", "TMPDIR") if name in os.environ}
    return {**kept, "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", **(extra or {})}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
