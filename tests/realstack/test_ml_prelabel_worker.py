"""A pre-label job runs in a real Celery worker process, against a model server on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from labeling.models import Label, LabelSource
from ml import services
from ml.models import JobStatus, MLBackend, PrelabelJob
from tests.factories import MediaFactory, TaskFactory
from tests.ml.conftest import street_project
from tests.ml.protocol_server import Behaviour, ProtocolServer
from tests.realstack.conftest import CeleryWorker, wait_until

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]


def test_the_worker_pre_labels_every_task_and_reports_progress(celery_worker: CeleryWorker, settings: Any) -> None:
    settings.LABELSITE_ML_HOST_ALLOWLIST = ["127.0.0.1"]
    street = street_project(count=0)
    dataset = street.project.datasets.get()
    for index in range(40):
        TaskFactory(project=street.project, media=MediaFactory(dataset=dataset, name=f"m{index}.jpg"))
    with ProtocolServer(Behaviour(delay=0.01, fail_first=1)) as server:
        backend = MLBackend.objects.create(
            project=street.project, title="Stub", url=server.url, batch_size=8, max_concurrency=2
        )
        with transaction.atomic():
            job = services.prelabel_job_create(backend=backend)
        wait_until(
            lambda: PrelabelJob.objects.get(pk=job.pk).status not in (JobStatus.QUEUED, JobStatus.RUNNING),
            timeout=90,
            message="The worker did not finish the pre-label job",
            interval=0.2,
        )
    job.refresh_from_db()
    assert (job.status, job.tasks_total, job.tasks_done, job.tasks_failed) == (JobStatus.SUCCEEDED, 40, 40, 0)
    assert Label.objects.filter(task__project=street.project, source=LabelSource.PREDICTION).count() == 40
    assert len(server.predict_calls()) == 6  # 5 batches, the first answered 500 once and asked again
