"""The worker learns each new media's size and makes its thumbnail ("probing" it).

Every path that creates media (upload, URL and S3 adds, an import's data rows, a restore) calls
`media_probe_queue` for the organisation after its transaction; an import calls it when the
job ends, so that probing never competes with the import it follows. Media added just before an
import (100,000 URLs through the API, then the import file at once) have their chain running
already: an import pauses its organisation's probing while it runs (`media_probe_pause`, renewed
by the job's watch, ended by `media_probe_resume`): the chain then takes no new batch, and a batch
under way stops at its next look, so that the import's chunks get every worker slot. The organisation then has
one chain of `projects.media_probe_run` tasks: each takes a bounded batch of its pending media
(`probed_at` NULL) and queues the next batch at the back of the queue, so 100,000 media of one
organisation hold one worker at a time, taking turns with everyone else's work.

A probe reads the image (an uploaded file; a URL through the SSRF guard with a size cap and a
deadline; an S3 object only inside the organisation's S3 sources), stores its width and height
when they are unknown, and stores a JPEG thumbnail. A failure is recorded on the media
(`probe_error`) and never stops the batch; only transient network errors (a timeout, a refused
connection, HTTP 429 or 5xx) are tried again, later, with a growing wait.
"""

from __future__ import annotations

import io
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from datetime import timedelta
from typing import IO, Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Min, Q, QuerySet
from django.utils import timezone
from kombu.exceptions import KombuError
from PIL import Image, UnidentifiedImageError

from labelsite.errors import Unavailable, ValidationFailed
from labelsite.images import image_seen_size
from labelsite.netguard import url_fetch
from labelsite.queue import task_publish, tasks_eager
from projects.models import Media, MediaSource, Organization
from projects.s3_sources import s3_source_of
from projects.thumbnails import media_thumbnail_path, thumbnail_store

logger = logging.getLogger(__name__)

MEDIA_PROBE_RUN = "projects.media_probe_run"
#: Media probed by one task; then the chain goes to the back of the queue.
BATCH_SIZE = 50
#: A chain whose last batch is older than this is taken as lost (its worker died): queued again.
CHAIN_STALE = timedelta(minutes=10)
#: URL media of a batch fetched at once: the fetches wait on the network, not the CPU (50 URLs
#: one after another held a worker 5-6 s for 0.07 s of CPU). Images are still decoded one at a
#: time, and at most this many fetched images wait in memory.
FETCH_CONCURRENCY = 8
#: A paused chain (an import of the organisation runs) looks again this often, in seconds.
PAUSED_LOOK_SECONDS = 5.0
#: A batch under way looks this often whether an import paused it, in seconds.
PAUSE_CHECK_SECONDS = 0.5
#: Tries of a media whose fetch fails transiently; waits of 30 s, 2 min, 8 min between them.
MAX_ATTEMPTS = 4
RETRY_BASE_SECONDS = 30


class _Transient(Exception):
    """Worth another try later: the network or the image's server failed for now."""


def _max_bytes() -> int:
    return int(settings.LABELSITE_MEDIA_PROBE_MAX_BYTES)


def _timeout() -> float:
    return float(settings.LABELSITE_MEDIA_PROBE_TIMEOUT_SECONDS)


# --- reading one image ------------------------------------------------------------------------


def _url_bytes(url: str) -> bytes:
    if not settings.LABELSITE_MEDIA_PROBE_URLS:
        raise ValidationFailed(
            code="media_probe_off",
            message="The server does not fetch URL media here (LABELSITE_MEDIA_PROBE_URLS is off); "
            "upload the image to give it a size and a thumbnail.",
        )
    try:
        fetched = url_fetch(url, max_bytes=_max_bytes(), timeout=_timeout())
    except ValidationFailed as exc:
        # A refused or too large URL stays so; a timeout or a dropped connection may not.
        if exc.code == "url_fetch_failed":
            raise _Transient(exc.message) from exc
        raise
    if fetched.status_code == 429 or fetched.status_code >= 500:
        raise _Transient(f"Fetching {url!r} answered HTTP {fetched.status_code}.")
    if fetched.status_code != 200:
        raise ValidationFailed(
            code="media_unreachable", message=f"Fetching {url!r} answered HTTP {fetched.status_code}."
        )
    return fetched.content


