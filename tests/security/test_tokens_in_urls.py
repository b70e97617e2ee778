"""A token in a URL (security review 15, item 3): only the DataGym v1 API reads `?token=`.

The `datagym` client knows no other way to send its token, so `/api/v1/` keeps reading it;
the native API refuses it with a 401 that says to use the `Authorization` header, a valid
header beside it included. `token=` values never reach the logs: Django's console handler
and gunicorn's loggers redact them (`labelsite/log_redaction.py`); the real servers are
in `tests/realstack/test_token_redaction.py`.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from rest_framework.test import APIClient

from labelsite.log_redaction import TokenRedactingFilter
from tests.api.conftest import World
from tests.datagym_v1.conftest import assert_error


def _assert_query_token_refused(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Token"
    error = response.json()["error"]
    assert error["code"] == "token_in_query"
    assert "Authorization: Token" in error["message"]
    assert "/api/v1/" in error["message"]


def test_the_native_api_refuses_a_valid_token_in_the_query_string_and_names_the_header(world: World) -> None:
    _assert_query_token_refused(APIClient().get(f"/api/projects?token={world.tokens['admin']}"))


def test_the_native_api_refuses_a_query_token_beside_a_valid_authorization_header(world: World) -> None:
    client = world.client("admin")
    assert client.get("/api/projects").status_code == 200
    _assert_query_token_refused(client.get(f"/api/projects?limit=5&token={world.tokens['admin']}"))


def test_the_native_api_refuses_a_query_token_on_writes_and_changes_nothing(world: World) -> None:
    response = APIClient().post(
        f"/api/projects?token={world.tokens['admin']}", {"name": "Through the URL"}, format="json"
    )
    _assert_query_token_refused(response)
    assert not world.organization.projects.filter(name="Through the URL").exists()


def test_the_datagym_v1_api_still_reads_the_token_from_the_query_string(world: World) -> None:
    response = APIClient().get(f"/api/v1/project?token={world.tokens['org_token']}")
    assert response.status_code == 200
    assert sorted(project["name"] for project in response.json()) == ["Fields", "Streets"]
    assert_error(APIClient().get("/api/v1/project?token=not-a-token"), 401, "ex_unauthorized", [])


# --- the logs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "args", "expected"),
    [
        (
            '"%s" %s %s',
            ("GET /api/v1/project?token=s3cr3t-value HTTP/1.1", "200", "12"),
            '"GET /api/v1/project?token=[redacted] HTTP/1.1" 200 12',
        ),
        (
            "%(r)s %(s)s",
            {"r": "HEAD /api/v1/export/1?dl=true&token=abc&x=1 HTTP/1.1", "s": "200"},
            "HEAD /api/v1/export/1?dl=true&token=[redacted]&x=1 HTTP/1.1 200",
        ),
        ("Referer: https://a.example/p?TOKEN=abc#top", (), "Referer: https://a.example/p?TOKEN=[redacted]#top"),
        ("no secret here: csrftoken=keep", (), "no secret here: csrftoken=keep"),
    ],
)
def test_the_log_filter_redacts_token_values_wherever_they_are_in_a_message(
    message: str, args: Any, expected: str
) -> None:
    record = logging.LogRecord("django.server", logging.INFO, __file__, 1, message, args, None)
    assert TokenRedactingFilter().filter(record) is True
    assert record.getMessage() == expected


def test_a_record_whose_arguments_do_not_fit_its_message_is_left_to_logging() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s and %s", ("one",), None)
    assert TokenRedactingFilter().filter(record) is True  # logging reports the bad call itself
    assert record.args == ("one",)


@pytest.mark.parametrize("logger_name", ["", "django", "django.server"])
def test_djangos_log_handlers_redact_token_values(logger_name: str) -> None:
    """The handler settings.LOGGING gave the logger, fed the line runserver logs per request."""
    (handler,) = [
        handler for handler in logging.getLogger(logger_name).handlers if type(handler) is logging.StreamHandler
    ]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        handler.handle(
            logging.LogRecord(
                "django.server",
                logging.WARNING,
                __file__,
                1,
                '"%s" %s %s',
                ("GET /api/v1/dataset?token=0123456789abcdef HTTP/1.1", 401, 98),
                None,
            )
        )
    finally:
        handler.setStream(previous)
    # runserver's handler puts the time in front.
    assert stream.getvalue().endswith('"GET /api/v1/dataset?token=[redacted] HTTP/1.1" 401 98\n')
    assert "0123456789abcdef" not in stream.getvalue()
