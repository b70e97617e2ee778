"""The worker learns each new media's size and makes its thumbnail (issue 20, point 8).

Real parts: images served by a local HTTP server (loopback, allow-listed as the SSRF tests do),
the default storage, the database, and an in-memory broker that holds what is queued; the task
function is called directly, as a worker would.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from kombu import Connection
from PIL import Image

from labelsite.celery import app
from projects.media_probe import MEDIA_PROBE_RUN, media_probe_queue, media_probe_run
from projects.models import Media, MediaSource, Organization
from projects.services import dataset_connect, media_create_from_file, media_create_from_urls
from projects.thumbnails import media_thumbnail_path
from tests.celery_broker import publishing_to
from tests.factories import DatasetFactory, MembershipFactory, UserFactory
from tests.media_sources import image_http_server, png_bytes

pytestmark = pytest.mark.django_db

BROKER = "memory://"


def published() -> list[tuple[str, tuple[Any, ...]]]:
    """The messages waiting at the broker, in the order a worker takes them (taking them)."""
    taken = []
    with Connection(BROKER) as connection:
        waiting = connection.SimpleQueue(app.conf.task_default_queue, no_ack=True)
        while True:
            try:
                message = waiting.get(block=False)
            except waiting.Empty:
                break
            taken.append((message.headers["task"], tuple(message.payload[0])))
        waiting.close()
    return taken


@pytest.fixture
def broker() -> Iterator[None]:
    with publishing_to(BROKER):
        published()
        yield
        published()


@pytest.fixture
def dataset(project: Any, media_storage: Any, settings: Any) -> Any:
    settings.LABELSITE_URL_ALLOWLIST = ["127.0.0.1"]
    settings.LABELSITE_MEDIA_PROBE_URLS = True  # the images are on loopback, not the internet
    made: Any = DatasetFactory(organization=project.organization)
    dataset_connect(dataset=made, project=project)
    return made


def url_media(dataset: Any, base: str, *names: str) -> list[Media]:
    results = media_create_from_urls(dataset=dataset, urls=[f"{base}/{name}" for name in names])
    created = [result.media for result in results]
    assert all(created), results
    return [m for m in created if m is not None]


def thumbnail_of(media: Media) -> Image.Image:
    with default_storage.open(media_thumbnail_path(media=media), "rb") as stored:
        return Image.open(io.BytesIO(stored.read())).convert("RGB")


def test_a_url_media_learns_its_size_and_gets_a_stored_thumbnail(dataset: Any, broker: None):
    with image_http_server({"wide.png": png_bytes((30, 30, 200), 640, 320)}) as base:
        [media] = url_media(dataset, base, "wide.png")
        assert (media.width, media.height) == (None, None)

        media_probe_run(organization_id=dataset.organization_id)

    media.refresh_from_db()
    assert (media.width, media.height) == (640, 320)
    assert media.probed_at is not None
    assert media.probe_error == ""
    thumbnail = thumbnail_of(media)
    assert thumbnail.size == (256, 128)
    red, _, blue = thumbnail.getpixel((10, 10))  # type: ignore[misc]
    assert blue > 150 > red


def test_a_size_an_import_gave_is_kept_and_only_the_thumbnail_is_made(dataset: Any, broker: None):
    with image_http_server({"a.png": png_bytes((0, 200, 0), 64, 48)}) as base:
        [media] = url_media(dataset, base, "a.png")
        Media.objects.filter(pk=media.pk).update(width=128, height=96)  # as the labels' coordinates say

        media_probe_run(organization_id=dataset.organization_id)

    media.refresh_from_db()
    assert (media.width, media.height) == (128, 96)
    assert default_storage.exists(media_thumbnail_path(media=media))


def test_an_image_that_cannot_be_fetched_records_its_reason_and_the_batch_goes_on(dataset: Any, broker: None):
    with image_http_server({"good.png": png_bytes((200, 0, 0))}) as base:
        missing, good = url_media(dataset, base, "missing.png", "good.png")
        media_probe_run(organization_id=dataset.organization_id)

    missing.refresh_from_db()
    good.refresh_from_db()
    assert missing.probed_at is not None
    assert "HTTP 404" in missing.probe_error
    assert "missing.png" in missing.probe_error
    assert missing.width is None
    assert (good.width, good.height, good.probe_error) == (64, 48, "")


def test_a_file_that_is_not_an_image_is_recorded_as_such(dataset: Any, broker: None):
    with image_http_server({"fake.png": b"<html>not an image</html>"}) as base:
        [media] = url_media(dataset, base, "fake.png")
        media_probe_run(organization_id=dataset.organization_id)

    media.refresh_from_db()
    assert media.probed_at is not None
    assert "is not an image Labelsite can read" in media.probe_error


def test_a_loopback_url_not_allowed_is_refused_by_the_ssrf_guard(dataset: Any, broker: None, settings: Any):
    with image_http_server({"a.png": png_bytes((1, 2, 3))}) as base:
        [media] = url_media(dataset, base, "a.png")
        settings.LABELSITE_URL_ALLOWLIST = []  # as in production: loopback is not a public address
        media_probe_run(organization_id=dataset.organization_id)

    media.refresh_from_db()
    assert "non-public address" in media.probe_error
    assert media.width is None
    assert not default_storage.exists(media_thumbnail_path(media=media))


class FlakyServer:
    """Answers 503 to the first `failures` GETs, then the image."""

    def __init__(self, failures: int, body: bytes) -> None:
        self.failures = failures
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if outer.failures > 0:
                    outer.failures -= 1
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def __enter__(self) -> str:
        import threading

        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *args: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_a_transient_failure_waits_with_backoff_and_the_next_try_succeeds(dataset: Any, broker: None):
    with FlakyServer(failures=1, body=png_bytes((9, 9, 9), 30, 20)) as base:
        [media] = url_media(dataset, base, "flaky.png")
        published()
        media_probe_run(organization_id=dataset.organization_id)

        media.refresh_from_db()
        assert media.probed_at is None  # still pending: HTTP 503 is worth another try
        assert media.probe_attempts == 1
        assert "503" in media.probe_error
        assert media.probe_after is not None
        assert media.probe_after > timezone.now() + timedelta(seconds=20)
        # The chain waits for it: one message, delayed (its countdown is an ETA header).
        assert published() == [(MEDIA_PROBE_RUN, (str(dataset.organization_id),))]

        Media.objects.filter(pk=media.pk).update(probe_after=timezone.now())  # the wait is over
        media_probe_run(organization_id=dataset.organization_id)

    media.refresh_from_db()
    assert (media.width, media.height, media.probe_error) == (30, 20, "")
    assert media.probed_at is not None


def test_a_not_found_image_is_not_tried_again(dataset: Any, broker: None):
    with image_http_server({}) as base:
        [media] = url_media(dataset, base, "gone.png")
        media_probe_run(organization_id=dataset.organization_id)
    media.refresh_from_db()
    assert media.probed_at is not None
    assert media.probe_attempts == 0
    assert media.probe_after is None


def test_a_large_creation_is_probed_in_bounded_batches_that_go_to_the_back_of_the_queue(dataset: Any, broker: None):
    images = {f"{n}.png": png_bytes((n, n, n), 8 + n, 8) for n in range(5)}
    with image_http_server(images) as base:
        url_media(dataset, base, *images)
        published()
        organization_id = str(dataset.organization_id)

        assert media_probe_run(organization_id=organization_id, batch_size=2) == 2
        assert published() == [(MEDIA_PROBE_RUN, (organization_id,))]  # the rest: one more turn
        assert Media.objects.filter(dataset=dataset, probed_at__isnull=True).count() == 3

        assert media_probe_run(organization_id=organization_id, batch_size=2) == 2
        assert media_probe_run(organization_id=organization_id, batch_size=2) == 1
        assert published() == [(MEDIA_PROBE_RUN, (organization_id,))]  # one after the 2nd; none after the last

    assert sorted(width or 0 for width in Media.objects.filter(dataset=dataset).values_list("width", flat=True)) == [
        8,
        9,
        10,
        11,
        12,
    ]
    assert Organization.objects.get(pk=organization_id).media_probe_queued_at is None  # the chain has ended


def test_an_organisation_has_one_chain_however_many_creations_ask(
    dataset: Any, broker: None, django_capture_on_commit_callbacks: Any
):
    with image_http_server({}) as base:
        for n in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                url_media(dataset, base, f"{n}.png")
        media_probe_queue(organization_id=dataset.organization_id)

    assert published() == [(MEDIA_PROBE_RUN, (str(dataset.organization_id),))]


def test_creations_queue_the_probe_after_their_commit_for_upload_and_url_media(
    dataset: Any, broker: None, django_capture_on_commit_callbacks: Any
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        media_create_from_file(dataset=dataset, name="up.png", content=png_bytes((5, 5, 5)))
    assert published() == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert published() == [(MEDIA_PROBE_RUN, (str(dataset.organization_id),))]


def test_an_upload_gets_its_thumbnail_from_the_probe(dataset: Any, broker: None):
    media = media_create_from_file(dataset=dataset, name="up.png", content=png_bytes((200, 10, 10), 300, 100))
    media_probe_run(organization_id=dataset.organization_id)
    media.refresh_from_db()
    assert media.source == MediaSource.LOCAL
    assert media.probed_at is not None
    assert thumbnail_of(media).size == (256, 85)


# --- the page's view: never a decode in the web process ---------------------------------------


@pytest.fixture
def admin(dataset: Any) -> Client:
    user: Any = UserFactory()
    MembershipFactory(user=user, organization=dataset.organization, role="admin")
    client = Client()
    client.force_login(user)
    return client


def refuse_decoding(patch: pytest.MonkeyPatch, opened: list[str]) -> None:
    """Any image opened from now on is recorded and fails: PIL's `Image.open` is the one door."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        opened.append(repr(args[:1]))
        raise AssertionError("an image was decoded in the web process")

    patch.setattr(Image, "open", refuse)


