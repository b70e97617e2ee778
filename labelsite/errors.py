"""Typed domain errors that services raise and each API turns into its own JSON shape.

A service never returns an HTTP status; it raises one of these with a machine-readable
code, a human message that says how to fix the problem, and, where there are several
problems, located details. The native API renders them as
`{"error": {"code", "message", "details": [{"path", "code", "message"}]}}`; the DataGym
v1 facade maps them to DataGym's `{key, params, msg, code, details}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ErrorDetail:
    path: str
    code: str
    message: str
    params: tuple[Any, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "code": self.code, "message": self.message}


@dataclass
class DomainError(Exception):
    code: str
    message: str
    details: list[ErrorDetail] = field(default_factory=list)
    params: tuple[Any, ...] = ()

    def __str__(self) -> str:
        return self.message


class ValidationFailed(DomainError):
    """The input breaks one or more rules; `details` lists every one with its place."""


class NotFound(DomainError):
    """The object does not exist, or belongs to another organisation (never say which)."""


class AlreadyExists(DomainError):
    """A unique name or key is taken."""


class Conflict(DomainError):
    """The object changed or is in a state that does not allow this operation."""


class PreconditionRequired(DomainError):
    """A write must say which version it changes (If-Match or `version`) and did not (428)."""


class PermissionDenied(DomainError):
    """The actor may see the object but not do this to it."""


class Unavailable(DomainError):
    """A service the operation needs (the job queue) is not answering; the same request may work later."""


class TooLarge(DomainError):
    """The request, or a file in it, is larger than a limit (413); the message names the setting."""
