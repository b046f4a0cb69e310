"""Reads of the integrations app."""

from __future__ import annotations

from integrations.models import MessageLinkPreview


def message_link_previews(message_ids: list[int]) -> dict[int, list[MessageLinkPreview]]:
    """The previews under each of these messages, in the order their links appear (one
    query; messaging.selectors asks it through its link_previews_of hook)."""
    previews: dict[int, list[MessageLinkPreview]] = {}
    for link in MessageLinkPreview.objects.filter(message_id__in=message_ids).select_related("preview"):
        previews.setdefault(link.message_id, []).append(link)
    return previews
