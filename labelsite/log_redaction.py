"""`token=` values out of the logs: the DataGym client sends its API token in the URL.

`TokenRedactingFilter` is on every handler of `settings.LOGGING` (Django's request lines,
runserver's access lines) and on gunicorn's access and error logs
(`labelsite.gunicorn_logging.GunicornLogger`, named by `gunicorn.conf.py`). A message's
`token=<value>` becomes `token=[redacted]` wherever it is: the request line, a query string,
a Referer header.
"""

from __future__ import annotations

import logging
import re

TOKEN_VALUE = re.compile(r"\b(token=)[^&\s\"'#;]+", re.IGNORECASE)
REDACTED = r"\1[redacted]"


def token_values_redacted(text: str) -> str:
    return TOKEN_VALUE.sub(REDACTED, text)


class TokenRedactingFilter(logging.Filter):
    """Lets every record through, with the values of `token=` in its message redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # arguments that do not fit the message: logging reports the call itself
        redacted = token_values_redacted(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
