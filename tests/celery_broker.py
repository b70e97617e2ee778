"""Point this process's Celery app at another broker, for tests of what a broker does to us."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from labelsite.celery import app


def publish_to(url: str, write_url: str | None = None) -> None:
    """Send this process's messages to `url` from now on (the workers are not touched)."""
    app.conf.broker_url = url
    app.conf.broker_write_url = write_url or url  # set from broker_url once, when configured
    app._pool = None  # the connection pools are made from broker_url on first use
    with contextlib.suppress(AttributeError, KeyError):
        app.__dict__["amqp"]._producer_pool = None


@contextlib.contextmanager
def publishing_to(url: str) -> Iterator[None]:
    """`publish_to(url)` for the block, then back to the broker the run had."""
    original = (app.conf.broker_url, app.conf.broker_write_url)
    publish_to(url)
    try:
        yield
    finally:
        publish_to(*original)
