"""An Ango CSV import through a real Celery worker: masks fetched by URL from a local server that the
worker's allow-list opens, validated, confirmed, written."""

from __future__ import annotations

import pytest
from shapely.geometry import Polygon

from imports.models import ImportStatus
from imports.services import import_job_confirm, import_job_create
from labeling.models import Label, Task
from projects.config_converters import ango_schema_to_entries
from projects.label_config import label_config_replace
from projects.models import Dataset, Media
from tests.formats.conftest import ANGO_SCHEMA
from tests.formats.test_ango_csv import SEED_CONFIG, H, W, csv_text, mask_server, png, scene

pytestmark = [pytest.mark.realstack, pytest.mark.django_db(transaction=True)]
__all__ = ["mask_server"]  # a fixture used here (import_stack comes from the conftest)


def test_a_worker_imports_an_ango_csv_with_url_masks(import_stack, mask_server):
    stack = import_stack(0)
    project = stack.project
    label_config_replace(configuration=project.label_configuration, entries=ango_schema_to_entries(ANGO_SCHEMA).entries)
    dataset = Dataset.objects.get(projects=project)
    media = Media.objects.create(
        organization=project.organization, dataset=dataset, name="a.jpg", external_id="img_1", width=W, height=H
    )
    task = Task.objects.create(project=project, media=media)
    mask_server["files"]["/1.png"] = png(scene())
    stack.worker_start(LABELSITE_URL_ALLOWLIST="127.0.0.1")
    content = csv_text(f"img_1,dark red,B,Option2,{mask_server['base']}/1.png")
    job = import_job_create(
        project=project,
        user=None,
        file=content,
        file_name="labels.csv",
        format="ango_csv",
        options={**SEED_CONFIG, "mask_column": "Mask"},
    )

    job = stack.wait_for(job, lambda j: j.status in (ImportStatus.VALIDATED, ImportStatus.FAILED), "not validated")
    assert job.status == ImportStatus.VALIDATED, (job.message, list(job.errors.values_list("message", flat=True)))
    import_job_confirm(job=job)
    job = stack.wait_for(job, lambda j: j.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED), "not written")

    assert job.status == ImportStatus.SUCCEEDED, job.message
    labels = {label.entry.key: label.points for label in Label.objects.filter(task=task).select_related("entry")}
    assert set(labels) == {"car", "person", "lane"}
    assert [Polygon(ring).bounds for ring in labels["car"]] == [(4, 4, 23, 23), (9, 9, 18, 18)]
    assert Task.objects.get(pk=task.pk).answers["type"]["value"] == "b"
