import json
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


def _settings_of(env_overrides: dict[str, str], tmp_path: Path, *names: str) -> dict[str, object]:
    """The values of settings as labelsite/settings.py computes them from this environment."""
    code = (
        "import json, labelsite.settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {list(names)!r}}}, default=str))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUG", "SECRET_KEY", "EMAIL_", "SECURE_"))}
    env.update({"LABELSITE_VAR_DIR": str(tmp_path), **env_overrides})
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_password_reset_mail_goes_to_the_console_in_development(tmp_path):
    found = _settings_of({"DEBUG": "1"}, tmp_path, "EMAIL_BACKEND")

    assert found["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_password_reset_mail_goes_through_smtp_from_the_environment_in_production(tmp_path):
    found = _settings_of(
        {
            "SECRET_KEY": "x" * 50,
            "EMAIL_HOST": "smtp.example.com",
            "EMAIL_PORT": "587",
            "EMAIL_HOST_USER": "labelsite",
            "EMAIL_HOST_PASSWORD": "secret",
            "EMAIL_USE_TLS": "1",
            "DEFAULT_FROM_EMAIL": "Labelsite <labels@example.com>",
        },
        tmp_path,
        "EMAIL_BACKEND",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_HOST_USER",
        "EMAIL_HOST_PASSWORD",
        "EMAIL_USE_TLS",
        "DEFAULT_FROM_EMAIL",
    )

    assert found == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "smtp.example.com",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "labelsite",
        "EMAIL_HOST_PASSWORD": "secret",
        "EMAIL_USE_TLS": True,
        "DEFAULT_FROM_EMAIL": "Labelsite <labels@example.com>",
    }
