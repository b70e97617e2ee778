"""HTML and script in names, keys and answers are shown as text on every page and in the
Django admin. Every text a user can set is set to a payload (through the ORM, past any input
validation, as a hostile import or an old row could leave it); then every page route and every
admin list and change page is rendered, and none may hold the payload as markup. Pages hand
data to their scripts with `json_script` and the scripts build DOM with textContent only
(`static/labeling/dom.js`; `grep -rn innerHTML static/` finds nothing), so the server's HTML is
where markup could get in."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client

from imports.models import ImportJobError
from labeling.models import Label, Task
from projects.models import ApiToken, Dataset, LabelEntry, Media, MembershipInvitation, Organization, Project
from tests.security.conftest import SecurityWorld
from tests.security.test_route_walk import project_routes, route_path

pytestmark = pytest.mark.django_db

PAYLOAD = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
MARKUP = ("<script>alert(", "<img src=x onerror")


def hostile(world: SecurityWorld) -> None:
    Organization.objects.filter(pk=world.organization.pk).update(name=PAYLOAD)
    Project.objects.filter(pk=world.project.pk).update(name=PAYLOAD, short_description=PAYLOAD, description=PAYLOAD)
    Dataset.objects.filter(pk=world.dataset.pk).update(name=PAYLOAD, short_description=PAYLOAD)
    Media.objects.filter(pk=world.media.pk).update(name=PAYLOAD, external_id=PAYLOAD, global_key=PAYLOAD)
    LabelEntry.objects.filter(configuration=world.project.label_configuration).update(title=PAYLOAD)
    LabelEntry.objects.filter(configuration=world.project.label_configuration, key="weather").update(
        key=PAYLOAD[:56], options=[{"key": PAYLOAD[:40], "label": PAYLOAD}]
    )
    Task.objects.filter(pk=world.task.pk).update(answers={"weather": {"value": PAYLOAD}}, review_comment=PAYLOAD)
    Label.objects.filter(pk=world.label.pk).update(answers={"color": {"value": PAYLOAD}}, model_version=PAYLOAD)
    ApiToken.objects.filter(organization=world.organization).update(name=PAYLOAD)
    get_user_model().objects.filter(pk=world.annotator.pk).update(first_name=PAYLOAD, last_name=PAYLOAD)
    world.import_job.file_name = world.import_job.message = PAYLOAD
    world.import_job.save(update_fields=["file_name", "message"])
    ImportJobError.objects.create(job=world.import_job, item_index=0, location=PAYLOAD, code="x", message=PAYLOAD)
    world.export_job.file_name = world.export_job.message = PAYLOAD
    world.export_job.save(update_fields=["file_name", "message"])
    # A user name an admin typed (members page), and an invitation the admin received (their own page).
    MembershipInvitation.objects.create(organization=world.organization, username=PAYLOAD)
    Organization.objects.filter(pk=world.other_organization.pk).update(name=PAYLOAD + " 2")
    MembershipInvitation.objects.create(
        organization=world.other_organization, username=world.admin.username, user=world.admin
    )


def assert_shown_as_text(path: str, response: Any) -> bool:
    """No payload markup in an HTML answer; True when the page showed the payload (escaped)."""
    if "html" not in response.get("Content-Type", ""):
        return False
    html = response.content.decode()
    found = [marker for marker in MARKUP if marker in html]
    assert found == [], (path, found)
    return "&lt;script&gt;alert(" in html


def page_paths(world: SecurityWorld) -> list[str]:
    paths = []
    for route in project_routes():
        if route.pattern.startswith(("api/", "^api/")):
            continue
        paths.append(route_path(route, world))
    return paths


def test_every_page_shows_hostile_names_keys_and_answers_as_text(security_world: SecurityWorld, media_storage: Any):
    hostile(security_world)
    client = security_world.page_client("admin")
    shown = []
    pages = page_paths(security_world)
    assert len(pages) > 15
    for path in pages:
        response = client.get(path)
        assert response.status_code < 500, path
        if assert_shown_as_text(path, response):
            shown.append(path)
    # the payload really reached the pages that show names, not just pages without data
    assert len(shown) >= 8, shown


def admin_paths(world: SecurityWorld) -> list[str]:
    objects = {
        Organization: world.organization,
        Project: world.project,
        Dataset: world.dataset,
        Media: world.media,
        Task: world.task,
        Label: world.label,
        LabelEntry: LabelEntry.objects.filter(configuration=world.project.label_configuration).first(),
        ApiToken: world.token,
        type(world.import_job): world.import_job,
        type(world.export_job): world.export_job,
    }
    paths = []
    for model in admin.site._registry:
        meta = model._meta
        paths.append(f"/admin/{meta.app_label}/{meta.model_name}/")
        obj = objects.get(model) or model._default_manager.first()
        if obj is not None:
            paths.append(f"/admin/{meta.app_label}/{meta.model_name}/{obj.pk}/change/")
    return paths


def test_the_django_admin_shows_hostile_names_keys_and_answers_as_text(
    security_world: SecurityWorld, media_storage: Any
):
    hostile(security_world)
    staff = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client = Client()
    client.force_login(staff)
    shown = []
    paths = admin_paths(security_world)
    assert any(re.search(r"/change/$", path) for path in paths)
    for path in ["/admin/", *paths]:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        if assert_shown_as_text(path, response):
            shown.append(path)
    assert len(shown) >= 8, shown