def _s3_bytes(media: Media) -> bytes:
    bucket, _, key = media.url.removeprefix("s3://").partition("/")
    source = s3_source_of(organization_id=media.organization_id, bucket=bucket, key=key)
    if source is None:
        raise ValidationFailed(
            code="s3_source_not_allowed",
            message=f"{media.url!r} is outside the S3 sources of this organisation (LABELSITE_S3_SOURCES).",
        )
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client("s3", endpoint_url=source.endpoint_url, region_name=source.region_name)
    try:
        answer = client.get_object(Bucket=bucket, Key=key)
        if int(answer.get("ContentLength") or 0) > _max_bytes():
            raise ValidationFailed(code="url_too_large", message=f"{media.url!r} is larger than {_max_bytes()} bytes.")
        content: bytes = answer["Body"].read(_max_bytes() + 1)
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if status == 429 or status >= 500:
            raise _Transient(f"S3 answered {status} for {media.url!r}.") from exc
        raise ValidationFailed(code="media_unreachable", message=f"S3 refused {media.url!r}: {exc}") from exc
    except BotoCoreError as exc:
        raise _Transient(f"S3 did not answer for {media.url!r}: {exc}") from exc
    if len(content) > _max_bytes():
        raise ValidationFailed(code="url_too_large", message=f"{media.url!r} is larger than {_max_bytes()} bytes.")
    return content


@contextmanager
def _image_file(media: Media, fetched: Future[bytes] | None = None) -> Iterator[IO[bytes]]:
    """The media's image as a binary file: an upload streamed from storage, a URL or S3 object
    read into memory within the byte cap (`fetched`: a URL's fetch already under way, whose
    failure is raised here as the fetch's own)."""
    if fetched is not None:
        yield io.BytesIO(fetched.result())
        return
    if media.source == MediaSource.LOCAL:
        if not media.file:
            raise ValidationFailed(code="media_no_file", message="The media has no stored file.")
        with media.file.open("rb") as stored:
            yield stored
        return
    yield io.BytesIO(_s3_bytes(media) if media.source == MediaSource.S3 else _url_bytes(media.url))


def media_image_bytes(*, media: Media) -> bytes:
    """The bytes of the media's image, read as the probe reads it (an upload from storage, a URL
    through the SSRF guard, an S3 object inside the organisation's sources), within
    `LABELSITE_MEDIA_PROBE_MAX_BYTES`: for the server-side tools that need the pixels
    (assisted segmentation). A fetch that may work later raises `Unavailable`."""
    try:
        with _image_file(media) as source:
            content: bytes = source.read(_max_bytes() + 1)
    except _Transient as exc:
        raise Unavailable(code="media_unreachable", message=f"{exc} Try again in a moment.") from exc
    if len(content) > _max_bytes():
        raise ValidationFailed(
            code="media_too_large",
            message=f"{media.name!r} is larger than {_max_bytes()} bytes (LABELSITE_MEDIA_PROBE_MAX_BYTES).",
        )
    return content


def media_probe(*, media: Media, fetched: Future[bytes] | None = None) -> None:
    """Learn the media's size (kept when known) and store its thumbnail; raise what went wrong.

    Raises ValidationFailed for a failure that stays (refused URL, not an image, too large)
    and `_Transient` for one worth another try.
    """
    with _image_file(media, fetched) as source:
        try:
            with Image.open(source) as image:
                width, height = image_seen_size(image)
                thumbnail_store(image=image, path=media_thumbnail_path(media=media))
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
            raise ValidationFailed(
                code="media_not_an_image", message=f"{media.name!r} is not an image Labelsite can read: {exc}"
            ) from exc
    if media.width is None or media.height is None:
        media.width, media.height = width, height
        Media.objects.filter(pk=media.pk, width__isnull=True).update(width=width, height=height)


