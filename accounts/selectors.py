"""Reads of the accounts app, each filtered by what the acting person may see."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import (
    ApiToken,
    Invitation,
    Organisation,
    RecoveryCode,
    TwoFactorDevice,
    User,
    UserSession,
)
from accounts.services import TOKEN_PREFIX, secret_hash, secrets_match, two_factor_owed
from accounts.services.security import TWO_FACTOR_OWED_DETAIL, two_factor_required
from core.errors import Forbidden, NotAuthenticated, NotFound, TeamchatError
from core.hooks import Hook


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The active token whose secret is `raw`, with its active user; None otherwise."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=secret_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not secrets_match(raw, token.token_hash) or not token.user.is_active:
        return None
    return token


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")


def api_token_get_for_user(*, user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    if token is None or not (token.user_id == user.pk or (user.is_org_admin and token.user.is_bot)):
        raise NotFound("No such token.")
    return token


def _nobody(viewer: User) -> QuerySet[User]:
    return User.objects.none().values("pk")


# The ids of the people who share a conversation with someone, as a subquery: messaging's
# to answer (MessagingConfig.ready()); without it a guest sees only themself.
people_sharing_a_conversation = Hook("accounts.people_sharing_a_conversation", default=_nobody)


def user_list(*, viewer: User, query: str = "", include_deactivated: bool = False) -> QuerySet[User]:
    """The directory. Guests see only people they share a conversation with."""
    users = User.objects.all()
    if not include_deactivated:
        users = users.filter(is_active=True)
    if viewer.is_guest:
        users = users.filter(Q(pk__in=people_sharing_a_conversation(viewer)) | Q(pk=viewer.pk))
    query = (query or "").replace("\x00", "").strip()[:100]
    if query:
        users = users.filter(
            Q(display_name__icontains=query) | Q(full_name__icontains=query)
            | Q(email__icontains=query)
        )
    return users.order_by("display_name", "id")


def user_ids_visible(*, viewer: User, user_ids: list[int]) -> list[int]:
    """Those of `user_ids` the person may see in the directory (whose presence they may
    read, over REST or the socket)."""
    return list(user_list(viewer=viewer).filter(pk__in=user_ids).values_list("pk", flat=True))


def user_get_for_user(*, viewer: User, user_id: int) -> User:
    user = user_list(viewer=viewer, include_deactivated=True).filter(pk=user_id).first()
    if user is None:
        raise NotFound("No such person.")
    return user


def invitation_list(*, viewer: User) -> QuerySet[Invitation]:
    if not viewer.is_org_admin:
        return Invitation.objects.none()
    return Invitation.objects.select_related("invited_by").order_by("-created_at")


def recovery_codes_left(*, user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def session_list(*, user: User) -> QuerySet[UserSession]:
    return UserSession.objects.filter(user=user).order_by("-last_seen_at")


def two_factor_user_ids(*, user_ids: list[int]) -> set[int]:
    """Which of these people have a confirmed authenticator."""
    return set(TwoFactorDevice.objects.filter(user_id__in=user_ids, confirmed_at__isnull=False)
               .values_list("user_id", flat=True))


# --- Who may keep a socket open ----------------------------------------------------------


class SocketAccess(NamedTuple):
    """What a socket was opened with: the person, in the role they had, with a browser
    session or an API token."""
    user_id: int
    role: str
    session_key: str | None = None
    token_id: int | None = None


def socket_refusal(**access: Any) -> TeamchatError | None:
    """Why a socket opened as this person, in this role, with this browser session (or
    API token), may not stream (any more); None while it may. See socket_accesses."""
    return socket_accesses([SocketAccess(**access)])[0][0]


def socket_access(**access: Any) -> tuple[TeamchatError | None, float | None]:
    """socket_accesses for one socket (on connecting, and when it is told of a change)."""
    return socket_accesses([SocketAccess(**access)])[0]


def socket_accesses(accesses: list[SocketAccess]) -> list[tuple[TeamchatError | None, float | None]]:
    """For each socket, why it may not stream (any more), or None while it may; and the
    seconds until its session expires (None for a token, or a session store that keeps
    no expiry date), so that it checks again then.

    The API's checks on every request, made by the WebSocket on connecting, whenever it
    is told of a change, and for all of a process's sockets together on a schedule
    (docs/realtime.md): the person is active; the session still exists, has not expired
    and still matches the password (or the token is not revoked); the two-factor policy
    does not hold the session back; and the role is the one the socket was opened with.
    The refusal's code names the reason. Four queries however many sockets (up to a
    thousand ids a statement): the people, the tokens, the sessions, and the second
    factors of those the policy covers."""
    users: dict[int, User] = {}
    for chunk in _chunks({a.user_id for a in accesses}):
        # Only what the checks read: thousands of sockets are checked together.
        users.update(User.objects.only("is_active", "role", "is_bot", "password").in_bulk(chunk))
    token_users: dict[int, int] = {}  # each token not revoked: its person
    for chunk in _chunks({a.token_id for a in accesses if a.token_id is not None}):
        token_users.update(ApiToken.objects.filter(pk__in=chunk, revoked_at__isnull=True)
                           .values_list("pk", "user_id"))
    sessions = _sessions_now({a.session_key for a in accesses if a.session_key is not None})
    # The policy covers browser sessions only: a token's socket reads none of it.
    policy = Organisation.get().require_two_factor if sessions else "off"
    covered = {a.user_id for a in accesses if a.session_key is not None and a.user_id in users
               and two_factor_required(users[a.user_id], policy=policy)}
    with_second_factor = two_factor_user_ids(user_ids=sorted(covered)) if covered else set()

    answers: list[tuple[TeamchatError | None, float | None]] = []
    for access in accesses:
        user = users.get(access.user_id)
        data, expires_in = sessions.get(access.session_key or "", ({}, None))
        refusal: TeamchatError | None = None
        if user is None or not user.is_active:
            refusal = Forbidden("This account was deactivated.", code="deactivated")
        elif access.token_id is not None and token_users.get(access.token_id) != user.pk:
            refusal = NotAuthenticated("The API token this socket was opened with was revoked.",
                                       code="signed_out")
        elif access.session_key is not None and not _session_signs_in(data, user):
            refusal = NotAuthenticated("This session was signed out.", code="signed_out")
        elif access.session_key is not None and two_factor_owed(
                user, auth_method=data.get("auth_method"), policy=policy,
                enabled=user.pk in with_second_factor):
            refusal = Forbidden(TWO_FACTOR_OWED_DETAIL, code="two_factor_required")
        elif user.role != access.role:
            refusal = Forbidden("Your role changed; connect again to follow what it allows.",
                                code="role_changed")
        answers.append((refusal, None if refusal is not None else expires_in))
    return answers


_CHUNK = 1000  # ids or keys in one IN list


def _chunks(values: set[Any]) -> Iterator[list[Any]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start:start + _CHUNK]


_DATABASE_SESSION_ENGINES = {"django.contrib.sessions.backends.db",
                             "django.contrib.sessions.backends.cached_db"}


def _sessions_now(keys: set[str]) -> dict[str, tuple[dict[str, Any], float | None]]:
    """What the session store holds under each key now (nothing once the session expired,
    was deleted or signed out), and the seconds until it expires. Read only (Django's own
    check on a request may write). Sessions in the database are read in one statement a
    chunk (for cached_db too: the database is the record, the cache a copy)."""
    if not keys:
        return {}
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if settings.SESSION_ENGINE not in _DATABASE_SESSION_ENGINES:
        return {key: (store(key).load(), None) for key in keys}
    from django.contrib.sessions.models import Session

    now, decoder, found = timezone.now(), store(), {}
    for chunk in _chunks(keys):
        rows = Session.objects.filter(session_key__in=chunk, expire_date__gt=now).values_list(
            "session_key", "session_data", "expire_date")
        for key, data, expires in rows:
            found[key] = (decoder.decode(data), (expires - now).total_seconds())
    return found


def _session_signs_in(data: dict[str, Any], user: User) -> bool:
    """Whether a session's data signs this person in, as django.contrib.auth.get_user
    decides it: their id, a backend still configured, and the hash of their current
    password (a changed or reset password ends every session that holds the old one)."""
    if str(data.get(SESSION_KEY)) != str(user.pk):
        return False
    if data.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return False
    stored = data.get(HASH_SESSION_KEY) or ""
    return bool(stored) and any(constant_time_compare(stored, current) for current in (
        user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()))
