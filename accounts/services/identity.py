"""Signing in through an identity provider (SAML 2.0), and the switch that leaves password
sign-in to a break-glass owner once one is configured."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import Role, User
from accounts.services.people import user_create
from accounts.services.security import sessions_end
from core.audit import audit_record
from core.errors import Forbidden


def identity_provider_configured() -> bool:
    return bool(settings.SAML_ENABLED or settings.OIDC_ENABLED or settings.LDAP_ENABLED)


def password_sign_in_allowed(*, user: User | None = None, email: str = "") -> bool:
    """Whether a password may sign this person in. Turning password sign-in off takes
    effect only with an identity provider configured (else nobody could sign in), and
    spares the break-glass owner, who must still hold the owner role."""
    if settings.PASSWORD_SIGN_IN or not identity_provider_configured():
        return True
    glass = settings.PASSWORD_SIGN_IN_BREAK_GLASS
    if not glass:
        return False
    if user is None:
        return (email or "").strip().lower() == glass
    return user.email.lower() == glass and user.role == Role.OWNER


def saml_refusal_record(*, reason: str, detail: str, email: str = "",
                        ip_address: str | None = None, **data: Any) -> None:
    audit_record(action="auth.saml_refused", target_type="accounts.user", ip_address=ip_address,
                 data={"reason": reason, "detail": detail[:300], "email": email[:254], **data})


def _refuse(reason: str, detail: str, *, email: str, ip_address: str | None, **data: Any) -> Forbidden:
    saml_refusal_record(reason=reason, detail=detail, email=email, ip_address=ip_address, **data)
    return Forbidden(detail)


def _role_from_groups(groups: list[str]) -> str | None:
    """The role the provider's groups give, when the organisation mapped any: admin
    before compliance; None leaves the person's role as it is."""
    have = {group.lower() for group in groups}
    if have & {group.lower() for group in settings.SAML_ADMIN_GROUPS}:
        return Role.ADMIN
    if have & {group.lower() for group in settings.SAML_COMPLIANCE_GROUPS}:
        return Role.COMPLIANCE
    return None


def saml_sign_in(*, email: str, name: str, groups: list[str], issuer: str, assertion_id: str,
                 idp_initiated: bool, ip_address: str | None) -> User:
    """The person an accepted assertion names: the active person with that email, or a
    new member when SAML_CREATE_USERS is on. A mapped group raises a member (never an
    owner, never a guest) to admin or compliance. Refusals raise Forbidden, recorded."""
    facts = {"issuer": issuer, "assertion_id": assertion_id}
    if not email or "@" not in email:
        raise _refuse("no_email", "The identity provider sent no email address for you.",
                      email=email, ip_address=ip_address, **facts)
    user = User.objects.filter(email__iexact=email, is_bot=False).first()
    if user is not None and not user.is_active:
        raise _refuse("deactivated", "Your teamchat account is deactivated.", email=email,
                      ip_address=ip_address, **facts)
    if user is None and not settings.SAML_CREATE_USERS:
        raise _refuse("no_such_person", f"There is no teamchat account for {email}. "
                      "Ask an admin to invite you.", email=email, ip_address=ip_address, **facts)
    with transaction.atomic():
        if user is None:
            user = user_create(email=email, display_name=(name or email.split("@", 1)[0])[:80],
                               password=None, full_name=name[:150])
        else:
            user = User.objects.select_for_update().get(pk=user.pk)
        role = _role_from_groups(groups)
        if role and user.role == Role.MEMBER:
            before, user.role = user.role, role
            user.save(update_fields=["role"])
            audit_record(action="user.role_changed", target=user,
                         data={"from": before, "to": role, "source": "saml", "groups": groups[:50]})
        audit_record(action="auth.saml_sign_in", actor=user, target=user, ip_address=ip_address,
                     data={**facts, "idp_initiated": idp_initiated, "groups": groups[:50]})
    return user


def saml_logout(*, email: str, issuer: str, ip_address: str | None) -> int:
    """The provider ended someone's session: end all of theirs here too (and close their
    sockets). Returns how many sessions ended."""
    user = User.objects.filter(email__iexact=email, is_bot=False).first()
    if user is None:
        return 0
    with transaction.atomic():
        ended = sessions_end(user_id=user.pk)
        audit_record(action="auth.saml_logout", actor=user, target=user, ip_address=ip_address,
                     data={"issuer": issuer, "sessions_ended": ended})
    return ended
