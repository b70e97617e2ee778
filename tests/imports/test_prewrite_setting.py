"""LABELSITE_IMPORT_PREWRITE: "auto" writes while validating unless the worker runs niced (the copy
runs in PostgreSQL, out of the nice's reach, and would take the core the nice leaves to the web)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from imports import prewrite
from labelsite.queue import tasks_eager


def _possible() -> bool:
    return connection.vendor == "postgresql" and not tasks_eager()


@pytest.mark.parametrize(
    ("setting", "niceness", "on_when_possible"),
    [
        ("auto", 0, True),
        ("auto", 10, False),
        ("1", 10, True),
        ("0", 0, False),
        ("off", 0, False),
    ],
)
def test_the_setting_and_the_workers_niceness_decide(
    settings: Any, monkeypatch: pytest.MonkeyPatch, setting: str, niceness: int, on_when_possible: bool
) -> None:
    settings.LABELSITE_IMPORT_PREWRITE = setting
    monkeypatch.setattr(prewrite.os, "nice", lambda increment: niceness if increment == 0 else None)
    assert prewrite.prewrite_enabled() is (on_when_possible and _possible())


def test_a_niced_worker_never_writes_while_validating_even_on_postgresql(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.LABELSITE_IMPORT_PREWRITE = "auto"
    monkeypatch.setattr(prewrite.os, "nice", lambda increment: 5)
    monkeypatch.setattr(prewrite, "tasks_eager", lambda: False)
    monkeypatch.setattr(prewrite.connection, "vendor", "postgresql")
    assert prewrite.prewrite_enabled() is False
    settings.LABELSITE_IMPORT_PREWRITE = "1"
    assert prewrite.prewrite_enabled() is True
