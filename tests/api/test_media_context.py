"""What an import stored with a media (a Labelbox data row's metadata and attachments) is shown by
the API: the media list, the media itself and its tasks, and documented in the OpenAPI schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from labeling.models import Task
from projects.models import Media
from tests.factories import DatasetFactory, MembershipFactory, UserFactory
from tests.formats.test_labelbox_data_rows import SEED_ASSET

pytestmark = pytest.mark.django_db


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def imported_media(admin_user, project, media_storage, eager_worker, django_capture_on_commit_callbacks) -> Media:
    """The seed's data row with every attachment type, imported through the API as a user does."""
    dataset: Any = DatasetFactory(organization=project.organization, name="Fields")
    dataset.projects.add(project)
    with django_capture_on_commit_callbacks(execute=True):
        response = _client(admin_user).post(
            f"/api/projects/{project.pk}/imports",
            {
                "file": SimpleUploadedFile("rows.json", json.dumps([SEED_ASSET]).encode()),
                "options": json.dumps({"write_when_valid": True}),
            },
            format="multipart",
        )
    assert response.status_code == 201, response.json()
    return Media.objects.get(global_key="basic-2022")


def test_the_media_list_the_media_and_its_task_show_metadata_and_attachments(admin_user, project, imported_media):
    client = _client(admin_user)
    listed = client.get(f"/api/datasets/{imported_media.dataset_id}/media").json()["results"][0]
    one = client.get(f"/api/media/{imported_media.pk}").json()
    task = Task.objects.get(project=project, media=imported_media)
    in_task = client.get(f"/api/tasks/{task.pk}").json()["media"]

    for shown in (listed, one, in_task):
        assert shown["metadata"] == {"captureDateTime": "2022-06-14T09:30:00Z", "tag": "tag_string", "split": "train"}
        assert shown["attachments"] == SEED_ASSET["attachments"]


def test_an_annotator_of_the_project_reads_the_media_and_a_stranger_gets_404(project, imported_media):
    annotator, stranger = UserFactory(), UserFactory()
    MembershipFactory(user=annotator, organization=project.organization, role="annotator")
    project.members.add(annotator)

    assert _client(annotator).get(f"/api/media/{imported_media.pk}").json()["attachments"][2] == {
        "type": "RAW_TEXT",
        "value": "IOWA, Zone 2232, June 2022 [Text string]",
    }
    assert _client(stranger).get(f"/api/media/{imported_media.pk}").status_code == 404


def test_the_schema_documents_metadata_and_attachments_of_a_media(client, admin_user):
    client.force_login(admin_user)
    schema = client.get("/api/schema", HTTP_ACCEPT="application/json").json()
    media = schema["components"]["schemas"]["MediaOutput"]["properties"]
    attachment = schema["components"]["schemas"]["MediaAttachment"]["properties"]

    assert media["attachments"]["type"] == "array"
    assert "metadata_fields" in media["metadata"]["description"]
    assert set(attachment) == {"type", "value", "name"}
    assert "get" in schema["paths"]["/api/media/{media_id}"]
