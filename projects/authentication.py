"""API token authentication for DRF, shared by the native and DataGym v1 APIs."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from projects.models import ApiToken, Organization
from projects.services import api_token_authenticate
from projects.throttling import TokenFailureThrottle


class OrganizationTokenUser:
    """The user of a token that belongs to an organisation rather than a person.

    It acts as an admin of its organisation, as DataGym's tokens do.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None
    username = "token_user"

    def __init__(self, organization: Organization) -> None:
        self.organization = organization

    def __str__(self) -> str:
        return f"token of {self.organization}"


def token_from_request(request: Request) -> str | None:
    """`?token=` first (the datagym client sends only that), then `Authorization: Token`.

    A Basic header meant for a reverse proxy may sit beside the token and is ignored.
    """
    token = request.query_params.get("token")
    if token:
        return token
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in {"token", "bearer"} and value.strip():
        return value.strip()
    return None


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        raw = token_from_request(request)
        if raw is None:
            return None
        # Failed attempts are limited per address; a throttled address is refused before its
        # token is looked up, so that the answer says nothing about the token.
        throttle = TokenFailureThrottle()
        throttle.check(request)
        token = api_token_authenticate(raw=raw)
        if token is None:
            throttle.failure_record(request)
            raise exceptions.AuthenticationFailed(
                "Invalid or revoked token, or its user is deactivated or no longer a member of its organisation."
            )
        user: Any = token.user if token.user is not None else OrganizationTokenUser(token.organization)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
