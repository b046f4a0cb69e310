"""Writes of the accounts app: people, roles, invitations, tokens, sign-in records."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import avatars
from accounts.models import ApiToken, Invitation, Organisation, Role, User, validate_timezone
from core import bus
from core.audit import audit_record
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.hooks import Hook
from core.live import access_changed_on_commit, user_deactivated_broadcast
from core.text import clean_name


def _encryption_unavailable(changes: dict[str, Any]) -> dict[str, Any]:
    raise InvalidInput.for_field(next(iter(sorted(changes))), "End-to-end encryption is not "
                                 "available here.")


# The encryption settings are checked and normalised by the e2ee app, a floor above
# (E2eeConfig.ready() provides it): (changes) -> the cleaned encryption fields.
organisation_e2ee_changes = Hook("accounts.organisation_e2ee_changes",
                                 default=_encryption_unavailable)

# Whether an admin may see every conversation a bot is in (messaging answers it,
# MessagingConfig.ready()): (viewer, bot) -> bool. Without an answer, no bot gets a token
# from anyone but itself.
bot_reach_visible = Hook("accounts.bot_reach_visible", default=lambda viewer, bot: False)

INVITATION_LIFETIME = timedelta(days=7)
# The public prefix of every API token (not a secret; it lets scanners spot leaked tokens).
TOKEN_PREFIX = "tc_"  # noqa: S105  # nosec B105
# Published (core.bus) once a person's account exists: {user_id}.
PERSON_JOINED = "accounts.person_joined"
PROFILE_FIELDS = ("display_name", "full_name", "title", "timezone", "status_text", "status_emoji",
                  "share_read_receipts")


def secret_hash(raw: str) -> str:
    """SHA-256 of a high-entropy secret (tokens, invitation links): enough to look it up."""
    return hashlib.sha256(raw.encode()).hexdigest()


def secrets_match(raw: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(raw), stored_hash)


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput.for_field("email", "Enter a valid email address.") from None
    return email


def _clean_display_name(name: str) -> str:
    name = clean_name("display_name", name).strip()
    if not name:
        raise InvalidInput.for_field("display_name", "A display name is required.")
    if len(name) > 80:
        raise InvalidInput.for_field("display_name", "At most 80 characters.")
    return name


def _clean_role(role: str) -> str:
    if role not in Role.values:
        raise InvalidInput.for_field("role", f"Must be one of: {', '.join(Role.values)}.")
    return role


def _clean_password(password: str, user: User | None = None) -> str:
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise InvalidInput("password: " + " ".join(error.messages),
                           fields={"password": list(error.messages)}) from None
    return password


def _require_admin(actor: User, what: str) -> None:
    if not (actor.is_active and actor.is_org_admin):
        raise Forbidden(f"Only owners and admins may {what}.")


def user_create(
    *,
    email: str,
    display_name: str,
    password: str | None,
    role: str = Role.MEMBER,
    actor: User | None = None,
    is_bot: bool = False,
    validate_password_rules: bool = True,
    **profile: Any,
) -> User:
    """Create a person (or bot). Callers decide who may; this checks the input."""
    email = _clean_email(email)
    user = User(
        email=email,
        display_name=_clean_display_name(display_name),
        role=_clean_role(role),
        is_bot=is_bot,
        bot_owner=actor if is_bot else None,
        **profile,
    )
    if password is None:
        user.set_unusable_password()
    else:
        if validate_password_rules:
            _clean_password(password, user)
        user.set_password(password)
    with transaction.atomic():
        if User.objects.filter(email__iexact=email).exists():
            raise Conflict(f"A person with the email {email} already exists.",
                           fields={"email": ["Already in use."]})
        try:
            user.save(force_insert=True)
        except IntegrityError:
            raise Conflict(f"A person with the email {email} already exists.",
                           fields={"email": ["Already in use."]}) from None
        audit_record(action="user.created", actor=actor, target=user,
                     data={"email": email, "role": user.role, "is_bot": is_bot})
        if not is_bot:
            # Messaging puts them in the default channels (core.bus: it sits above us).
            user_id = user.pk
            transaction.on_commit(lambda: bus.publish(PERSON_JOINED, user_id=user_id))
    return user


def user_profile_update(*, user: User, **changes: Any) -> User:
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown profile fields: {', '.join(sorted(unknown))}.",
                           fields={name: ["Unknown field."] for name in unknown})
    if "display_name" in changes:
        changes["display_name"] = _clean_display_name(changes["display_name"])
    if "timezone" in changes:
        try:
            validate_timezone(changes["timezone"])
        except ValidationError as error:
            raise InvalidInput.for_field("timezone", error.messages[0]) from None
    if "share_read_receipts" in changes and not isinstance(changes["share_read_receipts"], bool):
        raise InvalidInput.for_field("share_read_receipts", "Must be true or false.")
    limits = {"full_name": 150, "title": 100, "status_text": 100, "status_emoji": 32}
    for field, limit in limits.items():
        if field in changes:
            changes[field] = clean_name(field, changes[field]).strip()
            if len(changes[field]) > limit:
                raise InvalidInput.for_field(field, f"At most {limit} characters.")
    for field, value in changes.items():
        setattr(user, field, value)
    user.save(update_fields=list(changes))
    return user


def user_avatar_set(*, user: User, avatar: Any) -> User:
    """Store an avatar re-encoded as a 256-pixel PNG: upright, and without the metadata
    (EXIF location) the original may carry."""
    png = avatars.avatar_png(avatar)
    if user.avatar:
        user.avatar.delete(save=False)
    user.avatar.save("avatar.png", png, save=False)
    user.save(update_fields=["avatar"])
    return user


def user_avatar_clear(*, user: User) -> User:
    if user.avatar:
        user.avatar.delete(save=False)
    user.avatar = ""
    user.save(update_fields=["avatar"])
    return user


def user_role_change(*, actor: User | None, user: User, role: str) -> User:
    """`actor` None is the directory sync (integrations/services/ldap.py), which never
    makes or unmakes owners; every door passes the person acting."""
    if actor is not None:
        _require_admin(actor, "change roles")
    role = _clean_role(role)
    if user.is_bot:
        raise InvalidInput.for_field("role", "Bots keep the member role.")
    if Role.OWNER in (role, user.role) and (actor is None or actor.role != Role.OWNER):
        raise Forbidden("Only an owner may make or unmake owners.")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.role == Role.OWNER and role != Role.OWNER:
            _ensure_another_owner(locked)
        before = locked.role
        locked.role = role
        locked.save(update_fields=["role"])
        audit_record(action="user.role_changed", actor=actor, target=locked,
                     data={"from": before, "to": role})
        if before != role:
            # The sockets were opened, and followed what they follow, under the old role
            # (and the two-factor policy may cover the new one).
            access_changed_on_commit([locked.pk])
    user.role = role
    return user


def _ensure_another_owner(user: User) -> None:
    others = User.objects.filter(role=Role.OWNER, is_active=True).exclude(pk=user.pk)
    if not others.exists():
        raise Conflict("The organisation must keep at least one active owner.")


def user_deactivate(*, actor: User | None, user: User) -> User:
    """Deactivate a person: they can no longer sign in, tokens stop working, sockets close.
    `actor` None is the directory sync, for someone who left the directory."""
    if actor is not None:
        _require_admin(actor, "deactivate people")
    if user.role == Role.OWNER and actor is not None and actor.role != Role.OWNER:
        raise Forbidden("Only an owner may deactivate an owner.")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not locked.is_active:
            return locked
        if locked.role == Role.OWNER:
            _ensure_another_owner(locked)
        locked.is_active = False
        locked.deactivated_at = timezone.now()
        locked.save(update_fields=["is_active", "deactivated_at"])
        # Announced before the sessions end (on-commit callbacks run in order), so that
        # session sockets close saying why: deactivated, not merely signed out.
        transaction.on_commit(lambda: user_deactivated_broadcast(locked.pk))
        from accounts.services.security import sessions_end

        sessions_end(user_id=locked.pk)
        audit_record(action="user.deactivated", actor=actor, target=locked)
    return locked


def user_email_change(*, actor: User, user: User, email: str) -> User:
    """An admin (or the identity provider, as one) changes a person's sign-in email."""
    _require_admin(actor, "change people's emails")
    email = _clean_email(email)
    with transaction.atomic():
        if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
            raise Conflict(f"A person with the email {email} already exists.",
                           fields={"email": ["Already in use."]})
        before = user.email
        user.email = email
        user.save(update_fields=["email"])
        audit_record(action="user.email_changed", actor=actor, target=user,
                     data={"from": before, "to": email})
    return user


