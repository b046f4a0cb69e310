"""Who is on the other end of a WebSocket, settled before the socket opens.

Programs send `Authorization: Bearer <token>` (browsers cannot set that header, so a
cross-site page cannot borrow it). Browsers use their session cookie, and then the
Origin must be one of our hosts, which stops cross-site WebSocket hijacking.
Anyone else is refused during the handshake.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from rest_framework.exceptions import AuthenticationFailed

from accounts.authentication import parse_bearer
from accounts.selectors import api_token_authenticate

ASGIApp = Any


class _RequireUser:
    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner(dict(scope, auth="session"), receive, send)


@database_sync_to_async
def _token(raw: str) -> Any:
    return api_token_authenticate(raw)


class WebSocketAuthMiddleware:
    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        self.session_app = AllowedHostsOriginValidator(AuthMiddlewareStack(_RequireUser(inner)))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        header = dict(scope.get("headers", [])).get(b"authorization")
        if header is None:
            return await self.session_app(scope, receive, send)
        try:
            raw = parse_bearer(header.decode("latin-1"))
        except AuthenticationFailed:
            raw = None
        token = await _token(raw) if raw else None
        if token is None:
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner(dict(scope, user=token.user, auth="token", token_id=token.pk),
                                receive, send)
