"""Make Label Studio's JSON exports with Label Studio itself, for the import tests.

    .venv/bin/python -m tests.thirdparty.label_studio_export

Installs `label-studio==LABEL_STUDIO_VERSION` in a virtual environment of its own
(`tests.thirdparty.tool_venv`), starts it on 127.0.0.1 with a data directory under /tmp, runs
`label_studio_client.py` against it (a project labelled by two people, then exported), stops it,
and writes the files to `tests/thirdparty/files/label-studio-<version>/` with `tool.json`
(the versions and when). The files are committed: installing Label Studio takes about
130 s and 1 GB and its first start another 60 s, too heavy for every CI run, so CI imports
these files, and makes files with the lighter label-studio-sdk at test time
(`sdk_tasks.py`). Run this again to follow a new Label Studio release.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from tests.thirdparty import HERE, free_port, tool_env, tool_run, tool_venv

LABEL_STUDIO_VERSION = "1.23.2"
OUT_DIR = HERE / "files" / f"label-studio-{LABEL_STUDIO_VERSION}"
#: A made-up token for the throwaway admin of the throwaway server.
TOKEN = "0123456789abcdef0123456789abcdef01234567"


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"Label Studio exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"Label Studio did not answer within {seconds:.0f}s:\n{log.read_text()[-4000:]}")


def main() -> None:
    python = tool_venv("label-studio", [f"label-studio=={LABEL_STUDIO_VERSION}"])
    installed = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix="labelsite-ls-data-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [
                str(python.parent / "label-studio"),
                "start",
                "--no-browser",
                "--data-dir",
                str(data_dir),
                "--host",
                url,
                "--internal-host",
                "127.0.0.1",
                "--port",
                str(port),
                "--username",
                "ada@example.com",
                "--password",
                "throwaway-admin-1",
                "--user-token",
                TOKEN,
                "--enable-legacy-api-token",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=tool_env({"LABEL_STUDIO_BASE_DATA_DIR": str(data_dir)}),
        )
    try:
        _wait_healthy(url, server, log)
        up = time.monotonic()
        tool_run(python, "label_studio_client.py", url, TOKEN, str(OUT_DIR), timeout=600)
        version = subprocess.run(
            [str(python), "-c", "import label_studio_sdk.version as v; print(v.__version__)"],
            capture_output=True,
            text=True,
            env=tool_env(),
        ).stdout.strip()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
    (OUT_DIR / "tool.json").write_text(
        json.dumps(
            {
                "tool": "label-studio",
                "version": LABEL_STUDIO_VERSION,
                "label_studio_sdk": version,
                "made_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "made_by": "python -m tests.thirdparty.label_studio_export",
                "seconds": {
                    "install": round(json.loads((python.parents[1] / "labelsite-ready.json").read_text())["seconds"]),
                    "first_start": round(up - installed),
                    "labelling_and_export": round(time.monotonic() - up),
                },
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {OUT_DIR}", flush=True)


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parents[2])
    main()