def user_reactivate(*, actor: User | None, user: User) -> User:
    """`actor` None is the directory sync, for someone it deactivated who came back."""
    if actor is not None:
        _require_admin(actor, "reactivate people")
    with transaction.atomic():
        user.is_active = True
        user.deactivated_at = None
        user.save(update_fields=["is_active", "deactivated_at"])
        audit_record(action="user.reactivated", actor=actor, target=user)
    return user


def password_changed_record(*, user: User, session_key: str | None, ip_address: str | None) -> None:
    """After a password change: sign out every other session, and record it."""
    with transaction.atomic():
        from accounts.services.security import sessions_end

        ended = sessions_end(user_id=user.pk, keep_session_key=session_key)
        # Sessions the list does not hold (opened before it existed, or by an operator)
        # no longer match the password: their sockets find out now.
        access_changed_on_commit([user.pk])
        audit_record(action="auth.password_changed", actor=user, target=user,
                     ip_address=ip_address, data={"sessions_ended": ended})


def password_reset_record(*, user: User, ip_address: str | None) -> None:
    """After a password reset through the emailed link: whoever asked for it may not be
    the person signed in, so every session ends (and its sockets close); record it."""
    with transaction.atomic():
        from accounts.services.security import sessions_end

        ended = sessions_end(user_id=user.pk)
        access_changed_on_commit([user.pk])
        audit_record(action="auth.password_reset", actor=user, target=user,
                     ip_address=ip_address, data={"sessions_ended": ended})