def _probe_recorded(media: Media, fetched: Future[bytes] | None = None) -> bool:
    """Probe one media and record the outcome on it; never raises. True when it succeeded."""
    now = timezone.now()
    try:
        media_probe(media=media, fetched=fetched)
    except _Transient as exc:
        attempts = media.probe_attempts + 1
        if attempts >= MAX_ATTEMPTS:
            _failed(media, f"{exc} (tried {attempts} times)")
        else:
            wait = RETRY_BASE_SECONDS * 4 ** (attempts - 1)
            Media.objects.filter(pk=media.pk).update(
                probe_attempts=attempts, probe_after=now + timedelta(seconds=wait), probe_error=str(exc)[:500]
            )
            media.probe_attempts, media.probe_error = attempts, str(exc)[:500]
        return False
    except ValidationFailed as exc:
        _failed(media, exc.message)
        return False
    except (OperationalError, InterfaceError):
        raise  # the database, not the media: the task is tried again
    except Exception as exc:  # a bug or a storage failure must not stop the batch
        logger.exception("probing media %s failed", media.pk)
        _failed(media, f"The probe failed: {type(exc).__name__}: {exc}")
        return False
    Media.objects.filter(pk=media.pk).update(probed_at=now, probe_error="", probe_attempts=media.probe_attempts + 1)
    media.probed_at, media.probe_error = now, ""
    return True


def _failed(media: Media, reason: str) -> None:
    now = timezone.now()
    Media.objects.filter(pk=media.pk).update(probed_at=now, probe_error=reason[:500], probe_after=None)
    media.probed_at, media.probe_error = now, reason[:500]


# --- the chain of batches ---------------------------------------------------------------------


def _pending(organization_id: Any) -> QuerySet[Media]:
    return Media.objects.filter(organization_id=organization_id, probed_at__isnull=True, deleted_at__isnull=True)


def _due(now: Any) -> Q:
    return Q(probe_after__isnull=True) | Q(probe_after__lte=now)


def media_probe_queue(*, organization_id: Any, countdown: float | None = None) -> None:
    """Start the organisation's chain of probe batches unless one runs; call it after a commit.

    Never fails its caller: a broker that does not answer is logged; the next creation, a
    thumbnail asked for, or a stale chain's timeout starts the chain again.
    """
    now = timezone.now()
    claimed = Organization.objects.filter(
        Q(media_probe_queued_at__isnull=True) | Q(media_probe_queued_at__lt=now - CHAIN_STALE), pk=organization_id
    ).update(media_probe_queued_at=now)
    if claimed:
        _publish(organization_id, countdown)


def _publish(organization_id: Any, countdown: float | None) -> None:
    try:
        task_publish(MEDIA_PROBE_RUN, str(organization_id), retry=False, countdown=countdown)
    except (KombuError, OSError) as exc:
        logger.warning("The media probe of organisation %s was not queued: %s", organization_id, exc)
        Organization.objects.filter(pk=organization_id).update(media_probe_queued_at=None)


def media_probe_pause(*, organization_id: Any, seconds: float) -> None:
    """Keep the organisation's probing out of the workers for `seconds` from now (an import of
    the organisation runs, and renews this while it does)."""
    Organization.objects.filter(pk=organization_id).update(
        media_probe_paused_until=timezone.now() + timedelta(seconds=seconds)
    )


def media_probe_resume(*, organization_id: Any) -> None:
    """End a pause (the import is over): a paused chain takes its next batch at its next look."""
    Organization.objects.filter(pk=organization_id, media_probe_paused_until__isnull=False).update(
        media_probe_paused_until=None
    )


def _paused(organization_id: Any) -> bool:
    until = Organization.objects.filter(pk=organization_id).values_list("media_probe_paused_until", flat=True).first()
    return until is not None and until > timezone.now()


def media_probe_queue_on_commit(*, organization_id: Any) -> None:
    transaction.on_commit(lambda: media_probe_queue(organization_id=organization_id))


def media_thumbnail_request(*, media: Media) -> None:
    """A page asks for a thumbnail that is not in storage: make sure the worker will make it."""
    if media.probed_at is not None and not media.probe_error:
        # Probed before its thumbnail went missing (a storage emptied): probe it again.
        Media.objects.filter(pk=media.pk).update(probed_at=None, probe_after=None)
    media_probe_queue(organization_id=media.organization_id)


