"""The server-rendered pages: sign-in, project list, project page, dataset page and upload."""

from __future__ import annotations

import io
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from PIL import Image

from labeling.models import Task, TaskState
from projects.label_config import label_config_replace
from projects.models import Dataset, LabelEntry, Media, MediaSource
from tests.factories import (
    DatasetFactory,
    MediaFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db

PASSWORD = "labelsite-test-password"


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def upload_file(name: str, content: bytes) -> io.BytesIO:
    data = io.BytesIO(content)
    data.name = name
    return data


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def dataset(organization, project) -> Dataset:
    dataset = Dataset.objects.create(organization=organization, name="Street scenes")
    dataset.projects.add(project)
    return dataset


def annotator_client(*, organization, projects=()) -> Client:
    user = get_user_model().objects.create_user(username=f"annotator-{uuid.uuid4().hex[:8]}", password=PASSWORD)
    MembershipFactory(user=user, organization=organization, role="annotator")
    for project in projects:
        project.members.add(user)
    client = Client()
    client.force_login(user)
    return client


# --- signing in -------------------------------------------------------------------------------


def test_login_with_right_password_redirects_to_project_list(admin_user):
    client = Client()
    response = client.post(reverse("login"), {"username": admin_user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("project-list")
    assert client.get(reverse("project-list")).status_code == 200


def test_login_with_wrong_password_shows_the_form_again_with_an_error(admin_user):
    response = Client().post(reverse("login"), {"username": admin_user.username, "password": "wrong"})
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()


def test_anonymous_user_is_redirected_to_login_with_next():
    response = Client().get(reverse("project-list"))
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next=/"


def test_anonymous_upload_is_redirected_to_login_and_stores_nothing(dataset):
    response = Client().post(reverse("dataset-upload", kwargs={"dataset_id": dataset.pk}))
    assert response.status_code == 302
    assert reverse("login") in response.url
    assert not Media.objects.exists()


def test_logout_by_post_ends_the_session(admin_client):
    response = admin_client.post(reverse("logout"))
    assert response.status_code == 302
    assert admin_client.get(reverse("project-list")).status_code == 302


def test_csrf_is_enforced_on_upload(admin_user, dataset, media_storage):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(
        reverse("dataset-upload", kwargs={"dataset_id": dataset.pk}), {"file": upload_file("a.png", png_bytes())}
    )
    assert response.status_code == 403
    assert not Media.objects.exists()


# --- project list -----------------------------------------------------------------------------


def test_project_list_shows_only_projects_of_the_users_organisation(admin_client, organization, project):
    other = ProjectFactory(organization=OrganizationFactory(), name="Secret project of others")
    response = admin_client.get(reverse("project-list"))
    body = response.content.decode()
    assert project.name in body
    assert other.name not in body


def test_project_list_shows_annotators_only_their_projects(organization):
    mine = ProjectFactory(organization=organization, name="Assigned project")
    not_mine = ProjectFactory(organization=organization, name="Unassigned project")
    client = annotator_client(organization=organization, projects=[mine])
    body = client.get(reverse("project-list")).content.decode()
    assert mine.name in body
    assert not_mine.name not in body


def test_project_list_shows_media_and_task_counts(admin_client, project, dataset):
    media = MediaFactory.create_batch(3, dataset=dataset, organization=dataset.organization)
    TaskFactory(project=project, media=media[0], state=TaskState.COMPLETED)
    projects = admin_client.get(reverse("project-list")).context["projects"]
    (row,) = projects
    assert row.media_count == 3
    assert row.task_count == 1
    assert row.task_counts == {TaskState.COMPLETED: 1}


# --- project page -----------------------------------------------------------------------------


def test_project_of_another_organisation_answers_404(admin_client):
    other = ProjectFactory(organization=OrganizationFactory())
    response = admin_client.get(reverse("project-detail", kwargs={"project_id": other.pk}))
    assert response.status_code == 404


def test_unknown_project_answers_404(admin_client):
    response = admin_client.get(reverse("project-detail", kwargs={"project_id": uuid.uuid4()}))
    assert response.status_code == 404


def test_annotator_not_in_project_gets_404(organization, project):
    client = annotator_client(organization=organization)
    assert client.get(reverse("project-detail", kwargs={"project_id": project.pk})).status_code == 404


def test_project_tabs_show_configuration_tree_task_counts_and_datasets(admin_client, project, dataset):
    label_config_replace(
        configuration=project.label_configuration,
        entries=[
            {
                "key": "car",
                "title": "Car",
                "type": "rectangle",
                "color": "#ff0000",
                "shortcut": "1",
                "children": [
                    {
                        "key": "colour",
                        "title": "Colour of the car",
                        "type": "select",
                        "required": True,
                        "options": [{"key": "red", "label": "Red"}, {"key": "blue", "label": "Blue"}],
                    }
                ],
            },
            {"key": "weather", "title": "Weather notes", "type": "freetext", "max_length": 80},
        ],
    )
    media = MediaFactory.create_batch(3, dataset=dataset, organization=dataset.organization)
    TaskFactory(project=project, media=media[0], state=TaskState.COMPLETED)
    TaskFactory(project=project, media=media[1], state=TaskState.COMPLETED)
    TaskFactory(project=project, media=media[2], state=TaskState.SKIPPED)

    response = admin_client.get(reverse("setup-project-settings", kwargs={"project_id": project.pk}))

    assert response.status_code == 200
    body = response.content.decode()
    for text in ("Car", "car", "Colour of the car", "Red", "blue", "Weather notes", "max 80 characters"):
        assert text in body
    assert '<rect width="14" height="14" fill="#ff0000"/>' in body  # an SVG fill: no inline style for the CSP
    assert "style=" not in body
    assert '<kbd title="Shortcut">1</kbd>' in body
    assert "required" in body
    tree = response.context["label_tree"]
    assert tree[0]["children"][0]["key"] == "colour"
    # The counts on the Overview tab, the datasets on the Data tab.
    response = admin_client.get(reverse("project-detail", kwargs={"project_id": project.pk}))
    counts = {item["state"]: item["count"] for item in response.context["task_states"]}
    assert counts[TaskState.COMPLETED] == 2
    assert counts[TaskState.SKIPPED] == 1
    assert counts[TaskState.BACKLOG] == 0
    assert response.context["task_total"] == 3
    assert dataset.name in admin_client.get(reverse("project-data", kwargs={"project_id": project.pk})).content.decode()


def test_project_page_escapes_entry_key_and_title(admin_client, project):
    label_config_replace(
        configuration=project.label_configuration,
        entries=[{"key": "car", "title": "<script>alert('title')</script>", "type": "rectangle"}],
    )
    LabelEntry.objects.create(
        configuration=project.label_configuration,
        key="<script>alert('key')</script>",
        title="Raw",
        type="point",
        schema_id="raw-entry",
        color="red;background:url(//e.x/a)",
        position=5,
    )
    body = admin_client.get(reverse("setup-project-settings", kwargs={"project_id": project.pk})).content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in body
    assert "&lt;script&gt;alert(&#x27;key&#x27;)&lt;/script&gt;" in body
    # A colour that is not plain colour syntax is shown as text, never put into a style.
    assert "background-color: red;" not in body
    assert 'fill="red;' not in body
    assert '<span class="muted small">red;background:url(//e.x/a)</span>' in body


def test_admin_connects_an_existing_dataset_and_its_media_become_tasks(admin_client, organization, project):
    dataset = DatasetFactory(organization=organization)
    MediaFactory.create_batch(2, dataset=dataset, organization=organization)
    response = admin_client.post(
        reverse("project-dataset-connect", kwargs={"project_id": project.pk}), {"dataset": str(dataset.pk)}
    )
    assert response.status_code == 302
    assert dataset.projects.filter(pk=project.pk).exists()
    assert Task.objects.filter(project=project).count() == 2


def test_connect_refuses_dataset_of_another_organisation(admin_client, project):
    foreign = DatasetFactory(organization=OrganizationFactory())
    response = admin_client.post(
        reverse("project-dataset-connect", kwargs={"project_id": project.pk}), {"dataset": str(foreign.pk)}
    )
    assert response.status_code == 400
    assert not foreign.projects.exists()


def test_admin_creates_a_dataset_connected_to_the_project(admin_client, organization, project):
    response = admin_client.post(
        reverse("project-dataset-create", kwargs={"project_id": project.pk}), {"name": "Night shots"}
    )
    dataset = Dataset.objects.get(organization=organization, name="Night shots")
    assert response.status_code == 302
    # To the Data tab, its upload form set to the new dataset.
    assert response.url == reverse("project-data", kwargs={"project_id": project.pk}) + f"?dataset={dataset.pk}#upload"
    page = admin_client.get(response.url).content.decode()
    assert f'<option value="{dataset.pk}" data-url="/datasets/{dataset.pk}/upload" selected>' in page
    assert dataset.projects.filter(pk=project.pk).exists()


def test_creating_a_dataset_with_a_taken_name_shows_the_error(admin_client, organization, project, dataset):
    response = admin_client.post(
        reverse("project-dataset-create", kwargs={"project_id": project.pk}), {"name": dataset.name}
    )
    assert response.status_code == 409
    assert "exists already" in response.content.decode()


def test_annotator_may_not_create_datasets(organization, project):
    client = annotator_client(organization=organization, projects=[project])
    response = client.post(reverse("project-dataset-create", kwargs={"project_id": project.pk}), {"name": "Mine"})
    assert response.status_code == 403
    assert not Dataset.objects.filter(name="Mine").exists()


# --- dataset page and upload ------------------------------------------------------------------


def test_dataset_page_lists_media_and_connected_projects(admin_client, project, dataset):
    MediaFactory(dataset=dataset, organization=dataset.organization, name="crossing.jpg")
    response = admin_client.get(reverse("dataset-detail", kwargs={"dataset_id": dataset.pk}))
    body = response.content.decode()
    assert response.status_code == 200
    assert "crossing.jpg" in body
    assert project.name in body
    assert 'id="upload-config"' in body
    assert response.context["upload_config"]["uploadUrl"] == reverse(
        "dataset-upload", kwargs={"dataset_id": dataset.pk}
    )


def test_dataset_page_pages_media_by_one_hundred(admin_client, dataset):
    MediaFactory.create_batch(101, dataset=dataset, organization=dataset.organization)
    url = reverse("dataset-detail", kwargs={"dataset_id": dataset.pk})
    assert len(admin_client.get(url).context["page"].object_list) == 100
    assert len(admin_client.get(url, {"page": 2}).context["page"].object_list) == 1


def test_dataset_of_another_organisation_answers_404_even_for_upload(admin_client, media_storage):
    foreign = DatasetFactory(organization=OrganizationFactory())
    assert admin_client.get(reverse("dataset-detail", kwargs={"dataset_id": foreign.pk})).status_code == 404
    response = admin_client.post(
        reverse("dataset-upload", kwargs={"dataset_id": foreign.pk}), {"file": upload_file("a.png", png_bytes())}
    )
    assert response.status_code == 404
    assert not Media.objects.exists()


def test_upload_of_png_creates_media_and_task_in_connected_project(admin_client, project, dataset, media_storage):
    response = admin_client.post(
        reverse("dataset-upload", kwargs={"dataset_id": dataset.pk}), {"file": upload_file("car.png", png_bytes(4, 3))}
    )
    assert response.status_code == 201
    media = Media.objects.get(dataset=dataset)
    assert response.json() == {"id": str(media.id), "name": "car.png"}
    assert (media.mime_type, media.width, media.height) == ("image/png", 4, 3)
    assert media.source == MediaSource.LOCAL
    assert (media_storage / media.file.name).is_file()
    assert Task.objects.filter(project=project, media=media).exists()


def test_upload_of_non_image_answers_400_with_a_clear_message(admin_client, dataset, media_storage):
    response = admin_client.post(
        reverse("dataset-upload", kwargs={"dataset_id": dataset.pk}),
        {"file": upload_file("notes.png", b"these are not pixels")},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "not_an_image"
    assert "not an image" in error["message"]
    assert not Media.objects.exists()


def test_upload_with_a_taken_name_answers_409_with_a_message(admin_client, dataset, media_storage):
    url = reverse("dataset-upload", kwargs={"dataset_id": dataset.pk})
    assert admin_client.post(url, {"file": upload_file("car.png", png_bytes())}).status_code == 201
    response = admin_client.post(url, {"file": upload_file("car.png", png_bytes())})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "media_name_taken"
    assert "car.png" in error["message"]
    assert Media.objects.filter(dataset=dataset).count() == 1


def test_upload_without_file_answers_400(admin_client, dataset):
    response = admin_client.post(reverse("dataset-upload", kwargs={"dataset_id": dataset.pk}))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_missing"


def test_annotator_sees_the_dataset_but_may_not_upload(organization, project, dataset, media_storage):
    client = annotator_client(organization=organization, projects=[project])
    page = client.get(reverse("dataset-detail", kwargs={"dataset_id": dataset.pk}))
    assert page.status_code == 200
    assert 'id="upload-config"' not in page.content.decode()
    response = client.post(
        reverse("dataset-upload", kwargs={"dataset_id": dataset.pk}), {"file": upload_file("a.png", png_bytes())}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Media.objects.exists()


def test_pasted_urls_create_media_and_show_each_status(admin_client, project, dataset):
    MediaFactory(dataset=dataset, organization=dataset.organization, url="https://img.example.com/old.jpg")
    urls = "\n".join(
        [
            "https://img.example.com/a.jpg",
            "  https://img.example.com/b.png  ",
            "",
            "https://img.example.com/old.jpg",
            "https://img.example.com/doc.pdf",
            "not a url",
        ]
    )
    response = admin_client.post(reverse("dataset-detail", kwargs={"dataset_id": dataset.pk}), {"urls": urls})
    assert response.status_code == 200
    statuses = {result.url: result.status for result in response.context["url_results"]}
    assert statuses == {
        "https://img.example.com/a.jpg": "SUCCESS",
        "https://img.example.com/b.png": "SUCCESS",
        "https://img.example.com/old.jpg": "DUPLICATE",
        "https://img.example.com/doc.pdf": "UNSUPPORTED_MIME_TYPE",
        "not a url": "FAILED",
    }
    body = response.content.decode()
    assert "UNSUPPORTED_MIME_TYPE" in body
    assert "DUPLICATE" in body
    assert set(Media.objects.filter(dataset=dataset, source=MediaSource.URL).values_list("name", flat=True)) >= {
        "a.jpg",
        "b.png",
    }
    assert Task.objects.filter(project=project, media__name="a.jpg").exists()


def test_pasting_no_urls_shows_an_error(admin_client, dataset):
    response = admin_client.post(reverse("dataset-detail", kwargs={"dataset_id": dataset.pk}), {"urls": "  \n "})
    assert response.status_code == 400
    assert "Paste at least one URL." in response.content.decode()


def test_annotator_may_not_paste_urls(organization, project, dataset):
    client = annotator_client(organization=organization, projects=[project])
    response = client.post(
        reverse("dataset-detail", kwargs={"dataset_id": dataset.pk}), {"urls": "https://img.example.com/a.jpg"}
    )
    assert response.status_code == 403
    assert not Media.objects.exists()
