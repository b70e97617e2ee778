"""Issue 20, point 1: the project in tabs. Each tab is its own URL with the same breadcrumbs and
tab bar; the Overview walks an empty project's admin through its setup; forms posted from a tab
come back to it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from labeling.models import TaskState
from projects.label_config import label_config_replace
from tests.factories import DatasetFactory, MediaFactory, MembershipFactory, TaskFactory

pytestmark = pytest.mark.django_db

TAB_URLS = {
    "overview": "project-detail",
    "tasks": "project-task-list",
    "data": "project-data",
    "import": "project-import",
    "export": "project-export",
    "settings": "setup-project-settings",
}


def _url(name: str, project: Any) -> str:
    return reverse(name, kwargs={"project_id": project.pk})


def _head(html: str) -> str:
    """The project's head (breadcrumbs, title, tab bar) with the tab marked current taken out."""
    head = re.search(r'<header class="project-head">.*?</header>', html, re.S)
    assert head is not None, "the page has no project head"
    return head.group(0)


def _tabs(html: str) -> list[str]:
    return re.findall(r'data-tab="(\w+)"', _head(html))


def _member_client(project: Any, role: str) -> Client:
    user = get_user_model().objects.create_user(username=f"{role}-member")
    MembershipFactory(user=user, organization=project.organization, role=role)
    project.members.add(user)
    client = Client()
    client.force_login(user)
    return client


def test_every_tab_has_its_url_and_the_same_head_with_itself_current(admin_client: Client, project: Any) -> None:
    heads = {}
    for key, name in TAB_URLS.items():
        response = admin_client.get(_url(name, project))
        assert response.status_code == 200, key
        head = _head(response.content.decode())
        assert re.search(rf'data-tab="{key}" aria-current="page"', head), key
        assert head.count('aria-current="page"') == 1, key
        heads[key] = head.replace(' aria-current="page"', "")
        assert _tabs(response.content.decode()) == list(TAB_URLS), key
    # Breadcrumbs differ by the tab's own name only; the tab bar and the title are the same everywhere.
    bars = {re.search(r'<nav class="project-tabs".*?</nav>', head, re.S).group(0) for head in heads.values()}  # type: ignore[union-attr]
    assert len(bars) == 1
    assert all(f"<h1>{project.name}</h1>" in head for head in heads.values())


@pytest.mark.parametrize(
    ("role", "tabs"),
    [("reviewer", ["overview", "tasks", "data", "export"]), ("annotator", ["overview", "tasks", "data"])],
)
def test_members_see_only_the_tabs_their_role_may_open(project: Any, role: str, tabs: list[str]) -> None:
    client = _member_client(project, role)
    for key in tabs:
        page = client.get(_url(TAB_URLS[key], project))
        assert page.status_code == 200, key
        assert _tabs(page.content.decode()) == tabs, key
    for key in set(TAB_URLS) - set(tabs):
        assert client.get(_url(TAB_URLS[key], project)).status_code == 403, key


def test_overview_of_an_empty_project_lists_the_setup_steps_with_their_state_and_link(
    admin_client: Client, project: Any, organization: Any
) -> None:
    page = admin_client.get(_url("project-detail", project)).content.decode()

    steps = re.findall(r'data-step="(\w+)" data-done="(\w+)">\s*<span><a href="([^"]+)"', page)
    assert steps == [
        ("configuration", "false", _url("setup-project-configuration", project)),
        ("data", "false", _url("project-data", project)),
        ("members", "false", _url("setup-project-settings", project) + "#members"),
        ("labeling", "false", _url("project-label-start", project)),
    ]

    label_config_replace(
        configuration=project.label_configuration, entries=[{"key": "car", "title": "Car", "type": "point"}]
    )
    dataset: Any = DatasetFactory(organization=organization)
    TaskFactory(project=project, media=MediaFactory(dataset=dataset, organization=organization))
    page = admin_client.get(_url("project-detail", project)).content.decode()
    done = dict(re.findall(r'data-step="(\w+)" data-done="(\w+)"', page))
    assert done == {"configuration": "true", "data": "true", "members": "false", "labeling": "false"}


def test_overview_drops_the_checklist_once_every_step_is_done(
    admin_client: Client, project: Any, organization: Any
) -> None:
    label_config_replace(
        configuration=project.label_configuration, entries=[{"key": "car", "title": "Car", "type": "point"}]
    )
    dataset: Any = DatasetFactory(organization=organization)
    TaskFactory(
        project=project, media=MediaFactory(dataset=dataset, organization=organization), state=TaskState.COMPLETED
    )
    _member_client(project, "annotator")

    page = admin_client.get(_url("project-detail", project)).content.decode()

    assert 'id="setup-checklist"' not in page
    assert 'id="task-counts"' in page


def test_an_annotator_of_an_empty_project_gets_no_checklist_of_admin_pages(project: Any) -> None:
    page = _member_client(project, "annotator").get(_url("project-detail", project)).content.decode()

    assert 'id="setup-checklist"' not in page
    assert "This project has no tasks yet." in page


