import json
import os
import shlex
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


# --- production is HTTPS by default (issue 15, hardening 1) -------------------------------------

PRODUCTION = {"SECRET_KEY": "x" * 50}


def readme_production_environment() -> dict[str, str]:
    """The variables the README's Production section exports, as a person would copy them."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Production\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    exports = [line for line in block.splitlines() if line.startswith("export ")]
    assert exports, "the README's Production section exports no variables"
    env: dict[str, str] = {}
    for line in exports:
        for word in shlex.split(line.split("#", 1)[0])[1:]:
            name, _, value = word.partition("=")
            env[name] = value
    return env


def test_check_deploy_is_clean_with_the_readmes_production_environment(tmp_path):
    env = readme_production_environment()
    assert env["SECRET_KEY"] == "..."  # the README leaves the secret to the reader
    env["SECRET_KEY"] = "a-long-random-production-secret-" + "k" * 40

    result = _run(env, tmp_path, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_production_sends_secure_cookies_and_hsts_by_default(tmp_path):
    found = _settings_of(
        PRODUCTION,
        tmp_path,
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_SSL_REDIRECT",
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_CONTENT_TYPE_NOSNIFF",
        "SECURE_REFERRER_POLICY",
        "X_FRAME_OPTIONS",
    )

    assert found == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 365 * 24 * 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_SSL_REDIRECT": False,  # only when configured: behind a proxy it needs USE_X_FORWARDED_PROTO
        "SECURE_PROXY_SSL_HEADER": None,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "X_FRAME_OPTIONS": "DENY",
    }


def test_plain_http_in_production_is_the_documented_switch(tmp_path):
    found = _settings_of(
        {**PRODUCTION, "SECURE_COOKIES": "0", "SECURE_HSTS_SECONDS": "0"},
        tmp_path,
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
    )
    readme = (ROOT / "README.md").read_text()

    assert found == {"SESSION_COOKIE_SECURE": False, "CSRF_COOKIE_SECURE": False, "SECURE_HSTS_SECONDS": 0}
    assert "SECURE_COOKIES=0 SECURE_HSTS_SECONDS=0" in readme


def test_behind_a_proxy_https_is_redirected_to_when_asked(tmp_path):
    found = _settings_of(
        {**PRODUCTION, "USE_X_FORWARDED_PROTO": "1", "SECURE_SSL_REDIRECT": "1", "SECURE_HSTS_SECONDS": "600"},
        tmp_path,
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
    )

    assert found == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 600,
    }


def test_development_keeps_plain_http_working(tmp_path):
    found = _settings_of({"DEBUG": "1"}, tmp_path, "SESSION_COOKIE_SECURE", "SECURE_HSTS_SECONDS")

    assert found == {"SESSION_COOKIE_SECURE": False, "SECURE_HSTS_SECONDS": 0}


def test_the_img_src_of_the_policy_can_be_narrowed_to_the_image_hosts(tmp_path):
    found = _settings_of(
        {**PRODUCTION, "LABELSITE_CSP_IMG_SRC": "https://images.example.com, https://bucket.s3.amazonaws.com"},
        tmp_path,
        "CONTENT_SECURITY_POLICY",
    )

    directives = found["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]
    assert directives["img-src"] == ["'self'", "https://images.example.com", "https://bucket.s3.amazonaws.com"]
    assert directives["script-src"] == ["'self'"]
