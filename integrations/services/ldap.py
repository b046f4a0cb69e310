"""LDAP and Active Directory (docs/identity.md): the people a directory manages, kept as it
says. A person who signs in with their directory password is linked by email (and created,
with LDAP_CREATE_USERS); from then on the directory decides their names, the roles and the
user groups the settings map, and whether they may stay. The sync applies the same to
everyone linked, deactivating those who left; when the directory cannot be read it changes
nothing. Every change goes through the accounts and messaging services and is audited,
with the directory (no person) as the actor."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Role, User
from core.audit import audit_record
from core.errors import TeamchatError
from integrations import directory
from integrations.directory import DirectoryPerson, DirectoryUnavailable
from integrations.models import LdapAccount, LdapSyncRun, LdapSyncStatus
from messaging import services as messaging
from messaging.models import UserGroup

VIA = "ldap"


def _desired_role(person: DirectoryPerson, current: str) -> str:
    """The role the directory gives: admin or compliance by group, where those groups are
    set; someone it made admin or compliance who left that group goes back to member.
    Owners and the roles no group maps (guest, say) are left to people."""
    if current == Role.OWNER:
        return current
    mapped = {Role.ADMIN: settings.LDAP_ADMIN_GROUP.strip().lower(),
              Role.COMPLIANCE: settings.LDAP_COMPLIANCE_GROUP.strip().lower()}
    for role, group in mapped.items():
        if group and group in person.groups:
            return role
    if mapped.get(current):
        return Role.MEMBER
    return current


def _group_changes(person: DirectoryPerson, user: User) -> list[tuple[str, bool]]:
    """(handle, join) for each mapped user group whose membership must change."""
    changes = []
    mine = set(user.user_groups.values_list("handle", flat=True)) if user.pk else set()
    for dn, handle in settings.LDAP_USER_GROUPS.items():
        belongs = dn.strip().lower() in person.groups
        if belongs != (handle in mine):
            changes.append((handle, belongs))
    return changes


def _apply(person: DirectoryPerson, user: User, *, dry_run: bool) -> list[str]:
    """Make a linked person's names, role and mapped groups what the directory says;
    returns one line per change (made, or in a dry run that would be)."""
    lines: list[str] = []
    profile = {name: value for name, value in (("display_name", person.display_name),
                                                ("full_name", person.full_name))
               if getattr(user, name) != value}
    if profile:
        lines.append(f"update {user.email}: " + ", ".join(
            f"{name} {getattr(user, name)!r} → {value!r}" for name, value in profile.items()))
    role = _desired_role(person, user.role)
    if role != user.role:
        lines.append(f"role of {user.email}: {user.role} → {role}")
    groups = _group_changes(person, user)
    lines += [f"{'add' if join else 'remove'} {user.email} {'to' if join else 'from'} @{handle}"
              for handle, join in groups]
    if dry_run or not lines:
        return lines
    with transaction.atomic():
        if profile:
            accounts.user_profile_update(user=user, **profile)
            audit_record(action="ldap.person_updated", target=user,
                         data={"email": user.email, "dn": person.dn, "fields": sorted(profile)})
        if role != user.role:
            accounts.user_role_change(actor=None, user=user, role=role)
        for handle, join in groups:
            group = UserGroup.objects.filter(handle=handle).first()
            if group is None:
                group = messaging.usergroup_create(actor=None, handle=handle, name=handle)
            messaging.usergroup_members_change(actor=None, group_id=group.pk,
                                               add=[user.pk] if join else [],
                                               remove=[] if join else [user.pk], via=VIA)
    return lines


def ldap_sign_in(*, person: DirectoryPerson) -> User | None:
    """After the directory accepted this person's password: their teamchat account, linked
    and brought up to date, or None when they may not have one. An account the sync
    deactivated comes back; one an admin deactivated stays so (and the sign-in form says
    it is inactive)."""
    if not directory.may_sign_in(person.groups):
        audit_record(action="ldap.sign_in_refused", target_type="accounts.user",
                     data={"email": person.email, "reason": "not in LDAP_REQUIRE_GROUP"})
        return None
    user = User.objects.filter(email__iexact=person.email, is_bot=False).first()
    with transaction.atomic():
        if user is None:
            if not settings.LDAP_CREATE_USERS:
                audit_record(action="ldap.sign_in_refused", target_type="accounts.user",
                             data={"email": person.email, "reason": "no such person"})
                return None
            user = accounts.user_create(email=person.email, display_name=person.display_name,
                                        password=None, full_name=person.full_name)
        link, created = LdapAccount.objects.get_or_create(user=user, defaults={"dn": person.dn})
        if created:
            audit_record(action="ldap.account_linked", target=user,
                         data={"email": user.email, "dn": person.dn})
        if not user.is_active:
            if not link.deactivated_by_sync:
                return user
            user = _return(user, link, person)
        link.dn, link.last_seen_at = person.dn, timezone.now()
        link.save(update_fields=["dn", "last_seen_at"])
        _apply(person, user, dry_run=False)
    return user


def _return(user: User, link: LdapAccount, person: DirectoryPerson) -> User:
    user = accounts.user_reactivate(actor=None, user=user)
    link.deactivated_by_sync = False
    link.save(update_fields=["deactivated_by_sync"])
    audit_record(action="ldap.person_returned", target=user, data={"email": user.email, "dn": person.dn})
    return user


def ldap_sign_in_unavailable(*, email: str, error: str) -> None:
    """The directory could not be asked about a sign-in: recorded, and the person told."""
    audit_record(action="ldap.sign_in_unavailable", target_type="accounts.user",
                 data={"email": (email or "")[:254], "error": error[:500]})


@dataclass
class SyncOutcome:
    changes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1


def _sync_one(link: LdapAccount, person: DirectoryPerson | None, outcome: SyncOutcome,
              *, dry_run: bool) -> None:
    user = link.user
    if person is None:
        if not user.is_active:
            outcome.count("unchanged")
            return
        outcome.changes.append(f"deactivate {user.email}: no longer in the directory")
        outcome.count("deactivated")
        if not dry_run:
            with transaction.atomic():
                accounts.user_deactivate(actor=None, user=user)
                link.deactivated_by_sync = True
                link.save(update_fields=["deactivated_by_sync"])
                audit_record(action="ldap.person_left", target=user,
                             data={"email": user.email, "dn": link.dn})
        return
    if not user.is_active:
        if not link.deactivated_by_sync:
            outcome.count("unchanged")  # an admin deactivated them: theirs to undo
            return
        outcome.changes.append(f"reactivate {user.email}: back in the directory")
        outcome.count("reactivated")
        if not dry_run:
            with transaction.atomic():
                user = _return(user, link, person)
    lines = _apply(person, user, dry_run=dry_run)
    outcome.changes += lines
    outcome.count("updated" if lines else "unchanged")
    if not dry_run:
        LdapAccount.objects.filter(pk=link.pk).update(dn=person.dn, last_seen_at=timezone.now())


def ldap_sync(*, dry_run: bool = False) -> LdapSyncRun:
    """Bring every linked person in line with the directory. When it cannot be read (or
    answers with nobody at all, which is a wrong base or filter far more often than an
    empty company), nothing changes and the run is recorded as failed; the caller retries.
    A dry run changes nothing and records nothing: its run comes back unsaved."""
    run = LdapSyncRun(dry_run=dry_run)
    outcome = SyncOutcome()
    try:
        found, problems = directory.people()
        present = {p.email: p for p in found if directory.may_sign_in(p.groups)}
        if not present and LdapAccount.objects.filter(user__is_active=True).exists():
            raise DirectoryUnavailable(
                f"The directory found nobody under {settings.LDAP_USER_SEARCH_BASE} with "
                f"{settings.LDAP_SYNC_FILTER}" + (f" in {settings.LDAP_REQUIRE_GROUP}"
                                                  if settings.LDAP_REQUIRE_GROUP else "")
                + "; nobody was deactivated.")
    except DirectoryUnavailable as error:
        run.status, run.errors, run.finished_at = LdapSyncStatus.FAILED, [str(error)], timezone.now()
        if not dry_run:
            with transaction.atomic():
                run.save()
                audit_record(action="ldap.sync_failed", target=run, data={"error": str(error)})
        return run
    outcome.errors += problems
    outcome.counts["in directory"] = len(present)
    for link in LdapAccount.objects.select_related("user").order_by("pk"):
        try:
            _sync_one(link, present.get(link.user.email.lower()), outcome, dry_run=dry_run)
        except TeamchatError as error:
            outcome.errors.append(f"{link.user.email}: {error.detail}")
    run.status, run.finished_at = LdapSyncStatus.SUCCEEDED, timezone.now()
    run.counts, run.changes, run.errors = outcome.counts, outcome.changes, outcome.errors
    if not dry_run:
        with transaction.atomic():
            run.save()
            audit_record(action="ldap.sync_completed", target=run,
                         data={"counts": run.counts, "errors": len(run.errors)})
    return run
