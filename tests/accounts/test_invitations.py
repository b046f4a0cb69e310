"""Invitations: a link that works once and expires."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Role, User
from core.errors import Conflict, Forbidden, NotFound

pytestmark = pytest.mark.django_db


def invite(actor, email="new.person@example.com", role=Role.MEMBER, *, capture):
    with capture(execute=True):
        return services.user_invite(actor=actor, email=email, role=role)


def test_admin_invites_by_email_and_the_link_creates_the_account(
        admin, django_capture_on_commit_callbacks):
    invitation, token = invite(admin, capture=django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.person@example.com"]
    assert f"/invite/{token}/" in mail.outbox[0].body
    assert token not in invitation.token_hash
    client = Client()
    response = client.post(f"/invite/{token}/", {
        "display_name": "New Person", "password": "a long new passphrase",
        "password_again": "a long new passphrase"})

    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.com")
    assert user.role == Role.MEMBER
    assert user.display_name == "New Person"
    assert client.get("/").status_code == 200


def test_an_invitation_works_only_once(admin, django_capture_on_commit_callbacks):
    _, token = invite(admin, capture=django_capture_on_commit_callbacks)
    services.invitation_accept(token=token, display_name="First", password="a long new passphrase")

    with pytest.raises(Conflict) as error:
        services.invitation_accept(token=token, display_name="Second",
                                   password="another long passphrase")

    assert error.value.code == "invitation_used"
    assert User.objects.filter(email="new.person@example.com").count() == 1
    response = Client().post(f"/invite/{token}/", {
        "display_name": "Again", "password": "a long new passphrase",
        "password_again": "a long new passphrase"})
    assert response.status_code == 409
    assert "already been used" in response.content.decode()


def test_an_expired_invitation_is_refused(admin, django_capture_on_commit_callbacks):
    invitation, token = invite(admin, capture=django_capture_on_commit_callbacks)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(Conflict) as error:
        services.invitation_accept(token=token, display_name="Late", password="a long passphrase 1")

    assert error.value.code == "invitation_expired"
    assert not User.objects.filter(email="new.person@example.com").exists()


def test_an_unknown_or_revoked_link_is_not_found(admin, django_capture_on_commit_callbacks):
    invitation, token = invite(admin, capture=django_capture_on_commit_callbacks)
    services.invitation_revoke(actor=admin, invitation=invitation)

    with pytest.raises(NotFound):
        services.invitation_accept(token=token, display_name="X", password="a long passphrase 1")
    with pytest.raises(NotFound):
        services.invitation_accept(token="made-up", display_name="X", password="a long passphrase 1")


def test_the_invited_role_is_given_and_weak_passwords_are_refused(
        admin, django_capture_on_commit_callbacks):
    _, token = invite(admin, "guest.person@example.com", Role.GUEST,
                      capture=django_capture_on_commit_callbacks)
    response = Client().post(f"/invite/{token}/", {
        "display_name": "G", "password": "password", "password_again": "password"})
    assert response.status_code == 200
    assert "too common" in response.content.decode()
    assert not User.objects.filter(email="guest.person@example.com").exists()

    user = services.invitation_accept(token=token, display_name="G",
                                      password="guest passphrase long")
    assert user.role == Role.GUEST


@pytest.mark.parametrize("role", [Role.MEMBER, Role.GUEST, Role.COMPLIANCE])
def test_only_owners_and_admins_may_invite(role, user_factory):
    actor = user_factory(role)
    with pytest.raises(Forbidden):
        services.user_invite(actor=actor, email="x@example.com")
    assert not Invitation.objects.exists()


def test_only_an_owner_may_invite_an_owner(admin, owner, django_capture_on_commit_callbacks):
    with pytest.raises(Forbidden):
        services.user_invite(actor=admin, email="boss@example.com", role=Role.OWNER)
    invitation, _ = invite(owner, "boss@example.com", Role.OWNER,
                           capture=django_capture_on_commit_callbacks)
    assert invitation.role == Role.OWNER


def test_inviting_an_existing_address_is_a_conflict(admin, member):
    with pytest.raises(Conflict):
        services.user_invite(actor=admin, email=member.email.upper())


def test_admins_invite_over_the_api_and_see_the_link_once(admin, member,
                                                         django_capture_on_commit_callbacks):
    from tests.factories import client_for

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).post("/api/v1/invitations/",
                                          {"email": "api.person@example.com", "role": "guest"},
                                          format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["url"].split("/invite/")[1].rstrip("/") in mail.outbox[0].body
    listing = client_for(admin).get("/api/v1/invitations/").json()["results"]
    assert [(i["email"], i["role"]) for i in listing] == [("api.person@example.com", "guest")]
    assert "url" not in listing[0]
    assert client_for(member).get("/api/v1/invitations/").status_code == 403
    assert client_for(member).post("/api/v1/invitations/", {"email": "x@example.com"},
                                   format="json").status_code == 403
    assert client_for(admin).delete(f"/api/v1/invitations/{body['id']}/").status_code == 204
    assert Invitation.objects.get(pk=body["id"]).revoked_at is not None
