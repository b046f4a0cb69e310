"""Sign-in security: two-factor authentication (TOTP and one-time recovery codes), the
organisation's policy requiring it, lock-out with backoff after failed attempts, and the
list of a person's browser sessions with sign-out of any."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

import pyotp
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import Organisation, RecoveryCode, Role, TwoFactorDevice, User, UserSession
from accounts.services.people import _require_admin, secret_hash
from core import ratelimit
from core.audit import audit_record
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.live import SESSION_ENDED, SESSION_REKEYED, access_changed_on_commit, group_send, user_group
from core.secrets import decrypt, encrypt

RECOVERY_CODES = 10
ISSUER = "teamchat"
# After FAILURES_BEFORE_LOCK failures, each further one locks the account for twice as
# long as the last, from LOCK_FIRST_SECONDS up to LOCK_LONGEST_SECONDS.
FAILURES_BEFORE_LOCK = 5
LOCK_FIRST_SECONDS = 30
LOCK_LONGEST_SECONDS = 3600
FAILURE_MEMORY_SECONDS = 24 * 3600
# What a session the two-factor policy holds back is told, by the API and the WebSocket.
TWO_FACTOR_OWED_DETAIL = "Set up two-factor authentication first (your organisation requires it)."


# --- Lock-out ---------------------------------------------------------------------------
# Each attempt (a password or a second-step code) is counted before its secret is
# checked, atomically, so concurrent guesses cannot slip past the count: the first
# FAILURES_BEFORE_LOCK - 1 run freely; each later one must first claim the account's
# lock, which then holds for its backoff whether the attempt fails or not. The backoff
# doubles with each lock claimed (not with the attempts refused meanwhile). A right
# secret gives its count back (and its lock); a completed sign-in clears all three keys.


def _lock_key(email: str) -> str:
    return f"signin:failures:{(email or '').strip().lower()}"


def sign_in_locked_for(*, email: str) -> int:
    """Seconds until this account may try again (0 when it may try now)."""
    until = cache.get(f"{_lock_key(email)}:lock") or 0
    return max(0, int(until - time.time() + 0.999))


def sign_in_attempt_begin(*, email: str) -> int:
    """Count one attempt on this account before its secret is checked; returns its
    number, for `sign_in_attempt_passed`. Raises Forbidden (`locked`) when the account
    is locked; that attempt is not counted and its secret must not be checked."""
    key = _lock_key(email)
    # Remembered for a day after the last attempt.
    attempt = ratelimit.count(f"{key}:n", FAILURE_MEMORY_SECONDS, refresh=True)
    if attempt < FAILURES_BEFORE_LOCK:
        return attempt
    if ratelimit.claim(f"{key}:lock", time.time() + LOCK_FIRST_SECONDS, LOCK_FIRST_SECONDS):
        # This attempt holds the lock, so nobody else writes it: set its real length.
        level = ratelimit.count(f"{key}:locks", FAILURE_MEMORY_SECONDS, refresh=True)
        lock = min(LOCK_FIRST_SECONDS * 2 ** (level - 1), LOCK_LONGEST_SECONDS)
        cache.set(f"{key}:lock", time.time() + lock, timeout=lock)
        return attempt
    ratelimit.count(f"{key}:n", FAILURE_MEMORY_SECONDS, delta=-1)
    wait = max(1, sign_in_locked_for(email=email))
    raise Forbidden(f"Too many failed attempts; try again in {wait} s.", code="locked")


def sign_in_attempt_passed(*, email: str, attempt: int) -> None:
    """The secret of a counted attempt was right: it is not a failure. (The person may
    still have a second step ahead, so earlier failures stay counted.)"""
    key = _lock_key(email)
    ratelimit.count(f"{key}:n", FAILURE_MEMORY_SECONDS, delta=-1)
    if attempt >= FAILURES_BEFORE_LOCK:  # it holds the lock, so nobody else does
        ratelimit.count(f"{key}:locks", FAILURE_MEMORY_SECONDS, delta=-1)
        cache.delete(f"{key}:lock")


def sign_in_succeeded(*, email: str) -> None:
    key = _lock_key(email)
    cache.delete_many([f"{key}:n", f"{key}:locks", f"{key}:lock"])


# --- Two-factor authentication --------------------------------------------------------------


def two_factor_required(user: User, *, policy: str | None = None) -> bool:
    """Whether the organisation's policy (read here unless given) requires this person
    to use two factors."""
    policy = Organisation.get().require_two_factor if policy is None else policy
    if user.is_bot:
        return False
    return policy == "everyone" or (policy == "admins" and user.role in (Role.OWNER, Role.ADMIN))


def two_factor_enabled(user: User) -> bool:
    return TwoFactorDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


# Sessions signed in through an identity provider, which is trusted for the second factor.
SSO_METHODS = ("oidc", "saml")


def two_factor_owed(user: User, *, auth_method: str | None, policy: str | None = None,
                    enabled: bool | None = None) -> bool:
    """Whether a session of this person is held back until they set up a second factor:
    the policy covers them and they have none. A session signed in through single sign-on
    is not (the provider is trusted for the second factor). One rule for every door: the
    pages and the API (accounts.middleware) and the WebSocket (accounts.selectors), which
    reads the policy and who has a second factor once for many people (`policy`,
    `enabled`)."""
    return (auth_method not in SSO_METHODS and two_factor_required(user, policy=policy)
            and not (two_factor_enabled(user) if enabled is None else enabled))


def two_factor_owing_user_ids(*, policy: str) -> list[int]:
    """The active people (not bots) a policy covers who have no second factor."""
    people = User.objects.filter(is_active=True, is_bot=False).exclude(
        two_factor__confirmed_at__isnull=False)
    if policy == "admins":
        people = people.filter(role__in=(Role.OWNER, Role.ADMIN))
    elif policy != "everyone":
        return []
    return list(people.values_list("pk", flat=True))


def two_factor_begin(*, user: User) -> tuple[TwoFactorDevice, str]:
    """Start setting up an authenticator: a secret, not yet confirmed (the same one while
    setup is under way, so a mistyped code does not change the QR code). Returns the
    device and the otpauth:// URI to show as a QR code."""
    if two_factor_enabled(user):
        raise Conflict("Two-factor authentication is already on; turn it off first.")
    pending = TwoFactorDevice.objects.filter(
        user=user, confirmed_at__isnull=True,
        created_at__gt=timezone.now() - timedelta(minutes=30)).first()
    if pending is not None:
        secret = decrypt(pending.secret_encrypted)
        return pending, pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    secret = pyotp.random_base32()
    device, _ = TwoFactorDevice.objects.update_or_create(
        user=user, defaults={"secret_encrypted": encrypt(secret), "confirmed_at": None,
                             "last_step": 0, "created_at": timezone.now()})
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return device, uri


