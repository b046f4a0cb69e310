"""Every door that can add a member to a conversation or read its messages, walked by every
role, as a member of the conversation and not, against every kind of conversation.

The rule each cell checks (docs/security.md, "What an admin can and cannot read"): whoever
may not see a conversation (a private channel or a direct conversation they are not in;
for guests, also a public channel they were not added to) gets 404 from every door, with
the very body a conversation that does not exist gets; whoever may see it may add a member
(a person or an integration's bot) only where a person may add one, and integrations never
enter a direct conversation. Owners and admins are no exception; compliance officers read
through the console and its exports only (tests/compliance/).

The doors: REST history and members; incoming and outgoing webhooks; a bot's API token
(minted by an admin, then used to read); slash commands (/invite, and a custom command
whose answer brings its bot in); the create_incoming_webhook management command; and the
WebSocket's subscribe and resume, through the functions the consumer calls for them; and
marking a message unread, which moves a member's own read position only; keeping a
draft and scheduling a message, which only a member who may post does; and following a
thread, asking who has read a message, and setting a reminder about a message, which
anyone who may see it may.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as accounts
from accounts.models import Role, User
from core.errors import NotFound
from core.models import AuditEvent
from integrations import services as integrations
from integrations.models import IncomingWebhook, OutgoingWebhook, SlashCommand
from messaging import selectors
from messaging import services as messaging
from messaging.models import (
    Conversation,
    ConversationEvent,
    Draft,
    Membership,
    Message,
    Reminder,
    ScheduledMessage,
    ThreadFollow,
)
from realtime.consumer import _visible_last_seq
from tests.factories import client_for, make_channel, make_direct, make_user, post
from tests.httpserver import LoopbackServer

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "member", "guest", "compliance"]
KINDS = ["public", "private", "direct", "group_direct"]
MEMBERSHIP = ["member", "not_member"]
DOORS = ["rest_read", "rest_add_member", "incoming_webhook", "outgoing_webhook",
         "webhook_bot_token", "bot_token_read", "slash_invite", "slash_custom",
         "management_command", "ws_subscribe", "ws_resume", "rest_mark_unread", "rest_draft",
         "rest_follow_thread", "rest_receipts", "rest_schedule", "rest_remind"]
DIRECT_KINDS = ("direct", "group_direct")
NO_SUCH_ID = 2**31 - 7


# --- What each cell must answer ----------------------------------------------------------


def sees(role: str, kind: str, membership: str) -> bool:
    return membership == "member" or (kind == "public" and role != "guest")


def expected(role: str, kind: str, membership: str, door: str):
    """The status (or outcome) for one cell; the rule in the module's docstring, spelt out."""
    visible = sees(role, kind, membership)
    org_admin = role in ("owner", "admin")
    member = membership == "member"
    direct = kind in DIRECT_KINDS
    # May this person add someone here (messaging.permissions.require_add_members)?
    adds = 404 if not visible else 400 if direct else 201 if org_admin else (
        403 if not member or role == "guest" else 201)
    if door in ("rest_read", "ws_subscribe", "ws_resume"):
        return 200 if visible else 404
    if door == "rest_mark_unread":
        return 200 if member else 404  # a read position is a member's own
    if door == "rest_draft":
        return 200 if member else 403 if visible else 404  # as posting a message
    if door == "rest_follow_thread":
        return 200 if visible else 404  # following a thread is reading it
    if door == "rest_receipts":
        return 200 if visible else 404  # who has read a message: for those who may see it
    if door == "rest_schedule":
        return 201 if member else 403 if visible else 404  # as posting a message
    if door == "rest_remind":
        return 201 if visible else 404  # about a message the person may see
    if door == "rest_add_member":
        return adds
    if door in ("incoming_webhook", "outgoing_webhook"):
        # Admins only (refused before the conversation is looked at, so nothing leaks to
        # others); then exactly as a person adding a member; never a direct conversation.
        return 403 if not org_admin else adds
    if door == "webhook_bot_token":
        # The reproduction, chained: create a webhook, mint its bot a token, read with it.
        # A webhook's bot gets no token, so the chain stops there whatever came before.
        created = 403 if not org_admin else adds
        return (created, 403 if created == 201 else None)
    if door == "bot_token_read":
        # A plain bot a member brought in: a token only for an admin who sees all it is in.
        if not org_admin:
            return (403, None)
        return (201, 200) if visible else (403, None)
    if door == "slash_invite":
        if not visible:
            return 404
        if role == "guest":
            return 400  # a guest's directory holds only people they share a conversation with
        return 400 if direct else 200 if org_admin or member else 403
    if door == "slash_custom":
        # Status, and whether the command's bot is now a member.
        if not visible:
            return (404, False)
        if direct:
            return (200, False)  # the answer stays ephemeral; no bot in a direct conversation
        return (200, True) if adds == 201 else (403, False)
    if door == "management_command":
        if direct:
            return "no channel"  # direct conversations have no name to give it
        if not org_admin:
            return "refused"
        return "created" if visible else "no channel"
    raise AssertionError(door)