def test_the_thumbnail_view_answers_a_placeholder_and_queues_the_probe_without_decoding(
    dataset: Any, broker: None, admin: Client, monkeypatch: pytest.MonkeyPatch
):
    with image_http_server({"a.png": png_bytes((0, 0, 250), 400, 300)}) as base:
        [media] = url_media(dataset, base, "a.png")
        published()
        opened: list[str] = []
        with monkeypatch.context() as patch:
            refuse_decoding(patch, opened)
            pending = admin.get(f"/media/{media.id}/thumbnail")
        assert opened == []
        assert pending.status_code == 202
        assert pending["Content-Type"] == "image/svg+xml"
        assert pending["Retry-After"]
        assert published() == [(MEDIA_PROBE_RUN, (str(dataset.organization_id),))]

        media_probe_run(organization_id=dataset.organization_id)  # the worker

        with monkeypatch.context() as patch:
            refuse_decoding(patch, opened)
            ready = admin.get(f"/media/{media.id}/thumbnail")
            body = b"".join(ready.streaming_content)  # type: ignore[attr-defined]
        assert opened == []
    assert ready.status_code == 200
    assert ready["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(body)).size == (256, 192)


def test_a_url_media_the_worker_could_not_read_shows_the_image_itself(dataset: Any, broker: None, admin: Client):
    with image_http_server({}) as base:
        [media] = url_media(dataset, base, "gone.png")
        media_probe_run(organization_id=dataset.organization_id)
    answer = admin.get(f"/media/{media.id}/thumbnail")
    assert answer.status_code == 302
    assert answer["Location"] == media.url


def test_an_upload_the_worker_could_not_read_shows_a_placeholder_naming_the_reason(
    dataset: Any, broker: None, admin: Client
):
    media = media_create_from_file(dataset=dataset, name="up.png", content=png_bytes((1, 1, 1)))
    Media.objects.filter(pk=media.pk).update(probed_at=timezone.now(), probe_error="The storage lost the file")
    answer = admin.get(f"/media/{media.id}/thumbnail")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "image/svg+xml"
    assert b"The storage lost the file" in answer.content


def test_a_thumbnail_gone_from_storage_is_made_again(dataset: Any, broker: None, admin: Client):
    media = media_create_from_file(dataset=dataset, name="up.png", content=png_bytes((1, 1, 1)))
    media_probe_run(organization_id=dataset.organization_id)
    default_storage.delete(media_thumbnail_path(media=media))
    published()

    assert admin.get(f"/media/{media.id}/thumbnail").status_code == 202
    media.refresh_from_db()
    assert media.probed_at is None
    assert published() == [(MEDIA_PROBE_RUN, (str(dataset.organization_id),))]


def test_with_url_fetches_turned_off_a_url_media_is_recorded_unread_and_nothing_is_fetched(
    dataset: Any, broker: None, settings: Any
):
    with image_http_server({"a.png": png_bytes((1, 2, 3))}) as base:
        [media] = url_media(dataset, base, "a.png")
        settings.LABELSITE_MEDIA_PROBE_URLS = False
        media_probe_run(organization_id=dataset.organization_id)

    media.refresh_from_db()
    assert media.probed_at is not None
    assert "LABELSITE_MEDIA_PROBE_URLS is off" in media.probe_error
    assert media.width is None


@contextmanager
def slow_image_server(
    images: dict[str, bytes], *, delay: float, on_request: Any = None, on_answer: Any = None
) -> Iterator[str]:
    """An HTTP server on loopback that answers each image after `delay` seconds (a server's
    answer time), 404 for others; `on_request()` runs as each request comes in, `on_answer()`
    after the delay, before the answer. Its base URL."""

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if on_request is not None:
                on_request()
            time.sleep(delay)
            if on_answer is not None:
                on_answer()
            body = images.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_batch_fetches_its_url_media_several_at_once_and_no_more_than_the_bound(dataset: Any, broker: None):
    """The fetches of a batch overlap (they wait on the network), at most FETCH_CONCURRENCY at a
    time; every media still gets its own size, and a failing URL is recorded on its own media."""
    from projects.media_probe import FETCH_CONCURRENCY

    lock = threading.Lock()
    in_flight = {"now": 0, "most": 0}
    images = {f"{i}.png": png_bytes((0, 0, 200), 10 + i, 5) for i in range(20)}

    def counted_in() -> None:
        with lock:
            in_flight["now"] += 1
            in_flight["most"] = max(in_flight["most"], in_flight["now"])

    def counted_out() -> None:  # before answering: the fetcher's next request can only start after it
        with lock:
            in_flight["now"] -= 1

    # The server's answer time: the fetches wait together.
    with slow_image_server(images, delay=0.15, on_request=counted_in, on_answer=counted_out) as base:
        media = url_media(dataset, base, *images, "missing.png")
        media_probe_run(organization_id=dataset.organization_id)

    assert 2 <= in_flight["most"] <= FETCH_CONCURRENCY
    for item in media:
        item.refresh_from_db()
    sizes = {m.name: (m.width, m.height) for m in media if not m.probe_error}
    assert sizes == {name: (10 + i, 5) for i, name in enumerate(images)}
    [missing] = [m for m in media if m.probe_error]
    assert missing.name == "missing.png"
    assert "404" in missing.probe_error


# --- an import of the organisation pauses its probing ------------------------------------------


def test_a_paused_chain_takes_no_batch_and_looks_again_later_then_probes_once_resumed(dataset: Any, broker: None):
    from projects.media_probe import media_probe_pause, media_probe_resume

    images = {f"{n}.png": png_bytes((n, n, n), 8 + n, 8) for n in range(3)}
    with image_http_server(images) as base:
        url_media(dataset, base, *images)
        published()
        organization_id = str(dataset.organization_id)
        media_probe_pause(organization_id=organization_id, seconds=60)

        assert media_probe_run(organization_id=organization_id) == 0
        assert published() == [(MEDIA_PROBE_RUN, (organization_id,))]  # the chain lives on
        assert Media.objects.filter(dataset=dataset, probed_at__isnull=True).count() == 3

        media_probe_resume(organization_id=organization_id)
        assert media_probe_run(organization_id=organization_id) == 3

    assert Media.objects.filter(dataset=dataset, probed_at__isnull=True).count() == 0
    assert Organization.objects.get(pk=organization_id).media_probe_paused_until is None


def test_a_pause_that_has_run_out_no_longer_holds_the_chain(dataset: Any, broker: None):
    images = {"a.png": png_bytes((1, 1, 1), 9, 8)}
    with image_http_server(images) as base:
        url_media(dataset, base, *images)
        Organization.objects.filter(pk=dataset.organization_id).update(
            media_probe_paused_until=timezone.now() - timedelta(seconds=1)
        )

        assert media_probe_run(organization_id=dataset.organization_id) == 1


def test_a_batch_under_way_stops_at_its_next_look_when_an_import_pauses_the_probing(
    dataset: Any, broker: None, transactional_db: Any, monkeypatch: pytest.MonkeyPatch
):
    """The pause comes from another connection (an import's worker) while the batch waits for a
    slow server (2 s an image): the batch stops within a look or two, without waiting for the
    fetches under way; the media it did not record stay pending."""
    from projects import media_probe

    monkeypatch.setattr(media_probe, "PAUSE_CHECK_SECONDS", 0.05)
    images = {f"{i}.png": png_bytes((0, 0, 200), 10 + i, 5) for i in range(40)}
    served = {"count": 0}
    organization_id = dataset.organization_id

    def pause() -> None:
        from django.db import connection

        try:
            media_probe.media_probe_pause(organization_id=organization_id, seconds=60)
        finally:
            connection.close()

    counting = threading.Lock()

    def request() -> None:
        with counting:  # the server answers in threads of its own
            served["count"] += 1
            fourth = served["count"] == 4
        if fourth:  # the import starts: its worker pauses the organisation's probing
            threading.Thread(target=pause).start()

    with slow_image_server(images, delay=2.0, on_request=request) as base:
        url_media(dataset, base, *images)
        published()
        started = time.monotonic()
        probed = media_probe_run(organization_id=organization_id)
        took = time.monotonic() - started

    assert probed < 40
    assert Media.objects.filter(dataset=dataset, probed_at__isnull=True).count() == 40 - probed
    assert took < 1.5  # the first fetch alone takes 2 s
    assert published() == [(MEDIA_PROBE_RUN, (str(organization_id),))]  # the rest waits for its turn
