"""Start-up checks: production mode refuses to run with the development secret."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

REFUSAL_MESSAGE = (
    "SECRET_KEY is the development key while DEBUG is off. Set SECRET_KEY to a long random "
    "value for production, or DEBUG=1 for local development."
)


def uses_development_secret() -> bool:
    from labelsite.settings import DEVELOPMENT_SECRET_KEY

    return not settings.DEBUG and settings.SECRET_KEY == DEVELOPMENT_SECRET_KEY


@register()
def check_secret_key(app_configs: Any, **kwargs: Any) -> list[Error]:
    if uses_development_secret():
        return [Error(REFUSAL_MESSAGE, id="labelsite.E001")]
    return []


def refuse_development_secret() -> None:
    """Called by the server and worker entry points before they serve anything."""
    if uses_development_secret():
        raise ImproperlyConfigured(REFUSAL_MESSAGE)
