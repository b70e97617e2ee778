"""Write a job's chunks while the job is still being validated, and publish them by one COMMIT.

A job that writes when valid may not write a label before every item is known valid (a file
with errors writes nothing). Yet a chunk validated early has its rows staged for COPY long
before the last chunk is checked, and the write phase after validation, mostly PostgreSQL's
COPY, left one core of two idle while validation ran. So each worker process keeps one open
transaction per job (on PostgreSQL, in a thread of its own with its own connection): as the
process validates and stages a chunk, the thread copies that chunk's rows into the label table
in that transaction, while the process goes on validating the next chunk. Nobody sees the rows:
they are uncommitted. When the job's verdict comes:

- the job goes on to its write (`writing`): the thread updates the tasks' answers of its chunks
  (their locks held for a moment only, not during validation), marks the chunks' batches written
  (checkpoint), adds its counts to the job's, and commits: the publish is a COMMIT of rows that
  are already in the table, whatever their number;
- the job failed, was cancelled, lost a class, names a task twice across chunks (those chunks
  must be written in file order), or waits too long to be written: the thread rolls back, and
  the write phase writes the chunks as before.

The write phase's chunk writers wait for a held chunk (`imports.pipeline.chunk_write_lock`, an
advisory lock the holder took in its transaction) and then find its checkpoint at its last batch.
A worker that dies while it holds loses only its transaction: its chunks are written by the
write phase as if nothing had been held. Transactions stay short for everything else: the tasks
are locked only at the publish; the old labels of a task an item replaces (`keepData` false) are
deleted, and so locked, from the copy until the publish.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.files.storage import Storage
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from imports.models import ImportChunk, ImportJob, ImportStatus
from imports.pipeline import (
    chunk_write_lock,
    job_classes_gone,
    staged_name,
    staged_records,
)
from labeling.services import (
    TaskAnswersPlan,
    bulk_write_settings,
    label_statistics_refresh,
    labels_copy_staged,
    tasks_answers_write_staged,
)
from labelsite.queue import tasks_eager
from projects.label_config import label_config_hold

logger = logging.getLogger(__name__)

#: Seconds between two looks at the job while the thread waits for its verdict.
POLL_SECONDS = 0.05
#: Chunks one process holds at most (their answer plans stay in memory until the publish, about
#: 1 MB per 5,000 items); the job's further chunks are written by the write phase.
HELD_CHUNKS_MAX = 16
#: Seconds a validated job may wait for its write (another import of the project is writing)
#: before the thread lets go of what it holds.
VALIDATED_WAIT_SECONDS = 10.0


def prewrite_enabled() -> bool:
    """Whether chunks are written while validated: PostgreSQL, real workers, the setting on
    ("auto": unless this worker runs niced).

    A niced worker leaves a core to the web server (docs/benchmarks.md, "Load"); the copy runs
    in PostgreSQL's backend, which the nice does not reach, so writing while validating would
    take that core: measured with one worker at `nice 10` beside 50 annotators, the saves' p95
    during a 1M-label import went from 117 ms to 265 ms with it."""
    setting = str(getattr(settings, "LABELSITE_IMPORT_PREWRITE", "auto")).strip().lower()
    if setting in ("0", "false", "off", "no", ""):
        return False
    if setting == "auto" and os.nice(0) > 0:
        return False
    return connection.vendor == "postgresql" and not tasks_eager()


def chunk_prewrite_offer(*, job: ImportJob, chunk: ImportChunk, storage: Storage, creates_media: bool) -> bool:
    """Give a chunk just validated and staged to this process's holder (see the module); answers
    whether it was given. Only jobs that write when valid and create no media."""
    if not job.options.get("write_when_valid") or creates_media or not prewrite_enabled():
        return False
    name = staged_name(job.pk, chunk.number)
    if not storage.exists(name):
        return False  # nothing staged: an invalid item stopped the staging
    _holder().offer(_Offer(job_id=job.pk, project_id=job.project_id, chunk_id=chunk.pk, number=chunk.number,
                           storage=storage, name=name))  # fmt: skip
    return True


@dataclass(frozen=True)
class _Offer:
    job_id: UUID
    project_id: UUID
    chunk_id: int
    number: int
    storage: Storage
    name: str


@dataclass
class _Held:
    """A chunk whose rows are in the open transaction: what its publish must add."""

    chunk_id: int
    number: int
    last_batch: int
    batches: int
    labels: int
    items: int
    skipped: int
    #: The answer plans of its batches in order, applied at the publish.
    plans: list[TaskAnswersPlan]


class _GiveUp(Exception):
    """Roll back what the thread holds; the write phase writes those chunks."""


class _Holder:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.offers: queue.SimpleQueue[_Offer] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="import-prewrite", daemon=True)
        self.thread.start()

    def offer(self, offer: _Offer) -> None:
        self.offers.put(offer)

    def _run(self) -> None:
        while True:
            first = self.offers.get()
            try:
                _hold(first, self.offers)
            except Exception:
                logger.exception("Import %s: writing chunks while validating stopped on an error", first.job_id)
            finally:
                connection.close()  # this thread's own connection


_holder_lock = threading.Lock()
_the_holder: _Holder | None = None


def _holder() -> _Holder:
    global _the_holder
    with _holder_lock:
        if _the_holder is None or _the_holder.pid != os.getpid():  # a forked pool process starts its own
            _the_holder = _Holder()
        return _the_holder


def _hold(first: _Offer, offers: queue.SimpleQueue[_Offer]) -> None:
    """Hold one job's chunks in one transaction until the job's verdict (see the module)."""
    job_id = first.job_id
    held: list[_Held] = []
    pending = [first]
    validated_since: float | None = None
    hold_max = float(getattr(settings, "LABELSITE_IMPORT_STALE_SECONDS", 120))
    last_news = time.monotonic()
    try:
        with transaction.atomic():
            bulk_write_settings()
            while True:
                for offer in pending:
                    # Another job's chunk, or one too many: the write phase writes it.
                    if offer.job_id == job_id and len(held) < HELD_CHUNKS_MAX:
                        chunk = _copy(offer)
                        if chunk is not None:
                            held.append(chunk)
                pending = []
                row = ImportJob.objects.filter(pk=job_id).values_list("status", "cancel_requested", "summary").first()
                if row is None or row[1]:
                    raise _GiveUp("gone or cancelled")
                status, _, summary = row
                if status == ImportStatus.WRITING and held:
                    _publish(job_id, first.project_id, held, summary)
                    break
                if status == ImportStatus.VALIDATED:
                    validated_since = validated_since or time.monotonic()
                    if time.monotonic() - validated_since > VALIDATED_WAIT_SECONDS:
                        raise _GiveUp("validated but not written")
                elif status != ImportStatus.VALIDATING or not held:
                    raise _GiveUp(f"job {status}")
                if time.monotonic() - last_news > hold_max:
                    raise _GiveUp("validation seems stopped")
                try:
                    pending.append(offers.get(timeout=POLL_SECONDS))
                    last_news = time.monotonic()
                except queue.Empty:
                    continue
    except _GiveUp as reason:
        if held:
            logger.info("Import %s: %d chunk(s) written while validating rolled back (%s)", job_id, len(held), reason)
        return
    except (DatabaseError, OSError) as exc:
        # A deadlock with another holder of the same tasks, a lost connection, staged files
        # removed by a job that ended: the write phase writes these chunks, if the job goes on.
        logger.info("Import %s: chunks written while validating rolled back (%s)", job_id, exc)
        return
    logger.info("Import %s: %d chunk(s) written while validating, published", job_id, len(held))
    if any(chunk.number == 0 for chunk in held):
        label_statistics_refresh(tasks=False)  # as the first batch of a job's write asks


def _copy(offer: _Offer) -> _Held | None:
    """Copy a chunk's staged rows in the open transaction; None when it is not ours to write."""
    if not chunk_write_lock(offer.job_id, offer.number, wait=False):
        return None  # a writer of the write phase has it
    checkpoint = ImportChunk.objects.filter(pk=offer.chunk_id).values_list("checkpoint", flat=True).first()
    if checkpoint != -1:
        return None
    held = _Held(offer.chunk_id, offer.number, last_batch=-1, batches=0, labels=0, items=0, skipped=0, plans=[])
    with offer.storage.open(offer.name, "rb") as file:
        for record in staged_records(file):
            if record.media or record.batch is None:
                raise _GiveUp("a chunk that creates media")  # not offered; never expected
            labels_copy_staged(batch=record.batch)
            held.last_batch, held.batches = record.number, held.batches + 1
            held.labels += record.batch.labels
            held.items += record.items
            held.skipped += record.skipped
            held.plans.append(record.batch.tasks)
    return held if held.batches else None


