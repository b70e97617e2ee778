"""A media that is not found is reported where the item names it, in every format's own terms."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imports.models import ImportJobError, ImportStatus
from imports.services import import_job_create, import_job_validate

pytestmark = pytest.mark.django_db


def validate(project: Any, content: bytes, name: str, format: str, **options: Any) -> list[tuple[str, str]]:
    job = import_job_create(project=project, user=None, file=content, file_name=name, format=format, options=options)
    job = import_job_validate(job_id=job.id)
    assert job.status == ImportStatus.FAILED
    return list(ImportJobError.objects.filter(job=job).values_list("location", "code"))


def test_label_studio_names_the_image_field(ls_project, media_storage):
    tasks = [{"data": {"image": "https://example.com/missing.jpg"}}]

    errors = validate(ls_project, json.dumps(tasks).encode(), "tasks.json", "label_studio", create_media=False)

    assert errors == [("/0/data/image", "media_not_found")]


def test_matching_by_a_field_the_items_do_not_have_says_how_to_choose(ls_project, media_storage):
    tasks = [{"data": {"image": "https://example.com/a.jpg"}}]

    job_errors = validate(
        ls_project, json.dumps(tasks).encode(), "tasks.json", "label_studio", match_by="id", create_media=False
    )

    assert job_errors == [("/0/data/image", "media_reference_missing")]
    message = ImportJobError.objects.get().message
    assert "Match media by" in message
    assert "match_by" in message


def test_labelbox_names_the_data_row_key(ls_project, media_storage):
    line = {"name": "Car", "dataRow": {"globalKey": "nowhere"}, "bbox": {"top": 1, "left": 1, "height": 2, "width": 2}}

    errors = validate(ls_project, json.dumps(line).encode() + b"\n", "labels.ndjson", "labelbox_ndjson")

    assert errors == [("/0/dataRow/globalKey", "media_not_found")]
