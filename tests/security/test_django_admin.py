"""The Django admin shows; it never changes. Every model it lists has a service that
validates, records the audit row and closes sockets, so an admin page that saved a role,
an organisation policy, an invitation, a token or a group would do all that silently.
Walked for every registered model, as an org admin and as a superuser."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from accounts import services as accounts
from accounts.models import ApiToken, Invitation, Organisation, Role, User
from core.models import AuditEvent
from messaging.models import Conversation, Membership, UserGroup
from tests.factories import make_channel, make_user

pytestmark = pytest.mark.django_db


def _admin_client(person: User) -> Client:
    client = Client()
    client.force_login(person)
    return client


@pytest.fixture
def things(owner, member):
    """One row of every model the admin lists."""
    channel = make_channel(owner, members=[member])
    token, _ = accounts.api_token_create(actor=owner, user=owner, name="ci")
    invitation, _ = accounts.user_invite(actor=owner, email="new@example.com")
    from messaging.services import usergroup_create

    group = usergroup_create(actor=owner, handle="ops", name="Ops", member_ids=[member.pk])
    return {
        User: member,
        Organisation: Organisation.get(),
        Invitation: invitation,
        ApiToken: token,
        Conversation: channel,
        Membership: Membership.objects.get(user=member, conversation=channel),
        UserGroup: group,
        AuditEvent: AuditEvent.objects.order_by("id").first(),
    }


def test_the_admin_lists_exactly_the_models_it_shows_read_only():
    assert set(admin.site._registry) == {User, Organisation, Invitation, ApiToken, Conversation,
                                         Membership, UserGroup, AuditEvent}


@pytest.mark.parametrize("as_superuser", [False, True])
def test_every_admin_page_refuses_to_add_change_or_delete(things, owner, member, as_superuser):
    person = make_user(Role.ADMIN)
    if as_superuser:
        User.objects.filter(pk=person.pk).update(is_superuser=True)
        person.refresh_from_db()
    client = _admin_client(person)
    for model, row in things.items():
        opts = model._meta
        base = f"admin:{opts.app_label}_{opts.model_name}"
        before = {f.attname: getattr(row, f.attname) for f in opts.concrete_fields}
        count = model.objects.count()

        listing = client.get(reverse(f"{base}_changelist"))
        assert listing.status_code == 200, model
        assert b'name="action"' not in listing.content, f"{model}: bulk actions offered"
        page = client.get(reverse(f"{base}_change", args=[row.pk]))
        assert page.status_code == 200, model  # the view page
        assert b'name="_save"' not in page.content, model

        assert client.get(reverse(f"{base}_add")).status_code == 403, model
        assert client.post(reverse(f"{base}_add"), {}).status_code == 403, model
        changed = client.post(reverse(f"{base}_change", args=[row.pk]),
                              {"role": Role.OWNER, "is_active": "", "name": "renamed",
                               "require_two_factor": "all", "e2ee_policy": "off",
                               "handle": "renamed", "revoked_at": "2026-01-01 00:00"})
        assert changed.status_code == 403, model
        assert client.post(reverse(f"{base}_delete", args=[row.pk]), {"post": "yes"}
                           ).status_code == 403, model
        assert client.post(reverse(f"{base}_changelist"),
                           {"action": "delete_selected", "_selected_action": [row.pk],
                            "post": "yes"}).status_code in (200, 302, 403), model

        row.refresh_from_db()
        assert {f.attname: getattr(row, f.attname) for f in opts.concrete_fields} == before, model
        assert model.objects.count() == count, model


def test_the_admin_shows_no_password_hash_and_no_token_hash(things, owner):
    client = _admin_client(make_user(Role.ADMIN))
    user_page = client.get(reverse("admin:accounts_user_change", args=[things[User].pk]))
    assert things[User].password.encode() not in user_page.content
    token_page = client.get(reverse("admin:accounts_apitoken_change", args=[things[ApiToken].pk]))
    assert things[ApiToken].token_hash.encode() not in token_page.content
    invitation_page = client.get(reverse("admin:accounts_invitation_change",
                                         args=[things[Invitation].pk]))
    assert things[Invitation].token_hash.encode() not in invitation_page.content


def test_members_and_guests_do_not_reach_the_admin(member, guest):
    for person in (member, guest):
        response = _admin_client(person).get(reverse("admin:accounts_user_changelist"))
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