def _publish(job_id: UUID, project_id: UUID, held: list[_Held], summary: dict[str, Any]) -> None:
    """The job is being written: finish the held chunks as their writers would, in this transaction."""
    if summary.get("write_in_order"):
        raise _GiveUp("chunks share tasks: written in file order")
    stamp = label_config_hold(project_id=project_id)
    if stamp is None or (stamp.isoformat() != summary.get("config_updated_at") and job_classes_gone(
        ImportJob(pk=job_id, project_id=project_id, summary=summary))):  # fmt: skip
        raise _GiveUp("the configuration lost a class")
    for chunk in held:
        for plan in chunk.plans:
            if tasks_answers_write_staged(tasks=plan) != len(plan):
                raise _GiveUp("a task was deleted")
    now = timezone.now()
    for chunk in held:
        marked = ImportChunk.objects.filter(pk=chunk.chunk_id, checkpoint=-1).update(
            checkpoint=chunk.last_batch,
            labels_written=F("labels_written") + chunk.labels,
            items_written=F("items_written") + chunk.items,
            heartbeat_at=now,
        )
        if not marked:
            raise _GiveUp("a chunk was written meanwhile")
    written = ImportJob.objects.filter(pk=job_id, status=ImportStatus.WRITING, cancel_requested=False).update(
        checkpoint=F("checkpoint") + sum(chunk.batches for chunk in held),
        labels_written=F("labels_written") + sum(chunk.labels for chunk in held),
        items_written=F("items_written") + sum(chunk.items for chunk in held),
        items_skipped=F("items_skipped") + sum(chunk.skipped for chunk in held),
        heartbeat_at=now,
    )
    if not written:
        raise _GiveUp("the job stopped")
    # Read again under the row lock the UPDATE took: the other holders add theirs one by one.
    current = ImportJob.objects.values_list("summary", flat=True).get(pk=job_id)
    current["chunks_written_while_validating"] = current.get("chunks_written_while_validating", 0) + len(held)
    ImportJob.objects.filter(pk=job_id).update(summary=current)
