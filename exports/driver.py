"""The streaming driver: hand an `ExportReader` to a format's writer, stream or write the result.

- `export_write` writes a whole export; a large one in a format that can be split (every
  format users export in bulk: DataGym JSON, COCO, Label Studio JSON and JSON_MIN, CSV, YOLO,
  Pascal VOC, masks) is written by forked processes, one per core, each a slice of the task
  ids, then joined (see `export_write_parallel`): JSON lists and CSV rows by their bytes,
  archives entry by entry (`formats.writing.zip_parts_join`).
- `export_stream` runs a writer lazily and yields the bytes it wrote after each chunk, for
  a `StreamingHttpResponse` (small exports download at once).
"""

from __future__ import annotations

import gc
import logging
import os
import select
import signal
import tempfile
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, Any

from django.db import connections
from django.utils import timezone
from django.utils.text import slugify

from exports.reader import ExportReader
from formats import export_format_get
from formats.writing import ExportFormat, NameKey, NamesTaken, PartStart, UniqueNames
from labeling.models import Task
from labelsite.errors import Conflict
from projects.models import Project

logger = logging.getLogger(__name__)

#: A format that can be split is written by several processes from this many tasks per process.
PARALLEL_MIN_TASKS = 20_000
#: The collector's first threshold while an export runs (700 by default), see `gc_relaxed`.
GC_THRESHOLD = 50_000
#: Media names read at a time to count the names taken before each slice (`_names_before`).
NAMES_BATCH = 10_000
#: Above this many tasks a direct download is refused: start an export job instead.
STREAM_MAX_TASKS = 20_000


# --- writing -------------------------------------------------------------------------------------


def export_file_name(*, project: Project, fmt: ExportFormat, moment: datetime | None = None) -> str:
    stamp = (moment or timezone.now()).strftime("%Y%m%d-%H%M%S")
    return f"{slugify(project.name) or 'project'}-{fmt.name}-{stamp}.{fmt.extension}"


