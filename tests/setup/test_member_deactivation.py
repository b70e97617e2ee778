"""An admin deactivates a member on the members page (issue 15, hardening 3).

A deactivated user can no longer sign in, their open sessions get nothing, and their personal
tokens are refused on both APIs; their labels and membership stay, and an admin can reactivate
them. An account is the user's across organisations, so a user who also belongs to another
organisation is removed from this one instead: an admin of one organisation cannot lock them out
of the others. An admin cannot deactivate themselves, nor a site administrator (staff).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from labeling.models import Label
from projects.label_config import label_config_replace
from projects.models import Membership, Organization
from projects.services import api_token_create
from tests.factories import MembershipFactory, OrganizationFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "member-password-42"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_client(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def annie(organization: Organization) -> Any:
    user: Any = UserFactory(username="annie")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(user=user, organization=organization, role="annotator")
    return user


def act(client: Client, action: str, user: Any) -> Any:
    return client.post(reverse("setup-members"), {"action": action, "user_id": str(user.pk)}, follow=True)


def said(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def signs_in(username: str) -> bool:
    response = Client().post(reverse("login"), {"username": username, "password": PASSWORD})
    return response.status_code == 302 and response["Location"] == reverse("project-list")


def test_a_deactivated_member_cannot_sign_in_or_use_a_session_or_a_token(
    admin_client: Client, organization: Organization, annie: Any
) -> None:
    session = Client()
    session.force_login(annie)
    _, raw = api_token_create(organization=organization, user=annie)
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert signs_in("annie")
    assert token.get("/api/projects").status_code == 200

    page = act(admin_client, "deactivate", annie)

    annie.refresh_from_db()
    assert annie.is_active is False
    assert said(page) == ["Deactivated annie: they can no longer sign in or use their API tokens."]
    assert not signs_in("annie")
    assert session.get(reverse("project-list")).status_code == 302  # the open session is signed out
    assert token.get("/api/projects").status_code == 401
    assert token.get("/api/v1/project").status_code == 401
    assert Membership.objects.filter(organization=organization, user=annie).exists()  # listed, marked
    row = page.content.decode().split('data-username="annie"', 1)[1].split("</tr>", 1)[0]
    assert "Deactivated" in row
    assert 'value="reactivate"' in row


def test_a_reactivated_member_signs_in_again(admin_client: Client, annie: Any) -> None:
    act(admin_client, "deactivate", annie)

    page = act(admin_client, "reactivate", annie)

    annie.refresh_from_db()
    assert annie.is_active is True
    assert said(page) == ["Reactivated annie: they can sign in again."]
    assert signs_in("annie")


def test_a_deactivated_members_labels_stay(admin_client: Client, annie: Any, project: Any) -> None:
    label_config_replace(
        configuration=project.label_configuration, entries=[{"key": "car", "title": "Car", "type": "rectangle"}]
    )
    task: Any = TaskFactory(project=project)
    car = project.label_configuration.entries.get(key="car")
    Label.objects.create(task=task, entry=car, author=annie, points=[[1, 1], [2, 2]])

    act(admin_client, "deactivate", annie)

    assert Label.objects.filter(author=annie).count() == 1


def test_a_member_of_another_organisation_too_is_removed_from_this_one_not_deactivated(
    admin_client: Client, organization: Organization, annie: Any
) -> None:
    elsewhere: Any = OrganizationFactory(name="Elsewhere")
    MembershipFactory(user=annie, organization=elsewhere, role="annotator")

    page = act(admin_client, "deactivate", annie)

    annie.refresh_from_db()
    assert annie.is_active is True
    assert not Membership.objects.filter(organization=organization, user=annie).exists()
    assert Membership.objects.filter(organization=elsewhere, user=annie).exists()
    assert said(page) == [
        "Removed annie from the organisation. The account is used in other organisations too, "
        "so it was not deactivated; it can no longer reach this organisation."
    ]
    assert signs_in("annie")


def test_an_admin_cannot_deactivate_themselves(admin_client: Client, admin_user: Any) -> None:
    page = act(admin_client, "deactivate", admin_user)

    admin_user.refresh_from_db()
    assert admin_user.is_active is True
    assert said(page) == ["You cannot deactivate your own account; ask another admin of the organisation."]
    row = page.content.decode().split(f'data-username="{admin_user.username}"', 1)[1].split("</tr>", 1)[0]
    assert 'value="deactivate"' not in row  # the page does not offer it


def test_a_site_administrator_is_not_deactivated_by_an_organisation_admin(
    admin_client: Client, organization: Organization, annie: Any
) -> None:
    annie.is_staff = True
    annie.save()

    page = act(admin_client, "deactivate", annie)

    annie.refresh_from_db()
    assert annie.is_active is True
    assert said(page) == [
        "annie is a site administrator; only another site administrator can deactivate them (in the Django admin)."
    ]


@pytest.mark.parametrize("action", ["deactivate", "reactivate"])
def test_only_an_admin_of_the_organisation_can_deactivate_or_reactivate(
    organization: Organization, annie: Any, action: str
) -> None:
    reviewer: Any = UserFactory()
    MembershipFactory(user=reviewer, organization=organization, role="reviewer")
    other_admin: Any = UserFactory()
    MembershipFactory(user=other_admin, organization=OrganizationFactory(), role="admin")
    annie.is_active = action == "deactivate"
    annie.save()

    for user in (reviewer, other_admin):
        client = Client()
        client.force_login(user)
        response = client.post(
            reverse("setup-members") + f"?organization={organization.pk}",
            {"action": action, "user_id": str(annie.pk), "organization": str(organization.pk)},
        )
        assert response.status_code in {403, 404}

    annie.refresh_from_db()
    assert annie.is_active is (action == "deactivate")


def test_a_user_of_another_organisation_cannot_be_deactivated_by_id(admin_client: Client) -> None:
    stranger: Any = UserFactory()
    MembershipFactory(user=stranger, organization=OrganizationFactory(), role="annotator")

    page = act(admin_client, "deactivate", stranger)

    stranger.refresh_from_db()
    assert stranger.is_active is True
    assert said(page) == ["No such member."]
