"""Static files answered on daphne's event loop, ahead of Django.

Through Django, every request, a stylesheet's included, takes a turn on the one thread
that runs the synchronous views and middleware, and the file is then streamed in chunks
that each take a turn again: the twenty files of the web client's first screen queued
behind its API calls, and the page waited for both. Here WhiteNoise's own file table,
headers and conditional answers (ETag, 304, precompressed variants, ranges) serve them
without that thread; anything that is not a known static file goes on to Django.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from whitenoise.middleware import WhiteNoiseMiddleware

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]

# What SecurityMiddleware adds to every answer and a static file also needs.
_EXTRA_HEADERS = [(b"x-content-type-options", b"nosniff")]


class StaticFiles:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.files = WhiteNoiseMiddleware(get_response=None, settings=settings)

    def _find(self, path: str) -> Any:
        if self.files.autorefresh:
            return self.files.find_file(path)
        return self.files.files.get(path)

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        path = scope.get("path", "")
        static_file = (self._find(path) if scope["type"] == "http"
                       and path.startswith(self.files.static_prefix) else None)
        if static_file is None:
            await self.app(scope, receive, send)
            return
        request_headers = {"HTTP_" + name.decode("latin-1").upper().replace("-", "_"): value.decode("latin-1")
                           for name, value in scope.get("headers", [])}
        response = static_file.get_response(scope["method"], request_headers)
        body = b""
        if response.file is not None:
            with response.file:
                body = await asyncio.to_thread(response.file.read)
        headers = [(name.lower().encode("latin-1"), str(value).encode("latin-1"))
                   for name, value in response.headers]
        await send({"type": "http.response.start", "status": int(response.status),
                    "headers": headers + _EXTRA_HEADERS})
        await send({"type": "http.response.body", "body": body})