def sign_in_record(*, user: User, ip_address: str | None) -> None:
    audit_record(action="auth.sign_in", actor=user, target=user, ip_address=ip_address)


def sign_in_failure_record(*, email: str, ip_address: str | None) -> None:
    audit_record(action="auth.sign_in_failed", target_type="accounts.user",
                 ip_address=ip_address, data={"email": (email or "")[:254]})


def sign_out_record(*, user: User, ip_address: str | None) -> None:
    audit_record(action="auth.sign_out", actor=user, target=user, ip_address=ip_address)


# --- Invitations ------------------------------------------------------------------


def user_invite(*, actor: User, email: str, role: str = Role.MEMBER) -> tuple[Invitation, str]:
    """Invite someone by email. Returns the invitation and the one-time link token."""
    _require_admin(actor, "invite people")
    email = _clean_email(email)
    role = _clean_role(role)
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise Forbidden("Only an owner may invite an owner.")
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(f"{email} already has an account.", fields={"email": ["Already in use."]})
    raw = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            email=email,
            role=role,
            token_hash=secret_hash(raw),
            invited_by=actor,
            expires_at=timezone.now() + INVITATION_LIFETIME,
        )
        audit_record(action="user.invited", actor=actor, target=invitation,
                     data={"email": email, "role": role})
        transaction.on_commit(lambda: _send_invitation(invitation.pk, raw))
    return invitation, raw


def _send_invitation(invitation_id: int, raw: str) -> None:
    from accounts.tasks import send_invitation_email

    send_invitation_email.delay(invitation_id, raw)


def invitation_url(raw: str) -> str:
    return f"{settings.SITE_URL}/invite/{raw}/"


