"""Which tasks an export takes, and that it reads them in chunks with one label query per chunk."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from exports.driver import export_stream
from exports.reader import ExportFilters, ExportReader, export_filters_clean
from labeling.models import Label, LabelSource, Task, TaskState
from labelsite.errors import ValidationFailed
from projects.models import LabelEntry
from tests.exports.conftest import export_bytes, label
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def _media_ids(data: bytes) -> set[str]:
    return {row["internal_media_ID"] for row in json.loads(data)[1:]}


def test_export_takes_completed_skipped_and_reviewed_tasks_by_default(export_project, make_task):
    tasks = {state: label(export_project, make_task(), state=state) for state in TaskState.values}
    exported = _media_ids(export_bytes(export_project, "datagym"))
    assert exported == {str(tasks[s].media_id) for s in ("completed", "skipped", "reviewed")}


def test_export_takes_the_states_asked_for(export_project, make_task):
    backlog = label(export_project, make_task(), state=TaskState.BACKLOG)
    label(export_project, make_task(), state=TaskState.COMPLETED)
    assert _media_ids(export_bytes(export_project, "datagym", states=("backlog",))) == {str(backlog.media_id)}


def test_export_takes_the_datasets_asked_for(export_project, make_task):
    other = DatasetFactory(organization=export_project.organization)
    other.projects.add(export_project)
    label(export_project, make_task())
    elsewhere = label(export_project, make_task(dataset=other))
    filters = export_filters_clean(project=export_project, raw={"datasets": [str(other.pk)]})
    data = export_bytes(export_project, "datagym", dataset_ids=filters.dataset_ids)
    assert _media_ids(data) == {str(elsewhere.media_id)}


def test_export_takes_tasks_changed_within_the_date_range(export_project, make_task):
    old = label(export_project, make_task())
    new = label(export_project, make_task())
    Task.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=10))
    since = export_filters_clean(
        project=export_project, raw={"updated_from": (timezone.now() - timedelta(days=1)).date().isoformat()}
    )
    assert _media_ids(export_bytes(export_project, "datagym", updated_from=since.updated_from)) == {str(new.media_id)}
    until = export_filters_clean(
        project=export_project, raw={"updated_to": (timezone.now() - timedelta(days=10)).date().isoformat()}
    )
    assert _media_ids(export_bytes(export_project, "datagym", updated_to=until.updated_to)) == {str(old.media_id)}


def test_export_leaves_predictions_out_unless_asked(export_project, labelled_task):
    bus = LabelEntry.objects.get(configuration__project=export_project, key="bus")
    Label.objects.create(task=labelled_task, entry=bus, points=[[1, 1], [9, 9]], source=LabelSource.PREDICTION)
    without = json.loads(export_bytes(export_project, "datagym"))[1]["labels"]["bus"]
    with_predictions = json.loads(export_bytes(export_project, "datagym", include_predictions=True))[1]["labels"]["bus"]
    assert (len(without), len(with_predictions)) == (1, 2)


def test_filters_report_every_problem_with_its_path(export_project):
    with pytest.raises(ValidationFailed) as caught:
        export_filters_clean(
            project=export_project,
            raw={
                "states": ["done"],
                "datasets": ["not-an-id", str(DatasetFactory().pk)],
                "updated_from": "yesterday",
                "include_predictions": "yes",
                "colour": "red",
            },
        )
    paths = sorted(detail.path for detail in caught.value.details)
    assert paths == ["colour", "datasets/0", "datasets/1", "include_predictions", "states", "updated_from"]


def test_export_reads_labels_with_one_query_per_chunk(export_project, make_task):
    for _ in range(6):
        label(export_project, make_task())

    def queries(chunk_size: int) -> int:
        reader = ExportReader(project=export_project, filters=ExportFilters(), chunk_size=chunk_size)
        with CaptureQueriesContext(connection) as captured:
            for _ in reader.chunks():
                pass
        return len(captured.captured_queries)

    # Each chunk: one query for its tasks, one for their labels; one more to see that no task is left.
    assert queries(2) == 3 * 2 + 1
    assert queries(3) == 2 * 2 + 1
    assert queries(6) == 1 * 2 + 1


@pytest.mark.parametrize("fmt", ["datagym", "coco", "csv", "label_studio", "yolo", "pascal_voc", "masks"])
def test_streamed_export_equals_the_written_one_and_comes_in_pieces(export_project, make_task, fmt):
    for _ in range(4):
        label(export_project, make_task())
    reader = ExportReader(project=export_project, filters=ExportFilters(), chunk_size=1)
    pieces = list(export_stream(reader=reader, format=fmt))
    assert len(pieces) >= 4
    whole = b"".join(pieces)
    written = export_bytes(export_project, fmt, chunk_size=1)
    if fmt == "coco":  # carries the moment it was made
        assert {**json.loads(whole), "info": None} == {**json.loads(written), "info": None}
    elif fmt in ("yolo", "pascal_voc", "masks"):  # zip entries carry their time
        assert zipfile.ZipFile(io.BytesIO(whole)).namelist() == zipfile.ZipFile(io.BytesIO(written)).namelist()
    else:
        assert whole == written
