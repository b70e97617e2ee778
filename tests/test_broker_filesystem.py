"""The embedded broker's messages appear whole: a worker never reads a file still being written.

kombu's own filesystem transport created the message file under its final name and wrote it
after: a worker polling in between took the empty file and stopped with "Unrecoverable error:
JSONDecodeError" (seen in 2 of 10 small imports on a busy machine), losing the message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

import labelsite.broker_filesystem as broker_filesystem


@pytest.fixture
def connection(tmp_path: Path) -> Any:
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "store_processed": False}
    with Connection("filesystem://", transport=broker_filesystem.Transport, transport_options=options) as conn:
        yield conn, folder


def test_a_message_is_invisible_to_readers_until_it_is_whole(connection: Any, monkeypatch: Any):
    conn, folder = connection
    channel = conn.default_channel
    seen_while_writing: list[list[str]] = []
    encode = broker_filesystem.str_to_bytes

    def encode_and_look(text: Any) -> bytes:
        # The moment kombu's transport had an empty file under its final name: what a reader finds.
        seen_while_writing.append([name for name in os.listdir(folder) if name.endswith(".jobs.msg")])
        return encode(text)

    monkeypatch.setattr(broker_filesystem, "str_to_bytes", encode_and_look)
    channel._put("jobs", {"body": "validate job 1"})

    assert seen_while_writing == [[]]
    assert [name for name in os.listdir(folder) if not name.endswith(".jobs.msg")] == []  # no partial left
    assert channel._get("jobs") == {"body": "validate job 1"}


def test_the_embedded_default_uses_this_transport_and_polls_often(settings: Any):
    from labelsite.celery import app

    with app.connection_for_write() as conn:
        if settings.CELERY_BROKER_URL != "filesystem://":
            assert not isinstance(conn.transport, broker_filesystem.Transport)  # Redis keeps kombu's own
            return
        assert isinstance(conn.transport, broker_filesystem.Transport)
        assert conn.transport.polling_interval == pytest.approx(0.05)
