"""Limits on failed sign-ins and failed API token attempts (docs/security.md).

Only failures count, so valid traffic is never slowed however much of it there is:

- The login page and the Django admin's: django-axes counts failed sign-ins per account and
  per client address in the database (so every server process shares the counts with no
  server to install) and refuses both for `LABELSITE_LOGIN_LOCKOUT_SECONDS` after
  `LABELSITE_LOGIN_FAILURE_LIMIT` failures, the right password included. Its lockout answer
  is the login form again, with an error that says when to try again (429, Retry-After).
- API tokens (both APIs): `TokenFailureThrottle` counts failed token attempts per client
  address in the Django cache (`LABELSITE_TOKEN_FAILURE_RATE`); past the rate every token
  request from that address answers 429 with Retry-After, a valid one too, or the throttle
  would still tell a guesser which guess was right.

The client address is the connection's, or with `LABELSITE_TRUSTED_PROXY_COUNT` proxies in
front, the one the outermost trusted proxy saw: a client cannot pick its address by sending
an X-Forwarded-For header. Both limits use the same `client_address`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse, TemplateResponse
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


def client_address(request: HttpRequest | Request) -> str:
    """The connection's address, or behind LABELSITE_TRUSTED_PROXY_COUNT proxies the one the outermost saw.

    Each proxy appends the address it was called from to X-Forwarded-For, so the client's is
    that many entries from the end; whatever a client put before them is ignored.
    """
    remote = str(request.META.get("REMOTE_ADDR") or "")
    proxies = settings.LABELSITE_TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    addresses = [address.strip() for address in str(forwarded).split(",")]
    return addresses[-min(proxies, len(addresses))] or remote


# --- API tokens -----------------------------------------------------------------------------


class TokenAttemptsThrottled(exceptions.Throttled):
    default_detail = "Too many failed token attempts from your address."
    extra_detail_singular = "Try again in {wait} second."
    extra_detail_plural = "Try again in {wait} seconds."


class TokenFailureThrottle(SimpleRateThrottle):
    """Failed token attempts per client address, in a sliding window (DRF's rate and history).

    DRF's own throttles count every request and run after authentication; this one is asked
    by the token authentication itself: `check` before a token is looked up, `failure_record`
    when it was not usable. A cache that fails lets requests through: a throttle must not take
    the API down with it.
    """

    scope = "token_failures"
    # Set by SimpleRateThrottle from the rate; used only when there is one.
    num_requests: int
    duration: int

    def get_rate(self) -> str | None:
        # Read on each use (DRF binds THROTTLE_RATES at import), so that settings apply at once.
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(self.scope)

    def get_ident(self, request: Any) -> str:
        return client_address(request)

    def get_cache_key(self, request: Any, view: Any = None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def _load(self, request: Any) -> bool:
        """Read the address's recent failures; False when there is no rate or no cache."""
        if self.rate is None:
            return False
        self.key = self.get_cache_key(request)
        self.now = self.timer()
        try:
            self.history = self.cache.get(self.key, [])
        except Exception:
            logger.warning("The cache is not answering; failed token attempts are not limited", exc_info=True)
            return False
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return True

    def check(self, request: Any) -> None:
        """Raise TokenAttemptsThrottled if the address has used up its failed attempts."""
        if self._load(request) and len(self.history) >= self.num_requests:
            wait = self.wait()
            raise TokenAttemptsThrottled(wait=max(1, math.ceil(wait or 0)))

    def failure_record(self, request: Any) -> None:
        if not self._load(request):
            return
        self.history.insert(0, self.now)
        try:
            self.cache.set(self.key, self.history, self.duration)
        except Exception:
            logger.warning("The cache is not answering; failed token attempts are not limited", exc_info=True)


# --- sign-in (django-axes) --------------------------------------------------------------------


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' check, first in AUTHENTICATION_BACKENDS: a locked-out account or address signs in with nothing.

    A call without a request (Django's test client's `login`, a script) has no client address to
    count: it goes on to the next backend unchecked, where axes itself would raise.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def login_lockout_seconds_left(*, request: HttpRequest, credentials: dict[str, Any] | None) -> int:
    """Seconds until the most recent failure that counts against this account or address expires."""
    from axes.helpers import get_client_username
    from axes.models import AccessAttempt

    cool_off = settings.AXES_COOLOFF_TIME
    username = get_client_username(request, credentials)
    latest = (
        AccessAttempt.objects.filter(Q(username=username) | Q(ip_address=client_address(request)))
        .filter(attempt_time__gte=timezone.now() - cool_off)
        .aggregate(latest=Max("attempt_time"))["latest"]
    )
    if latest is None:
        return int(cool_off.total_seconds())
    return max(1, math.ceil((latest + cool_off - timezone.now()).total_seconds()))


def login_lockout_message(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    when = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return (
        "Too many failed sign-ins for this account or from your address. "
        f"Try again in {when}, or ask an administrator to unlock it."
    )


def login_lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the same login form, its error saying when to try again (429).

    It works for every login view that renders a `form` (ours and the admin's): the form's
    generic "wrong password" error is replaced, so the page never says whether the password was right.
    """
    seconds = login_lockout_seconds_left(request=request, credentials=credentials)
    message = login_lockout_message(seconds)
    headers = {"Retry-After": str(seconds)}
    if not isinstance(original_response, SimpleTemplateResponse) or "form" not in (
        original_response.context_data or {}
    ):
        return HttpResponse(message, status=429, content_type="text/plain; charset=utf-8", headers=headers)
    context = dict(original_response.context_data or {})
    form = context["form"]
    form.errors.clear()
    form.add_error(None, message)
    response = TemplateResponse(request, original_response.template_name, context, status=429, headers=headers)
    # Rendered here: axes answers from a middleware, after Django has rendered the view's response.
    return response.render()
