"""Sign-in, sign-out, password change and reset through the real pages."""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts import services
from core.models import AuditEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def sign_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("accounts:login"), {"username": email, "password": password})


def test_sign_in_with_email_and_password_starts_a_session_and_is_audited(member):
    client = Client()

    response = sign_in(client, member.email.upper())

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    event = AuditEvent.objects.filter(action="auth.sign_in").last()
    assert event.actor_id == member.pk
    assert event.ip_address == "127.0.0.1"


def test_wrong_password_is_refused_with_a_clear_error_and_audited(member):
    client = Client()

    response = sign_in(client, member.email, "not the password")

    assert response.status_code == 200
    assert "That email and password do not match an active account." in response.content.decode()
    assert "_auth_user_id" not in client.session
    failure = AuditEvent.objects.filter(action="auth.sign_in_failed").last()
    assert failure.data == {"email": member.email}
    assert failure.actor_id is None


def test_deactivated_person_cannot_sign_in(member, admin):
    services.user_deactivate(actor=admin, user=member)
    client = Client()

    response = sign_in(client, member.email)

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_deactivation_ends_open_sessions(member, admin):
    client = Client()
    sign_in(client, member.email)
    assert client.get("/").status_code == 200

    services.user_deactivate(actor=admin, user=member)

    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_pages_need_sign_in():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login") + "?next=/"


def test_sign_out_needs_post_and_ends_the_session(member):
    client = Client()
    sign_in(client, member.email)

    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.sign_out", actor_id=member.pk).exists()


def test_password_change_signs_out_every_other_session(member):
    laptop, phone = Client(), Client()
    sign_in(laptop, member.email)
    sign_in(phone, member.email)

    response = laptop.post(reverse("accounts:password_change"), {
        "old_password": PASSWORD,
        "new_password1": "a new and long passphrase",
        "new_password2": "a new and long passphrase",
    })

    assert response.status_code == 302
    assert laptop.get("/").status_code == 200
    assert phone.get("/").status_code == 302
    assert Session.objects.count() == 1
    assert AuditEvent.objects.filter(action="auth.password_changed").last().data == {
        "sessions_ended": 1}


def test_password_change_applies_the_password_rules(member):
    client = Client()
    sign_in(client, member.email)

    response = client.post(reverse("accounts:password_change"), {
        "old_password": PASSWORD, "new_password1": "12345", "new_password2": "12345"})

    assert response.status_code == 200
    body = response.content.decode()
    assert "too short" in body
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_password_reset_mails_a_link_that_sets_a_new_password(member):
    client = Client()

    response = client.post(reverse("accounts:password_reset"), {"email": member.email})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [member.email]
    link = re.search(r"https?://[^\s]+/accounts/password/reset/[^\s]+/", mail.outbox[0].body)
    assert link is not None
    path = link.group(0).split("testserver", 1)[1]
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200
    response = client.post(form_page.redirect_chain[-1][0], {
        "new_password1": "brand new passphrase 42", "new_password2": "brand new passphrase 42"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.check_password("brand new passphrase 42")


def test_password_reset_for_unknown_email_sends_nothing_and_says_the_same():
    response = Client().post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert mail.outbox == []