def test_data_tab_shows_the_projects_media_newest_first_with_pending_thumbnails_marked(
    admin_client: Client, project: Any, organization: Any
) -> None:
    dataset: Any = DatasetFactory(organization=organization, name="Night shots")
    dataset.projects.add(project)
    older: Any = MediaFactory(dataset=dataset, organization=organization, name="old.jpg", probed_at=timezone.now())
    newer: Any = MediaFactory(dataset=dataset, organization=organization, name="new.jpg")
    elsewhere: Any = MediaFactory(organization=organization, name="not-connected.jpg")

    page = admin_client.get(_url("project-data", project)).content.decode()

    tiles = re.findall(r'<li class="thumb" data-media="([^"]+)"', page)
    assert tiles == [str(newer.pk), str(older.pk)]
    assert str(elsewhere.pk) not in page
    pending = re.findall(r'media/([0-9a-f-]+)/thumbnail" [^>]*data-pending', page)
    assert pending == [str(newer.pk)]
    # The upload form uploads into the connected dataset; the grid's script gets its thumbnail address.
    assert f'data-url="{reverse("dataset-upload", kwargs={"dataset_id": dataset.pk})}"' in page
    assert 'id="grid-config"' in page


def test_data_tab_of_an_annotator_has_the_grid_but_no_upload(project: Any, organization: Any) -> None:
    dataset: Any = DatasetFactory(organization=organization)
    dataset.projects.add(project)
    MediaFactory(dataset=dataset, organization=organization, name="seen.jpg")

    page = _member_client(project, "annotator").get(_url("project-data", project)).content.decode()

    assert "seen.jpg" in page
    assert 'id="upload-form"' not in page
    assert "/datasets/connect" not in page
    assert "/datasets/create" not in page


def test_a_dataset_connected_on_the_data_tab_comes_back_to_it(
    admin_client: Client, project: Any, organization: Any
) -> None:
    dataset: Any = DatasetFactory(organization=organization)

    response = admin_client.post(_url("project-dataset-connect", project), {"dataset": str(dataset.pk)})

    assert response.status_code == 302
    assert response["Location"] == _url("project-data", project)


def test_import_tab_folds_the_advanced_options_and_lists_past_imports(admin_client: Client, project: Any) -> None:
    page = admin_client.get(_url("project-import", project)).content.decode()

    assert 'id="import-detected"' in page
    advanced = re.search(r'<details class="imports__advanced" id="import-advanced">(.*?)</details>', page, re.S)
    assert advanced is not None
    for field in ('name="match_by"', 'name="options"', 'name="mode"', 'name="keep_data"'):
        assert field in advanced.group(1)
    assert 'id="import-format"' not in advanced.group(1)
    assert "Past imports" in page
    assert 'id="import-formats"' in page


def test_a_refused_import_upload_comes_back_to_the_import_tab(admin_client: Client, project: Any) -> None:
    response = admin_client.post(_url("project-import-create", project), {})

    assert response.status_code == 302
    assert response["Location"] == _url("project-import", project)


def test_an_export_started_on_the_export_tab_comes_back_to_it(admin_client: Client, project: Any) -> None:
    response = admin_client.post(_url("project-export-create", project), {"format": "no-such-format"})

    assert response.status_code == 302
    assert response["Location"] == _url("project-export", project)


def test_the_import_job_page_leads_back_to_the_import_tab(admin_client: Client, project: Any) -> None:
    from imports.services import import_job_create

    job = import_job_create(project=project, user=None, file=b"[]", file_name="empty.json", format="datagym")

    page = admin_client.get(reverse("import-job-detail", kwargs={"job_id": job.pk})).content.decode()

    head = _head(page)
    assert f'<a href="{_url("project-import", project)}">Import</a>' in head
    assert 'data-tab="import" aria-current="page"' in head


def test_the_configuration_editor_sits_under_the_settings_tab(admin_client: Client, project: Any) -> None:
    page = admin_client.get(_url("setup-project-configuration", project)).content.decode()

    head = _head(page)
    assert 'data-tab="settings" aria-current="page"' in head
    assert "<span>Label configuration</span>" in head
    settings_page = admin_client.get(_url("setup-project-settings", project)).content.decode()
    for part in ('id="configuration"', 'id="members"', 'id="archive"', 'id="danger-zone"'):
        assert part in settings_page


def test_the_import_tab_imports_a_formats_example_with_the_options_it_is_offered_with(
    admin_client: Client, project: Any, media_storage: Any
) -> None:
    from imports.models import ImportJob

    page = admin_client.get(_url("project-import", project)).content.decode()
    assert 'name="example" value="datagym"' in page
    assert "with the options <code>{&quot;match_by&quot;: &quot;name&quot;}</code>" in page

    response = admin_client.post(_url("project-import-create", project), {"example": "datagym"})

    job = ImportJob.objects.get(project=project)
    assert response["Location"] == reverse("import-job-detail", kwargs={"job_id": job.pk})
    assert (job.file_name, job.format, job.options["match_by"]) == ("datagym.json", "datagym", "name")


def test_an_unknown_example_is_refused_with_its_name(admin_client: Client, project: Any) -> None:
    response = admin_client.post(_url("project-import-create", project), {"example": "../settings"}, follow=True)

    assert "No format &#x27;../settings&#x27; has an example." in response.content.decode()
