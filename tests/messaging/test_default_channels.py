"""Onboarding (issue 34): owners and admins choose default channels, and new people join
them when their account is made (an accepted invitation, single sign-on, the console);
guests and bots join none. Invitations offer Member first."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import services as accounts
from accounts.forms import InviteForm
from accounts.models import Role, User
from core.errors import Forbidden, InvalidInput
from messaging import services
from messaging.models import Conversation, Membership
from tests.factories import client_for, make_channel, make_user

pytestmark = pytest.mark.django_db


def channels_of(user) -> set[str]:
    return set(Membership.objects.filter(user=user).values_list("conversation__name", flat=True))


def test_new_people_join_the_default_channels_and_guests_and_bots_do_not(
        admin, django_capture_on_commit_callbacks):
    general = make_channel(admin, "general")
    make_channel(admin, "random")
    archived = make_channel(admin, "old-news")
    for channel in (general, archived):
        services.conversation_update(actor=admin, conversation_id=channel.pk, default=True)
    services.conversation_update(actor=admin, conversation_id=archived.pk, archived=True)

    with django_capture_on_commit_callbacks(execute=True):
        _, token = accounts.user_invite(actor=admin, email="new.hire@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(f"/invite/{token}/", {
            "display_name": "New Hire", "password": "a long new passphrase",
            "password_again": "a long new passphrase"})
    assert response.status_code == 302
    hire = User.objects.get(email="new.hire@example.com")
    assert channels_of(hire) == {"general"}  # not random, not the archived one

    with django_capture_on_commit_callbacks(execute=True):
        guest = accounts.user_create(email="guest@example.com", display_name="Gus",
                                     password=None, role=Role.GUEST, actor=admin)
        bot = accounts.bot_create(actor=admin, display_name="Helper", username="helper")
        sso = accounts.user_create(email="sso@example.com", display_name="Sam", password=None)
    assert channels_of(guest) == set() and channels_of(bot) == set()
    assert channels_of(sso) == {"general"}


def test_only_owners_and_admins_choose_and_only_public_channels(admin, member):
    public = make_channel(member, "handbook")
    private = make_channel(member, "secret", kind="private", members=[admin])
    with pytest.raises(Forbidden):
        services.conversation_update(actor=member, conversation_id=public.pk, default=True)
    for bad, channel in (("nope", public), (True, private)):
        with pytest.raises(InvalidInput) as refused:
            services.conversation_update(actor=admin, conversation_id=channel.pk, default=bad)
        assert list(refused.value.fields) == ["default"]
    assert not Conversation.objects.filter(is_default=True).exists()

    answer = client_for(admin).patch(f"/api/v1/conversations/{public.pk}/", {"default": True},
                                     format="json")
    assert answer.status_code == 200 and answer.json()["default"] is True
    refused = client_for(member).patch(f"/api/v1/conversations/{public.pk}/", {"default": False},
                                       format="json")
    assert refused.status_code == 403
    listed = client_for(member).get("/api/v1/conversations/").json()["results"]
    assert [c["default"] for c in listed if c["id"] == public.pk] == [True]


def test_invitations_offer_member_first():
    form = InviteForm()
    assert form.fields["role"].initial == Role.MEMBER
    assert next(value for value, _ in form.fields["role"].choices) == Role.MEMBER
    assert Role.OWNER not in [value for value, _ in form.fields["role"].choices]
    assert 'value="member" selected' in str(form["role"])


def test_the_demo_makes_general_the_default(db):
    from teamchat.demo import seed_demo

    seed_demo()
    assert list(Conversation.objects.filter(is_default=True).values_list("name", flat=True)) == ["general"]
    newcomer = make_user(name="Late Arrival")
    assert "general" not in channels_of(newcomer)  # made without the bus's commit here
    services.default_channels_join(user_id=newcomer.pk)
    assert "general" in channels_of(newcomer)
