"""The Celery application; tasks are discovered in each app's `tasks.py`."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init
from kombu.transport import TRANSPORT_ALIASES

# "filesystem://" is kombu's filesystem transport with messages that appear whole (see that
# module). By the URL's scheme rather than Celery's `broker_transport`, which would override
# the scheme of every broker URL, the Redis one too.
TRANSPORT_ALIASES["filesystem"] = "labelsite.broker_filesystem:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")

app = Celery("labelsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _refuse_development_secret(**kwargs: Any) -> None:
    from labelsite.checks import refuse_development_secret

    refuse_development_secret()
