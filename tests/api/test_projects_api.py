"""Projects and their label configuration through the native API."""

from __future__ import annotations

from labeling.models import Label
from tests.api.conftest import CONFIGURATION, World


def test_create_project_answers_201_with_configuration_and_iteration_ids(world: World):
    response = world.client("admin").post(
        "/api/projects",
        {"name": "Roads", "description": "Cars on roads", "label_configuration": CONFIGURATION},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Roads"
    assert body["organization_id"] == str(world.organization.id)
    project = world.organization.projects.get(pk=body["id"])
    assert body["label_configuration_id"] == str(project.label_configuration.id)
    assert body["label_iteration_id"] == str(project.label_iteration.id)
    tree = world.client("admin").get(f"/api/projects/{body['id']}/label-configuration").json()
    assert [entry["key"] for entry in tree["entries"]] == ["car", "weather"]
    assert tree["id"] == body["label_configuration_id"]


def test_create_project_accepts_a_datagym_entry_list(world: World):
    entries = [{"entryKey": "Dog", "entryValue": "Dog", "type": "POLYGON", "color": "#ff0000"}]
    response = world.client("org_token").post(
        "/api/projects", {"name": "Pets", "label_configuration": entries}, format="json"
    )
    assert response.status_code == 201
    tree = world.client("org_token").get(f"/api/projects/{response.json()['id']}/label-configuration").json()
    assert tree["entries"][0]["key"] == "dog"
    assert tree["entries"][0]["type"] == "polygon"


def test_create_project_without_name_answers_located_error(world: World):
    response = world.client("admin").post("/api/projects", {"description": "x"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"][0]["path"] == "name"


def test_create_project_with_invalid_configuration_lists_every_problem_and_creates_nothing(world: World):
    entries = [
        {"key": "car", "title": "Car", "type": "rectangle", "shortcut": "xy"},
        {"key": "note", "title": "Note", "type": "hexagon"},
    ]
    response = world.client("admin").post(
        "/api/projects", {"name": "Bad", "label_configuration": entries}, format="json"
    )
    assert response.status_code == 400
    paths = {detail["path"] for detail in response.json()["error"]["details"]}
    assert {"entries[0].shortcut", "entries[1].type"} <= paths
    assert not world.organization.projects.filter(name="Bad").exists()


def test_project_list_shows_only_the_callers_organisation(world: World):
    names = {p["name"] for p in world.client("admin").get("/api/projects").json()["results"]}
    assert names == {"Streets", "Fields"}
    assert world.client("other_org").get("/api/projects").json()["results"] == []
    annotator_names = {p["name"] for p in world.client("annotator").get("/api/projects").json()["results"]}
    assert annotator_names == {"Streets"}


def test_update_project_changes_only_given_fields(world: World):
    response = world.client("admin").patch(f"/api/projects/{world.project.id}", {"name": "Avenues"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Avenues"
    world.project.refresh_from_db()
    assert world.project.name == "Avenues"


def test_delete_project_removes_it(world: World):
    assert world.client("admin").delete(f"/api/projects/{world.project.id}").status_code == 204
    response = world.client("admin").get(f"/api/projects/{world.project.id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_replace_label_configuration_with_confirm_loss_returns_the_new_tree(world: World):
    entries = [{"key": "tree", "title": "Tree", "type": "polygon", "shortcut": "1"}]
    response = world.client("admin").put(
        f"/api/projects/{world.project.id}/label-configuration",
        {"entries": entries, "confirm_loss": True},
        format="json",
    )
    assert response.status_code == 200
    assert [(e["key"], e["shortcut"]) for e in response.json()["entries"]] == [("tree", "1")]
    assert not Label.objects.filter(pk=world.label.pk).exists()


def test_replace_label_configuration_with_invalid_tree_answers_all_located_details(world: World):
    entries = [
        {"key": "tree", "title": "Tree", "type": "polygon", "shortcut": "1"},
        {"key": "bush", "title": "Bush", "type": "polygon", "shortcut": "1"},
        {"key": "", "title": "Nothing", "type": "hexagon"},
    ]
    response = world.client("admin").put(
        f"/api/projects/{world.project.id}/label-configuration", {"entries": entries}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_label_configuration"
    paths = [detail["path"] for detail in error["details"]]
    assert "entries[1].shortcut" in paths
    assert any(path.startswith("entries[2]") for path in paths)
    keys = [
        e["key"]
        for e in world.client("admin").get(f"/api/projects/{world.project.id}/label-configuration").json()["entries"]
    ]
    assert keys == ["car", "weather"]


def test_unknown_api_path_answers_json_404(world: World):
    response = world.client("admin").get("/api/nothing/here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_malformed_json_answers_the_error_shape(world: World):
    response = world.client("admin").post("/api/projects", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}
