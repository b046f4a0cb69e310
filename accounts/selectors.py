"""Reads of the accounts app, each filtered by what the acting person may see."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import ApiToken, Invitation, RecoveryCode, TwoFactorDevice, User, UserSession
from accounts.services import TOKEN_PREFIX, secret_hash, secrets_match, two_factor_owed
from accounts.services.security import TWO_FACTOR_OWED_DETAIL
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


def socket_refusal(*, user_id: int, role: str, session_key: str | None = None,
                   token_id: int | None = None) -> TeamchatError | None:
    """Why a socket opened as this person, in this role, with this browser session (or
    API token), may not stream (any more); None while it may. The API's checks on every
    request, made by the WebSocket on connecting and again whenever it is told of a change
    or its schedule comes round (docs/realtime.md): the person is active; the session
    still exists, has not expired and still matches the password (or the token is not
    revoked); the two-factor policy does not hold the session back; and the role is the
    one the socket was opened with. The refusal's code names the reason."""
    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.is_active:
        return Forbidden("This account was deactivated.", code="deactivated")
    auth_method = None
    if token_id is not None and not ApiToken.objects.filter(
            pk=token_id, user_id=user_id, revoked_at__isnull=True).exists():
        return NotAuthenticated("The API token this socket was opened with was revoked.",
                                code="signed_out")
    if session_key is not None:
        data = _session_data(session_key)
        if not _session_signs_in(data, user):
            return NotAuthenticated("This session was signed out.", code="signed_out")
        auth_method = data.get("auth_method")
        if two_factor_owed(user, auth_method=auth_method):
            return Forbidden(TWO_FACTOR_OWED_DETAIL, code="two_factor_required")
    if user.role != role:
        return Forbidden("Your role changed; connect again to follow what it allows.",
                         code="role_changed")
    return None


def socket_access(*, user_id: int, role: str, session_key: str | None = None,
                  token_id: int | None = None) -> tuple[TeamchatError | None, float | None]:
    """socket_refusal, and the seconds until the socket's session expires (None for a
    token, or a session store that keeps no expiry date): the socket checks again then,
    so an expiry ends it as it happens rather than at its next scheduled check."""
    refusal = socket_refusal(user_id=user_id, role=role, session_key=session_key,
                             token_id=token_id)
    if refusal is not None or session_key is None:
        return refusal, None
    return None, _session_expires_in(session_key)


_DATABASE_SESSION_ENGINES = {"django.contrib.sessions.backends.db",
                             "django.contrib.sessions.backends.cached_db"}


def _session_expires_in(session_key: str) -> float | None:
    if settings.SESSION_ENGINE not in _DATABASE_SESSION_ENGINES:
        return None
    from django.contrib.sessions.models import Session

    expires = (Session.objects.filter(session_key=session_key)
               .values_list("expire_date", flat=True).first())
    return None if expires is None else (expires - timezone.now()).total_seconds()


def _session_data(session_key: str) -> dict[str, Any]:
    """What the session store holds under this key now: nothing once the session expired,
    was deleted or signed out. Read only (Django's own check on a request may write)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return store.load()


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
