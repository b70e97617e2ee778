"""Media a Label Studio import creates are read by the worker's probe once the job has ended
(issue 20, point 8): the import itself never fetches an image, and the probe, queued when the
job ends, learns the size the tasks did not give and stores the thumbnails."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.storage import default_storage

from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write
from projects.media_probe import MEDIA_PROBE_RUN, media_probe_run
from projects.models import Media
from projects.thumbnails import media_thumbnail_path
from tests.celery_broker import publishing_to
from tests.factories import DatasetFactory
from tests.formats.test_label_studio import box, task
from tests.media_sources import image_http_server, png_bytes
from tests.projects.test_media_probe import BROKER, published

pytestmark = pytest.mark.django_db


def test_the_media_an_import_creates_are_probed_after_the_job_ends(
    ls_project: Any, media_storage: Any, settings: Any, django_capture_on_commit_callbacks: Any
):
    settings.LABELSITE_URL_ALLOWLIST = ["127.0.0.1"]
    settings.LABELSITE_MEDIA_PROBE_URLS = True  # the images are on loopback, not the internet
    dataset: Any = DatasetFactory(organization=ls_project.organization, name="Street")
    dataset.projects.add(ls_project)
    images = {"sized.png": png_bytes((200, 0, 0), 800, 600), "unsized.png": png_bytes((0, 0, 200), 320, 240)}
    with publishing_to(BROKER), image_http_server(images) as base:
        published()
        tasks = [
            task(f"{base}/sized.png", annotations=[{"result": [box("Car", 10, 20, 50, 25)]}]),
            task(f"{base}/unsized.png"),
        ]
        with django_capture_on_commit_callbacks(execute=True):
            job = import_job_create(
                project=ls_project,
                user=None,
                file=json.dumps(tasks).encode(),
                file_name="t.json",
                format="label_studio",
            )
        published()  # the job's own validation message
        job = import_job_validate(job_id=job.id)
        assert job.status == ImportStatus.VALIDATED, job.message
        with django_capture_on_commit_callbacks(execute=True):
            job = import_job_write(job_id=job.id)
        assert job.status == ImportStatus.SUCCEEDED, job.message

        created = {m.name: m for m in Media.objects.filter(dataset=dataset)}
        assert created["unsized.png"].width is None  # the import fetched nothing
        probes = [message for message in published() if message[0] == MEDIA_PROBE_RUN]
        assert probes == [(MEDIA_PROBE_RUN, (str(ls_project.organization_id),))]  # one chain, at the end

        media_probe_run(organization_id=ls_project.organization_id)  # the worker's turn

    for media in created.values():
        media.refresh_from_db()
        assert default_storage.exists(media_thumbnail_path(media=media))
    assert (created["sized.png"].width, created["sized.png"].height) == (800, 600)
    assert (created["unsized.png"].width, created["unsized.png"].height) == (320, 240)
