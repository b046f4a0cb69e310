"""Incoming webhooks: a secret URL that posts into one conversation as a bot."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import User
from core import ratelimit
from core.audit import audit_record
from core.errors import InvalidInput, NotFound, RateLimited
from core.text import clean_name
from integrations import slack
from integrations.models import IncomingWebhook
from integrations.services.common import require_admin
from messaging import services as messaging
from messaging.models import Message

# The public prefix of webhook URL secrets (not a secret itself).
SECRET_PREFIX = "whk_"  # noqa: S105  # nosec B105


def hook_url(raw: str) -> str:
    return f"{settings.SITE_URL}/api/v1/hooks/{raw}"


def incoming_webhook_create(*, actor: User, conversation_id: Any, name: str) -> tuple[IncomingWebhook, str]:
    """Create a webhook and its bot, which `actor` brings into the channel through the
    membership service (messaging.services.membership_add_bot): a conversation `actor`
    may not see is NotFound, as if it did not exist; a direct conversation is refused.
    Returns the hook and its secret, shown only now."""
    require_admin(actor, "create webhooks")
    name = clean_name("name", name).strip()
    if not name or len(name) > 100:
        raise InvalidInput.for_field("name", "A name of 1 to 100 characters is required.")
    raw = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        bot = accounts.bot_create(actor=actor, display_name=name,
                                  username=f"webhook-{secrets.token_hex(4)}")
        conversation = messaging.membership_add_bot(actor=actor, conversation_id=conversation_id,
                                                    bot=bot, field="conversation").conversation
        hook = IncomingWebhook.objects.create(
            name=name, conversation=conversation, bot=bot, created_by=actor,
            secret_hash=accounts.secret_hash(raw), secret_prefix=raw[:10])
        audit_record(action="webhook.incoming_created", actor=actor, target=hook,
                     conversation_id=conversation.pk, data={"name": name, "prefix": hook.secret_prefix})
    return hook, raw


def incoming_webhook_revoke(*, actor: User, hook_id: Any) -> IncomingWebhook:
    require_admin(actor, "revoke webhooks")
    hook = IncomingWebhook.objects.filter(pk=hook_id).first()
    if hook is None:
        raise NotFound("No such webhook.")
    with transaction.atomic():
        if hook.revoked_at is None:
            hook.revoked_at = timezone.now()
            hook.save(update_fields=["revoked_at"])
            audit_record(action="webhook.incoming_revoked", actor=actor, target=hook,
                         conversation_id=hook.conversation_id)
    return hook


def _rate_limit(hook: IncomingWebhook) -> None:
    """At most INCOMING_WEBHOOK_RATE_PER_MINUTE posts a minute per webhook (Slack allows
    about one a second), counted across processes."""
    retry_after = ratelimit.hit("hooks", hook.pk, f"{settings.INCOMING_WEBHOOK_RATE_PER_MINUTE}/60")
    if retry_after is not None:
        raise RateLimited("rate_limited", retry_after=retry_after)


def incoming_webhook_post(*, secret: str, body: bytes, content_type: str) -> Message:
    """Post a Slack-style payload as the webhook's bot. Raises NotFound for an unknown or
    revoked secret and slack.PayloadError for a payload we cannot post."""
    hook = None
    if secret.startswith(SECRET_PREFIX) and len(secret) < 200:
        hook = (IncomingWebhook.objects.select_related("bot", "conversation")
                .filter(secret_hash=accounts.secret_hash(secret), revoked_at__isnull=True).first())
    if hook is None or not accounts.secrets_match(secret, hook.secret_hash):
        raise NotFound("no_service")
    _rate_limit(hook)
    payload = slack.parse(body, content_type)
    text = slack.to_markdown(payload)
    message = messaging.message_create(author=hook.bot, conversation_id=hook.conversation_id,
                                       text=text).message
    if not hook.last_used_at or timezone.now() - hook.last_used_at > timedelta(minutes=1):
        IncomingWebhook.objects.filter(pk=hook.pk).update(last_used_at=timezone.now())
    return message