def media_probe_run(*, organization_id: Any, batch_size: int = BATCH_SIZE) -> int:
    """Probe one batch of the organisation's pending media, then queue the next batch (at the
    back of the queue) or end the chain. Returns how many media were probed."""
    now = timezone.now()
    Organization.objects.filter(pk=organization_id).update(media_probe_queued_at=now)
    if not tasks_eager() and _paused(organization_id):
        _publish(organization_id, PAUSED_LOOK_SECONDS)  # the chain lives on, and looks again
        return 0
    batch = list(_pending(organization_id).filter(_due(now)).order_by("created_at", "id")[:batch_size])
    probed = _probe_batch(batch, organization_id=organization_id)
    now = timezone.now()
    pending = _pending(organization_id)
    if pending.filter(_due(now)).exists():
        _publish(organization_id, None)
        return probed
    later = pending.aggregate(first=Min("probe_after"))["first"]
    if later is not None and not tasks_eager():  # in-process tasks cannot wait: the next trigger retries
        _publish(organization_id, max(1.0, (later - now).total_seconds()))
        return probed
    Organization.objects.filter(pk=organization_id).update(media_probe_queued_at=None)
    # Media created between the check above and the release would wait for the next trigger.
    if pending.filter(_due(timezone.now())).exists():
        media_probe_queue(organization_id=organization_id)
    return probed


def _probe_batch(batch: list[Media], *, organization_id: Any) -> int:
    """Probe each media of the batch in order, the URL ones fetched FETCH_CONCURRENCY at a time
    ahead of their turn (threads wait on sockets; the database and the decoding stay here).
    Stops early when an import of the organisation paused probing (looked at every
    PAUSE_CHECK_SECONDS): the media not recorded stay pending. Answers how many were recorded."""
    eager = tasks_eager()
    look = time.monotonic() + PAUSE_CHECK_SECONDS

    def paused() -> bool:
        nonlocal look
        if eager or time.monotonic() < look:
            return False
        look = time.monotonic() + PAUSE_CHECK_SECONDS
        return _paused(organization_id)

    def fetched_or_paused(fetch: Future[bytes] | None) -> bool:
        """Wait for the fetch of the media next in turn, looking for a pause meanwhile; True
        when paused (a fetch may wait on the network for the probe's whole deadline)."""
        while fetch is not None and not eager and not fetch.done():
            futures_wait([fetch], timeout=PAUSE_CHECK_SECONDS)
            if paused():
                return True
        return paused()

    pool = ThreadPoolExecutor(max_workers=FETCH_CONCURRENCY, thread_name_prefix="media-fetch")
    ahead: deque[tuple[Media, Future[bytes] | None]] = deque()
    recorded, stopped = 0, False
    try:
        for media in batch:
            remote = media.source == MediaSource.URL and settings.LABELSITE_MEDIA_PROBE_URLS
            ahead.append((media, pool.submit(_url_bytes, media.url) if remote else None))
            if len(ahead) > FETCH_CONCURRENCY:
                if stopped := fetched_or_paused(ahead[0][1]):
                    break
                _probe_recorded(*ahead.popleft())
                recorded += 1
        while ahead and not stopped:
            if stopped := fetched_or_paused(ahead[0][1]):
                break
            _probe_recorded(*ahead.popleft())
            recorded += 1
    finally:
        # Paused: the fetches under way end in their threads (each within the probe's deadline)
        # while the worker goes on to the import's chunks.
        pool.shutdown(wait=not stopped, cancel_futures=stopped)
    if stopped:
        logger.info("The media probe of organisation %s paused for an import (%d probed)", organization_id, recorded)
    return recorded


# --- what an export needs ---------------------------------------------------------------------


def media_sizes_learn(*, media_ids: Iterable[Any], max_media: int = 500, max_seconds: float = 120.0) -> None:
    """Probe media whose size is unknown, now (an export needs the sizes), within bounds:
    at most `max_media` media and `max_seconds` in all; failures are recorded as by the worker."""
    deadline = time.monotonic() + max_seconds
    ids = list(media_ids)[:max_media]
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = Media.objects.filter(pk__in=ids[start : start + BATCH_SIZE], width__isnull=True)
        for media in chunk:
            if time.monotonic() > deadline:
                return
            _probe_recorded(media)