# --- The scene of one cell ----------------------------------------------------------------


@dataclass
class Scene:
    actor: User
    creator: User
    conversation: Conversation
    newcomer: User
    bot: User
    bot_conversation: Conversation
    others: list[User] = field(default_factory=list)


def build_scene(role: str, kind: str, membership: str) -> Scene:
    creator = make_user(Role.MEMBER, name="Creator")
    setup_admin = make_user(Role.ADMIN, name="Setup Admin")
    actor = make_user(role)
    newcomer = make_user(Role.MEMBER, name="New Comer")
    partner = actor if membership == "member" else make_user(Role.MEMBER, name="Partner")
    third = make_user(Role.MEMBER, name="Third")
    bot = accounts.bot_create(actor=setup_admin, display_name="Helper", username="helper")
    if kind in ("public", "private"):
        conversation = make_channel(creator, kind=kind,
                                    members=[actor] if membership == "member" else [])
        # A member brings a plain bot in, as a person adds one.
        messaging.membership_add(actor=creator, conversation_id=conversation.pk, user_id=bot.pk)
        bot_conversation = conversation
    elif kind == "direct":
        conversation = make_direct(creator, partner)
        # A direct conversation takes a bot only when a member opens it with the bot.
        bot_conversation = make_direct(creator, *([actor] if membership == "member" else []), bot)
    else:
        conversation = make_direct(creator, partner, third)
        bot_conversation = make_direct(creator, partner, third, bot)
    post(creator, conversation, "the secret plans")
    if bot_conversation.pk != conversation.pk:
        post(creator, bot_conversation, "the secret plans")
    return Scene(actor, creator, conversation, newcomer, bot, bot_conversation)


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture(scope="module")
def receiver():
    """The custom slash command's server: it answers in the channel."""
    server = LoopbackServer().start()
    server.routes["/command"] = lambda request: (
        200, {"Content-Type": "application/json"},
        json.dumps({"response_type": "in_channel", "text": "On it."}).encode())
    yield server
    server.stop()


# --- Each door, walked once; returns what it answered -------------------------------------


