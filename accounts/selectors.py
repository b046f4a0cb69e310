"""Reads of the accounts app, each filtered by what the acting person may see."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import ApiToken, Invitation, RecoveryCode, TwoFactorDevice, User, UserSession
from accounts.services import TOKEN_PREFIX, secret_hash, secrets_match
from core.errors import NotFound
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
