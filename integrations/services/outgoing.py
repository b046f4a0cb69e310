"""Outgoing webhooks: new messages of chosen conversations POSTed to a URL, signed, with
retries and a delivery log; a JSON reply with text is posted back as the webhook's bot."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import User
from core.audit import audit_record
from core.errors import InvalidInput, NotFound
from core.parsers import json_loads
from core.secrets import decrypt, encrypt
from core.text import clean_name
from integrations import fetch, signing
from integrations.models import DeliveryStatus, OutgoingWebhook, WebhookDelivery
from integrations.services.common import require_admin
from messaging import services as messaging
from messaging.models import Message
from messaging.payloads import message_payload


class DeliveryFailed(Exception):
    """The receiver did not accept the delivery; the task retries it."""


def outgoing_webhook_create(*, actor: User, name: str, url: str, conversation_ids: Iterable[Any],
                            trigger_words: Iterable[str] = ()) -> tuple[OutgoingWebhook, str]:
    """Create a webhook and its bot, which `actor` brings into each channel through the
    membership service (messaging.services.membership_add_bot): a conversation `actor`
    may not see is NotFound, as if it did not exist; a direct conversation is refused.
    Returns the hook and its signing secret, shown only now."""
    require_admin(actor, "create webhooks")
    name = clean_name("name", name).strip()
    if not name or len(name) > 100:
        raise InvalidInput.for_field("name", "A name of 1 to 100 characters is required.")
    if not (url or "").startswith(("http://", "https://")) or len(url) > 500:
        raise InvalidInput.for_field("url", "An http or https address.")
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        raise InvalidInput.for_field("conversations", "Choose at least one conversation.")
    if len(ids) > 100:
        raise InvalidInput.for_field("conversations", "At most 100 conversations.")
    words = [w.strip() for w in trigger_words if isinstance(w, str) and w.strip()][:20]
    secret = "whsec_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        bot = accounts.bot_create(actor=actor, display_name=name,
                                  username=f"outgoing-{secrets.token_hex(4)}")
        conversations = [messaging.membership_add_bot(actor=actor, conversation_id=conversation_id,
                                                      bot=bot, field="conversations").conversation
                         for conversation_id in ids]
        hook = OutgoingWebhook.objects.create(name=name, bot=bot, url=url, trigger_words=words,
                                              secret_encrypted=encrypt(secret), created_by=actor)
        hook.conversations.set(conversations)
        audit_record(action="webhook.outgoing_created", actor=actor, target=hook,
                     data={"name": name, "url": url, "conversations": [c.pk for c in conversations],
                           "trigger_words": words})
    return hook, secret


def outgoing_webhook_revoke(*, actor: User, hook_id: Any) -> OutgoingWebhook:
    require_admin(actor, "revoke webhooks")
    hook = OutgoingWebhook.objects.filter(pk=hook_id).first()
    if hook is None:
        raise NotFound("No such webhook.")
    if hook.revoked_at is None:
        hook.revoked_at = timezone.now()
        hook.save(update_fields=["revoked_at"])
        audit_record(action="webhook.outgoing_revoked", actor=actor, target=hook)
    return hook


def _trigger(hook: OutgoingWebhook, text: str) -> str | None:
    """The trigger word the message starts with ("" when the hook takes every message)."""
    if not hook.trigger_words:
        return ""
    first = text.strip().split(maxsplit=1)[0].lower() if text.strip() else ""
    return next((w for w in hook.trigger_words if first == w.lower()), None)


def deliveries_create(*, message_id: int) -> list[int]:
    """A delivery for each live webhook that wants this message and whose bot is still a
    member of its conversation (not the webhook's own bot's messages, so a reply does not
    loop). Idempotent."""
    message = Message.objects.filter(pk=message_id, deleted_at__isnull=True).first()
    if message is None:
        return []
    created = []
    # A hook's reach is its bot's memberships: removing the bot from a channel stops it.
    for hook in OutgoingWebhook.objects.filter(revoked_at__isnull=True,
                                               conversations=message.conversation_id,
                                               bot__memberships__conversation=message.conversation_id):
        if hook.bot_id == message.author_id or _trigger(hook, message.text) is None:
            continue
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(webhook=hook, message=message)
        except IntegrityError:
            continue
        created.append(delivery.pk)
    return created


def _body(delivery: WebhookDelivery) -> bytes:
    message = delivery.message
    conversation = message.conversation
    return json.dumps({
        "type": "message.created",
        "delivery": delivery.pk,
        "webhook": delivery.webhook.name,
        "trigger_word": _trigger(delivery.webhook, message.text) or None,
        "conversation": {"id": conversation.pk, "kind": conversation.kind,
                         "name": conversation.name or None},
        "author": {"id": message.author_id, "display_name": message.author.display_name,
                   "is_bot": message.author.is_bot},
        "message": message_payload(message),
    }, separators=(",", ":"), ensure_ascii=False).encode()


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery:
    """Send one delivery. Marks it delivered on a 2xx answer (and posts a reply), or
    raises DeliveryFailed so the task retries; a delivered one is not sent again."""
    delivery = (WebhookDelivery.objects.select_related("webhook", "message__conversation",
                                                       "message__author")
                .filter(pk=delivery_id).first())
    if delivery is None or delivery.status == DeliveryStatus.DELIVERED or delivery.message is None:
        return delivery
    hook = delivery.webhook
    body = _body(delivery)
    stamp = int(time.time())
    secret = decrypt(hook.secret_encrypted)
    headers = {"Content-Type": "application/json", "X-Teamchat-Timestamp": str(stamp),
               "X-Teamchat-Signature": signing.sign(secret, stamp, body),
               "X-Teamchat-Delivery": str(delivery.pk)}
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=delivery.attempts + 1,
                                                          last_attempt_at=timezone.now())
    try:
        answer = fetch.request("POST", hook.url, body=body, headers=headers, timeout=10.0,
                               max_bytes=64 * 1024, follow_redirects=False)
    except fetch.FetchRefused as error:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(error=str(error)[:500],
                                                              response_status=None)
        raise DeliveryFailed(str(error)) from None
    excerpt = answer.body[:2000].decode("utf-8", "replace")
    if not 200 <= answer.status < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            response_status=answer.status, response_excerpt=excerpt, error=f"HTTP {answer.status}")
        raise DeliveryFailed(f"HTTP {answer.status}")
    reply = _reply(delivery, answer)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DELIVERED, delivered_at=timezone.now(), response_status=answer.status,
        response_excerpt=excerpt, error="", reply_message=reply)
    delivery.refresh_from_db()
    return delivery


def _reply(delivery: WebhookDelivery, answer: fetch.FetchResult) -> Message | None:
    """A JSON answer with `text` is posted back as the webhook's bot, in the same thread."""
    if "json" not in answer.headers.get("content-type", ""):
        return None
    try:
        data = json_loads(answer.body)  # bounded: deep brackets are no reply
    except ValueError:
        return None
    text = data.get("text") if isinstance(data, dict) else None
    if not isinstance(text, str) or not text.strip():
        return None
    message = delivery.message
    root = message.thread_root_id
    return messaging.message_create(
        author=delivery.webhook.bot, conversation_id=message.conversation_id, text=text[:40_000],
        thread_root_id=root, client_msg_id=f"webhook-reply-{delivery.pk}").message


def delivery_give_up(*, delivery_id: int, error: str) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id).exclude(status=DeliveryStatus.DELIVERED).update(
        status=DeliveryStatus.FAILED, error=error[:500])
