"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")

application = get_asgi_application()

from labelsite.checks import refuse_development_secret  # noqa: E402  (needs the app registry)

refuse_development_secret()
