"""Errors of a .txt or .csv import name the file's lines (and the CSV's column), not JSON pointers."""

from __future__ import annotations

import pytest

from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate

pytestmark = pytest.mark.django_db


def errors_of(project, content: bytes, file_name: str, format: str, **options):
    job = import_job_create(
        project=project, user=None, file=content, file_name=file_name, format=format, options=options
    )
    job = import_job_validate(job_id=job.id)
    assert job.status == ImportStatus.FAILED
    return [(e.item_index, e.location) for e in job.errors.order_by("item_index", "id")]


def test_a_txt_file_s_errors_name_its_lines_counting_blank_ones(configured_project, media_storage):
    content = b"https://images.example.com/a.jpg\nftp://example.com/b.jpg\n\nnot a url\n"

    assert errors_of(configured_project, content, "tasks.txt", "label_studio_txt") == [(1, "line 2"), (2, "line 4")]


def test_a_txt_file_s_unmatched_media_are_named_by_line(configured_project, media_storage):
    content = b"https://images.example.com/a.jpg\n"

    assert errors_of(configured_project, content, "tasks.txt", "label_studio_txt", create_media=False) == [
        (0, "line 1")
    ]


def test_a_csv_file_s_errors_name_the_line_and_the_column(configured_project, media_storage):
    content = b"image,comment\nftp://example.com/b.jpg,wet\n"

    assert errors_of(configured_project, content, "tasks.csv", "label_studio_csv") == [(0, "line 2, column image")]