class _Pipe:
    """A write-only file that keeps what was written until it is taken (for streaming)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def export_stream(*, reader: ExportReader, format: str) -> Iterator[bytes]:
    """The export as bytes, produced lazily chunk by chunk (for a streaming response)."""
    fmt = export_format_get(name=format)
    pipe = _Pipe()
    for _ in fmt.write(reader, pipe):  # type: ignore[arg-type]
        data = pipe.take()
        if data:
            yield data
    data = pipe.take()
    if data:
        yield data


def export_stream_check(*, reader: ExportReader) -> None:
    """Refuse a direct download of a project too large to stream within one request."""
    if reader.tasks()[STREAM_MAX_TASKS : STREAM_MAX_TASKS + 1].exists():
        raise Conflict(
            code="export_too_large",
            message=f"More than {STREAM_MAX_TASKS} tasks: start an export job (POST /api/projects/{{id}}/exports).",
        )


def export_write(
    *,
    reader: ExportReader,
    format: str,
    out: IO[bytes],
    processes: int | None = None,
    min_tasks_per_process: int = PARALLEL_MIN_TASKS,
) -> None:
    """Write the whole export to `out`.

    A format that declares `parts` is split over `processes` worker processes (default: the
    machine's cores) when the export is large enough to gain from it (see `export_processes`);
    anything else is written by this process.
    """
    fmt = export_format_get(name=format)
    with gc_relaxed():
        count = export_processes(
            reader=reader, fmt=fmt, processes=processes, min_tasks_per_process=min_tasks_per_process
        )
        if count > 1:
            export_write_parallel(reader=reader, fmt=fmt, out=out, processes=count)
            return
        for _ in fmt.write(reader, out):
            pass


@contextmanager
def gc_relaxed() -> Iterator[None]:
    """Fewer cyclic garbage collections while an export runs.

    An export makes millions of short-lived containers; with the default thresholds the
    collector runs thousands of times and walks every object Django keeps alive, which was
    a third of the time. What the export makes is freed by reference counting (it builds no
    cycles), so the collector can run rarely; the objects alive before are left out of it.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def export_processes(
    *,
    reader: ExportReader,
    fmt: ExportFormat,
    processes: int | None = None,
    min_tasks_per_process: int = PARALLEL_MIN_TASKS,
) -> int:
    """How many processes write this export: 1 unless the format can be split, another process
    can open the database (PostgreSQL, or SQLite in a file: each process reads with its own
    connection, so none may be in an open transaction) and there are at least
    `min_tasks_per_process` tasks per process."""
    wanted = processes if processes is not None else (os.cpu_count() or 1)
    connection = connections[Task.objects.db]
    if (
        wanted < 2
        or fmt.parts is None
        or not hasattr(os, "fork")
        or not _opened_by_other_processes(connection)
        or any(conn.in_atomic_block for conn in connections.all(initialized_only=True))
    ):
        return 1
    tasks = reader.count()
    return max(1, min(wanted, tasks // max(1, min_tasks_per_process)))


def _opened_by_other_processes(connection: Any) -> bool:
    """Whether a forked process can read the same database with a connection of its own:
    PostgreSQL, or an SQLite file (WAL: readers do not wait for a writer); not an SQLite
    database in memory, which only its own connection sees."""
    if connection.vendor == "postgresql":
        return True
    return bool(connection.vendor == "sqlite" and not connection.is_in_memory_db())


@dataclass(frozen=True)
class _Slice:
    pk_after: Any
    pk_upto: Any
    start: PartStart


def _slices(reader: ExportReader, fmt: ExportFormat, count: int) -> list[_Slice]:
    """The tasks cut into `count` runs of about the same size, by task id, with where each starts."""
    assert fmt.parts is not None
    tasks = reader.tasks().order_by("pk")
    total = tasks.count()
    sizes = [total // count + (1 if i < total % count else 0) for i in range(count)]
    bounds: list[Any] = [reader.pk_after]
    offset = 0
    for size in sizes[:-1]:
        offset += size
        bounds.append(tasks.values_list("pk", flat=True)[offset - 1])
    bounds.append(reader.pk_upto)
    names = _names_before(reader, fmt.parts.name_key, bounds[1:-1]) if fmt.parts.name_key else None
    slices = []
    done_tasks = done_labels = 0
    geometry_ids = [entry.id for entry in reader.config.geometry_classes()]
    for index, size in enumerate(sizes):
        part = replace(reader, pk_after=bounds[index], pk_upto=bounds[index + 1], on_chunk=None)
        start = PartStart(tasks=done_tasks, labels=done_labels, names=names[index] if names else None)
        slices.append(_Slice(bounds[index], bounds[index + 1], start))
        done_tasks += size
        if fmt.parts.needs_label_offsets:
            done_labels += part.labels().filter(entry_id__in=geometry_ids).count()
    return slices


def _names_before(reader: ExportReader, name_key: NameKey, bounds: list[Any]) -> list[NamesTaken]:
    """For each slice, the entry names the tasks before it took (`UniqueNames`): the media names
    of the tasks in order, read once (a list of names, not the tasks), given out as one process would."""
    names = UniqueNames()
    found: list[NamesTaken] = [NamesTaken()]
    rows = reader.tasks().order_by("pk").values_list("pk", "media__name", "media__width", "media__height")
    pending = list(bounds)
    for pk, name, width, height in rows.iterator(chunk_size=NAMES_BATCH):
        key = name_key(name, width, height)
        if key is not None:
            names.take(key, "")
        while pending and pk == pending[0]:  # the slice ends with this task: the next starts after it
            pending.pop(0)
            found.append(names.state())
    while pending:  # tasks gone since the slices were cut
        pending.pop(0)
        found.append(names.state())
    return found


def export_write_parallel(*, reader: ExportReader, fmt: ExportFormat, out: IO[bytes], processes: int) -> None:
    """Write the export in `processes` slices of the tasks, each by a forked process into its own
    temporary files, then join them in order. Progress comes back through a pipe per process.

    A slice that wrote another number of labels than counted before (the labels changed
    meanwhile) would break COCO's annotation ids: then the export is written again by this process.
    """
    assert fmt.parts is not None
    slices = _slices(reader, fmt, processes)
    with ExitStack() as stack:
        parts: list[tuple[IO[bytes], IO[bytes]]] = [
            (stack.enter_context(tempfile.TemporaryFile()), stack.enter_context(tempfile.TemporaryFile()))
            for _ in slices
        ]
        results = _fork_parts(reader, fmt, slices, parts)
        following = [next_slice.start.labels for next_slice in slices[1:]]
        for (written, _), part_slice, upto in zip(results, slices, [*following, None], strict=True):
            if fmt.parts.needs_label_offsets and upto is not None and part_slice.start.labels + written != upto:
                logger.warning("export of %s: labels changed while it ran; writing it again", reader.project.pk)
                for _ in fmt.write(reader, out):
                    pass
                return
        for files in parts:
            for file in files:
                file.seek(0, os.SEEK_END)
        for _ in fmt.parts.join(reader, parts, out):
            pass


def _fork_parts(
    reader: ExportReader, fmt: ExportFormat, slices: list[_Slice], parts: list[tuple[IO[bytes], IO[bytes]]]
) -> list[tuple[int, int]]:
    """Run the slices in forked processes; `(labels written, tasks written)` per slice, in order."""
    assert fmt.parts is not None
    # A forked process must not share the parent's database connections: each opens its own.
    connections.close_all()
    children: list[tuple[int, int]] = []  # (pid, read end of its pipe)
    try:
        for part_slice, (out, side) in zip(slices, parts, strict=True):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: write the slice, report, and leave without running the parent's exit handlers
                os.close(read_end)
                code = 1
                try:
                    code = _run_part(reader, fmt, part_slice, out, side, write_end)
                finally:
                    os._exit(code)
            os.close(write_end)
            children.append((pid, read_end))
        try:
            return _collect(reader, children)
        except BaseException:
            for pid, _ in children:  # the export has failed (or was stopped): its other processes stop too
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise
    finally:
        for pid, read_end in children:
            with suppress(OSError):
                os.close(read_end)
            with suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _run_part(
    reader: ExportReader, fmt: ExportFormat, part_slice: _Slice, out: IO[bytes], side: IO[bytes], report: int
) -> int:
    assert fmt.parts is not None
    with os.fdopen(report, "w", buffering=1) as pipe:
        try:
            part = replace(
                reader,
                pk_after=part_slice.pk_after,
                pk_upto=part_slice.pk_upto,
                on_chunk=lambda done: _report(pipe, f"tasks {done}"),
            )
            labels = yield_from_result(fmt.parts.write(part, out, side, part_slice.start))
            out.flush()
            side.flush()
            pipe.write(f"done {labels}\n")
            return 0
        except BaseException as exc:  # reported to the parent, which raises it
            pipe.write("error " + f"{type(exc).__name__}: {exc}".replace("\n", " ") + "\n")
            return 1
        finally:
            connections.close_all()


def _report(pipe: IO[str], line: str) -> None:
    pipe.write(line + "\n")


def yield_from_result(generator: Generator[None, None, int]) -> int:
    """Run a generator to its end and give back what it returned."""
    while True:
        try:
            next(generator)
        except StopIteration as stop:
            return int(stop.value or 0)


def _collect(reader: ExportReader, children: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Read the children's reports until all are done, passing their summed progress on."""
    done_tasks = [0] * len(children)
    results: list[tuple[int, int] | None] = [None] * len(children)
    errors: list[str] = []
    buffers = [b""] * len(children)
    open_ends = {read_end: index for index, (_, read_end) in enumerate(children)}
    while open_ends:
        ready, _, _ = select.select(list(open_ends), [], [])
        for read_end in ready:
            index = open_ends[read_end]
            data = os.read(read_end, 65536)
            if not data:
                del open_ends[read_end]
                continue
            buffers[index] += data
            *lines, buffers[index] = buffers[index].split(b"\n")
            for line in lines:
                kind, _, value = line.decode().partition(" ")
                if kind == "tasks":
                    done_tasks[index] = int(value)
                    if reader.on_chunk is not None:
                        reader.on_chunk(sum(done_tasks))
                elif kind == "done":
                    results[index] = (int(value), done_tasks[index])
                elif kind == "error":
                    errors.append(value)
    if errors or any(result is None for result in results):
        raise RuntimeError("An export process failed: " + ("; ".join(errors) or "it ended without a report."))
    return [result for result in results if result is not None]
