"""Who may call the DataGym v1 API, and the one error shape every failure has."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from projects.services import api_token_create, api_token_revoke
from tests.datagym_v1.conftest import assert_error
from tests.factories import DatasetFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_request_without_token_answers_401_with_the_full_error_shape():
    response = APIClient().get("/api/v1/project")
    body = assert_error(response, 401, "ex_unauthorized", [])
    assert body == {
        "key": "ex_unauthorized",
        "params": [],
        "msg": "Unauthorized. None or invalid credentials.",
        "code": 401,
        "details": [],
    }


def test_unknown_token_answers_401():
    assert_error(APIClient().get("/api/v1/project?token=not-a-token"), 401, "ex_unauthorized")


def test_revoked_token_answers_401(organization):
    token, raw = api_token_create(organization=organization)
    api_token_revoke(token=token)
    assert_error(APIClient().get(f"/api/v1/dataset?token={raw}"), 401, "ex_unauthorized")


def test_token_in_query_works_beside_a_basic_header_for_a_proxy(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwdw==")
    response = client.get(f"/api/v1/project?token={token}")
    assert response.status_code == 200
    assert response.json() == []


def test_token_in_authorization_header_works(api):
    assert api.get("/api/v1/dataset").status_code == 200


def test_person_token_of_a_non_admin_is_forbidden(organization):
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="annotator")
    _, raw = api_token_create(organization=organization, user=user)
    assert_error(APIClient().get(f"/api/v1/project?token={raw}"), 403, "ex_forbidden", [])


def test_person_token_of_an_admin_acts_for_the_organisation(organization, admin_user, project):
    _, raw = api_token_create(organization=organization, user=admin_user)
    response = APIClient().get(f"/api/v1/project?token={raw}")
    assert [p["id"] for p in response.json()] == [str(project.id)]


def test_other_organisations_objects_answer_404(api, other_organization, foreign_project):
    foreign_dataset = DatasetFactory(organization=other_organization)
    assert_error(
        api.get(f"/api/v1/dataset/{foreign_dataset.id}"), 404, "ex_notfound", ["dataset", "id", str(foreign_dataset.id)]
    )
    assert_error(
        api.get(f"/api/v1/export/{foreign_project.id}"), 404, "ex_notfound", ["Project", "id", str(foreign_project.id)]
    )
    config_id = foreign_project.label_configuration.id
    assert_error(
        api.delete(f"/api/v1/config/{config_id}"), 404, "ex_notfound", ["Label Configuration", "id", str(config_id)]
    )
    assert_error(
        api.post(f"/api/v1/project/{foreign_project.id}/prediction", b"[]", content_type="application/json"),
        404,
        "ex_notfound",
    )


def test_unknown_path_under_api_v1_answers_json_404_not_html(api):
    body = assert_error(api.get("/api/v1/nothing/here"), 404, "ex_notfound")
    assert len(body["params"]) == 3


def test_post_to_a_path_with_a_trailing_slash_is_not_redirected(api):
    response = api.post("/api/v1/dataset/", {"name": "Slash_ok"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Slash_ok"


def test_wrong_method_answers_405_in_the_error_shape(api):
    assert_error(api.patch("/api/v1/dataset"), 405, "ex_method_not_allowed", ["PATCH"])
    assert_error(api.post("/api/v1/project"), 405, "ex_method_not_allowed", ["POST"])


def test_malformed_ids_answer_404_not_500(api):
    assert_error(api.get("/api/v1/dataset/not-a-uuid"), 404, "ex_notfound", ["dataset", "id", "not-a-uuid"])
    assert_error(api.get("/api/v1/media/123"), 404, "ex_notfound", ["media", "id", "123"])


def test_unexpected_error_answers_ex_system_without_a_traceback():
    from datagym_v1.errors import exception_handler

    response = exception_handler(RuntimeError("secret detail"), {})
    assert response.status_code == 500
    assert response.data == {
        "key": "ex_system",
        "params": [],
        "msg": "Something went terribly wrong. Please contact the system administrator.",
        "code": 500,
        "details": [],
    }


def test_unsupported_media_type_answers_415_in_the_error_shape():
    from rest_framework.exceptions import UnsupportedMediaType

    from datagym_v1.errors import exception_handler

    response = exception_handler(UnsupportedMediaType("text/csv"), {})
    assert response.status_code == 415
    assert set(response.data) == {"key", "params", "msg", "code", "details"}
    assert response.data["key"] == "ex_unsupported_media_type"
