"""CSV: one row per label (a task without labels gets one row, for its global answers).

Columns: `task_id`, `media_id`, `media_name`, `state`, `label` (the label's number within
the task, from 1), `parent` (the number of its parent for a nested geometry), `class`,
`type`, `points` (JSON, pixels), `rotation` (a rectangle's degrees clockwise about its top-left
corner, else 0), `answers` (the label's answers flattened:
`car_type=suv; tags=a|b; weather.daytime=day`), `global_answers` (the task's, the same
way), `source`, `score`, `model_version`, `created_by` (the username of whoever drew the label;
empty for imported labels and predictions), `completed_by`, `reviewed_by` (usernames, of the
task), `review_verdict` (accepted or rejected) and `lead_time` (the task's active seconds).

A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
apostrophe, so that a spreadsheet shows it as text instead of running it as a formula
(OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Generator, Iterator
from typing import IO

import orjson

from formats.writing import ExportFormat, ExportParts, ExportSource, PartStart, answers_text, parts_concat
from labeling.annotation import Shape
from labelsite.text import cell_safe

COLUMNS = (
    "task_id",
    "media_id",
    "media_name",
    "state",
    "label",
    "parent",
    "class",
    "type",
    "points",
    "rotation",
    "answers",
    "global_answers",
    "source",
    "score",
    "model_version",
    "created_by",
    "completed_by",
    "reviewed_by",
    "review_verdict",
    "lead_time",
)


def _header() -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(COLUMNS)
    return buffer.getvalue().encode("utf-8")


def csv_write(source: ExportSource, out: IO[bytes]) -> Iterator[None]:
    out.write(_header())
    yield from csv_write_part(source, out, out, PartStart())


def csv_write_part(
    source: ExportSource, out: IO[bytes], side: IO[bytes], start: PartStart
) -> Generator[None, None, int]:
    """The rows of a slice of the tasks (no header: `csv_join` writes it once)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for chunk in source.chunks():
        for item in chunk:
            common = [str(item.task_id), str(item.media_id), item.media_name, item.state]
            who = [
                item.who.completed_by or "",
                item.who.reviewed_by or "",
                item.who.review_verdict,
                item.who.active_seconds,
            ]
            global_answers = answers_text(item.annotation.answers)
            stack: list[tuple[Shape, int | None]] = [(shape, None) for shape in reversed(item.annotation.shapes)]
            number = 0
            while stack:
                shape, parent = stack.pop()
                number += 1
                row = [
                    *common,
                    number,
                    parent if parent is not None else "",
                    shape.key,
                    shape.type,
                    orjson.dumps(shape.points).decode(),
                    shape.rotation if shape.rotation else 0,
                    answers_text(shape.answers),
                    global_answers,
                    shape.source,
                    "" if shape.score is None else shape.score,
                    shape.model_version,
                    shape.created_by or "",
                    *who,
                ]
                writer.writerow([cell_safe(value) for value in row])
                stack.extend((child, number) for child in reversed(shape.children))
            if not number:
                writer.writerow(
                    [
                        cell_safe(value)
                        for value in [*common, "", "", "", "", "", "", "", global_answers, "", "", "", "", *who]
                    ]
                )
        out.write(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
        yield
    out.write(buffer.getvalue().encode("utf-8"))
    return 0


def csv_join(source: ExportSource, parts: list[tuple[IO[bytes], IO[bytes]]], out: IO[bytes]) -> Iterator[None]:
    out.write(_header())
    yield from parts_concat([part for part, _ in parts], out)


EXPORT_FORMAT = ExportFormat(
    name="csv",
    label="CSV",
    description="One row per label: task, media name, class, type, points as JSON and the answers flattened "
    "(car_type=suv); cells that would start a spreadsheet formula are neutralised.",
    extension="csv",
    content_type="text/csv",
    write=csv_write,
    parts=ExportParts(write=csv_write_part, join=csv_join),
)
