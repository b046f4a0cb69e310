"""Incoming webhooks (Slack's payloads), outgoing webhooks (signed, retried, answered),
bots, slash commands: against real HTTP servers on loopback."""

from __future__ import annotations

import io
import json
import time
from urllib.parse import parse_qs, urlencode

import pytest
from django.core.management import call_command
from django.test import Client

from accounts import services as accounts
from integrations import services, signing
from integrations.models import DeliveryStatus, WebhookDelivery
from messaging.models import Message
from tests.factories import client_for, make_channel, make_user, post, wait_for
from tests.httpserver import LoopbackServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(admin):
    channel = make_channel(admin, "alerts")
    webhook, raw = services.incoming_webhook_create(actor=admin, conversation_id=channel.pk,
                                                    name="CI")
    return webhook, f"/api/v1/hooks/{raw}", channel


def send(url: str, payload, form: bool = False):
    client = Client()
    if form:
        return client.post(url, urlencode({"payload": json.dumps(payload)}),
                           content_type="application/x-www-form-urlencoded")
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(url, body, content_type="application/json")


def last(channel) -> Message:
    return Message.objects.filter(conversation=channel).order_by("-id").first()


def test_text_with_slack_mrkdwn_links_and_mentions(hook, member):
    webhook, url, channel = hook
    response = send(url, {"text": f"*Build* ~failed~ on <https://ci.example.com/42|job 42> "
                                  f"for <@{member.pk}> <!here> &lt;main&gt;"})
    assert (response.status_code, response.content) == (200, b"ok")
    message = last(channel)
    assert message.author_id == webhook.bot_id and message.author.is_bot
    assert message.html == (
        '<p><strong>Build</strong> <s>failed</s> on <a href="https://ci.example.com/42" '
        'target="_blank" rel="noopener noreferrer nofollow">job 42</a> for '
        f'<span class="mention" data-user-id="{member.pk}">@{member.display_name}</span> '
        '<span class="mention mention-special" data-mention="here">@here</span> &lt;main&gt;</p>')


def test_a_form_encoded_payload(hook):
    _, url, channel = hook
    assert send(url, {"text": "from a form"}, form=True).content == b"ok"
    assert last(channel).text == "from a form"


def test_blocks(hook):
    _, url, channel = hook
    response = send(url, {"text": "fallback", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Deploy report"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*3* services updated"},
         "fields": [{"type": "mrkdwn", "text": "*Env*: prod"},
                    {"type": "plain_text", "text": "Region: eu"}]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "by _pipeline_"}]},
    ]})
    assert response.content == b"ok"
    html = last(channel).html
    assert "<strong>Deploy report</strong>" in html
    assert "<strong>3</strong> services updated" in html
    assert "<li><strong>Env</strong>: prod</li>" in html and "<li>Region: eu</li>" in html
    assert "<hr>" in html and "fallback" not in html


def test_legacy_attachments(hook):
    _, url, channel = hook
    send(url, {"attachments": [{
        "fallback": "Ticket 7 opened", "pretext": "New ticket", "color": "#36a64f",
        "title": "Ticket 7", "title_link": "https://tracker.example.com/7",
        "text": "Printer on fire", "fields": [{"title": "Priority", "value": "High", "short": True}],
    }, {"fallback": "only a fallback"}]})
    html = last(channel).html
    assert "<p>New ticket</p>" in html
    assert '<a href="https://tracker.example.com/7"' in html and ">Ticket 7</a>" in html
    assert "Printer on fire" in html and "<strong>Priority</strong>: High" in html
    assert "only a fallback" in html and "<blockquote>" in html


@pytest.mark.parametrize("payload, error", [
    ("{not json", b"invalid_payload"),
    ("[1, 2]", b"invalid_payload"),
    ({}, b"no_text"),
    ({"text": "   "}, b"no_text"),
    ({"blocks": [{"type": "carousel"}]}, b"invalid_blocks"),
    ({"blocks": [{"type": "section"}]}, b"invalid_blocks"),
    ({"blocks": "nope"}, b"invalid_blocks"),
    ({"text": 42}, b"invalid_payload"),
    ({"attachments": "x"}, b"invalid_attachments"),
])
def test_bad_payloads_fail_cleanly_and_post_nothing(hook, payload, error):
    _, url, channel = hook
    before = Message.objects.filter(conversation=channel).count()
    response = send(url, payload)
    assert (response.status_code, response.content) == (400, error)
    assert response["Content-Type"].startswith("text/plain")
    assert Message.objects.filter(conversation=channel).count() == before


