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


#: A token in a URL ends in access logs, proxy logs and browser history. Only the DataGym v1 API,
#: whose client sends its token no other way, reads one (`DataGymTokenAuthentication`).
QUERY_PARAMETER_REFUSED = (
    "A token in the URL (?token=) is accepted only by the DataGym v1 API under /api/v1/; "
    "send it in the header instead: Authorization: Token <token>."
)


def token_from_request(request: Request, *, from_query: bool = False) -> str | None:
    """`?token=` first where `from_query` (the datagym client sends only that), then
    `Authorization: Token`. Elsewhere a `token` query parameter is refused (401 `token_in_query`).

    A Basic header meant for a reverse proxy may sit beside the token and is ignored.
    """
    if "token" in request.query_params:
        if not from_query:
            raise exceptions.AuthenticationFailed(QUERY_PARAMETER_REFUSED, code="token_in_query")
        token = request.query_params.get("token")
        if token:
            return token
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in {"token", "bearer"} and value.strip():
        return value.strip()
    return None


class TokenAuthentication(authentication.BaseAuthentication):
    """The native API's: the token in the `Authorization` header only."""

    keyword = "Token"
    #: Whether `?token=` is read (else refused).
    query_token = False

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        raw = token_from_request(request, from_query=self.query_token)
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


class DataGymTokenAuthentication(TokenAuthentication):
    """The DataGym v1 API's: `?token=` too, the only way the `datagym` client sends it."""

    query_token = True
