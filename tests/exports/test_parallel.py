"""Large exports are split over forked processes by task id and joined in order.

On PostgreSQL a format that declares `parts` (DataGym JSON, COCO) is written by several
processes when there are enough tasks; the result is the same bytes as one process writes.
On SQLite, and inside an open transaction, one process writes it.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from exports.driver import export_processes, export_write
from exports.reader import ExportFilters, ExportReader
from formats import export_format_get
from labeling.models import Label, LabelSource
from tests.exports.conftest import label

pytestmark = pytest.mark.django_db(transaction=True)

TASKS = 7


def parallel_expected() -> int:
    return 2 if connection.vendor == "postgresql" else 1


def written(project: Any, fmt: str, processes: int, **reader_fields: Any) -> bytes:
    reader = ExportReader(project=project, filters=ExportFilters(), chunk_size=2, **reader_fields)
    out = io.BytesIO()
    export_write(reader=reader, format=fmt, out=out, processes=processes, min_tasks_per_process=1)
    return out.getvalue()


def without_date(data: bytes) -> dict[str, Any]:
    document = json.loads(data)
    return {**document, "info": None}


@pytest.fixture
def labelled_tasks(export_project, make_task):
    return [label(export_project, make_task()) for _ in range(TASKS)]


@pytest.mark.parametrize("fmt", ["datagym", "coco"])
def test_export_in_two_processes_equals_the_export_in_one(export_project, labelled_tasks, fmt):
    reader = ExportReader(project=export_project, filters=ExportFilters())
    assert export_processes(reader=reader, fmt=export_format_get(name=fmt), processes=2, min_tasks_per_process=1) == (
        parallel_expected()
    )

    one = written(export_project, fmt, processes=1)
    two = written(export_project, fmt, processes=2)

    if fmt == "coco":  # carries the moment it was made
        assert without_date(two) == without_date(one)
        assert len(json.loads(two)["images"]) == TASKS
    else:
        assert two == one
        assert len(json.loads(two)) == TASKS + 1


def test_coco_in_three_processes_numbers_images_and_annotations_across_the_slices(export_project, labelled_tasks):
    document = json.loads(written(export_project, "coco", processes=3))

    image_ids = [image["id"] for image in document["images"]]
    annotation_ids = [annotation["id"] for annotation in document["annotations"]]
    assert image_ids == list(range(1, TASKS + 1))
    assert annotation_ids == list(range(1, len(annotation_ids) + 1))
    assert len(annotation_ids) == Label.objects.filter(task__project=export_project).count()
    by_id = {annotation["id"]: annotation for annotation in document["annotations"]}
    nested = [annotation for annotation in document["annotations"] if "parent_id" in annotation]
    assert nested
    for annotation in nested:
        assert by_id[annotation["parent_id"]]["image_id"] == annotation["image_id"]


def test_export_in_two_processes_reports_progress_up_to_every_task(export_project, labelled_tasks):
    seen: list[int] = []
    written(export_project, "datagym", processes=2, on_chunk=seen.append)

    assert seen == sorted(seen)
    assert seen[-1] == TASKS


def test_export_of_no_tasks_in_two_processes_is_an_empty_array(export_project, make_task):
    make_task(state="backlog")

    assert written(export_project, "datagym", processes=2) == b"[]"


def test_export_inside_a_transaction_is_written_by_one_process(export_project, labelled_tasks):
    reader = ExportReader(project=export_project, filters=ExportFilters())
    coco = export_format_get(name="coco")
    with transaction.atomic():
        assert export_processes(reader=reader, fmt=coco, processes=2, min_tasks_per_process=1) == 1


def test_export_of_a_format_without_parts_is_written_by_one_process(export_project, labelled_tasks):
    reader = ExportReader(project=export_project, filters=ExportFilters())
    csv = export_format_get(name="csv")

    assert csv.parts is None
    assert export_processes(reader=reader, fmt=csv, processes=2, min_tasks_per_process=1) == 1


def test_export_of_few_tasks_is_written_by_one_process(export_project, labelled_tasks):
    reader = ExportReader(project=export_project, filters=ExportFilters())
    coco = export_format_get(name="coco")

    assert export_processes(reader=reader, fmt=coco, processes=2, min_tasks_per_process=TASKS) == 1


def test_coco_in_two_processes_leaves_out_predictions_and_keeps_their_children(export_project, labelled_tasks):
    # A car made a prediction: without predictions its nested wheel stands alone in the export.
    car = Label.objects.filter(task=labelled_tasks[-1], entry__key="car").get()
    car.source = LabelSource.PREDICTION
    car.save(update_fields=["source"])

    document = json.loads(written(export_project, "coco", processes=2))

    labels = Label.objects.filter(task__project=export_project).exclude(source=LabelSource.PREDICTION).count()
    assert [annotation["id"] for annotation in document["annotations"]] == list(range(1, labels + 1))
    assert without_date(written(export_project, "coco", processes=1)) == without_date(json.dumps(document).encode())


def test_export_stopped_by_its_progress_callback_leaves_no_process_behind(export_project, labelled_tasks):
    class Stop(Exception):
        pass

    def stop(done: int) -> None:
        raise Stop

    before = _child_pids()
    with pytest.raises(Stop):
        written(export_project, "coco", processes=2, on_chunk=stop)

    # Other tests may have started long-lived children (a worker, an S3 server): only the
    # export's own forked writers must be gone, reaped rather than left as zombies.
    assert _child_pids() <= before


def _child_pids() -> set[int]:
    """This process's children, zombies included (Linux /proc)."""
    children: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        children.update(int(pid) for pid in (task / "children").read_text().split())
    return children
