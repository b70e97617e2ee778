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
from typing import IO, Any

import orjson

from formats.writing import (
    ExportFormat,
    ExportParts,
    ExportSource,
    PartStart,
    answers_tree_text,
    label_tree,
    parts_concat,
)
from labelsite.text import FORMULA_STARTS, cell_safe

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
    """The rows of a slice of the tasks (no header: `csv_join` writes it once).

    Written from the rows as read (`ExportSource.rows()`): the answer trees flattened as stored,
    and a cell made safe (`cell_safe`) where it is text that can start a formula: the per-task and
    per-class cells once each, the repeated texts (sources, model versions, usernames) once per value.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    classes = {str(entry.id): (cell_safe(entry.key), cell_safe(entry.type)) for entry in source.config.entries}
    safe = _SafeTexts()
    dumps = orjson.dumps

    for chunk in source.rows():
        rows: list[list[Any]] = []
        for task in chunk:
            common = [
                cell_safe(value) for value in (str(task.task_id), str(task.media_id), task.media_name, task.state)
            ]
            who = task.who
            tail = [
                safe[who.completed_by or ""],
                safe[who.reviewed_by or ""],
                safe[who.review_verdict],
                who.active_seconds,
            ]
            global_answers = cell_safe(answers_tree_text(task.answers))
            usernames = task.usernames
            stack: list[tuple[Any, int | None]] = [(node, None) for node in reversed(label_tree(task.labels))]
            number = 0
            while stack:
                (label, children), parent = stack.pop()
                number += 1
                key, kind = classes[label.entry_id]
                points = dumps(label.points).decode()
                answers = answers_tree_text(label.answers)
                author = label.author_id
                rows.append(
                    [
                        *common,
                        number,
                        parent if parent is not None else "",
                        key,
                        kind,
                        "'" + points if points.startswith(FORMULA_STARTS) else points,
                        label.rotation if label.rotation else 0,
                        "'" + answers if answers.startswith(FORMULA_STARTS) else answers,
                        global_answers,
                        safe[label.source],
                        "" if label.score is None else label.score,
                        safe[label.model_version],
                        safe[(usernames.get(author) if author is not None else None) or ""],
                        *tail,
                    ]
                )
                if children:
                    stack.extend((child, number) for child in reversed(children))
            if not number:
                rows.append([*common, "", "", "", "", "", "", "", global_answers, "", "", "", "", *tail])
        writer.writerows(rows)
        out.write(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
        yield
    return 0


class _SafeTexts(dict[str, str]):
    """`cell_safe` of the texts that repeat, each worked out once."""

    def __missing__(self, text: str) -> str:
        safe = self[text] = cell_safe(text)
        return safe


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
