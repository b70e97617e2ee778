"""WSGI entry point (gunicorn labelsite.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")

application = get_wsgi_application()

from labelsite.checks import refuse_development_secret  # noqa: E402  (needs the app registry)

refuse_development_secret()
