"""Writes on user groups (mentionable as @handle); admins manage them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import User
from core.audit import audit_record
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.text import clean_name
from messaging.markdown import SPECIAL_MENTIONS
from messaging.models import UserGroup

HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _require_admin(actor: User) -> None:
    if not actor.is_org_admin:
        raise Forbidden("Only owners and admins manage user groups.")


def _clean_handle(handle: Any) -> str:
    handle = str(handle or "").strip().lstrip("@").lower()
    if not HANDLE_RE.match(handle):
        raise InvalidInput.for_field(
            "handle", "Up to 40 lowercase letters, digits, hyphens and underscores."
        )
    if handle in SPECIAL_MENTIONS:
        raise InvalidInput.for_field("handle", f"@{handle} is reserved.")
    return handle


def _members(member_ids: Iterable[Any]) -> list[User]:
    try:
        ids = {int(pk) for pk in member_ids}
    except (TypeError, ValueError):
        raise InvalidInput.for_field("members", "Must be a list of people's ids.") from None
    users = list(User.objects.filter(pk__in=ids, is_active=True))
    if len(users) != len(ids):
        raise InvalidInput.for_field("members", "Some ids are not active people.")
    return users


def usergroup_create(*, actor: User | None, handle: Any, name: Any, description: str = "",
                     member_ids: Iterable[Any] = ()) -> UserGroup:
    """`actor` None is the directory sync, creating a group it keeps."""
    if actor is not None:
        _require_admin(actor)
    handle = _clean_handle(handle)
    name = clean_name("name", name).strip()
    description = clean_name("description", description)
    if not name or len(name) > 80:
        raise InvalidInput.for_field("name", "A name of 1 to 80 characters is required.")
    members = _members(member_ids)
    try:
        with transaction.atomic():
            group = UserGroup.objects.create(handle=handle, name=name,
                                             description=description[:250], created_by=actor)
            group.members.set(members)
            audit_record(action="usergroup.created", actor=actor, target=group,
                         data={"handle": handle, "members": sorted(u.pk for u in members)})
    except IntegrityError:
        raise Conflict(f"@{handle} is taken.", fields={"handle": ["Already taken."]}) from None
    return group


def usergroup_update(*, actor: User, group_id: Any, **changes: Any) -> UserGroup:
    _require_admin(actor)
    group = UserGroup.objects.filter(pk=group_id).first()
    if group is None:
        raise NotFound("No such user group.")
    unknown = set(changes) - {"handle", "name", "description", "members"}
    if unknown:
        raise InvalidInput(f"Unknown fields: {', '.join(sorted(unknown))}.",
                           fields={f: ["Unknown field."] for f in unknown})
    try:
        with transaction.atomic():
            if "handle" in changes:
                group.handle = _clean_handle(changes["handle"])
            if "name" in changes:
                name = clean_name("name", changes["name"]).strip()
                if not name or len(name) > 80:
                    raise InvalidInput.for_field("name", "A name of 1 to 80 characters is required.")
                group.name = name
            if "description" in changes:
                group.description = clean_name("description", changes["description"])[:250]
            group.save()
            if "members" in changes:
                group.members.set(_members(changes["members"]))
            audit_record(action="usergroup.updated", actor=actor, target=group,
                         data={"changes": sorted(changes)})
    except IntegrityError:
        raise Conflict("That handle is taken.", fields={"handle": ["Already taken."]}) from None
    return group


def usergroup_members_change(*, actor: User | None, group_id: Any, add: Iterable[int] = (),
                             remove: Iterable[int] = (), via: str = "") -> UserGroup:
    """Add and remove members, leaving the others as they are (deactivated ones too).
    `actor` None is the directory sync (`via` says which), keeping a mapped group."""
    if actor is not None:
        _require_admin(actor)
    group = UserGroup.objects.filter(pk=group_id).first()
    if group is None:
        raise NotFound("No such user group.")
    added = sorted(u.pk for u in _members(add))
    removed = sorted({int(pk) for pk in remove} - set(added))
    with transaction.atomic():
        if added:
            group.members.add(*added)
        if removed:
            group.members.remove(*removed)
        if added or removed:
            audit_record(action="usergroup.members_changed", actor=actor, target=group,
                         data={"handle": group.handle, "added": added, "removed": removed,
                               **({"via": via} if via else {})})
    return group


def usergroup_delete(*, actor: User, group_id: Any) -> None:
    _require_admin(actor)
    group = UserGroup.objects.filter(pk=group_id).first()
    if group is None:
        raise NotFound("No such user group.")
    with transaction.atomic():
        audit_record(action="usergroup.deleted", actor=actor, target=group,
                     data={"handle": group.handle})
        group.delete()
