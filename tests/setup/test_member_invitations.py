"""Joining an organisation takes the user's consent: an admin invites by user name, the user accepts.

An admin could add any user of the whole system by name (and then saw their e-mail), and the
answer told which names existed. Now the members page records an invitation for any name it is
given, answers the same words whether an account has that name or not, and shows "Invited"
without anything about the account. The invited user sees the invitation after signing in and
accepts (they become a member with the role, and assigned to the project, the admin chose) or
declines (nothing changes for the admin, who keeps seeing "Invited").
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from projects.models import Membership, MembershipInvitation, Organization, Project
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def outsider() -> Any:
    """A user of another organisation, with an e-mail the inviting admin must not see."""
    user: Any = UserFactory(username="olivia", email="olivia@elsewhere.example")
    MembershipFactory(user=user, organization=OrganizationFactory(name="Elsewhere"), role="admin")
    return user


def invite(client: Client, username: str, *, role: str = "annotator", project: Project | None = None) -> Any:
    data = {"action": "invite", "username": username, "role": role, "project_id": str(project.pk) if project else ""}
    return client.post(reverse("setup-members"), data, follow=True)


def said(response: Any) -> list[str]:
    """The messages the page shown after the redirect carried."""
    return [str(message) for message in response.context["messages"]]


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def invitations_row(page: Any) -> str:
    """The invitations table of the members page (CSRF tokens, new on every page, taken out)."""
    html = page.content.decode()
    match = re.search(r'<table class="table" id="invitations">.*?</table>', html, re.S)
    assert match, "the members page has no invitations table"
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", match.group(0))


# --- the admin's side ----------------------------------------------------------------------------


def test_inviting_a_user_of_another_organisation_makes_no_member_and_shows_invited_without_their_email(
    admin_client: Client, organization: Organization, outsider: Any
) -> None:
    page = invite(admin_client, "olivia")

    assert not Membership.objects.filter(organization=organization, user=outsider).exists()
    assert MembershipInvitation.objects.filter(organization=organization, username="olivia").exists()
    html = page.content.decode()
    assert "olivia@elsewhere.example" not in html
    assert "Invited" in invitations_row(page)


def test_the_old_add_action_no_longer_adds_anyone_directly(
    admin_client: Client, organization: Organization, outsider: Any
) -> None:
    admin_client.post(reverse("setup-members"), {"action": "add", "username": "olivia", "role": "admin"})

    assert not Membership.objects.filter(organization=organization, user=outsider).exists()


def test_an_unknown_name_is_answered_exactly_like_a_user_of_another_organisation(
    admin_client: Client, organization: Organization, outsider: Any
) -> None:
    existing = invite(admin_client, "olivia")
    unknown = invite(admin_client, "nobody-by-this-name")

    assert said(existing) == ["An invitation for “olivia” was recorded; the user sees it at their next sign-in."]
    assert said(unknown) == [
        "An invitation for “nobody-by-this-name” was recorded; the user sees it at their next sign-in."
    ]
    rows = invitations_row(admin_client.get(reverse("setup-members")))
    olivia = re.search(r'<tr data-invitation="olivia">.*?</tr>', rows, re.S)
    nobody = re.search(r'<tr data-invitation="nobody-by-this-name">.*?</tr>', rows, re.S)
    assert olivia
    assert nobody
    strip = re.compile(r'olivia|nobody-by-this-name|value="[0-9a-f-]{36}"')
    assert strip.sub("", olivia.group(0)) == strip.sub("", nobody.group(0))


def test_an_invitation_for_an_unknown_name_reaches_nobody_even_if_the_name_is_taken_later(
    admin_client: Client,
) -> None:
    invite(admin_client, "latecomer")
    latecomer: Any = UserFactory(username="latecomer")

    page = signed_in(latecomer).get(reverse("invitation-list"))

    assert page.context["invitations"] == []


def test_inviting_twice_keeps_one_invitation_with_the_latest_role(
    admin_client: Client, organization: Organization, outsider: Any
) -> None:
    invite(admin_client, "olivia", role="annotator")
    second = invite(admin_client, "OLIVIA", role="reviewer")

    invitation = MembershipInvitation.objects.get(organization=organization)
    assert invitation.role == "reviewer"
    assert said(second) == ["An invitation for “OLIVIA” was recorded; the user sees it at their next sign-in."]


def test_inviting_a_member_of_this_organisation_says_they_are_one_already(
    admin_client: Client, organization: Organization
) -> None:
    member: Any = UserFactory(username="mia")
    MembershipFactory(user=member, organization=organization, role="annotator")

    page = invite(admin_client, "MIA", role="admin")

    assert said(page) == ["“MIA” is a member of this organisation already."]
    assert Membership.objects.get(user=member).role == "annotator"
    assert not MembershipInvitation.objects.exists()


def test_an_empty_name_or_unknown_role_is_refused(admin_client: Client) -> None:
    assert said(invite(admin_client, "  "))[0].startswith("Give the user name of the person to invite.")
    assert "Unknown role" in said(invite(admin_client, "olivia", role="owner"))[0]
    assert not MembershipInvitation.objects.exists()


def test_the_admin_withdraws_an_invitation(admin_client: Client, organization: Organization, outsider: Any) -> None:
    invite(admin_client, "olivia")
    invitation = MembershipInvitation.objects.get()

    admin_client.post(
        reverse("setup-members"), {"action": "withdraw", "invitation_id": str(invitation.pk)}, follow=True
    )

    assert not MembershipInvitation.objects.exists()
    assert signed_in(outsider).get(reverse("invitation-list")).context["invitations"] == []


def test_an_admin_of_another_organisation_cannot_withdraw_this_ones_invitation(
    admin_client: Client, outsider: Any
) -> None:
    invite(admin_client, "someone")
    invitation = MembershipInvitation.objects.get()

    signed_in(outsider).post(reverse("setup-members"), {"action": "withdraw", "invitation_id": str(invitation.pk)})

    assert MembershipInvitation.objects.filter(pk=invitation.pk).exists()


# --- the invited user's side ---------------------------------------------------------------------


def test_the_invited_user_sees_the_invitation_on_the_page_they_land_on_after_signing_in(
    admin_client: Client, organization: Organization, outsider: Any
) -> None:
    invite(admin_client, "olivia")
    client = Client()
    assert client.login(username="olivia", password="labelsite-test-password")

    landing = client.get(reverse("project-list"))

    assert reverse("invitation-list") in landing.content.decode()
    page = client.get(reverse("invitation-list"))
    assert organization.name in page.content.decode()
    assert "Annotator" in page.content.decode()


def test_accepting_makes_the_user_a_member_with_the_role_and_the_project_the_admin_chose(
    admin_client: Client, organization: Organization, project: Project, outsider: Any
) -> None:
    invite(admin_client, "olivia", role="reviewer", project=project)
    invitation = MembershipInvitation.objects.get()
    client = signed_in(outsider)

    answer = client.post(reverse("invitation-list"), {"action": "accept", "invitation_id": str(invitation.pk)})

    assert answer.status_code == 302
    assert Membership.objects.get(organization=organization, user=outsider).role == "reviewer"
    assert project.members.filter(pk=outsider.pk).exists()
    assert not MembershipInvitation.objects.exists()
    assert project.name in client.get(reverse("project-list")).content.decode()
    members = admin_client.get(reverse("setup-members")).content.decode()
    assert "olivia@elsewhere.example" in members  # a member now, by their own consent


def test_declining_makes_no_member_and_the_admin_still_sees_only_invited(
    admin_client: Client, organization: Organization, outsider: Any
) -> None:
    invite(admin_client, "olivia")
    before = invitations_row(admin_client.get(reverse("setup-members")))
    invitation = MembershipInvitation.objects.get()
    client = signed_in(outsider)

    client.post(reverse("invitation-list"), {"action": "decline", "invitation_id": str(invitation.pk)})

    assert not Membership.objects.filter(organization=organization, user=outsider).exists()
    assert client.get(reverse("invitation-list")).context["invitations"] == []
    assert invitations_row(admin_client.get(reverse("setup-members"))) == before


def test_a_declined_invitation_cannot_be_accepted_afterwards(
    admin_client: Client, organization: Organization, outsider: Any
) -> None:
    invite(admin_client, "olivia")
    invitation = MembershipInvitation.objects.get()
    client = signed_in(outsider)
    client.post(reverse("invitation-list"), {"action": "decline", "invitation_id": str(invitation.pk)})

    client.post(reverse("invitation-list"), {"action": "accept", "invitation_id": str(invitation.pk)})

    assert not Membership.objects.filter(organization=organization, user=outsider).exists()


def test_only_the_invited_user_can_accept(admin_client: Client, organization: Organization, outsider: Any) -> None:
    invite(admin_client, "olivia", role="admin")
    invitation = MembershipInvitation.objects.get()
    intruder: Any = UserFactory()

    answer = signed_in(intruder).post(
        reverse("invitation-list"), {"action": "accept", "invitation_id": str(invitation.pk)}, follow=True
    )

    assert said(answer) == ["This invitation is not open (any more)."]
    assert not Membership.objects.filter(organization=organization, user=intruder).exists()
    assert MembershipInvitation.objects.filter(pk=invitation.pk, declined_at__isnull=True).exists()


def test_a_user_without_any_organisation_is_invited_too_never_added_directly(
    admin_client: Client, organization: Organization
) -> None:
    loner: Any = UserFactory(username="loner", email="loner@example.com")

    page = invite(admin_client, "loner")

    assert said(page) == ["An invitation for “loner” was recorded; the user sees it at their next sign-in."]
    assert not Membership.objects.filter(user=loner).exists()
    assert "loner@example.com" not in page.content.decode()


def test_creating_a_user_with_a_taken_name_tells_nothing_about_the_account(admin_client: Client, outsider: Any) -> None:
    page = admin_client.post(
        reverse("setup-members"),
        {"action": "create", "username": "olivia", "password": "a-long-enough-Passw0rd", "role": "annotator"},
        follow=True,
    )

    assert said(page) == ["The user name “olivia” is taken; choose another."]
    assert get_user_model().objects.filter(username="olivia").count() == 1
    assert "olivia@elsewhere.example" not in page.content.decode()


def test_an_invited_user_who_is_a_member_already_by_then_keeps_their_role(
    admin_client: Client, organization: Organization, outsider: Any
) -> None:
    invite(admin_client, "olivia", role="admin")
    invitation = MembershipInvitation.objects.get()
    MembershipFactory(user=outsider, organization=organization, role="annotator")

    signed_in(outsider).post(reverse("invitation-list"), {"action": "accept", "invitation_id": str(invitation.pk)})

    assert Membership.objects.get(organization=organization, user=outsider).role == "annotator"
    assert not MembershipInvitation.objects.exists()


def test_the_invitations_page_lists_only_the_users_own_pending_invitations(
    admin_client: Client, organization: Organization, outsider: Any
) -> None:
    other_org_admin: Any = UserFactory()
    other_organization: Any = OrganizationFactory(name="Third")
    MembershipFactory(user=other_org_admin, organization=other_organization, role="admin")
    UserFactory(username="sam")
    invite(admin_client, "olivia")
    invite(signed_in(other_org_admin), "sam")

    invitations = signed_in(outsider).get(reverse("invitation-list")).context["invitations"]

    assert [invitation.organization for invitation in invitations] == [organization]
