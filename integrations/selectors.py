"""Reads of the integrations app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db.models import Prefetch, Q, QuerySet

from accounts.models import User
from accounts.services import identity_provider_configured
from core.errors import Forbidden
from integrations.models import (
    IncomingWebhook,
    LdapAccount,
    LdapSyncRun,
    MessageLinkPreview,
    OutgoingWebhook,
    ScimToken,
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


@dataclass(frozen=True)
class IdentitySources:
    """What signs people in and provisions them, for the console's identity page."""

    password_people: int
    password_switch: dict[str, Any]
    oidc: dict[str, Any] | None
    saml: dict[str, Any] | None
    scim_tokens: list[ScimToken]
    ldap: dict[str, Any] | None
    ldap_runs: list[LdapSyncRun]


def identity_sources(*, viewer: User) -> IdentitySources:
    """The identity sources in force (owners and admins only): passwords, OpenID Connect,
    SAML, SCIM tokens with their last use, and LDAP with its recent syncs and their errors."""
    if not (viewer.is_active and viewer.is_org_admin):
        raise Forbidden("Only owners and admins see the identity sources.")
    people = User.objects.filter(is_active=True, is_bot=False)
    oidc = ({"endpoint": settings.OIDC_OP_AUTHORIZATION_ENDPOINT, "creates": settings.OIDC_CREATE_USERS,
             "domains": settings.OIDC_ALLOWED_DOMAINS} if settings.OIDC_ENABLED else None)
    saml = ({"metadata": settings.SAML_IDP_METADATA_URL or settings.SAML_IDP_METADATA_FILE,
             "entity_id": settings.SAML_SP_ENTITY_ID, "creates": settings.SAML_CREATE_USERS,
             "idp_initiated": settings.SAML_IDP_INITIATED} if settings.SAML_ENABLED else None)
    password_switch = {"on": settings.PASSWORD_SIGN_IN or not identity_provider_configured(),
                       "break_glass": settings.PASSWORD_SIGN_IN_BREAK_GLASS}
    ldap = None
    if settings.LDAP_ENABLED:
        links = LdapAccount.objects.all()
        uri = settings.LDAP_SERVER_URI
        ldap = {
            "uri": uri,
            "tls": ("LDAPS" if uri.lower().startswith("ldaps://")
                    else "StartTLS" if settings.LDAP_START_TLS else "none (plain LDAP)"),
            "mode": (f"direct bind as {settings.LDAP_USER_DN_TEMPLATE}" if settings.LDAP_USER_DN_TEMPLATE
                     else f"bind as {settings.LDAP_BIND_DN or 'anonymous'}, search "
                          f"{settings.LDAP_USER_SEARCH_BASE} for {settings.LDAP_USER_SEARCH_FILTER}"),
            "groups": [("may sign in", settings.LDAP_REQUIRE_GROUP), ("admin", settings.LDAP_ADMIN_GROUP),
                       ("compliance officer", settings.LDAP_COMPLIANCE_GROUP),
                       *((f"@{handle}", dn) for dn, handle in settings.LDAP_USER_GROUPS.items())],
            "linked": links.filter(user__is_active=True).count(),
            "deactivated": links.filter(user__is_active=False).count(),
            "interval": settings.LDAP_SYNC_INTERVAL_SECONDS,
        }
    return IdentitySources(
        password_people=people.exclude(password__startswith=UNUSABLE_PASSWORD_PREFIX).count(),
        password_switch=password_switch,
        oidc=oidc,
        saml=saml,
        scim_tokens=list(ScimToken.objects.select_related("created_by")
                         .order_by("revoked_at", "-created_at")),
        ldap=ldap,
        ldap_runs=list(LdapSyncRun.objects.filter(dry_run=False)[:20]),
    )
