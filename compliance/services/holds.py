"""Legal holds: preserve everything of some people and conversations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Role, User
from compliance.models import LegalHold
from core.audit import audit_record
from core.errors import Forbidden, InvalidInput, NotFound
from core.text import clean_name


def require_records_role(actor: User, what: str) -> None:
    """Owners, admins and compliance officers keep the records."""
    if not actor.is_active or not (actor.is_org_admin or actor.is_compliance_officer):
        raise Forbidden(f"Only compliance officers, owners and admins may {what}.")


def require_audit_reader(actor: User, what: str) -> None:
    """Compliance officers and owners read the audit log through the API (with a token of
    their own, a program working for them); admins read it in the console, and bots never."""
    if not (actor.is_active and not actor.is_bot
            and (actor.is_compliance_officer or actor.role == Role.OWNER)):
        raise Forbidden(f"Only compliance officers and owners may {what}.")


def require_archive_reader(actor: User, what: str) -> None:
    """Compliance officers read the archive (exports, and their downloads), each read in the
    audit log. Owners and admins do not: what they cannot see in the chat, no door of theirs
    opens (docs/security.md); they give the compliance role to whoever must read it."""
    if not (actor.is_active and actor.is_compliance_officer):
        raise Forbidden(f"Only compliance officers may {what}.")


def holds_in_force(at: datetime | None = None) -> QuerySet[LegalHold]:
    at = at or timezone.now()
    return LegalHold.objects.filter(released_at__isnull=True, starts_at__lte=at).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=at))


def held_messages_q(at: datetime | None = None) -> Q:
    """Messages under a hold in force: written by a custodian, or in a held conversation."""
    holds = holds_in_force(at)
    custodians = User.objects.filter(legal_holds__in=holds).values("pk")
    from messaging.models import Conversation

    conversations = Conversation.objects.filter(legal_holds__in=holds).values("pk")
    return Q(author_id__in=custodians) | Q(conversation_id__in=conversations)


def legal_hold_create(*, actor: User, name: str, reason: str, custodian_ids: Iterable[Any] = (),
                      conversation_ids: Iterable[Any] = (), starts_at: datetime | None = None,
                      ends_at: datetime | None = None) -> LegalHold:
    from messaging.models import Conversation

    require_records_role(actor, "place legal holds")
    name, reason = clean_name("name", name).strip(), (reason or "").strip()
    if not name:
        raise InvalidInput.for_field("name", "A hold needs a name (e.g. a matter number).")
    if not reason:
        raise InvalidInput.for_field("reason", "Say why the hold is placed.")
    starts_at = starts_at or timezone.now()
    if ends_at is not None and ends_at <= starts_at:
        raise InvalidInput.for_field("ends_at", "Must come after the start.")
    custodians = list(User.objects.filter(pk__in=[int(pk) for pk in custodian_ids]))
    conversations = list(Conversation.objects.filter(pk__in=[int(pk) for pk in conversation_ids]))
    if not custodians and not conversations:
        raise InvalidInput("Hold at least one person or conversation.",
                           fields={"custodians": ["Choose people or conversations."]})
    with transaction.atomic():
        hold = LegalHold.objects.create(name=name[:120], reason=reason, starts_at=starts_at,
                                        ends_at=ends_at, created_by=actor)
        hold.custodians.set(custodians)
        hold.conversations.set(conversations)
        audit_record(action="legal_hold.placed", actor=actor, target=hold, data={
            "name": hold.name, "reason": reason, "custodians": [u.pk for u in custodians],
            "conversations": [c.pk for c in conversations],
            "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat() if ends_at else None})
    return hold


def legal_hold_release(*, actor: User, hold_id: Any) -> LegalHold:
    require_records_role(actor, "release legal holds")
    with transaction.atomic():
        hold = LegalHold.objects.select_for_update().filter(pk=hold_id).first()
        if hold is None:
            raise NotFound("No such legal hold.")
        if hold.released_at is None:
            hold.released_at = timezone.now()
            hold.save(update_fields=["released_at"])
            audit_record(action="legal_hold.released", actor=actor, target=hold,
                         data={"name": hold.name})
    return hold
