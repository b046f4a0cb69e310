"""SCIM 2.0 provisioning (RFC 7643/7644; docs/identity.md): an identity provider creates,
changes, deactivates and deletes people and groups through /scim/v2/ with a token an admin
made. Every write goes through the accounts and messaging services (deactivation ends the
person's sessions and sockets at once) and is audited as done by the token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import User
from accounts.services.people import secret_hash
from core.audit import audit_record
from core.errors import Forbidden, InvalidInput, NotFound
from integrations.models import ScimExternalId, ScimToken
from messaging import services as messaging
from messaging.models import UserGroup

SCIM_TOKEN_PREFIX = "scim_"  # noqa: S105  # nosec B105: a prefix, not a secret


def _require_admin(actor: User) -> None:
    if not (actor.is_active and actor.is_org_admin and not actor.is_bot):
        raise Forbidden("Only owners and admins may manage SCIM tokens.")


def scim_token_create(*, actor: User, name: Any) -> tuple[ScimToken, str]:
    """A new SCIM token acting as `actor`; the raw token is shown only now."""
    _require_admin(actor)
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 100:
        raise InvalidInput.for_field("name", "Give the token a name of 1 to 100 characters (e.g. Okta).")
    raw = SCIM_TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ScimToken.objects.create(name=name, prefix=raw[:12], token_hash=secret_hash(raw),
                                         created_by=actor)
        audit_record(action="scim.token_created", actor=actor, target=token,
                     data={"name": name, "prefix": token.prefix})
    return token, raw


def scim_token_revoke(*, actor: User, token_id: Any) -> ScimToken:
    _require_admin(actor)
    token = ScimToken.objects.filter(pk=token_id).first() if str(token_id).isdigit() else None
    if token is None:
        raise NotFound("No such SCIM token.")
    if token.revoked_at is None:
        with transaction.atomic():
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(action="scim.token_revoked", actor=actor, target=token,
                         data={"name": token.name, "prefix": token.prefix})
    return token


def scim_token_authenticate(raw: str) -> ScimToken | None:
    """The live token for this secret: not revoked, and its admin still an active admin."""
    if not raw.startswith(SCIM_TOKEN_PREFIX):
        return None
    token = (ScimToken.objects.select_related("created_by")
             .filter(token_hash=secret_hash(raw), revoked_at__isnull=True).first())
    if token is None or not (token.created_by.is_active and token.created_by.is_org_admin):
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def scim_request_refused(*, token: ScimToken, method: str, path: str, status: int, scim_type: str,
                         detail: str) -> None:
    """Record a request the SCIM door refused (it changed nothing)."""
    audit_record(action="scim.request_refused", actor=token.created_by,
                 data={"scim_token": token.name, "method": method, "path": path[:200],
                       "status": status, "scim_type": scim_type, "detail": detail[:500]})


# --- People ----------------------------------------------------------------------------

@dataclass
class PersonFields:
    """What a SCIM User sets (None: not given)."""

    email: str | None = None
    display_name: str | None = None
    full_name: str | None = None
    active: bool | None = None
    external_id: str | None = None
    given: set[str] = field(default_factory=set)


def _external_id_set(resource: str, local_id: int, external_id: str | None) -> None:
    if external_id is None:
        return
    if external_id == "":
        ScimExternalId.objects.filter(resource=resource, local_id=local_id).delete()
        return
    ScimExternalId.objects.update_or_create(resource=resource, local_id=local_id,
                                            defaults={"external_id": external_id[:255]})


def _by(token: ScimToken, **data: Any) -> dict[str, Any]:
    """The audit record's actor and data: the admin the token acts as, and the token."""
    return {"actor": token.created_by, "data": {"scim_token": token.name, **data}}


def _set_active(token: ScimToken, user: User, active: bool | None) -> User:
    if active is False and user.is_active:
        return accounts.user_deactivate(actor=token.created_by, user=user)
    if active is True and not user.is_active:
        return accounts.user_reactivate(actor=token.created_by, user=user)
    return user


def scim_person(user_id: Any) -> User:
    user = User.objects.filter(pk=user_id, is_bot=False).first() if str(user_id).isdigit() else None
    if user is None:
        raise NotFound(f"No person with id {user_id}.")
    return user


