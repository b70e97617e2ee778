"""The configuration editor (issue 20, point 4) in real Chromium: templates, folding, drag and
drop, the colour picker, ids on demand, the sticky save bar, focus kept on a type change and the
live preview, each checked through what is saved."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from projects.config_templates import TEMPLATES
from projects.label_config import label_config_parse, label_config_replace, label_config_validate
from projects.models import LabelEntry
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def empty_project(transactional_db: None) -> Any:
    organization = OrganizationFactory(name="Acme")
    MembershipFactory(user=UserFactory(username="ada"), organization=organization, role="admin")
    return ProjectFactory(organization=organization, name="Fresh")


def open_editor(page: Page, live_server: Any, project: Any) -> None:
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/projects/{project.pk}/configuration")
    page.wait_for_selector("body[data-ready=true]")


def save(page: Page) -> None:
    expect(page.locator("#save-config")).to_be_enabled(timeout=10000)
    page.click("#save-config")
    expect(page.locator("#editor-status")).to_have_text("Saved", timeout=10000)


def root_keys(project: Any) -> list[str]:
    return list(
        LabelEntry.objects.filter(configuration__project=project, parent=None)
        .order_by("position")
        .values_list("key", flat=True)
    )


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["id"] for t in TEMPLATES])
def test_every_template_is_a_valid_configuration(template: Any) -> None:
    assert label_config_validate(entries=label_config_parse(entries=template["entries"])) == []


def test_a_template_loads_with_its_preview_and_saves(page: Page, live_server: Any, empty_project: Any) -> None:
    open_editor(page, live_server, empty_project)
    page.click("#templates summary")
    page.click('[data-template="keypoints"]')
    expect(page.locator("#entry-tree > .node")).to_have_count(1)
    expect(page.locator("#entry-tree .node .node")).to_have_count(7)
    preview = page.locator("#config-preview")
    expect(preview).to_contain_text("Nose (in Person)")
    save(page)
    assert LabelEntry.objects.filter(configuration__project=empty_project).count() == 8
    person = LabelEntry.objects.get(configuration__project=empty_project, key="person")
    assert person.children.order_by("position").first().key == "nose"  # type: ignore[union-attr]


def test_fold_drag_colour_ids_and_the_preview_follow_each_edit(
    page: Page, live_server: Any, empty_project: Any
) -> None:
    page.set_viewport_size({"width": 1440, "height": 1400})  # the dragged entry and its target in view
    # nested attributes (vehicle, shortcut 1), then object detection's classes without their keys
    detection = [{name: value for name, value in e.items() if name != "shortcut"} for e in TEMPLATES[0]["entries"]]
    label_config_replace(configuration=empty_project.label_configuration, entries=TEMPLATES[4]["entries"] + detection)
    open_editor(page, live_server, empty_project)
    vehicle = page.locator('#entry-tree > .node[data-path="entries[0]"]')

    # Folding hides what is inside and says how much; unfolding brings it back.
    expect(vehicle.locator(".node")).to_have_count(4)
    vehicle.locator("> .node__head .node__fold").click()
    expect(vehicle.locator(".node")).to_have_count(0)
    expect(vehicle.locator(".node__summary")).to_have_text("Rectangle · 3 nested")
    expect(page.locator('#entry-tree > .node[data-path="entries[0]"] > .node__head .node__fold')).to_be_focused()
    page.keyboard.press("Enter")
    expect(vehicle.locator(".node")).to_have_count(4)

    # Ids only on demand.
    expect(vehicle.locator("> .node__details .schema-id")).to_be_hidden()
    page.check("#show-ids")
    expect(vehicle.locator("> .node__details .schema-id")).to_contain_text("id ")

    # Drag "bicycle" (the last root entry) by its handle onto the upper half of "person" (the
    # vehicle folded again, so that both are in view).
    vehicle.locator("> .node__head .node__fold").click()
    bicycle = page.locator('#entry-tree > .node[data-path="entries[3]"]')
    expect(bicycle.locator("> .node__head input[name=key]")).to_have_value("bicycle")
    person = page.locator('#entry-tree > .node[data-path="entries[1]"]')
    handle = bicycle.locator("> .node__head .node__handle").bounding_box()
    target = person.bounding_box()
    assert handle is not None
    assert target is not None
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(target["x"] + 40, target["y"] + 20, steps=8)
    page.mouse.move(target["x"] + 40, target["y"] + 8, steps=2)
    page.mouse.up()
    keys = page.locator("#entry-tree > .node > .node__head input[name=key]")
    expect(keys.nth(1)).to_have_value("bicycle")
    assert [keys.nth(i).input_value() for i in range(4)] == ["vehicle", "bicycle", "person", "car"]

    # The colour picker gives only valid colours; the preview follows titles as they are typed.
    page.locator('[data-field="entries[2].color"]').fill("#123abc")
    page.locator('[data-field="entries[2].title"]').fill("Pedestrian")
    expect(page.locator("#config-preview")).to_contain_text("Pedestrian")
    save(page)
    assert root_keys(empty_project) == ["vehicle", "bicycle", "person", "car"]
    assert LabelEntry.objects.get(configuration__project=empty_project, key="person").color == "#123abc"


def test_a_type_change_keeps_focus_and_the_save_bar_stays_in_view(
    page: Page, live_server: Any, empty_project: Any
) -> None:
    label_config_replace(configuration=empty_project.label_configuration, entries=TEMPLATES[5]["entries"])
    page.set_viewport_size({"width": 1024, "height": 700})
    open_editor(page, live_server, empty_project)
    select = page.locator('[data-field="entries[3].type"]')
    select.focus()
    select.select_option("rectangle")
    assert page.evaluate("() => document.activeElement.dataset.field") == "entries[3].type"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.dataset.field") == "entries[3].key"

    page.mouse.wheel(0, 5000)
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.scrollY") > 500
    box = page.locator("#save-config").bounding_box()
    assert box is not None
    assert 0 <= box["y"] <= 700 - box["height"]
    save(page)
    assert LabelEntry.objects.get(configuration__project=empty_project, key="poi").type == "rectangle"
