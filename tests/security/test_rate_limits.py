"""Failed sign-ins and failed token attempts are limited (security review item 15).

- The login page (and the Django admin's): after LABELSITE_LOGIN_FAILURE_LIMIT failures for
  one account, or from one client address, further sign-ins of that account or from that
  address are refused for LABELSITE_LOGIN_LOCKOUT_SECONDS, even with the right password: a
  429 that shows the login form with an error saying when to try again.
- API tokens: after LABELSITE_TOKEN_FAILURE_RATE failed token attempts from one address, token
  requests from it answer 429 with Retry-After, in each API's error shape. Only failures count,
  so valid traffic is never slowed, however much of it there is.

Each test sends from addresses of its own (REMOTE_ADDR), so that no count leaks between tests.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.api.conftest import World
from tests.datagym_v1.conftest import assert_error
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "labelsite-test-password"  # tests/factories.py
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.fixture
def limits(settings: Any) -> dict[str, int]:
    """Small limits, so that a test reaches them in a few requests."""
    settings.AXES_FAILURE_LIMIT = 3
    rates = {**settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}), "token_failures": "4/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    return {"login": 3, "token": 4}


def _address() -> str:
    return next(_addresses)


def _username() -> str:
    """A user name of an existing user."""
    user: Any = UserFactory()
    return str(user.username)


def _login(username: str, password: str, *, address: str, path: str = "/login/") -> Any:
    client = Client(REMOTE_ADDR=address)
    response: Any = client.post(path, {"username": username, "password": password})
    response.client_signed_in = "_auth_user_id" in client.session
    return response


def _assert_locked_out(response: Any, lockout_seconds: int) -> None:
    """A 429 with the login form, saying when to try again: the lockout runs from the last failure."""
    assert response.status_code == 429
    assert lockout_seconds - 5 <= int(response["Retry-After"]) <= lockout_seconds
    page = response.content.decode()
    assert "Too many failed sign-ins for this account or from your address." in page
    assert f"Try again in {lockout_seconds // 60} minutes" in page
    assert 'name="password"' in page  # the form again, not an error page
    assert not response.client_signed_in


# --- the login page -----------------------------------------------------------------------------


def test_sign_in_works_after_fewer_failures_than_the_limit(db: Any, limits: dict[str, int]) -> None:
    user: Any = UserFactory()
    address = _address()
    for _ in range(limits["login"] - 1):
        assert _login(user.username, "wrong", address=address).status_code == 200

    response = _login(user.username, PASSWORD, address=address)

    assert response.status_code == 302
    assert response.client_signed_in


def test_an_account_is_locked_after_too_many_wrong_passwords_from_any_addresses(
    db: Any, limits: dict[str, int], settings: Any
) -> None:
    user: Any = UserFactory()
    for _ in range(limits["login"]):
        _login(user.username, "wrong", address=_address())

    response = _login(user.username, PASSWORD, address=_address())

    _assert_locked_out(response, int(settings.AXES_COOLOFF_TIME.total_seconds()))


def test_an_address_is_locked_after_too_many_wrong_passwords_for_any_accounts(
    db: Any, limits: dict[str, int], settings: Any
) -> None:
    address = _address()
    for _ in range(limits["login"]):
        _login(_username(), "wrong", address=address)
    user: Any = UserFactory()

    response = _login(user.username, PASSWORD, address=address)

    _assert_locked_out(response, int(settings.AXES_COOLOFF_TIME.total_seconds()))
    assert _login(user.username, PASSWORD, address=_address()).client_signed_in  # another address is not locked


def test_the_lockout_ends_once_the_failures_are_older_than_the_lockout(
    db: Any, limits: dict[str, int], settings: Any
) -> None:
    from axes.models import AccessAttempt

    user: Any = UserFactory()
    address = _address()
    for _ in range(limits["login"]):
        _login(user.username, "wrong", address=address)
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))

    assert _login(user.username, PASSWORD, address=address).client_signed_in


def test_the_admin_login_is_locked_with_the_same_limits(db: Any, limits: dict[str, int], settings: Any) -> None:
    user: Any = UserFactory(is_staff=True)
    for _ in range(limits["login"]):
        _login(user.username, "wrong", address=_address(), path="/admin/login/")

    response = _login(user.username, PASSWORD, address=_address(), path="/admin/login/")

    _assert_locked_out(response, int(settings.AXES_COOLOFF_TIME.total_seconds()))


def test_a_forwarded_for_header_does_not_give_a_client_new_addresses(db: Any, limits: dict[str, int]) -> None:
    """With no trusted proxy (the default) the address is the connection's, whatever the client claims."""
    address = _address()
    for n in range(limits["login"]):
        Client(REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").post(
            "/login/", {"username": _username(), "password": "wrong"}
        )

    response = Client(REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR="203.0.113.99").post(
        "/login/", {"username": _username(), "password": PASSWORD}
    )

    assert response.status_code == 429


def test_behind_a_trusted_proxy_the_address_is_the_one_the_proxy_saw(
    world: World, limits: dict[str, int], settings: Any
) -> None:
    settings.LABELSITE_TRUSTED_PROXY_COUNT = 1
    proxy, client, other_client = _address(), _address(), _address()

    def via_proxy(forwarded_for: str, token: str) -> Any:
        api = APIClient(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=forwarded_for)
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return api.get("/api/projects")

    for n in range(limits["token"]):
        # What the client claims (the first entry) is not what counts; what the proxy appended is.
        assert via_proxy(f"192.0.2.{n}, {client}", f"guess-{n}").status_code == 401

    assert via_proxy(f"192.0.2.99, {client}", world.tokens["admin"]).status_code == 429
    assert via_proxy(other_client, world.tokens["admin"]).status_code == 200


