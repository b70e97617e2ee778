"""gunicorn's logger with `token=` values redacted (`gunicorn.conf.py` names it).

A module of its own so that Django's processes, which import `labelsite.log_redaction` for
their logging, never import gunicorn.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from labelsite.log_redaction import TokenRedactingFilter


class GunicornLogger(Logger):
    """gunicorn's logger, whose access log (request line, query string, Referer) and error log
    ("Error handling request /...?token=...") pass through `TokenRedactingFilter`."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # setup() runs again when gunicorn reloads its configuration: one filter per log.
        for log in (self.access_log, self.error_log):
            if not any(isinstance(existing, TokenRedactingFilter) for existing in log.filters):
                log.addFilter(TokenRedactingFilter())
