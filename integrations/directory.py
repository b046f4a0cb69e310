"""Reading the LDAP directory (python-ldap; docs/identity.md): its people, with their names
and the groups teamchat maps (to roles and to user groups). Sign-in
(integrations/ldap_auth.py) and the sync (integrations/services/ldap.py) read people the
same way, so both decide the same role and groups. Every failure to read raises
DirectoryUnavailable: a half-read directory must never look like people who left."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import ldap
from django.conf import settings
from ldap.controls import SimplePagedResultsControl

PAGE_SIZE = 500
# Active Directory's own limit is 1,000 entries a page; a smaller page is always allowed.


class DirectoryUnavailable(Exception):
    """The directory could not be reached or read; nothing may be concluded about anyone."""


@dataclass(frozen=True)
class DirectoryPerson:
    dn: str
    email: str
    display_name: str
    full_name: str
    # Lower-cased DNs of the mapped groups (settings LDAP_*_GROUP, LDAP_USER_GROUPS) they are in.
    groups: frozenset[str]


def mapped_groups() -> list[str]:
    """Lower-cased DNs of every group a setting names."""
    named = [settings.LDAP_REQUIRE_GROUP, settings.LDAP_ADMIN_GROUP, settings.LDAP_COMPLIANCE_GROUP,
             *settings.LDAP_USER_GROUPS]
    return sorted({dn.strip().lower() for dn in named if dn and dn.strip()})


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _first(attrs: Any, name: str) -> str:
    values = next((v for k, v in attrs.items() if k.lower() == name.lower()), None) or []
    return _text(values[0]).strip() if values else ""


def _values(attrs: Any, name: str) -> list[str]:
    values = next((v for k, v in attrs.items() if k.lower() == name.lower()), None) or []
    return [_text(v).strip() for v in values]


def connect() -> Any:
    """A connection bound as the service account (LDAP_BIND_DN), TLS as configured."""
    try:
        conn = ldap.initialize(settings.LDAP_SERVER_URI, bytes_mode=False)
        for option, value in settings.AUTH_LDAP_CONNECTION_OPTIONS.items():
            conn.set_option(option, value)
        if settings.LDAP_START_TLS:
            conn.start_tls_s()
        conn.simple_bind_s(settings.LDAP_BIND_DN, settings.LDAP_BIND_PASSWORD)
    except ldap.LDAPError as error:
        raise DirectoryUnavailable(describe(error)) from error
    return conn


def describe(error: BaseException) -> str:
    """An LDAP error in words an admin can act on."""
    info = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    if isinstance(error, ldap.SERVER_DOWN):
        # libldap puts a TLS failure (an untrusted certificate, say) in `info`.
        why = info.get("info") or ""
        why = f" ({why})" if why and "unknown error" not in why else ""
        return f"The directory server {settings.LDAP_SERVER_URI} cannot be reached{why}."
    if isinstance(error, ldap.CONNECT_ERROR):
        return (f"The directory server {settings.LDAP_SERVER_URI} cannot be reached securely: TLS "
                f"failed (is its certificate signed by LDAP_CA_FILE's authority, for this name?).")
    if isinstance(error, ldap.TIMEOUT):
        return f"The directory server {settings.LDAP_SERVER_URI} did not answer in time."
    if isinstance(error, ldap.INVALID_CREDENTIALS):
        return "The directory refused the service account (LDAP_BIND_DN, LDAP_BIND_PASSWORD)."
    detail = " ".join(str(info.get(k, "")) for k in ("desc", "info")).strip()
    return f"The directory answered with an error: {detail or type(error).__name__}."


def group_members(conn: Any) -> tuple[dict[str, set[str]], list[str]]:
    """Each mapped group's members, lower-cased (DNs, or uids for memberUid), with nested
    groups' members when LDAP_GROUP_NESTED; and the mapped groups the directory lacks."""
    attr = settings.LDAP_GROUP_MEMBER_ATTR
    missing: list[str] = []

    def read(dn: str) -> list[str] | None:
        try:
            found = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", [attr])
        except ldap.NO_SUCH_OBJECT:
            return None
        except ldap.LDAPError as error:
            raise DirectoryUnavailable(describe(error)) from error
        return [v.lower() for _dn, attrs in found if _dn for v in _values(attrs, attr)]

    members: dict[str, set[str]] = {}
    for group in mapped_groups():
        direct = read(group)
        if direct is None:
            missing.append(group)
            members[group] = set()
            continue
        found, queue, seen = set(direct), list(direct), {group}
        while settings.LDAP_GROUP_NESTED and queue:
            member = queue.pop()
            if member in seen:
                continue
            seen.add(member)
            inner = read(member) or []
            queue.extend(inner)
            found.update(inner)
        members[group] = found
    return members, missing


