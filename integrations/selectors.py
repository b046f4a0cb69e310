"""Reads of the integrations app."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from accounts.models import User
from integrations.models import (
    IncomingWebhook,
    MessageLinkPreview,
    OutgoingWebhook,
    SlackImportRun,
    SlashCommand,
    WebhookDelivery,
)
from messaging.models import Conversation
from messaging.search import visible_conversations


def message_link_previews(message_ids: list[int]) -> dict[int, list[MessageLinkPreview]]:
    """The previews under each of these messages, in the order their links appear (one
    query; messaging.selectors asks it through its link_previews_of hook)."""
    previews: dict[int, list[MessageLinkPreview]] = {}
    for link in MessageLinkPreview.objects.filter(message_id__in=message_ids).select_related("preview"):
        previews.setdefault(link.message_id, []).append(link)
    return previews


def is_integration_bot(bot: User) -> bool:
    """Whether the bot is a webhook's or a slash command's: it acts only through them."""
    return (IncomingWebhook.objects.filter(bot=bot).exists()
            or OutgoingWebhook.objects.filter(bot=bot).exists()
            or SlashCommand.objects.filter(bot=bot).exists())


def incoming_webhook_list(*, viewer: User) -> QuerySet[IncomingWebhook]:
    """The incoming webhooks into conversations the person may see (the others' ids are
    as secret as the conversations)."""
    return IncomingWebhook.objects.filter(
        conversation__in=visible_conversations(viewer)).order_by("-id")


def outgoing_webhook_list(*, viewer: User) -> QuerySet[OutgoingWebhook]:
    """The outgoing webhooks of at least one conversation the person may see, each with
    only those conversations (`visible_conversations`)."""
    visible = visible_conversations(viewer)
    return (OutgoingWebhook.objects.filter(conversations__in=visible).distinct().order_by("-id")
            .prefetch_related(Prefetch("conversations", to_attr="visible_conversations",
                                       queryset=Conversation.objects.filter(pk__in=visible.values("pk"))
                                       .order_by("pk"))))


def delivery_list(*, viewer: User, hook_id: int) -> QuerySet[WebhookDelivery]:
    """A webhook's deliveries of messages in conversations the person may see."""
    return WebhookDelivery.objects.filter(
        Q(message__conversation__in=visible_conversations(viewer)),
        webhook_id=hook_id).order_by("-id")


def slack_import_list(*, viewer: User) -> QuerySet[SlackImportRun]:
    """The Slack imports, for owners and admins (who alone may import); nobody else's."""
    if not (viewer.is_active and viewer.is_org_admin):
        return SlackImportRun.objects.none()
    return SlackImportRun.objects.select_related("requested_by").order_by("-id")
