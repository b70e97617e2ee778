"""The setup pages and their API, through the Django test client."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from PIL import Image

from imports.services import import_job_create, import_job_validate
from labeling.models import Label
from projects.label_config import label_config_replace, label_config_tree
from projects.models import ApiToken, LabelEntry, Media, MediaSource, Membership, Project
from projects.services import api_token_create
from tests.factories import (
    DatasetFactory,
    LabelFactory,
    MediaFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_admin_creates_a_project_and_lands_in_the_editor(admin_client: Client, organization: Any) -> None:
    response: Any = admin_client.post(reverse("setup-project-create"), {"name": "Cars", "short_description": "Roads"})

    project = Project.objects.get(name="Cars")
    assert project.organization == organization
    assert response.url == reverse("setup-project-configuration", kwargs={"project_id": project.pk})
    page = admin_client.get(response.url)
    assert page.status_code == 200
    assert b"editor-config" in page.content


def test_project_rename_archive_and_delete_with_name(admin_client: Client, project: Project) -> None:
    settings_url = reverse("setup-project-settings", kwargs={"project_id": project.pk})
    admin_client.post(settings_url, {"name": "Renamed", "short_description": "s", "description": "d"})
    project.refresh_from_db()
    assert (project.name, project.description) == ("Renamed", "d")

    admin_client.post(reverse("setup-project-archive", kwargs={"project_id": project.pk}), {"archived": "1"})
    project.refresh_from_db()
    assert project.archived_at is not None

    delete_url = reverse("setup-project-delete", kwargs={"project_id": project.pk})
    admin_client.post(delete_url, {"confirm_name": "renamed"})
    assert Project.objects.filter(pk=project.pk).exists()
    admin_client.post(delete_url, {"confirm_name": "Renamed"})
    assert not Project.objects.filter(pk=project.pk).exists()


def test_delete_section_says_how_many_tasks_and_labels_are_lost(admin_client: Client, project: Project) -> None:
    label_config_replace(
        configuration=project.label_configuration, entries=[{"key": "car", "title": "Car", "type": "point"}]
    )
    task = TaskFactory(project=project)
    LabelFactory(task=task, entry=LabelEntry.objects.get(key="car"), points=[[1, 1]])

    page = admin_client.get(reverse("setup-project-settings", kwargs={"project_id": project.pk}))

    text = " ".join(page.content.decode().split())
    assert "<strong>1 task</strong>, <strong>1 label</strong>" in text


def test_annotator_cannot_open_setup_pages(project: Project) -> None:
    annotator: Any = UserFactory()
    MembershipFactory(user=annotator, organization=project.organization, role="annotator")
    project.members.add(annotator)
    client = Client()
    client.force_login(annotator)

    assert client.get(reverse("setup-project-settings", kwargs={"project_id": project.pk})).status_code == 403
    assert client.get(reverse("setup-members")).status_code == 403
    assert client.get(reverse("project-detail", kwargs={"project_id": project.pk})).status_code == 200
    # The former overview page leads to the project's Overview tab.
    old_overview = client.get(reverse("setup-project-overview", kwargs={"project_id": project.pk}))
    assert old_overview.status_code == 302
    assert old_overview["Location"] == reverse("project-detail", kwargs={"project_id": project.pk})


def test_validate_endpoint_answers_the_service_problems_without_saving(admin_client: Client, project: Project) -> None:
    url = reverse("api-label-configuration-validate", kwargs={"project_id": project.pk})
    entries = [{"key": "car", "title": "Car", "type": "rectangle", "shortcut": "xy"}]

    response = admin_client.post(url, {"entries": entries}, content_type="application/json")

    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert response.json()["problems"][0]["path"] == "entries[0].shortcut"
    assert not LabelEntry.objects.exists()


def test_save_endpoint_answers_409_with_the_impact_then_saves_when_confirmed(
    admin_client: Client, project: Project
) -> None:
    label_config_replace(
        configuration=project.label_configuration,
        entries=[{"key": "car", "title": "Car", "type": "point"}, {"key": "tree", "title": "Tree", "type": "point"}],
    )
    LabelFactory(task=TaskFactory(project=project), entry=LabelEntry.objects.get(key="car"), points=[[1, 1]])
    url = reverse("api-label-configuration-save", kwargs={"project_id": project.pk})
    entries = [e for e in label_config_tree(configuration=project.label_configuration) if e["key"] == "tree"]

    refused = admin_client.post(url, {"entries": entries}, content_type="application/json")
    assert refused.status_code == 409
    assert refused.json()["impact"]["removed_classes"][0]["label_count"] == 1
    assert Label.objects.count() == 1

    saved = admin_client.post(url, {"entries": entries, "confirm_loss": True}, content_type="application/json")
    assert saved.status_code == 200
    assert [e["key"] for e in saved.json()["entries"]] == ["tree"]
    assert Label.objects.count() == 0


def test_convert_endpoint_turns_label_studio_xml_into_entries(admin_client: Client) -> None:
    xml = (
        '<View><Image name="image" value="$image"/>'
        '<RectangleLabels name="label" toName="image"><Label value="Car"/></RectangleLabels></View>'
    )

    response = admin_client.post(
        reverse("api-config-convert"), {"format": "label_studio_xml", "source": xml}, content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json()["entries"][0]["type"] == "rectangle"
    assert response.json()["image_field"] == "image"


def test_the_image_field_of_an_xml_config_is_saved_and_label_studio_imports_read_it(
    admin_client: Client, project: Project, media_storage: Any
) -> None:
    xml = (
        '<View><Image name="img" value="$photo"/>'
        '<RectangleLabels name="label" toName="img"><Label value="Car"/></RectangleLabels></View>'
    )
    converted = admin_client.post(
        reverse("api-config-convert"), {"format": "label_studio_xml", "source": xml}, content_type="application/json"
    ).json()
    url = reverse("api-label-configuration-save", kwargs={"project_id": project.pk})
    saved = admin_client.post(
        url, {"entries": converted["entries"], "image_field": converted["image_field"]}, content_type="application/json"
    )
    assert saved.status_code == 200
    project.label_configuration.refresh_from_db()
    assert project.label_configuration.image_field == "photo"

    # A later save without it keeps it; a Label Studio import reads the image from it.
    admin_client.post(url, {"entries": converted["entries"]}, content_type="application/json")
    job = import_job_create(
        project=project,
        user=None,
        file=json.dumps([{"data": {"thumb": "https://x.example/t.jpg", "photo": "https://x.example/a.jpg"}}]).encode(),
        file_name="tasks.json",
        format="label_studio",
        options={"create_media": False},
    )
    assert job.options["image_field"] == "photo"
    job = import_job_validate(job_id=job.id)
    assert job.errors.get().location == "/0/data/photo"  # the media a.jpg is unknown: located at the field read


def test_members_page_creates_a_user_assigns_a_project_and_they_see_only_it(
    admin_client: Client, organization: Any, project: Project
) -> None:
    other: Any = ProjectFactory(organization=organization, name="Other")
    admin_client.post(
        reverse("setup-members"),
        {
            "action": "create",
            "username": "annie",
            "password": "a-long-enough-Passw0rd",
            "role": "annotator",
            "project_id": str(project.pk),
        },
    )

    annie = get_user_model().objects.get(username="annie")
    assert Membership.objects.get(user=annie).role == "annotator"
    client = Client()
    assert client.login(username="annie", password="a-long-enough-Passw0rd")
    listing = client.get(reverse("project-list")).content.decode()
    assert project.name in listing
    assert other.name not in listing


def test_last_admin_cannot_be_demoted(admin_client: Client, admin_user: Any, organization: Any) -> None:
    admin_client.post(reverse("setup-members"), {"action": "role", "user_id": admin_user.pk, "role": "annotator"})

    assert Membership.objects.get(user=admin_user).role == "admin"


def test_token_is_shown_once_with_snippets_and_works_until_revoked(admin_client: Client) -> None:
    response = admin_client.post(reverse("setup-tokens"), {"action": "create", "name": "ci"})
    raw = response.context["created"]["raw"]
    assert raw in response.content.decode()
    assert 'curl -H "Authorization: Bearer' in response.content.decode()
    assert raw not in admin_client.get(reverse("setup-tokens")).content.decode()

    script = Client()
    assert script.get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    token = ApiToken.objects.get(name="ci")
    assert token.last_used_at is not None
    admin_client.post(reverse("setup-tokens"), {"action": "revoke", "token_id": str(token.pk)})
    assert script.get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_tokens_api_creates_and_revokes(admin_client: Client) -> None:
    created = admin_client.post(reverse("api-tokens"), {"name": "bot"}, content_type="application/json")
    assert created.status_code == 201
    assert created.json()["token"]
    revoked = admin_client.delete(reverse("api-token", kwargs={"token_id": created.json()["id"]}))
    assert revoked.status_code == 204
    assert ApiToken.objects.get(name="bot").revoked_at is not None


def png(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_datasets_page_creates_connects_and_disconnects(
    admin_client: Client, organization: Any, project: Project
) -> None:
    admin_client.post(reverse("setup-datasets"), {"action": "create", "name": "Street"})
    dataset = organization.datasets.get(name="Street")
    admin_client.post(
        reverse("setup-datasets"), {"action": "connect", "dataset_id": dataset.pk, "project_id": project.pk}
    )
    assert list(dataset.projects.all()) == [project]
    admin_client.post(
        reverse("setup-datasets"), {"action": "disconnect", "dataset_id": dataset.pk, "project_id": project.pk}
    )
    assert not dataset.projects.exists()


def test_media_grid_filters_by_name_state_and_label_count(
    admin_client: Client, organization: Any, project: Project
) -> None:
    label_config_replace(
        configuration=project.label_configuration, entries=[{"key": "car", "title": "Car", "type": "point"}]
    )
    dataset: Any = DatasetFactory(organization=organization)
    labelled = MediaFactory(dataset=dataset, name="labelled.jpg")
    MediaFactory(dataset=dataset, name="empty.jpg")
    task = TaskFactory(project=project, media=labelled, state="completed")
    LabelFactory(task=task, entry=LabelEntry.objects.get(key="car"), points=[[1, 1]])
    url = reverse("setup-dataset-media", kwargs={"dataset_id": dataset.pk})

    def names(**params: str) -> list[str]:
        return [m.name for m in admin_client.get(url, params).context["page"].object_list]

    assert names() == ["labelled.jpg", "empty.jpg"]
    assert names(name="emp") == ["empty.jpg"]
    assert names(state="completed") == ["labelled.jpg"]
    assert names(min_labels="1") == ["labelled.jpg"]
    assert names(max_labels="0") == ["empty.jpg"]


def test_a_thumbnail_not_made_yet_is_a_placeholder_until_the_worker_has_made_it(
    admin_client: Client, organization: Any, media_storage: Any, eager_worker: None
) -> None:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    dataset: Any = DatasetFactory(organization=organization)
    media = Media(
        organization=organization, dataset=dataset, name="a.png", source=MediaSource.LOCAL, width=40, height=30
    )
    media.file.save("a.png", ContentFile(png()), save=True)
    url = reverse("setup-media-thumbnail", kwargs={"media_id": media.pk})

    # The page never decodes an image: it queues the worker's task (run at once here) and
    # answers a placeholder; the next request gets the thumbnail the worker stored.
    pending = admin_client.get(url)
    made = admin_client.get(url)

    assert (pending.status_code, pending["Content-Type"], pending["Cache-Control"]) == (
        202,
        "image/svg+xml",
        "no-store",
    )
    assert pending.content.startswith(b"<svg")
    assert (made.status_code, made["Content-Type"]) == (200, "image/jpeg")
    assert default_storage.exists(f"thumbnails/{media.pk}.jpg")
    other = Client()
    stranger: Any = UserFactory()
    other.force_login(stranger)
    assert other.get(url).status_code == 404


def test_media_delete_needs_an_admin_and_soft_deletes(admin_client: Client, organization: Any) -> None:
    dataset: Any = DatasetFactory(organization=organization)
    media: Any = MediaFactory(dataset=dataset)

    admin_client.post(reverse("setup-media-delete", kwargs={"dataset_id": dataset.pk, "media_id": media.pk}))

    media.refresh_from_db()
    assert media.deleted_at is not None


def test_overview_counts_states_and_draws_bars_by_class_and_annotator(admin_client: Client, project: Project) -> None:
    label_config_replace(
        configuration=project.label_configuration, entries=[{"key": "car", "title": "Car", "type": "point"}]
    )
    author = UserFactory(username="ann")
    task = TaskFactory(project=project, state="completed", assignee=author)
    LabelFactory(task=task, entry=LabelEntry.objects.get(key="car"), points=[[1, 1]], author=author)

    page = admin_client.get(reverse("project-detail", kwargs={"project_id": project.pk})).content.decode()

    assert '<li class="counts__item" data-state="completed">' in page
    assert 'data-name="Car" data-count="1"' in page
    assert 'data-name="ann" data-count="1"' in page


def test_an_organisation_token_cannot_reach_another_organisations_project(project: Project) -> None:
    organization: Any = OrganizationFactory()
    _, raw = api_token_create(organization=organization)

    response = Client().get(
        reverse("api-label-configuration-datagym", kwargs={"project_id": project.pk}),
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )

    assert response.status_code == 404
