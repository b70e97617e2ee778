"""The editor's "load from" menu turns a CVAT annotations.xml into a configuration (issue 22), in
real headless Chromium: choose the format, paste the file, convert, see the warnings, save."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from projects.models import LabelEntry
from tests.browser.conftest import log_in
from tests.browser.test_setup_flow import new_admin  # noqa: F401 (a fixture)
from tests.imports.test_cvat_server_files import SERVER_XML

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_cvat_annotations_xml_pasted_in_the_editor_menu_becomes_the_configuration(
    page: Page,
    live_server: Any,
    new_admin: Any,  # noqa: F811
) -> None:
    from tests.factories import ProjectFactory

    project: Any = ProjectFactory(organization=new_admin.memberships.get().organization, name="From CVAT")
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/projects/{project.pk}/configuration")
    page.wait_for_selector("body[data-ready=true]")

    page.locator("#templates summary").click()
    page.select_option("#import-format", "cvat_xml")
    page.fill("#import-text", SERVER_XML)
    page.click("#import-apply")
    expect(page.locator("#import-warnings")).to_contain_text("speed", timeout=10000)
    expect(page.locator("#save-config")).to_be_enabled(timeout=10000)
    page.click("#save-config")
    expect(page.locator("#editor-status")).to_have_text("Saved", timeout=10000)

    roots = LabelEntry.objects.filter(configuration__project=project, parent=None)
    assert sorted(roots.values_list("key", "type")) == [
        ("car", "rectangle"),
        ("car_polygon", "polygon"),
        ("puddle", "segmentation"),
        ("tags", "checklist"),
        ("unused", "rectangle"),
    ]
    car = roots.get(key="car")
    assert sorted(car.children.values_list("key", flat=True)) == ["kind", "occluded", "parked", "speed"]
    assert car.schema_id == "cvat:car:rectangle"