def walk(door: str, scene: Scene, conversation_id: int, receiver, settings):
    client = client_for(scene.actor)
    if door == "rest_read":
        response = client.get(f"/api/v1/conversations/{conversation_id}/messages/")
        return response.status_code, response
    if door == "rest_add_member":
        response = client.post(f"/api/v1/conversations/{conversation_id}/members/",
                               {"user": scene.newcomer.pk}, format="json")
        return response.status_code, response
    if door == "incoming_webhook":
        response = client.post("/api/v1/integrations/incoming/",
                               {"name": "x", "conversation": conversation_id}, format="json")
        return response.status_code, response
    if door == "outgoing_webhook":
        response = client.post("/api/v1/integrations/outgoing/", {
            "name": "x", "url": "https://hooks.example.com/in", "conversations": [conversation_id]},
            format="json")
        return response.status_code, response
    if door == "webhook_bot_token":
        created = client.post("/api/v1/integrations/incoming/",
                              {"name": "x", "conversation": conversation_id}, format="json")
        if created.status_code != 201:
            return (created.status_code, None), created
        token = client.post(f"/api/v1/bots/{created.json()['bot']}/tokens/", {"name": "t"},
                            format="json")
        if token.status_code != 201:
            return (201, token.status_code), token
        read = bearer(token.json()["token"]).get(f"/api/v1/conversations/{conversation_id}/messages/")
        return (201, 201, read.status_code), read
    if door == "bot_token_read":
        token = client.post(f"/api/v1/bots/{scene.bot.pk}/tokens/", {"name": "t"}, format="json")
        if token.status_code != 201:
            return (token.status_code, None), token
        read = bearer(token.json()["token"]).get(
            f"/api/v1/conversations/{scene.bot_conversation.pk}/messages/")
        return (201, read.status_code), read
    if door == "slash_invite":
        response = client.post(f"/api/v1/conversations/{conversation_id}/commands/",
                               {"command": "invite", "text": f"<@{scene.newcomer.pk}>"},
                               format="json")
        return response.status_code, response
    if door == "slash_custom":
        slash = SlashCommand.objects.get(command="ticket")
        response = client.post(f"/api/v1/conversations/{conversation_id}/commands/",
                               {"command": "ticket", "text": "help"}, format="json")
        joined = Membership.objects.filter(user=slash.bot_id, conversation_id=conversation_id).exists()
        return (response.status_code, joined), response
    if door == "management_command":
        name = Conversation.objects.filter(pk=conversation_id).values_list("name", flat=True).first()
        out = io.StringIO()
        try:
            call_command("create_incoming_webhook", "--conversation", name or "no-such-channel",
                         "--name", "Jenkins", "--as", scene.actor.email, stdout=out)
        except CommandError as error:
            missing = f"No channel named {name or 'no-such-channel'} that {scene.actor.email} can see."
            return ("no channel" if str(error) == missing else "refused"), error
        return "created", out.getvalue()
    if door == "rest_mark_unread":
        newest = Message.objects.filter(conversation_id=conversation_id).order_by("-seq").first()
        response = client.post(f"/api/v1/messages/{newest.pk if newest else NO_SUCH_ID}/unread/")
        return response.status_code, response
    if door == "rest_draft":
        response = client.put(f"/api/v1/conversations/{conversation_id}/draft/", {"text": "hi"},
                              format="json")
        return response.status_code, response
    if door == "rest_follow_thread":
        newest = Message.objects.filter(conversation_id=conversation_id).order_by("-seq").first()
        response = client.put(f"/api/v1/messages/{newest.pk if newest else NO_SUCH_ID}/follow/",
                              {"following": True}, format="json")
        return response.status_code, response
    if door == "rest_receipts":
        newest = Message.objects.filter(conversation_id=conversation_id).order_by("-seq").first()
        response = client.get(f"/api/v1/messages/{newest.pk if newest else NO_SUCH_ID}/receipts/")
        return response.status_code, response
    if door == "rest_schedule":
        send_at = (timezone.now() + timedelta(hours=1)).isoformat()
        response = client.post("/api/v1/me/scheduled/", {"conversation": conversation_id, "text": "later",
                                                          "send_at": send_at}, format="json")
        return response.status_code, response
    if door == "rest_remind":
        newest = Message.objects.filter(conversation_id=conversation_id).order_by("-seq").first()
        response = client.post("/api/v1/me/reminders/", {"message": newest.pk if newest else NO_SUCH_ID,
                                                         "in_minutes": 20}, format="json")
        return response.status_code, response
    if door in ("ws_subscribe", "ws_resume"):
        try:
            if door == "ws_subscribe":
                _visible_last_seq(scene.actor, conversation_id)
            else:
                selectors.events_since(user=scene.actor, conversation_id=conversation_id,
                                       since_seq=0)
        except NotFound as error:
            return 404, error
        return 200, None
    raise AssertionError(door)


def snapshot(scene: Scene) -> tuple:
    """Who is in the scene's conversations, where each has read to, and how many events,
    drafts, thread follows, scheduled messages and reminders they have."""
    ids = {scene.conversation.pk, scene.bot_conversation.pk}
    return (sorted(Membership.objects.filter(conversation_id__in=ids)
                   .values_list("conversation_id", "user_id", "last_read_seq")),
            ConversationEvent.objects.filter(conversation_id__in=ids).count(),
            Draft.objects.filter(conversation_id__in=ids).count(),
            ThreadFollow.objects.filter(conversation_id__in=ids).count(),
            ScheduledMessage.objects.filter(conversation_id__in=ids).count(),
            Reminder.objects.filter(message__conversation_id__in=ids).count())


