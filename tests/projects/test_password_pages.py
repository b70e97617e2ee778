"""Changing and resetting a password on our own pages (issue 15, hardening 3).

Django's auth views with Labelsite's templates: a signed-in user changes their password (and
stays signed in); anyone may ask for a reset link by e-mail, which Django's e-mail backend
sends (the console in development, SMTP from `EMAIL_*` in production, memory in tests). The
answer to a reset request is the same for every address, so it tells nobody which addresses
have accounts; deactivated accounts get no mail.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OLD = "an-old-password-9"
NEW = "a-brand-new-passphrase-31"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ada() -> Any:
    user: Any = UserFactory(username="ada", email="ada@example.com")
    user.set_password(OLD)
    user.save()
    return user


def sign_in(username: str, password: str) -> tuple[Client, Any]:
    client = Client()
    response = client.post(reverse("login"), {"username": username, "password": password})
    return client, response


def signed_in_ok(response: Any) -> bool:
    return response.status_code == 302 and response["Location"] == reverse("project-list")


# --- change --------------------------------------------------------------------------------------


def test_the_change_page_is_ours_and_linked_from_every_page(ada: Any) -> None:
    client, _ = sign_in("ada", OLD)

    page = client.get(reverse("password_change"))
    project_list = client.get(reverse("project-list"))

    assert page.status_code == 200
    assert "registration/password_change_form.html" in [t.name for t in page.templates]
    assert "base.html" in [t.name for t in page.templates]  # our layout, not the Django admin's
    assert 'name="old_password"' in page.content.decode()
    assert f'href="{reverse("password_change")}"' in project_list.content.decode()


def test_a_user_changes_their_password_stays_signed_in_and_signs_in_with_the_new_one(ada: Any) -> None:
    client, _ = sign_in("ada", OLD)

    response = client.post(
        reverse("password_change"), {"old_password": OLD, "new_password1": NEW, "new_password2": NEW}, follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("password_change_done")
    assert "Your password was changed" in response.content.decode()
    assert client.get(reverse("project-list")).status_code == 200  # this session goes on
    assert signed_in_ok(sign_in("ada", NEW)[1])
    assert not signed_in_ok(sign_in("ada", OLD)[1])


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"old_password": "wrong", "new_password1": NEW, "new_password2": NEW}, "old_password", "incorrectly"),
        ({"old_password": OLD, "new_password1": NEW, "new_password2": NEW + "x"}, "new_password2", "match"),
        ({"old_password": OLD, "new_password1": "12345678", "new_password2": "12345678"}, "new_password2", "common"),
    ],
)
def test_a_wrong_change_is_refused_at_its_field_with_the_reason(ada: Any, data: Any, field: str, says: str) -> None:
    client, _ = sign_in("ada", OLD)

    response = client.post(reverse("password_change"), data)

    assert response.status_code == 200
    assert says in " ".join(response.context["form"].errors[field])
    assert says in response.content.decode()
    assert signed_in_ok(sign_in("ada", OLD)[1])  # unchanged


def test_the_change_page_wants_a_signed_in_user() -> None:
    response = Client().get(reverse("password_change"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- reset ---------------------------------------------------------------------------------------


def reset_link(message: Any) -> str:
    match = re.search(r"https?://[^/\s]+(/password/reset/[^\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_the_login_page_links_to_the_reset_page() -> None:
    page = Client().get(reverse("login"))

    assert f'href="{reverse("password_reset")}"' in page.content.decode()


def test_a_reset_link_by_email_sets_a_new_password(ada: Any) -> None:
    asked = Client().post(reverse("password_reset"), {"email": "ada@example.com"}, follow=True)

    assert asked.redirect_chain[-1][0] == reverse("password_reset_done")
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    assert "Labelsite" in message.subject
    assert "ada" in message.body  # the user name, in case they forgot it
    browser = Client()
    form = browser.get(reset_link(message), follow=True)
    assert form.status_code == 200
    assert form.context["validlink"] is True
    done = browser.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("password_reset_complete")
    assert signed_in_ok(sign_in("ada", NEW)[1])
    used_again = Client().get(reset_link(message), follow=True)
    assert used_again.context["validlink"] is False  # a link works once
    assert "no longer valid" in used_again.content.decode()


def test_a_reset_request_answers_the_same_for_an_unknown_address_and_sends_nothing(ada: Any) -> None:
    known = Client().post(reverse("password_reset"), {"email": "ada@example.com"})
    unknown = Client().post(reverse("password_reset"), {"email": "nobody@example.com"})

    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]


def test_a_deactivated_account_gets_no_reset_mail(ada: Any) -> None:
    ada.is_active = False
    ada.save()

    response = Client().post(reverse("password_reset"), {"email": "ada@example.com"})

    assert response.status_code == 302
    assert mail.outbox == []


def test_a_forged_reset_link_says_it_is_not_valid(ada: Any) -> None:
    response = Client().get("/password/reset/MQ/set-password/", follow=True)

    assert response.status_code == 200
    assert response.context["validlink"] is False
    assert "no longer valid" in response.content.decode()


def test_an_unreachable_mail_server_answers_the_same_page_and_logs_why(
    ada: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A real SMTP connection to a port where nothing listens: the request must not be a 500, and it
    must not tell the asker whether an account has the address (the same page as for any address)."""
    import socket

    with socket.socket() as probe:  # a free port, closed again: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2

    response = Client().post(reverse("password_reset"), {"email": "ada@example.com"})

    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    (logged,) = [r for r in caplog.records if r.levelname == "ERROR"]  # Django's own log line, for the operator
    assert "Failed to send password reset email" in logged.getMessage()
    assert logged.exc_info is not None
    assert isinstance(logged.exc_info[1], ConnectionRefusedError)