def scim_user_create(*, token: ScimToken, fields: PersonFields) -> User:
    """A person, with no password: they sign in through single sign-on (or a reset)."""
    if not fields.email:
        raise InvalidInput.for_field("userName", "userName (the person's email) is required.")
    with transaction.atomic():
        user = accounts.user_create(email=fields.email, display_name=fields.display_name or fields.email
                                    .split("@")[0], password=None, actor=token.created_by,
                                    full_name=(fields.full_name or "")[:150])
        _external_id_set("user", user.pk, fields.external_id)
        audit_record(action="scim.user_created", target=user, **_by(token, email=user.email))
        user = _set_active(token, user, fields.active)
    return user


def scim_user_update(*, token: ScimToken, user_id: Any, fields: PersonFields) -> User:
    """PUT and PATCH alike: the fields given are set, the others left."""
    user = scim_person(user_id)
    with transaction.atomic():
        if fields.email is not None and fields.email.lower() != user.email:
            user = accounts.user_email_change(actor=token.created_by, user=user, email=fields.email)
        changes = {}
        if fields.display_name is not None:
            changes["display_name"] = fields.display_name
        if fields.full_name is not None:
            changes["full_name"] = fields.full_name[:150]
        if changes:
            user = accounts.user_profile_update(user=user, **changes)
        _external_id_set("user", user.pk, fields.external_id)
        audit_record(action="scim.user_updated", target=user, **_by(token, fields=sorted(fields.given)))
        user = _set_active(token, user, fields.active)
    return user


def scim_user_delete(*, token: ScimToken, user_id: Any) -> User:
    """A person removed in the directory is deactivated here (their messages stay part of
    the record): sessions and sockets end at once."""
    user = scim_person(user_id)
    with transaction.atomic():
        audit_record(action="scim.user_deleted", target=user, **_by(token, email=user.email))
        user = _set_active(token, user, False)
    return user


# --- Groups ----------------------------------------------------------------------------

def scim_group(group_id: Any) -> UserGroup:
    group = UserGroup.objects.filter(pk=group_id).first() if str(group_id).isdigit() else None
    if group is None:
        raise NotFound(f"No group with id {group_id}.")
    return group


def _handle_for(name: str) -> str:
    from django.utils.text import slugify

    base = slugify(name)[:30] or "group"
    handle, n = base, 1
    while UserGroup.objects.filter(handle=handle).exists():
        n += 1
        handle = f"{base[:26]}-{n}"
    return handle


def _members(member_ids: list[Any]) -> list[int]:
    wanted = {str(m) for m in member_ids}
    found = {str(pk) for pk in User.objects.filter(pk__in=[m for m in wanted if m.isdigit()],
                                                    is_bot=False).values_list("pk", flat=True)}
    missing = sorted(wanted - found)
    if missing:
        raise InvalidInput.for_field("members", f"No person with id {', '.join(missing)}.")
    return [int(m) for m in found]


def scim_group_create(*, token: ScimToken, name: Any, member_ids: list[Any],
                      external_id: str | None = None) -> UserGroup:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput.for_field("displayName", "displayName is required.")
    with transaction.atomic():
        group = messaging.usergroup_create(actor=token.created_by, handle=_handle_for(name),
                                           name=name.strip(), member_ids=_members(member_ids))
        _external_id_set("group", group.pk, external_id)
        audit_record(action="scim.group_created", target=group, **_by(token, name=group.name))
    return group


def scim_group_update(*, token: ScimToken, group_id: Any, name: Any = None,
                      member_ids: list[Any] | None = None, add: list[Any] = (), remove: list[Any] = (),
                      external_id: str | None = None) -> UserGroup:
    """Rename, set the members (PUT, or PATCH replace), or add and remove some (PATCH)."""
    group = scim_group(group_id)
    with transaction.atomic():
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        current = set(group.members.values_list("pk", flat=True))
        members = set(_members(member_ids)) if member_ids is not None else set(current)
        members |= set(_members(list(add)))
        members -= {int(m) for m in remove if str(m).isdigit()}
        if members != current:
            changes["members"] = sorted(members)
        if changes:
            group = messaging.usergroup_update(actor=token.created_by, group_id=group.pk, **changes)
        _external_id_set("group", group.pk, external_id)
        audit_record(action="scim.group_updated", target=group,
                     **_by(token, name=group.name, added=sorted(members - current),
                           removed=sorted(current - members)))
    return group


def scim_group_delete(*, token: ScimToken, group_id: Any) -> None:
    group = scim_group(group_id)
    with transaction.atomic():
        audit_record(action="scim.group_deleted", target=group, **_by(token, name=group.name))
        messaging.usergroup_delete(actor=token.created_by, group_id=group.pk)