CASES = [(role, kind, membership, door)
         for role in ROLES for kind in KINDS for membership in MEMBERSHIP for door in DOORS]


@pytest.mark.parametrize("role, kind, membership, door", CASES)
def test_authorization_matrix(role, kind, membership, door, receiver, settings):
    scene = build_scene(role, kind, membership)
    if door == "slash_custom":
        settings.INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES = True
        integrations.slash_command_create(actor=make_user(Role.ADMIN), command="ticket",
                                          url=receiver.url("/command"))
    before = snapshot(scene)
    audit_before = AuditEvent.objects.count()

    outcome, answer = walk(door, scene, scene.conversation.pk, receiver, settings)

    assert outcome == expected(role, kind, membership, door), getattr(answer, "content", answer)

    first = outcome[0] if isinstance(outcome, tuple) else outcome
    if first == "no channel" or (first == 404 and not sees(role, kind, membership)):
        # Exactly what a conversation that does not exist gets: same status, same body.
        # (A conversation the person sees but is not in may say so.)
        other, other_answer = walk(door, scene, NO_SUCH_ID, receiver, settings)
        if door == "management_command":
            assert str(answer).replace(scene.conversation.name or "no-such-channel", "X") == (
                str(other_answer).replace("no-such-channel", "X"))
        else:
            assert (other[0] if isinstance(other, tuple) else other) == 404
            assert _body(answer) == _body(other_answer)
    if first in (400, 403, 404, "refused", "no channel"):
        # A refusal changes nothing: no member, no event, no audit row.
        assert snapshot(scene) == before
        assert AuditEvent.objects.count() == audit_before


def _body(answer):
    if isinstance(answer, NotFound):
        return answer.as_dict()
    return answer.json()


# --- The finding, as reported -----------------------------------------------------------


def test_an_admin_cannot_read_a_direct_conversation_through_a_webhook_bots_token(member,
                                                                                 other_member,
                                                                                 admin):
    """The reproduction: an admin who is not in direct conversation N creates an incoming
    webhook into it, mints its bot a token and reads the history with it."""
    direct = make_direct(member, other_member)
    post(member, direct, "just between us")
    client = client_for(admin)

    created = client.post("/api/v1/integrations/incoming/",
                          {"name": "x", "conversation": direct.pk}, format="json")
    missing = client.post("/api/v1/integrations/incoming/",
                          {"name": "x", "conversation": NO_SUCH_ID}, format="json")

    assert created.status_code == 404, created.content
    assert created.json() == missing.json() == {
        "error": {"code": "not_found", "detail": "No such conversation.", "fields": {}}}
    assert not IncomingWebhook.objects.exists()
    assert list(direct.memberships.values_list("user_id", flat=True).order_by("user_id")) == sorted(
        [member.pk, other_member.pk])
    # Had it been created, its bot would get no token either (bots/{bot}/tokens/).
    for bot in User.objects.filter(is_bot=True):
        assert client.post(f"/api/v1/bots/{bot.pk}/tokens/", {"name": "t"},
                           format="json").status_code == 403


def test_an_admin_cannot_have_a_private_channel_sent_to_their_url(member, admin):
    channel = make_channel(member, "board", kind="private")
    client = client_for(admin)
    body = {"name": "spy", "url": "https://attacker.example.com/in"}

    hidden = client.post("/api/v1/integrations/outgoing/", {**body, "conversations": [channel.pk]},
                         format="json")
    missing = client.post("/api/v1/integrations/outgoing/",
                          {**body, "conversations": [NO_SUCH_ID]}, format="json")
    public = make_channel(member, "lobby")
    mixed = client.post("/api/v1/integrations/outgoing/",
                        {**body, "conversations": [public.pk, channel.pk]}, format="json")

    assert (hidden.status_code, missing.status_code, mixed.status_code) == (404, 404, 404)
    assert hidden.json() == missing.json() == mixed.json()
    assert not OutgoingWebhook.objects.exists()
    assert not Membership.objects.filter(user__is_bot=True).exists()
    message = post(member, channel, "quarterly numbers")
    assert integrations.deliveries_create(message_id=message.pk) == []


