"""The example file of each format (offered on the import form) imports onto a freshly seeded
demo project (`manage.py seed_demo`) with the form's defaults."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from formats import format_list
from imports.api import example_path
from imports.models import ImportJob, ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from labelsite.errors import ValidationFailed
from projects.models import Project

pytestmark = pytest.mark.django_db

OFFERED = sorted(fmt.name for fmt in format_list() if example_path(fmt.name) is not None)
#: Examples written for other projects (their classes, image names or schema ids): each is
#: still to be rewritten for the demo's street scenes. A fixed one must leave this list.
NOT_YET_FOR_THE_DEMO = {
    "ango",
    "ango_csv",
    "datagym",
    "label_studio",
    "label_studio_brush",
    "labelbox_ndjson",
    "yolo",
}


def import_example(name: str) -> ImportJob | None:
    """The example's job after validation, or None when the form's defaults do not even start it."""
    call_command("seed_demo", stdout=StringIO())
    project = Project.objects.get(name="Street scenes")
    path = example_path(name)
    assert path is not None
    try:
        job = import_job_create(project=project, user=None, file=path.read_bytes(), file_name=path.name, format=name)
    except ValidationFailed:  # e.g. Ango CSV needs its config JSON in the options
        return None
    return import_job_validate(job_id=job.id)


@pytest.mark.parametrize("name", [name for name in OFFERED if name not in NOT_YET_FOR_THE_DEMO])
def test_the_example_of_the_format_imports_onto_the_seeded_demo_project(name, media_storage):
    job = import_example(name)
    assert job is not None
    assert ([(e.location, e.message) for e in job.errors.all()], job.status) == ([], ImportStatus.VALIDATED)

    job = import_job_write(job_id=job.id)

    assert job.status == ImportStatus.SUCCEEDED
    # Label files write labels; task lists (CSV, TXT, data rows) add their media.
    assert job.labels_written > 0 or job.summary.get("media_created", 0) > 0


@pytest.mark.parametrize("name", sorted(NOT_YET_FOR_THE_DEMO))
def test_the_examples_not_yet_rewritten_for_the_demo_still_fail_there(name, media_storage):
    assert name in OFFERED
    job = import_example(name)
    assert job is None or job.status == ImportStatus.FAILED
