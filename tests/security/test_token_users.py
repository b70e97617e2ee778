"""A personal API token acts as its user only while that user may still act (security review item 2).

Every request checks the token's user again: a deactivated user, or one removed from the token's
organisation, gets 401 in each API's own error shape and can mint no organisation token. The
token itself is left as it is, so that reactivating or re-adding the user brings it back.
Organisation tokens (no user) are not affected. Pages use sessions, which Django already refuses
to deactivated users; the last tests pin that down.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from projects.models import ApiToken
from projects.services import api_token_create, membership_remove, membership_set
from tests.api.conftest import World
from tests.datagym_v1.conftest import assert_error
from tests.factories import MembershipFactory, UserFactory


def _deactivate(user: Any) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


def _assert_native_401(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Token"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "authentication_failed"


def _v1_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


# --- the native API ---------------------------------------------------------------------------


def test_native_api_refuses_the_token_of_a_deactivated_user(world: World) -> None:
    _deactivate(world.annotator)

    _assert_native_401(world.client("annotator").get("/api/projects"))


def test_native_api_refuses_the_token_of_a_user_removed_from_the_organisation(world: World) -> None:
    membership_remove(organization=world.organization, user=world.reviewer)

    _assert_native_401(world.client("reviewer").get("/api/projects"))


def test_native_api_refuses_a_personal_token_for_an_organisation_its_user_never_joined(world: World) -> None:
    # The user is a member elsewhere: membership of the token's own organisation is what counts.
    _, raw = api_token_create(organization=world.other_organization, user=world.admin)

    _assert_native_401(_v1_client(raw).get("/api/projects"))


def test_a_deactivated_admin_cannot_mint_an_organisation_token(world: World) -> None:
    _deactivate(world.admin)
    tokens_before = ApiToken.objects.count()

    response = world.client("admin").post("/api/tokens", {"name": "escape hatch"}, format="json")

    _assert_native_401(response)
    assert ApiToken.objects.count() == tokens_before


def test_a_removed_admin_cannot_mint_an_organisation_token(world: World) -> None:
    MembershipFactory(user=UserFactory(), organization=world.organization, role="admin")  # not the last admin
    membership_remove(organization=world.organization, user=world.admin)
    tokens_before = ApiToken.objects.count()

    response = world.client("admin").post("/api/tokens", {"name": "escape hatch"}, format="json")

    _assert_native_401(response)
    assert ApiToken.objects.count() == tokens_before


def test_the_token_works_again_once_its_user_is_reactivated(world: World) -> None:
    _deactivate(world.annotator)
    world.annotator.is_active = True
    world.annotator.save(update_fields=["is_active"])

    assert world.client("annotator").get("/api/projects").status_code == 200


def test_the_token_works_again_once_its_user_is_a_member_again(world: World) -> None:
    membership_remove(organization=world.organization, user=world.reviewer)
    membership_set(organization=world.organization, user=world.reviewer, role="reviewer")

    assert world.client("reviewer").get("/api/projects").status_code == 200


def test_an_organisation_token_keeps_working_when_a_member_is_deactivated(world: World) -> None:
    _deactivate(world.admin)

    assert world.client("org_token").get("/api/projects").status_code == 200


# --- the DataGym v1 API -------------------------------------------------------------------------


@pytest.fixture
def v1_admin_token(world: World) -> str:
    """A personal token of an admin, which the v1 API accepts as acting for the organisation."""
    assert _v1_client(world.tokens["admin"]).get("/api/v1/project").status_code == 200
    return world.tokens["admin"]


def test_v1_api_refuses_the_token_of_a_deactivated_admin(world: World, v1_admin_token: str) -> None:
    _deactivate(world.admin)

    assert_error(_v1_client(v1_admin_token).get("/api/v1/project"), 401, "ex_unauthorized", [])
    assert_error(APIClient().get(f"/api/v1/dataset?token={v1_admin_token}"), 401, "ex_unauthorized", [])


def test_v1_api_refuses_the_token_of_an_admin_removed_from_the_organisation(world: World, v1_admin_token: str) -> None:
    MembershipFactory(user=UserFactory(), organization=world.organization, role="admin")  # not the last admin
    membership_remove(organization=world.organization, user=world.admin)

    assert_error(_v1_client(v1_admin_token).get("/api/v1/project"), 401, "ex_unauthorized", [])


def test_v1_api_writes_nothing_for_a_deactivated_admin(world: World, v1_admin_token: str) -> None:
    _deactivate(world.admin)
    datasets_before = world.organization.datasets.count()

    response = _v1_client(v1_admin_token).post(
        "/api/v1/dataset", b'{"name": "sneaky", "shortDescription": ""}', content_type="application/json"
    )

    assert_error(response, 401, "ex_unauthorized", [])
    assert world.organization.datasets.count() == datasets_before


# --- pages ----------------------------------------------------------------------------------------


def test_a_deactivated_users_session_is_sent_to_the_login_page(world: World) -> None:
    client = Client()
    client.force_login(world.admin)
    _deactivate(world.admin)

    for path in ("/", f"/projects/{world.project.id}/", "/organization/tokens"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/"), path


def test_a_deactivated_users_session_cannot_mint_a_token_on_the_tokens_page(world: World) -> None:
    client = Client()
    client.force_login(world.admin)
    _deactivate(world.admin)
    tokens_before = ApiToken.objects.count()

    response = client.post("/organization/tokens", {"name": "escape hatch"})

    assert response.status_code == 302
    assert ApiToken.objects.count() == tokens_before


def test_a_removed_members_session_sees_nothing_of_the_organisation(world: World) -> None:
    client = Client()
    client.force_login(world.reviewer)
    membership_remove(organization=world.organization, user=world.reviewer)

    assert client.get(f"/projects/{world.project.id}/").status_code == 404
    assert world.project.name not in client.get("/").content.decode()