def test_a_webhook_bot_joins_like_any_member_with_its_event_and_audit_row(member, admin):
    channel = make_channel(member, "alerts", kind="private", members=[admin])
    public = make_channel(member, "deploys")

    hook, _ = integrations.incoming_webhook_create(actor=admin, conversation_id=channel.pk,
                                                   name="CI")
    outgoing, _ = integrations.outgoing_webhook_create(
        actor=admin, name="Deployer", url="https://ci.example.com/hook",
        conversation_ids=[channel.pk, public.pk])

    for bot, conversation in ((hook.bot, channel), (outgoing.bot, channel), (outgoing.bot, public)):
        assert Membership.objects.filter(user=bot, conversation=conversation).exists()
        event = ConversationEvent.objects.get(conversation=conversation, type="member.joined",
                                              payload__user=bot.pk)
        assert event.payload == {"user": bot.pk, "by": admin.pk}
        audit = AuditEvent.objects.get(action="membership.added", conversation_id=conversation.pk,
                                       data__user=bot.pk)
        assert audit.actor_id == admin.pk


def test_a_direct_conversation_takes_no_webhook_even_from_its_members(member, admin, other_member):
    for direct in (make_direct(admin, member), make_direct(admin, member, other_member)):
        client = client_for(admin)
        incoming = client.post("/api/v1/integrations/incoming/",
                               {"name": "x", "conversation": direct.pk}, format="json")
        outgoing = client.post("/api/v1/integrations/outgoing/", {
            "name": "x", "url": "https://hooks.example.com/in", "conversations": [direct.pk]},
            format="json")
        assert incoming.status_code == outgoing.status_code == 400
        assert incoming.json()["error"]["code"] == "direct_conversation"
        assert list(incoming.json()["error"]["fields"]) == ["conversation"]
        assert list(outgoing.json()["error"]["fields"]) == ["conversations"]
    assert not Membership.objects.filter(user__is_bot=True).exists()


def test_the_management_command_acts_as_a_person_with_their_checks(member, admin, owner):
    make_channel(member, "secret-room", kind="private")
    make_channel(member, "deploys")
    for channel in ("secret-room", "no-such-room"):
        with pytest.raises(CommandError) as refused:
            call_command("create_incoming_webhook", "--conversation", channel, "--name", "CI",
                         stdout=io.StringIO())
        assert str(refused.value) == f"No channel named {channel} that {owner.email} can see."
    with pytest.raises(CommandError, match="Only owners and admins may create webhooks"):
        call_command("create_incoming_webhook", "--conversation", "deploys", "--name", "CI",
                     "--as", member.email, stdout=io.StringIO())
    out = io.StringIO()
    call_command("create_incoming_webhook", "--conversation", "deploys", "--name", "CI",
                 "--as", admin.email, stdout=out)
    hook = IncomingWebhook.objects.get()
    assert hook.created_by == admin and "/api/v1/hooks/whk_" in out.getvalue()
    assert AuditEvent.objects.filter(action="membership.added", actor=admin,
                                     data__user=hook.bot_id).exists()


def test_removing_an_outgoing_webhooks_bot_stops_its_deliveries(member, admin):
    channel = make_channel(member, "ops", kind="private", members=[admin])
    hook, _ = integrations.outgoing_webhook_create(actor=admin, name="Ops",
                                                   url="https://ops.example.com/hook",
                                                   conversation_ids=[channel.pk])
    assert integrations.deliveries_create(message_id=post(member, channel, "one").pk)

    messaging.membership_remove(actor=member, conversation_id=channel.pk, user_id=hook.bot_id)

    assert integrations.deliveries_create(message_id=post(member, channel, "two").pk) == []


