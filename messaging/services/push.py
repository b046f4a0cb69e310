"""Web Push notifications (RFC 8030), encrypted for each device (RFC 8291, aes128gcm) and
signed with this installation's VAPID key (RFC 8292), through pywebpush.

Who hears about a message is decided once, by notifications.notification_reasons (the
missed-message email's rule); a push goes at once instead of after a delay, and is simply
not sent while the person is active in a tab, in do-not-disturb or in quiet hours. One
notification per conversation is kept on a device (the tag and the push service's Topic
are the conversation's), and reading the conversation anywhere withdraws it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from accounts.models import Organisation, User
from core.errors import InvalidInput, NotFound
from core.secrets import decrypt, encrypt
from messaging.markdown import plain_text
from messaging.models import ConversationKind, Membership, Message, PushShown, PushSubscription
from messaging.services import notifications

logger = logging.getLogger(__name__)

# How long a push service keeps a notification for a device that is offline.
PUSH_TTL_SECONDS = 24 * 3600
BODY_CHARS = 200
ENCRYPTED_BODY = "An end-to-end encrypted message"
HIDDEN_BODY = "You have a new message"


# --- The VAPID key pair ----------------------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def vapid_public_key() -> str:
    """The application server key browsers subscribe with (the uncompressed P-256 point,
    base64url), generating the pair on first use. Safe for two processes at once: the
    first to store a pair wins and the other reads it."""
    organisation = Organisation.objects.get_or_create(pk=1)[0]
    if organisation.push_vapid_public_key:
        return organisation.push_vapid_public_key
    vapid = Vapid()
    vapid.generate_keys()
    public = _b64url(vapid.public_key.public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint))
    pem = vapid.private_pem().decode()
    Organisation.objects.filter(pk=1, push_vapid_public_key="").update(
        push_vapid_public_key=public, push_vapid_private_key_encrypted=encrypt(pem))
    return Organisation.objects.values_list("push_vapid_public_key", flat=True).get(pk=1)


def _vapid() -> Vapid:
    vapid_public_key()
    pem = Organisation.objects.values_list("push_vapid_private_key_encrypted", flat=True).get(pk=1)
    return Vapid.from_pem(decrypt(pem).encode())


# --- Subscriptions ---------------------------------------------------------------------


def _allowed_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    for allowed in settings.PUSH_SERVICE_HOSTS:
        allowed = allowed.lower().strip()
        if allowed.startswith(".") and host.endswith(allowed):
            return True
        if host == allowed:
            return True
    return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.username or parts.password or not host:
        raise InvalidInput.for_field("endpoint", "Must be a push service's address.")
    if not _allowed_host(host):
        raise InvalidInput.for_field(
            "endpoint", f"{host} is not a push service this server sends to (PUSH_SERVICE_HOSTS).")
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(host)):
        raise InvalidInput.for_field("endpoint", "Must be an https address.")
    return endpoint


def _check_key(field: str, value: str, size: int) -> str:
    try:
        raw = _b64url_decode(value)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size or (field == "p256dh" and raw[0] != 4):
        raise InvalidInput.for_field(field, f"Must be the subscription's {field} key, base64url.")
    return value


def push_subscription_save(*, actor: User, endpoint: str, p256dh: str, auth: str,
                           user_agent: str = "", device_name: str = "") -> tuple[PushSubscription, bool]:
    """Keep a device's subscription. Idempotent by endpoint: subscribing again updates
    the keys, and a browser another person subscribed before now notifies this one (one
    endpoint is one browser profile). Returns the subscription and whether it is new."""
    _check_endpoint(endpoint)
    _check_key("p256dh", p256dh, 65)
    _check_key("auth", auth, 16)
    with transaction.atomic():
        subscription, created = PushSubscription.objects.select_for_update().get_or_create(
            endpoint=endpoint, defaults={"user": actor, "p256dh": p256dh, "auth": auth,
                                         "user_agent": user_agent[:300],
                                         "device_name": device_name[:100]})
        if not created:
            subscription.user = actor
            subscription.p256dh, subscription.auth = p256dh, auth
            subscription.user_agent = user_agent[:300] or subscription.user_agent
            subscription.device_name = device_name[:100] or subscription.device_name
            subscription.save()
    return subscription, created


def push_subscription_delete(*, actor: User, subscription_id: Any) -> None:
    deleted, _ = PushSubscription.objects.filter(pk=subscription_id, user=actor).delete()
    if not deleted:
        raise NotFound("No such push subscription.")


# --- What is pushed --------------------------------------------------------------------


def _conversation_title(message: Message, user: User) -> str:
    if message.conversation.kind == ConversationKind.DIRECT:
        return message.author.display_name
    return f"{message.author.display_name} in #{message.conversation.name}"


def tag_for(conversation_id: int) -> str:
    """The notification's tag on the device and the push service's Topic (at most 32
    base64url characters, RFC 8030 5.4): one notification per conversation."""
    return f"conv-{conversation_id}"


def message_payload(message: Message, user: User) -> dict[str, Any]:
    """What a device is told of a message, no more than the person's preview setting
    allows, and never the text of an end-to-end encrypted one (the server has none)."""
    preview = user.notification_preview
    payload: dict[str, Any] = {
        "type": "message", "tag": tag_for(message.conversation_id),
        "url": f"/#/c/{message.conversation_id}/m/{message.pk}",
        "conversation": message.conversation_id, "message": message.pk,
    }
    if preview == "none":
        payload.update(title="teamchat", body=HIDDEN_BODY)
    elif message.key_id is not None:
        payload.update(title=_conversation_title(message, user), body=ENCRYPTED_BODY)
    elif preview == "sender":
        payload.update(title=_conversation_title(message, user), body="New message")
    else:
        payload.update(title=_conversation_title(message, user),
                       body=plain_text(message.html)[:BODY_CHARS])
    return payload


def withdraw_payload(conversation_id: int) -> dict[str, Any]:
    return {"type": "withdraw", "tag": tag_for(conversation_id)}


@dataclass
class PushPlanned:
    subscription_id: int
    payload: dict[str, Any]


def push_message_plan(*, message_id: int) -> list[PushPlanned]:
    """The pushes a new message calls for, one per device of each person who should hear
    of it now; notes each conversation pushed about, for the withdrawal."""
    from accounts import presence

    message = (Message.objects.select_related("conversation", "author")
               .filter(pk=message_id).first())
    if message is None or message.is_deleted:
        return []
    memberships = (Membership.objects.filter(conversation=message.conversation)
                   .exclude(user_id=message.author_id)
                   .filter(user__is_active=True, user__is_bot=False,
                           user__push_subscriptions__isnull=False).distinct()
                   .select_related("user"))
    reasons = notifications.notification_reasons(message, memberships)
    if not reasons:
        return []
    now = timezone.now()
    active = set(presence.active_among([m.user_id for m, _ in reasons]))
    users = {m.user_id: m.user for m, _ in reasons
             if m.user_id not in active and notifications.quiet_until(m.user, now) is None}
    planned = [PushPlanned(subscription.pk, message_payload(message, users[subscription.user_id]))
               for subscription in PushSubscription.objects.filter(user_id__in=users)]
    PushShown.objects.bulk_create(
        [PushShown(user_id=user_id, conversation_id=message.conversation_id, seq=message.seq)
         for user_id in users],
        update_conflicts=True, unique_fields=["user", "conversation"], update_fields=["seq"])
    return planned


def push_withdraw_plan(*, user_id: int, conversation_id: int) -> list[PushPlanned]:
    payload = withdraw_payload(conversation_id)
    return [PushPlanned(pk, payload) for pk in
            PushSubscription.objects.filter(user_id=user_id).values_list("pk", flat=True)]


def push_shown_read(*, user_id: int, conversation_id: int, seq: int) -> bool:
    """After a person read a conversation up to `seq`: whether a notification about it
    is on their devices to withdraw. Call inside the read's transaction."""
    deleted, _ = PushShown.objects.filter(user_id=user_id, conversation_id=conversation_id,
                                          seq__lte=seq).delete()
    return bool(deleted)