def test_a_revoked_or_unknown_url_is_404(hook, admin):
    webhook, url, _ = hook
    services.incoming_webhook_revoke(actor=admin, hook_id=webhook.pk)
    assert (send(url, {"text": "x"}).status_code, send(url, {"text": "x"}).content) == (
        404, b"no_service")
    assert send("/api/v1/hooks/whk_madeup", {"text": "x"}).status_code == 404


def test_calls_are_rate_limited(hook, settings):
    settings.INCOMING_WEBHOOK_RATE_PER_MINUTE = 3
    _, url, channel = hook
    statuses = [send(url, {"text": f"n{n}"}).status_code for n in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    assert Message.objects.filter(conversation=channel, text__startswith="n").count() == 3


def test_the_command_prints_a_working_url(admin, owner):
    make_channel(admin, "deploys")
    out = io.StringIO()
    call_command("create_incoming_webhook", "--conversation", "deploys", "--name", "Jenkins",
                 stdout=out)
    url = out.getvalue().strip()
    assert url.startswith("http://") and "/api/v1/hooks/whk_" in url
    assert send("/" + url.split("://", 1)[1].split("/", 1)[1], {"text": "hi"}).content == b"ok"


# --- Bots -------------------------------------------------------------------------------------


def test_a_bot_uses_the_api_only_where_it_was_added(admin, member):
    from rest_framework.test import APIClient

    bot = accounts.bot_create(actor=admin, display_name="Helper", username="helper")
    _, raw = accounts.api_token_create(actor=admin, user=bot, name="t")
    inside = make_channel(member, "with-bot", members=[bot])
    outside = make_channel(member, "public-no-bot")
    private = make_channel(member, "private-no-bot", kind="private")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert client.post(f"/api/v1/conversations/{inside.pk}/messages/", {"text": "beep"},
                       format="json").status_code == 201
    for channel in (outside, private):
        assert client.get(f"/api/v1/conversations/{channel.pk}/messages/").status_code == 404
        assert client.post(f"/api/v1/conversations/{channel.pk}/messages/", {"text": "x"},
                           format="json").status_code == 404
    assert client.post(f"/api/v1/conversations/{outside.pk}/join/").status_code == 404
    assert client_for(member).post("/api/v1/bots/", {"display_name": "x", "username": "y"},
                                   format="json").status_code == 403


# --- Outgoing webhooks ------------------------------------------------------------------------


@pytest.fixture
def receiver(settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES = True
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_outgoing_webhooks_sign_retry_deliver_once_and_post_replies(receiver, real_worker):
    admin = make_user("admin")
    channel = make_channel(admin, "ops")
    answers = iter([(500, {}, b"down"), (502, {}, b"still down")])

    def handle(request):
        try:
            return next(answers)
        except StopIteration:
            return 200, {"Content-Type": "application/json"}, b'{"text": "Deploying **now**"}'

    receiver.routes["/hook"] = handle
    hook, secret = services.outgoing_webhook_create(
        actor=admin, name="Deployer", url=receiver.url("/hook"), conversation_ids=[channel.pk],
        trigger_words=["deploy"])

    post(admin, channel, "just chatting")
    trigger = post(admin, channel, "deploy api to prod")
    wait_for(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).exists())
    wait_for(lambda: Message.objects.filter(author=hook.bot).exists())

    delivery = WebhookDelivery.objects.get()
    assert (delivery.message_id, delivery.attempts, delivery.response_status) == (trigger.pk, 3, 200)
    assert len(receiver.requests) == 3  # two refusals, then one accepted delivery
    accepted = receiver.requests[-1]
    body = json.loads(accepted.body)
    assert (body["message"]["id"], body["trigger_word"]) == (trigger.pk, "deploy")
    assert signing.verify(secret, accepted.headers["X-Teamchat-Timestamp"], accepted.body,
                          accepted.headers["X-Teamchat-Signature"])
    assert accepted.headers["X-Teamchat-Delivery"] == str(delivery.pk)
    reply = Message.objects.get(author=hook.bot)
    assert reply.html == "<p>Deploying <strong>now</strong></p>"
    time.sleep(1)
    assert WebhookDelivery.objects.count() == 1  # the bot's reply is not sent back


def test_the_reference_verifier_refuses_tampered_replayed_and_stale_requests():
    secret, body = "whsec_test", b'{"type":"message.created"}'
    now = 1_800_000_000
    good = signing.sign(secret, now, body)
    assert signing.verify(secret, str(now), body, good, now=now + 10)
    assert not signing.verify(secret, str(now), body + b" ", good, now=now)
    assert not signing.verify("whsec_other", str(now), body, good, now=now)
    assert not signing.verify(secret, str(now), body, good, now=now + 301)  # replayed later
    assert not signing.verify(secret, str(now + 5), body, good, now=now)  # timestamp swapped
    assert not signing.verify(secret, "soon", body, good, now=now)


def test_without_the_setting_private_addresses_are_refused(admin, settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES = False
    server = LoopbackServer().start()
    server.routes["/hook"] = lambda r: (200, {}, b"")
    try:
        channel = make_channel(admin, "quiet")
        services.outgoing_webhook_create(actor=admin, name="Local", url=server.url("/hook"),
                                         conversation_ids=[channel.pk])
        message = post(admin, channel, "hello")
        (delivery_id,) = services.deliveries_create(message_id=message.pk)
        with pytest.raises(services.outgoing.DeliveryFailed):
            services.delivery_attempt(delivery_id=delivery_id)
    finally:
        server.stop()
    assert server.requests == []
    assert "non-public address" in WebhookDelivery.objects.get().error


# --- Slash commands ---------------------------------------------------------------------------


def test_built_in_commands(member, other_member):
    channel = make_channel(member, "cmds")
    client = client_for(member)
    url = f"/api/v1/conversations/{channel.pk}/commands/"

    me = client.post(url, {"command": "me", "text": "waves"}, format="json").json()
    topic = client.post(url, {"command": "topic", "text": "Launch week"}, format="json").json()
    invite = client.post(url, {"command": "invite", "text": f"@{other_member.display_name}"},
                         format="json").json()
    mute = client.post(url, {"command": "mute"}, format="json").json()
    dnd = client.post(url, {"command": "dnd", "text": "30"}, format="json").json()
    away = client.post(url, {"command": "away"}, format="json").json()
    unknown = client.post(url, {"command": "teleport"}, format="json")

    assert me["response_type"] == "in_channel" and me["message"]["text"] == "_Mia Member waves_"
    assert topic == {"response_type": "ephemeral", "text": "Topic set to: Launch week",
                     "message": None}
    channel.refresh_from_db()
    assert channel.topic == "Launch week"
    assert channel.memberships.filter(user=other_member).exists()
    assert invite["text"] == f"{other_member.display_name} is in the channel."
    assert mute["text"] == "Muted."
    assert dnd["text"] == "Do not disturb for 30 minutes."
    assert away["text"] == "You are away."
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_command"
    leave = client_for(other_member).post(url, {"command": "leave"}, format="json").json()
    assert leave["text"] == "You left the channel."


def test_a_custom_command_gets_slacks_form_with_its_token(admin, member, receiver):
    channel = make_channel(member, "support", members=[admin])

    def answer(request):
        form = parse_qs(request.body.decode())
        ephemeral = form["text"] == ["private"]
        reply = {"response_type": "ephemeral" if ephemeral else "in_channel",
                 "text": f"Ticket for {form['user_name'][0]}: {form['text'][0]}"}
        return 200, {"Content-Type": "application/json"}, json.dumps(reply).encode()

    receiver.routes["/ticket"] = answer
    slash, token = services.slash_command_create(actor=admin, command="ticket",
                                                 url=receiver.url("/ticket"))
    url = f"/api/v1/conversations/{channel.pk}/commands/"

    public = client_for(member).post(url, {"command": "/ticket", "text": "printer"},
                                     format="json").json()
    assert "response_type" in public, public
    private = client_for(member).post(url, {"command": "ticket", "text": "private"},
                                      format="json").json()

    form = parse_qs(receiver.requests[0].body.decode())
    assert form["token"] == [token] and form["command"] == ["/ticket"]
    assert form["channel_id"] == [str(channel.pk)] and form["user_id"] == [str(member.pk)]
    assert public["response_type"] == "in_channel"
    assert public["message"]["author"] == slash.bot_id
    assert private == {"response_type": "ephemeral", "text": "Ticket for Mia Member: private",
                       "message": None}
    assert not Message.objects.filter(text__contains="private").exists()
    assert any(c["command"] == "ticket" for c in client_for(member).get(
        "/api/v1/commands/").json()["results"])