# --- API tokens ---------------------------------------------------------------------------------


def _native(address: str, token: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_failed_token_attempts_from_one_address_are_throttled_with_retry_after(
    world: World, limits: dict[str, int]
) -> None:
    address = _address()
    for n in range(limits["token"]):
        assert _native(address, f"guess-{n}").get("/api/projects").status_code == 401

    response = _native(address, "guess-again").get("/api/projects")

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "throttled"
    assert error["message"] == (
        f"Too many failed token attempts from your address. Try again in {response['Retry-After']} seconds."
    )


def test_a_valid_token_from_a_throttled_address_is_refused_too(world: World, limits: dict[str, int]) -> None:
    """Else the throttle would still tell a guesser which guess was right."""
    address = _address()
    for n in range(limits["token"]):
        _native(address, f"guess-{n}").get("/api/projects")

    assert _native(address, world.tokens["admin"]).get("/api/projects").status_code == 429
    assert _native(_address(), world.tokens["admin"]).get("/api/projects").status_code == 200


def test_valid_token_traffic_is_never_counted(world: World, limits: dict[str, int]) -> None:
    address = _address()
    for _ in range(limits["token"] * 5):
        assert _native(address, world.tokens["admin"]).get("/api/projects").status_code == 200

    assert _native(address, "one-bad-guess").get("/api/projects").status_code == 401


def test_revoked_and_deactivated_users_tokens_count_as_failures(world: World, limits: dict[str, int]) -> None:
    world.annotator.is_active = False
    world.annotator.save(update_fields=["is_active"])
    address = _address()
    for n in range(limits["token"]):
        token = world.tokens["revoked"] if n % 2 else world.tokens["annotator"]
        assert _native(address, token).get("/api/projects").status_code == 401

    assert _native(address, world.tokens["revoked"]).get("/api/projects").status_code == 429


def test_the_token_throttle_lets_an_address_try_again_after_its_window(
    world: World, limits: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from projects.throttling import TokenFailureThrottle

    address = _address()
    for n in range(limits["token"]):
        _native(address, f"guess-{n}").get("/api/projects")
    assert _native(address, world.tokens["admin"]).get("/api/projects").status_code == 429

    later = time.time() + 61
    monkeypatch.setattr(TokenFailureThrottle, "timer", staticmethod(lambda: later))

    assert _native(address, world.tokens["admin"]).get("/api/projects").status_code == 200


def test_requests_without_a_token_are_not_throttled_by_token_failures(world: World, limits: dict[str, int]) -> None:
    address = _address()
    for n in range(limits["token"]):
        _native(address, f"guess-{n}").get("/api/projects")
    session = APIClient(REMOTE_ADDR=address)
    session.force_login(world.admin)

    assert session.get("/api/projects").status_code == 200
    assert APIClient(REMOTE_ADDR=address).get("/api/projects").status_code == 401


def test_v1_api_throttles_failed_tokens_in_datagyms_error_shape(world: World, limits: dict[str, int]) -> None:
    address = _address()
    for n in range(limits["token"]):
        assert_error(APIClient(REMOTE_ADDR=address).get(f"/api/v1/project?token=guess-{n}"), 401, "ex_unauthorized")

    response = APIClient(REMOTE_ADDR=address).get(f"/api/v1/project?token={world.tokens['org_token']}")

    body = assert_error(response, 429, "ex_too_many_requests", [response["Retry-After"]])
    assert body["msg"] == f"Too many failed token attempts from your address. Try again in {body['params'][0]} seconds."
    assert body["code"] == 429


def test_the_token_throttle_lets_requests_through_when_the_cache_fails(
    world: World, limits: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache (Redis) that is down must not take the API down with it."""
    from projects.throttling import TokenFailureThrottle

    class CacheDown:
        def get(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("the cache is down")

        set = get

    monkeypatch.setattr(TokenFailureThrottle, "cache", CacheDown())
    address = _address()

    assert _native(address, "a-guess").get("/api/projects").status_code == 401
    assert _native(address, world.tokens["admin"]).get("/api/projects").status_code == 200


# --- configuration --------------------------------------------------------------------------------


def _settings_under(env_overrides: dict[str, str]) -> dict[str, Any]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LABELSITE_") and k not in {"REDIS_URL", "CELERY_BROKER_URL"}
    }
    env.update(env_overrides)
    script = (
        "import json, labelsite.settings as s; print(json.dumps({"
        "'login_limit': s.AXES_FAILURE_LIMIT, 'lockout': s.AXES_COOLOFF_TIME.total_seconds(),"
        "'token_rate': s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['token_failures'],"
        "'proxies': s.LABELSITE_TRUSTED_PROXY_COUNT, 'cache': s.CACHES['default']['BACKEND']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)


def test_limits_have_defaults_and_a_cache_that_needs_no_server() -> None:
    assert _settings_under({}) == {
        "login_limit": 10,
        "lockout": 900,
        "token_rate": "20/min",
        "proxies": 0,
        "cache": "django.core.cache.backends.locmem.LocMemCache",
    }


def test_limits_are_read_from_the_environment_and_redis_holds_the_counts_when_it_is_the_broker() -> None:
    assert _settings_under(
        {
            "LABELSITE_LOGIN_FAILURE_LIMIT": "4",
            "LABELSITE_LOGIN_LOCKOUT_SECONDS": "120",
            "LABELSITE_TOKEN_FAILURE_RATE": "50/hour",
            "LABELSITE_TRUSTED_PROXY_COUNT": "1",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        }
    ) == {
        "login_limit": 4,
        "lockout": 120,
        "token_rate": "50/hour",
        "proxies": 1,
        "cache": "django.core.cache.backends.redis.RedisCache",
    }
