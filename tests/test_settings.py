import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(env_overrides: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    env.update({"LABELSITE_VAR_DIR": str(tmp_path), **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_mode_refuses_the_development_secret(tmp_path):
    result = _run({}, tmp_path, "check")
    assert result.returncode != 0
    assert "labelsite.E001" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_mode_starts_with_a_real_secret(tmp_path):
    result = _run(
        {"SECRET_KEY": "x" * 50, "DATABASE_URL": "sqlite:///" + str(tmp_path / "db.sqlite3")}, tmp_path, "check"
    )
    assert result.returncode == 0, result.stderr


def test_wsgi_application_refuses_the_development_secret(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    env["LABELSITE_VAR_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", "import labelsite.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