def person_from(dn: str, attrs: Any, members: dict[str, set[str]]) -> DirectoryPerson | None:
    """The person an entry describes, or None when it has no email (it cannot sign in)."""
    email = _first(attrs, settings.LDAP_ATTR_EMAIL).lower()
    if not email:
        return None
    full_name = _first(attrs, settings.LDAP_ATTR_FULL_NAME)
    display_name = _first(attrs, settings.LDAP_ATTR_DISPLAY_NAME) or full_name or email.split("@")[0]
    uid = _first(attrs, settings.LDAP_ATTR_UID).lower()
    key = uid if settings.LDAP_GROUP_MEMBER_ATTR.lower() == "memberuid" else dn.lower()
    groups = frozenset(group for group, names in members.items() if key and key in names)
    return DirectoryPerson(dn=dn, email=email, display_name=display_name[:80],
                           full_name=full_name[:150], groups=groups)


def person_attributes() -> list[str]:
    return [settings.LDAP_ATTR_EMAIL, settings.LDAP_ATTR_DISPLAY_NAME, settings.LDAP_ATTR_FULL_NAME,
            settings.LDAP_ATTR_UID]


def _paged(conn: Any, base: str, filterstr: str, attrs: list[str]) -> Iterator[tuple[str, Any]]:
    control = SimplePagedResultsControl(True, size=PAGE_SIZE, cookie="")
    while True:
        msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, filterstr, attrs, serverctrls=[control])
        _type, entries, _msgid, controls = conn.result3(msgid)
        for dn, entry in entries:
            if dn:  # search references (Active Directory's referrals) have none
                yield dn, entry
        page = next((c for c in controls
                     if c.controlType == SimplePagedResultsControl.controlType), None)
        if page is None or not page.cookie:
            return
        control.cookie = page.cookie


def people() -> tuple[list[DirectoryPerson], list[str]]:
    """Everyone LDAP_SYNC_FILTER finds under LDAP_USER_SEARCH_BASE, and the problems met
    (mapped groups that do not exist). Raises DirectoryUnavailable, having read nothing
    that counts, when any part of it cannot be read."""
    if not settings.LDAP_USER_SEARCH_BASE:
        raise DirectoryUnavailable("The sync needs LDAP_USER_SEARCH_BASE (and a service account "
                                   "in LDAP_BIND_DN) to list the directory's people.")
    conn = connect()
    try:
        members, missing = group_members(conn)
        found: list[DirectoryPerson] = []
        for dn, attrs in _paged(conn, settings.LDAP_USER_SEARCH_BASE, settings.LDAP_SYNC_FILTER,
                                person_attributes()):
            person = person_from(dn, attrs, members)
            if person is not None:
                found.append(person)
    except ldap.LDAPError as error:
        raise DirectoryUnavailable(describe(error)) from error
    finally:
        conn.unbind_s()
    required = settings.LDAP_REQUIRE_GROUP.strip().lower()
    if required and required in missing:
        # Read as "nobody may stay", it would deactivate everyone: a typo, not a decision.
        raise DirectoryUnavailable(f"LDAP_REQUIRE_GROUP {settings.LDAP_REQUIRE_GROUP} is not in the "
                                   f"directory.")
    return found, [f"The group {dn} named in the settings is not in the directory." for dn in missing]


def may_sign_in(groups: Iterable[str]) -> bool:
    required = settings.LDAP_REQUIRE_GROUP.strip().lower()
    return not required or required in set(groups)
