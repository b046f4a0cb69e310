"""The authorization matrix: every role against every kind of conversation and action,
over the REST API. A refusal changes nothing; where existence is secret it is a 404."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from accounts import services as accounts
from accounts.models import Role, User
from messaging import services
from messaging.models import Conversation, Message
from tests.factories import client_for, make_channel, make_direct, make_user, post

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "compliance", "member", "guest", "bot", "outsider"]
KINDS = ["public", "private", "direct", "archived"]
ACTIONS = ["read", "post", "edit_own", "edit_others", "delete_own", "delete_others", "react",
           "add_member", "rename", "archive"]


def expected(role: str, kind: str, action: str) -> int:
    org_admin = role in ("owner", "admin")
    if role == "outsider":
        if kind in ("private", "direct"):
            return 404
        if action == "read":
            return 200
        if kind == "public" and action == "edit_own":
            return 200
        if kind == "public" and action == "delete_own":
            return 204
        return 403
    if kind == "archived":
        if action == "read":
            return 200
        if action == "archive":
            return 200 if org_admin else 403
        return 403
    if kind == "direct":
        return {"read": 200, "post": 201, "edit_own": 200, "edit_others": 403,
                "delete_own": 204, "delete_others": 403, "react": 201, "add_member": 400,
                "rename": 400, "archive": 400}[action]
    return {
        "read": 200, "post": 201, "edit_own": 200, "edit_others": 403, "delete_own": 204,
        "delete_others": 204 if org_admin else 403, "react": 201,
        "add_member": 403 if role == "guest" else 201,
        "rename": 200 if org_admin else 403, "archive": 200 if org_admin else 403,
    }[action]


@dataclass
class Scene:
    actor: User
    conversation: Conversation
    own_message: Message | None
    others_message: Message
    newcomer: User


def build_scene(role: str, kind: str) -> Scene:
    creator = make_user(Role.MEMBER, name="Channel Creator")
    org_admin = make_user(Role.ADMIN, name="Setup Admin")
    if role == "bot":
        actor = accounts.bot_create(actor=org_admin, display_name="Bot", username="matrix-bot")
    else:
        actor = make_user(Role.MEMBER if role == "outsider" else role)
    newcomer = make_user(Role.MEMBER, name="New Comer")
    if kind == "direct":
        partner = make_user(Role.MEMBER, name="Partner") if role == "outsider" else actor
        conversation = make_direct(creator, partner)
    else:
        conversation = make_channel(creator, kind="private" if kind == "private" else "public",
                                    members=[actor])
    others_message = post(creator, conversation, "creator's words")
    own_message = None
    if not (role == "outsider" and kind == "direct"):
        own_message = post(actor, conversation, "actor's words")
    if role == "outsider" and kind != "direct":
        services.membership_remove(actor=creator, conversation_id=conversation.pk,
                                   user_id=actor.pk)
    if kind == "archived":
        services.conversation_update(actor=creator, conversation_id=conversation.pk,
                                     archived=True)
    return Scene(actor, conversation, own_message, others_message, newcomer)


def perform(scene: Scene, action: str) -> Any:
    client = client_for(scene.actor)
    cid = scene.conversation.pk
    own = scene.own_message.pk if scene.own_message else scene.others_message.pk
    others = scene.others_message.pk
    requests = {
        "read": lambda: client.get(f"/api/v1/conversations/{cid}/messages/"),
        "post": lambda: client.post(f"/api/v1/conversations/{cid}/messages/",
                                    {"text": "hello"}, format="json"),
        "edit_own": lambda: client.patch(f"/api/v1/messages/{own}/", {"text": "edited"},
                                         format="json"),
        "edit_others": lambda: client.patch(f"/api/v1/messages/{others}/", {"text": "edited"},
                                            format="json"),
        "delete_own": lambda: client.delete(f"/api/v1/messages/{own}/"),
        "delete_others": lambda: client.delete(f"/api/v1/messages/{others}/"),
        "react": lambda: client.post(f"/api/v1/messages/{others}/reactions/", {"emoji": "👍"},
                                     format="json"),
        "add_member": lambda: client.post(f"/api/v1/conversations/{cid}/members/",
                                          {"user": scene.newcomer.pk}, format="json"),
        "rename": lambda: client.patch(f"/api/v1/conversations/{cid}/", {"name": "renamed"},
                                       format="json"),
        "archive": lambda: client.patch(f"/api/v1/conversations/{cid}/", {"archived": True},
                                        format="json"),
    }
    return requests[action]()


CASES = [
    (role, kind, action)
    for role in ROLES for kind in KINDS for action in ACTIONS
    # An outsider of a direct conversation never wrote in it: nothing of theirs to change.
    if not (role == "outsider" and kind == "direct" and action in ("edit_own", "delete_own"))
]


@pytest.mark.parametrize("role, kind, action", CASES)
def test_authorization_matrix(role, kind, action):
    scene = build_scene(role, kind)
    seq_before = Conversation.objects.get(pk=scene.conversation.pk).last_seq
    texts_before = list(Message.objects.order_by("pk").values_list("text", "deleted_at"))

    response = perform(scene, action)

    assert response.status_code == expected(role, kind, action), response.content
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) == {"code", "detail", "fields"}
        assert Conversation.objects.get(pk=scene.conversation.pk).last_seq == seq_before
        assert list(Message.objects.order_by("pk").values_list("text", "deleted_at")) == (
            texts_before)
    if response.status_code == 404:
        assert body["error"]["code"] == "not_found"


def test_org_admins_do_not_see_private_channels_they_are_not_in(member, admin, owner):
    channel = make_channel(member, kind="private")
    message = post(member, channel, "confidential")
    for outsider in (admin, owner):
        client = client_for(outsider)
        assert client.get(f"/api/v1/conversations/{channel.pk}/").status_code == 404
        assert client.get(f"/api/v1/messages/{message.pk}/").status_code == 404
        assert client.patch(f"/api/v1/conversations/{channel.pk}/", {"archived": True},
                            format="json").status_code == 404


def test_guests_and_bots_see_no_public_channel_they_were_not_added_to(member, admin, guest):
    bot = accounts.bot_create(actor=admin, display_name="Bot", username="lonely")
    channel = make_channel(member, "town-square")
    post(member, channel)
    for outsider in (guest, bot):
        client = client_for(outsider)
        assert client.get(f"/api/v1/conversations/{channel.pk}/messages/").status_code == 404
        assert client.post(f"/api/v1/conversations/{channel.pk}/join/").status_code == 404
        names = [c["name"] for c in client.get("/api/v1/conversations/directory/").json()[
            "results"]]
        assert "town-square" not in names


def test_a_removed_member_loses_a_private_channel_at_once(member, other_member):
    channel = make_channel(member, kind="private", members=[other_member])
    client = client_for(other_member)
    assert client.get(f"/api/v1/conversations/{channel.pk}/messages/").status_code == 200

    services.membership_remove(actor=member, conversation_id=channel.pk, user_id=other_member.pk)

    assert client.get(f"/api/v1/conversations/{channel.pk}/messages/").status_code == 404


def test_channel_admins_moderate_their_channel(member, other_member, user_factory):
    third = user_factory()
    channel = make_channel(member, members=[other_member, third])
    services.membership_role_change(actor=member, conversation_id=channel.pk,
                                    user_id=other_member.pk, role="admin")
    message = post(third, channel, "off topic")

    response = client_for(other_member).delete(f"/api/v1/messages/{message.pk}/")
    assert response.status_code == 204
    response = client_for(other_member).delete(
        f"/api/v1/conversations/{channel.pk}/members/{third.pk}/")
    assert response.status_code == 204
