"""The read-only token a model server fetches the project's images with.

Label Studio hands its backends a user's API token; we hand each connection a token of its own
that opens nothing but the images of its project's tasks (`ml.api.MlMediaFileApi`). It is
derived, not stored: `lsml` + the connection's id + an HMAC of the id and the connection's
`token_nonce` under the site's SECRET_KEY, so showing it again needs no secret in the database,
and a new nonce (`backend_token_rotate`) revokes it. It has no dots: Label Studio's SDK takes a
token with dots for a JWT and tries to refresh it.
"""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID

from django.conf import settings

PREFIX = "lsml"
_DIGEST_CHARS = 40


def _digest(backend_id: UUID, nonce: str) -> str:
    key = f"labelsite.ml.media-token:{settings.SECRET_KEY}".encode()
    return hmac.new(key, f"{backend_id.hex}:{nonce}".encode(), hashlib.sha256).hexdigest()[:_DIGEST_CHARS]


def media_token_make(*, backend_id: UUID, nonce: str) -> str:
    return f"{PREFIX}{backend_id.hex}{_digest(backend_id, nonce)}"


def media_token_backend_id(raw: str) -> UUID | None:
    """The connection id a token names (not yet checked), None when it has not a token's shape."""
    if len(raw) != len(PREFIX) + 32 + _DIGEST_CHARS or not raw.startswith(PREFIX):
        return None
    try:
        return UUID(hex=raw[len(PREFIX) : len(PREFIX) + 32])
    except ValueError:
        return None


def media_token_matches(raw: str, *, backend_id: UUID, nonce: str) -> bool:
    return hmac.compare_digest(raw, media_token_make(backend_id=backend_id, nonce=nonce))