def push_shown_thread_read(*, user_id: int, conversation_id: int, root_id: int, upto: int) -> bool:
    """After a person read a thread up to reply `upto`: whether the notification on their
    devices for this conversation is about a reply now read (and so to withdraw). A
    notification about anything else in the conversation stays. Call inside the read's
    transaction."""
    shown = PushShown.objects.filter(user_id=user_id, conversation_id=conversation_id).first()
    if shown is None or not Message.objects.filter(
            conversation_id=conversation_id, seq=shown.seq, thread_root_id=root_id, pk__lte=upto).exists():
        return False
    shown.delete()
    return True


def push_withdraw_on_commit(user_id: int, conversation_id: int) -> None:
    """Withdraw the conversation's notification from the person's devices, after commit."""
    from messaging import tasks

    transaction.on_commit(lambda: tasks.push_withdraw.delay(user_id, conversation_id))


# --- Sending -----------------------------------------------------------------------------


class PushRetryLater(Exception):
    """The push service refused for now (429, 5xx or unreachable); try again later."""

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> int | None:
    try:
        return max(0, int(value)) if value else None
    except ValueError:
        return None


def push_send(*, subscription_id: int, payload: dict[str, Any]) -> bool:
    """Send one push to one device. Returns whether it was accepted; a device its push
    service no longer knows (404, 410) is forgotten. Raises PushRetryLater for what is
    worth trying again (the task retries it with growing waits)."""
    subscription = PushSubscription.objects.filter(pk=subscription_id).first()
    if subscription is None:
        return False
    _check_endpoint(subscription.endpoint)  # the allowed hosts may have changed since
    info = {"endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
    urgency = "high" if payload.get("type") == "message" else "normal"
    try:
        webpush(info, data=json.dumps(payload), vapid_private_key=_vapid(),
                vapid_claims={"sub": settings.PUSH_VAPID_SUBJECT}, ttl=PUSH_TTL_SECONDS,
                timeout=10, headers={"Topic": payload["tag"], "Urgency": urgency})
    except WebPushException as error:
        status = error.response.status_code if error.response is not None else None
        if status in (404, 410):
            PushSubscription.objects.filter(pk=subscription.pk).delete()
            logger.info("push subscription %s is gone (%s): removed", subscription.pk, status)
            return False
        if status is None or status == 429 or status >= 500:
            raise PushRetryLater(f"push service answered {status}", _retry_after(
                error.response.headers.get("Retry-After") if error.response is not None else None)
            ) from None
        logger.warning("push to subscription %s refused: %s", subscription.pk, status)
        return False
    except OSError as error:  # requests' connection errors are OSErrors
        raise PushRetryLater(f"push service unreachable: {type(error).__name__}") from None
    PushSubscription.objects.filter(pk=subscription.pk).update(last_used_at=timezone.now())
    return True
