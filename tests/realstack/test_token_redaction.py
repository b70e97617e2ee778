"""No `token=` value in the logs of the real servers (security review 15, item 3).

gunicorn started as the README says (`gunicorn labelsite.wsgi`, from the project directory,
which reads `gunicorn.conf.py`) with its access log on, and the development server
(`manage.py runserver`, what `dev.py up` runs), on the test database. The DataGym client sends
its token as `?token=`; each server's log must show the requests with `token=[redacted]`.
"""

from __future__ import annotations

import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connections

from tests.realstack.conftest import (
    START_TIMEOUT_SECONDS,
    child_env,
    database_url,
    free_port,
    process_start,
    process_stop,
    wait_until,
)

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]

SECRET = "s3cr3t0123456789abcdef"  # what a leaked token would look like in a log
PATHS = [
    f"/api/v1/project?token={SECRET}",
    f"/api/v1/export/0d7a3bb8-0000-4000-8000-000000000000?dl=true&token={SECRET}",
    f"/api/projects?limit=5&token={SECRET}",
]

SERVERS = {
    "gunicorn": [
        "-m",
        "gunicorn",
        "labelsite.wsgi",
        "--workers",
        "1",
        "--access-logfile",
        "-",
        "--bind",
    ],
    "runserver": ["manage.py", "runserver", "--noreload"],
}


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_a_token_in_the_url_never_reaches_the_servers_log(server: str, tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / f"{server}.log"
    env = child_env(
        DATABASE_URL=database_url(connections["default"].settings_dict),
        CELERY_BROKER_URL=str(django_settings.CELERY_BROKER_URL),
        LABELSITE_VAR_DIR=str(django_settings.VAR_DIR),
        MEDIA_ROOT=str(tmp_path / "media"),
        ALLOWED_HOSTS="127.0.0.1",
    )
    process = process_start([sys.executable, *SERVERS[server], f"127.0.0.1:{port}"], env=env, log_path=log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: _status(base + "/api/v1/project") is not None,
            timeout=START_TIMEOUT_SECONDS,
            message=f"{server} did not answer:\n{log_path.read_text(errors='replace')}",
        )
        statuses = [_status(base + path) for path in PATHS]
        # A server writes a request's access line after it answers: wait for the last one.
        wait_until(
            lambda: "/api/projects?limit=5" in log_path.read_text(errors="replace"),
            timeout=START_TIMEOUT_SECONDS,
            message=f"{server} logged fewer requests than it answered:\n{log_path.read_text(errors='replace')}",
        )
    finally:
        process_stop(process, sig=signal.SIGTERM)
    log = log_path.read_text(errors="replace")
    assert statuses == [401, 401, 401], log
    assert SECRET not in log
    assert "GET /api/v1/project?token=[redacted] HTTP/1.1" in log, log
    assert "?dl=true&token=[redacted] HTTP/1.1" in log, log
    assert "GET /api/projects?limit=5&token=[redacted] HTTP/1.1" in log, log