def invitation_accept(*, token: str, display_name: str, password: str | None) -> User:
    """Create the invited person's account. A link works once and only until it expires.
    Where password sign-in is off (docs/identity.md), the account gets no password, whatever
    was given: the person signs in through the identity provider."""
    from accounts.services.identity import password_sign_in_allowed

    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .filter(token_hash=secret_hash(token or ""))
            .first()
        )
        if invitation is None or invitation.revoked_at is not None:
            raise NotFound("This invitation link is not valid.")
        if invitation.accepted_at is not None:
            raise Conflict("This invitation has already been used.", code="invitation_used")
        if invitation.expires_at <= timezone.now():
            raise Conflict("This invitation has expired; ask an admin for a new one.",
                           code="invitation_expired")
        if not password_sign_in_allowed(email=invitation.email):
            password = None
        elif not password:
            raise InvalidInput.for_field("password", "Choose a password.")
        user = user_create(
            email=invitation.email,
            display_name=display_name,
            password=password,
            role=invitation.role,
            actor=None,
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_user = user
        invitation.save(update_fields=["accepted_at", "accepted_user"])
        audit_record(action="user.invitation_accepted", actor=user, target=invitation)
    return user


def invitation_revoke(*, actor: User, invitation: Invitation) -> Invitation:
    _require_admin(actor, "revoke invitations")
    with transaction.atomic():
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(action="user.invitation_revoked", actor=actor, target=invitation)
    return invitation


# --- API tokens ---------------------------------------------------------------------


def api_token_create(*, actor: User, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a bearer token for `user`. Returns the row and the token, shown only now.

    People create their own; admins create them for bots, and only for a bot whose every
    conversation they may see themselves: a bot's token reads what the bot is a member
    of, so it must not open anything to the admin who holds it that they cannot open now.
    """
    if actor.pk != user.pk:
        if not (actor.is_active and actor.is_org_admin and user.is_bot):
            raise Forbidden("You may create tokens only for yourself (admins: also for bots).")
        if not bot_reach_visible(actor, user):
            raise Forbidden("This bot is a member of conversations you cannot see; only "
                            "someone who sees all of them may give it a token.",
                            code="bot_beyond_reach")
    if not user.is_active:
        raise InvalidInput.for_field("user", "This account is deactivated.")
    name = clean_name("name", name).strip()
    if not name:
        raise InvalidInput.for_field("name", "Give the token a name you will recognise.")
    if len(name) > 100:
        raise InvalidInput.for_field("name", "At most 100 characters.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, prefix=raw[:10], token_hash=secret_hash(raw)
        )
        audit_record(action="token.created", actor=actor, target=token,
                     data={"user_id": user.pk, "name": name, "prefix": token.prefix})
    return token, raw


def api_token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    if actor.pk != token.user_id and not (actor.is_org_admin and token.user.is_bot):
        raise NotFound("No such token.")
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(action="token.revoked", actor=actor, target=token,
                     data={"user_id": token.user_id, "prefix": token.prefix})
        access_changed_on_commit([token.user_id])  # its sockets close
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Note when a token was last used, at most once a minute to spare the database."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


# --- Bots ---------------------------------------------------------------------------


def bot_create(*, actor: User, display_name: str, username: str) -> User:
    """Create a bot user owned by the admin who made it."""
    _require_admin(actor, "create bots")
    username = (username or "").strip().lower()
    if not username or not username.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput.for_field("username", "Letters, digits, - and _ only.")
    return user_create(
        email=f"{username}@bots.teamchat.invalid",
        display_name=display_name,
        password=None,
        role=Role.MEMBER,
        actor=actor,
        is_bot=True,
    )


def organisation_update(*, actor: User, **changes: Any) -> Organisation:
    _require_admin(actor, "change organisation settings")
    organisation = Organisation.get()
    allowed = {"name", "message_edit_window_seconds", "link_previews_enabled",
               "link_preview_domains", "require_two_factor", "e2ee_policy", "e2ee_escrow_public_key",
               "read_receipts_enabled", "read_receipts_max_members"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"Unknown settings: {', '.join(sorted(unknown))}.",
                           fields={name: ["Unknown field."] for name in unknown})
    if "name" in changes:
        changes["name"] = clean_name("name", changes["name"])
    if "name" in changes and not str(changes["name"]).strip():
        raise InvalidInput.for_field("name", "A name is required.")
    if "message_edit_window_seconds" in changes:
        try:
            window = int(changes["message_edit_window_seconds"])
        except (TypeError, ValueError):
            raise InvalidInput.for_field("message_edit_window_seconds", "Must be a number.") from None
        if window < 0:
            raise InvalidInput.for_field("message_edit_window_seconds", "Must not be negative.")
        changes["message_edit_window_seconds"] = window
    if "link_previews_enabled" in changes and not isinstance(changes["link_previews_enabled"], bool):
        raise InvalidInput.for_field("link_previews_enabled", "Must be true or false.")
    if "read_receipts_enabled" in changes and not isinstance(changes["read_receipts_enabled"], bool):
        raise InvalidInput.for_field("read_receipts_enabled", "Must be true or false.")
    if "read_receipts_max_members" in changes:
        largest = changes["read_receipts_max_members"]
        if not isinstance(largest, int) or isinstance(largest, bool) or not 0 <= largest <= 10_000:
            raise InvalidInput.for_field("read_receipts_max_members",
                                         "A number of members from 0 (channels never) to 10000.")
    if "link_preview_domains" in changes:
        domains = changes["link_preview_domains"]
        if not isinstance(domains, list) or not all(isinstance(d, str) and d.strip() for d in domains):
            raise InvalidInput.for_field("link_preview_domains", "A list of domain names.")
        changes["link_preview_domains"] = sorted({d.strip().lower().lstrip(".") for d in domains})
    encryption = {"e2ee_policy", "e2ee_escrow_public_key"} & set(changes)
    if encryption:
        changes.update(organisation_e2ee_changes({name: changes[name] for name in encryption}))
        # Unchanged settings are left out, so saving the console form records no change.
        for name in ("e2ee_policy", "e2ee_escrow_public_key", "e2ee_escrow_fingerprint"):
            if name in changes and changes[name] == getattr(organisation, name):
                del changes[name]
    with transaction.atomic():
        before = {name: getattr(organisation, name) for name in changes}
        for name, value in changes.items():
            setattr(organisation, name, value)
        organisation.save()
        audit_record(action="organisation.updated", actor=actor, target=organisation,
                     data={"before": before, "after": changes})
    return organisation


# --- Presence -------------------------------------------------------------------------


def statuses_expire() -> int:
    """Clear the custom statuses whose time has come (beat, every minute), and tell each
    person's watchers. How many were cleared."""
    from accounts import presence

    due = list(User.objects.filter(status_expires_at__lte=timezone.now())
               .values_list("pk", flat=True))
    for user_id in due:
        with transaction.atomic():
            cleared = User.objects.filter(pk=user_id, status_expires_at__lte=timezone.now()).update(
                status_text="", status_emoji="", status_expires_at=None)
            if cleared:
                transaction.on_commit(lambda user_id=user_id: presence.announce(user_id))
    return len(due)

PRESENCE_CHOICES = ("auto", "online", "away", "dnd")
DND_LONGEST = timedelta(days=366)


def presence_set(*, user: User, status: str, status_text: str | None = None,
                 status_emoji: str | None = None, dnd_until: Any = None,
                 status_expires_at: Any = None) -> User:
    """Set presence by hand: `auto` (or `online`) follows the connections, `away` holds
    away, `dnd` holds do-not-disturb until `dnd_until`. A custom status given with
    `status_expires_at` is cleared then (without it, it stays). Announced to watchers on
    commit."""
    from accounts import presence

    if status not in PRESENCE_CHOICES:
        raise InvalidInput.for_field("status", f"Must be one of: {', '.join(PRESENCE_CHOICES)}.")
    changes: dict[str, Any] = {}
    if status == "dnd":
        if dnd_until is None:
            raise InvalidInput.for_field("dnd_until", "Do-not-disturb needs an end time.")
        if dnd_until <= timezone.now():
            raise InvalidInput.for_field("dnd_until", "Must be in the future.")
        if dnd_until - timezone.now() > DND_LONGEST:
            raise InvalidInput.for_field("dnd_until", "At most a year from now.")
        changes.update(dnd_until=dnd_until, presence_manual="")
    else:
        changes.update(dnd_until=None, presence_manual="away" if status == "away" else "")
    if status_text is not None:
        status_text = clean_name("status_text", status_text)
        if len(status_text.strip()) > 100:
            raise InvalidInput.for_field("status_text", "At most 100 characters.")
        changes["status_text"] = status_text.strip()
    if status_emoji is not None:
        if len(status_emoji.strip()) > 32:
            raise InvalidInput.for_field("status_emoji", "At most 32 characters.")
        changes["status_emoji"] = status_emoji.strip()
    if status_expires_at is not None:
        if status_expires_at <= timezone.now():
            raise InvalidInput.for_field("status_expires_at", "Must be in the future.")
        if status_expires_at - timezone.now() > DND_LONGEST:
            raise InvalidInput.for_field("status_expires_at", "At most a year from now.")
    if "status_text" in changes or "status_emoji" in changes:
        # A new status: kept until the time given, or until changed.
        changes["status_expires_at"] = status_expires_at
    with transaction.atomic():
        for name, value in changes.items():
            setattr(user, name, value)
        user.save(update_fields=list(changes))
        transaction.on_commit(lambda: presence.announce(user.pk))
    return user
