"""The example file of each format (offered on the Import tab) imports onto a freshly seeded demo
project (`manage.py seed_demo`) as offered: with the form's defaults and the options the example
is offered with (`imports.api.EXAMPLE_OPTIONS`), without an error, writing real labels."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from formats import format_list
from imports.api import example_options, example_path
from imports.models import ImportJob, ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from labeling.models import Label, Task
from projects.models import Project

pytestmark = pytest.mark.django_db

OFFERED = sorted(fmt.name for fmt in format_list() if example_path(fmt.name) is not None)
#: Formats whose example is a task list: it adds media (and their tasks), no label.
TASK_LISTS = {"label_studio_csv", "label_studio_txt", "labelbox_data_rows"}
#: The Ango Hub CSV example answers the image's questions only (its mask column is optional).
ANSWERS_ONLY = {"ango_csv"}


def import_example(name: str) -> tuple[Project, ImportJob]:
    """The demo project and the example's job after validation."""
    call_command("seed_demo", stdout=StringIO())
    project = Project.objects.get(name="Street scenes")
    path = example_path(name)
    assert path is not None
    job = import_job_create(
        project=project,
        user=None,
        file=path.read_bytes(),
        file_name=path.name,
        format=name,
        options=example_options(name),
    )
    return project, import_job_validate(job_id=job.id)


def test_every_format_that_offers_an_example_is_tried_here() -> None:
    assert len(OFFERED) == 14


@pytest.mark.parametrize("name", OFFERED)
def test_the_example_of_the_format_imports_onto_the_seeded_demo_project(name, media_storage):
    project, job = import_example(name)
    assert ([(e.location, e.message) for e in job.errors.all()], job.status) == ([], ImportStatus.VALIDATED)
    tasks_before = Task.objects.filter(project=project).count()

    job = import_job_write(job_id=job.id)

    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert not job.errors.exists()
    if name in TASK_LISTS:
        assert job.summary.get("media_created", 0) > 0
        assert Task.objects.filter(project=project).count() > tasks_before
    elif name in ANSWERS_ONLY:
        answers = Task.objects.get(project=project, media__name="street_09.jpg").answers
        assert answers["weather"]["value"] == "sunny"
        assert answers["comment"]["value"] == "A bus waiting at the stop"
    else:
        # Real labels on the demo's images, each valid, as many as the job says it wrote.
        written = Label.objects.filter(task__project=project, import_job_id=job.id)
        assert job.labels_written > 0
        assert written.count() == job.labels_written
        assert all(label.valid for label in written)