def test_admins_list_only_webhooks_and_deliveries_of_what_they_see(member, admin, owner):
    channel = make_channel(member, "hr", kind="private", members=[owner])
    public = make_channel(member, "general")
    incoming, _ = integrations.incoming_webhook_create(actor=owner, conversation_id=channel.pk,
                                                       name="HR feed")
    outgoing, _ = integrations.outgoing_webhook_create(
        actor=owner, name="HR export", url="https://hr.example.com/in",
        conversation_ids=[channel.pk, public.pk])
    private_message = post(member, channel, "salaries")
    public_message = post(member, public, "lunch")
    for message in (private_message, public_message):
        assert integrations.deliveries_create(message_id=message.pk)

    insider, outsider = client_for(owner), client_for(admin)
    assert [h["id"] for h in insider.get("/api/v1/integrations/incoming/").json()["results"]] == [
        incoming.pk]
    assert outsider.get("/api/v1/integrations/incoming/").json()["results"] == []
    (listed,) = outsider.get("/api/v1/integrations/outgoing/").json()["results"]
    assert listed["conversations"] == [public.pk]
    (listed,) = insider.get("/api/v1/integrations/outgoing/").json()["results"]
    assert listed["conversations"] == sorted([channel.pk, public.pk])
    url = f"/api/v1/integrations/outgoing/{outgoing.pk}/deliveries/"
    assert [d["message"] for d in outsider.get(url).json()["results"]] == [public_message.pk]
    assert [d["message"] for d in insider.get(url).json()["results"]] == [
        public_message.pk, private_message.pk]


def test_a_bot_token_needs_an_admin_who_sees_all_the_bot_is_in(member, admin, owner):
    bot = accounts.bot_create(actor=admin, display_name="Reporter", username="reporter")
    channel = make_channel(member, "finance", kind="private", members=[owner])
    messaging.membership_add(actor=member, conversation_id=channel.pk, user_id=bot.pk)

    refused = client_for(admin).post(f"/api/v1/bots/{bot.pk}/tokens/", {"name": "t"},
                                     format="json")
    allowed = client_for(owner).post(f"/api/v1/bots/{bot.pk}/tokens/", {"name": "t"},
                                     format="json")
    by_member = client_for(member).post(f"/api/v1/bots/{NO_SUCH_ID}/tokens/", {"name": "t"},
                                        format="json")

    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "bot_beyond_reach")
    assert allowed.status_code == 201
    assert by_member.status_code == 403  # refused before the id is looked up


def test_djangos_admin_shows_admins_no_hidden_conversation_and_changes_nothing(member,
                                                                               other_member,
                                                                               admin):
    from django.test import Client

    secret = make_channel(member, "acquisition", kind="private")
    direct = make_direct(member, other_member)
    lobby = make_channel(member, "lobby")
    _, raw = accounts.api_token_create(actor=admin, user=admin, name="mine")
    token = admin.api_tokens.get()
    browser = Client()
    browser.force_login(admin)

    listing = browser.get("/admin/messaging/conversation/").content.decode()
    memberships = browser.get("/admin/messaging/membership/").content.decode()
    assert "lobby" in listing and "acquisition" not in listing
    assert f"direct:{direct.direct_key}" not in memberships
    for conversation in (secret, direct):
        assert browser.get(f"/admin/messaging/conversation/{conversation.pk}/change/").status_code != 200
        assert browser.post(f"/admin/messaging/conversation/{conversation.pk}/delete/",
                            {"post": "yes"}).status_code in (302, 403)
        assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert browser.get(f"/admin/messaging/conversation/{lobby.pk}/change/").status_code == 200

    # Re-pointing the admin's own token at a member, or a member's email at the admin
    # (then a password reset), would read the member's conversations: refused.
    assert browser.post(f"/admin/accounts/apitoken/{token.pk}/change/",
                        {"name": "mine", "user": member.pk}).status_code == 403
    assert browser.post(f"/admin/accounts/user/{member.pk}/change/", {
        "email": "adam@attacker.example.com", "display_name": member.display_name,
        "role": member.role, "timezone": "UTC"}).status_code == 403
    assert browser.post("/admin/accounts/apitoken/add/", {"name": "x", "user": member.pk}
                        ).status_code == 403
    token.refresh_from_db()
    member.refresh_from_db()
    assert token.user_id == admin.pk and member.email != "adam@attacker.example.com"
    assert bearer(raw).get(f"/api/v1/conversations/{secret.pk}/messages/").status_code == 404