def _check_code(device: TwoFactorDevice, code: str) -> bool:
    """A current TOTP code, accepted once (a code seen before is refused)."""
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 6:
        return False
    totp = pyotp.TOTP(decrypt(device.secret_encrypted))
    current = int(time.time() // totp.interval)
    for step in (current, current - 1, current + 1):  # one step of clock drift either way
        if step > device.last_step and secrets.compare_digest(totp.generate_otp(step), code):
            updated = TwoFactorDevice.objects.filter(pk=device.pk, last_step__lt=step).update(
                last_step=step)
            return bool(updated)
    return False


def two_factor_confirm(*, user: User, code: str) -> list[str]:
    """Turn two-factor authentication on with a first good code; returns the recovery
    codes, shown only now."""
    device = TwoFactorDevice.objects.filter(user=user, confirmed_at__isnull=True).first()
    if device is None:
        raise NotFound("Start setting up an authenticator first.")
    if not _check_code(device, code):
        raise InvalidInput.for_field("code", "That code is not right; use the current one.")
    with transaction.atomic():
        TwoFactorDevice.objects.filter(pk=device.pk).update(confirmed_at=timezone.now())
        codes = _new_recovery_codes(user)
        audit_record(action="2fa.enabled", actor=user, target=user)
    return codes


def _new_recovery_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    RecoveryCode.objects.bulk_create(RecoveryCode(user=user, code_hash=secret_hash(c)) for c in codes)
    return codes


def recovery_codes_regenerate(*, user: User, code: str) -> list[str]:
    two_factor_verify(user=user, code=code)
    with transaction.atomic():
        codes = _new_recovery_codes(user)
        audit_record(action="2fa.recovery_codes_regenerated", actor=user, target=user)
    return codes


def two_factor_verify(*, user: User, code: str) -> str:
    """Check a second factor: a TOTP code or an unused recovery code (which is then used
    up). Returns which; raises InvalidInput otherwise, counting toward the lock-out, and
    Forbidden (`locked`) without checking the code while the account is locked."""
    device = TwoFactorDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
    if device is None:
        raise NotFound("Two-factor authentication is not on.")
    attempt = sign_in_attempt_begin(email=user.email)
    if _check_code(device, code):
        sign_in_attempt_passed(email=user.email, attempt=attempt)
        return "totp"
    cleaned = (code or "").strip().lower()
    if cleaned:
        used = RecoveryCode.objects.filter(user=user, code_hash=secret_hash(cleaned),
                                           used_at__isnull=True).update(used_at=timezone.now())
        if used:
            sign_in_attempt_passed(email=user.email, attempt=attempt)
            audit_record(action="2fa.recovery_code_used", actor=user, target=user, data={
                "left": RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()})
            return "recovery"
    audit_record(action="2fa.failed", actor=user, target=user)
    raise InvalidInput.for_field("code", "That code is not right.")


def two_factor_disable(*, user: User, code: str) -> None:
    if two_factor_required(user):
        raise Forbidden("Your organisation requires two-factor authentication.")
    two_factor_verify(user=user, code=code)
    with transaction.atomic():
        TwoFactorDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        audit_record(action="2fa.disabled", actor=user, target=user)


def two_factor_reset(*, actor: User, user: User) -> None:
    """An admin clears someone's lost authenticator (they set it up again)."""
    _require_admin(actor, "reset two-factor authentication")
    with transaction.atomic():
        TwoFactorDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        sessions_end(user_id=user.pk)
        audit_record(action="2fa.reset", actor=actor, target=user)


def two_factor_policy_set(*, actor: User, policy: str) -> Organisation:
    from accounts.services.people import organisation_update

    if policy not in ("off", "admins", "everyone"):
        raise InvalidInput.for_field("require_two_factor", "Must be off, admins or everyone.")
    if actor.role != Role.OWNER:
        raise Forbidden("Only an owner may change the two-factor policy.")
    with transaction.atomic():
        organisation = organisation_update(actor=actor, require_two_factor=policy)
        # Those it now holds back are held back on their open sockets too.
        access_changed_on_commit(two_factor_owing_user_ids(policy=policy))
    return organisation


# --- Sessions ---------------------------------------------------------------------------------


def session_started(*, user: User, session_key: str, ip_address: str | None, user_agent: str) -> None:
    UserSession.objects.update_or_create(session_key=session_key, defaults={
        "user": user, "ip_address": ip_address, "user_agent": (user_agent or "")[:300],
        "created_at": timezone.now(), "last_seen_at": timezone.now()})


def session_seen(*, session_key: str) -> None:
    """Note activity, at most every five minutes a session."""
    UserSession.objects.filter(session_key=session_key,
                               last_seen_at__lt=timezone.now() - timedelta(minutes=5)).update(
        last_seen_at=timezone.now())


def session_rekeyed(*, user_id: int, old_key: str | None, new_key: str | None) -> None:
    """Django gave a session a new key (e.g. after a password change): follow it, and so
    do the sockets opened with it (they check the new key from now on)."""
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(session_key=old_key).update(session_key=new_key)
        transaction.on_commit(lambda: group_send(user_group(user_id), {
            "type": SESSION_REKEYED, "old": old_key, "new": new_key}))


def session_forget(*, user_id: int, session_key: str) -> None:
    """A session signed out the ordinary way: its sockets close too."""
    UserSession.objects.filter(session_key=session_key).delete()
    transaction.on_commit(lambda: _close_sockets(user_id, [session_key]))


def _end(keys: list[str], user_id: int) -> None:
    Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(session_key__in=keys).delete()
    if keys:
        keys_copy = list(keys)
        transaction.on_commit(lambda: _close_sockets(user_id, keys_copy))


def _close_sockets(user_id: int, keys: list[str]) -> None:
    group_send(user_group(user_id), {"type": SESSION_ENDED, "sessions": keys})


def sessions_end(*, user_id: int, keep_session_key: str | None = None) -> int:
    """Sign a person out everywhere (but the session they are using, when named)."""
    keys = list(UserSession.objects.filter(user_id=user_id).exclude(
        session_key=keep_session_key or "").values_list("session_key", flat=True))
    _end(keys, user_id)
    return len(keys)


def session_end(*, actor: User, session_id: Any) -> None:
    """Sign out one of your own sessions (anyone else's is NotFound)."""
    session = UserSession.objects.filter(pk=session_id, user=actor).first()
    if session is None:
        raise NotFound("No such session.")
    with transaction.atomic():
        _end([session.session_key], actor.pk)
        audit_record(action="auth.session_ended", actor=actor, target=actor,
                     data={"ip_address": session.ip_address, "user_agent": session.user_agent})
