"""DRF authentication: `Authorization: Bearer <token>` for programs, sessions for browsers."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication
from rest_framework.authentication import SessionAuthentication as DrfSessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts import selectors, services
from accounts.models import ApiToken, User


def parse_bearer(header: str) -> str | None:
    """The token in an Authorization header; None when another scheme is used.

    Raises AuthenticationFailed for a Bearer header that is not well formed.
    """
    parts = header.split()
    if not parts or parts[0].lower() != "bearer":
        return None
    if len(parts) != 2 or not parts[1].isascii():
        raise AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
    return parts[1]


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        raw = parse_bearer(header)
        if raw is None:
            raise AuthenticationFailed("Unsupported authorization scheme; use 'Bearer <token>'.")
        token = selectors.api_token_authenticate(raw)
        if token is None:
            raise AuthenticationFailed("Invalid or revoked token.")
        services.api_token_touch(token=token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class SessionAuthentication(DrfSessionAuthentication):
    """Browser sessions, with CSRF enforced on unsafe methods (DRF's behaviour)."""
