"""What the apps below realtime handle on a socket, found through their AppConfig.

An app names a module in its AppConfig's `realtime_handlers`; that module may define:
- `FRAMES`: client frame type -> `async def handler(socket, frame)`,
- `EVENTS`: channel-layer message type -> `async def handler(socket, event)`,
- `CLOSED`: `async def hook(socket)` run when a socket closes.
So realtime reaches the apps without being imported by them (they sit on lower floors,
docs/realtime.md), and two apps cannot claim one frame type.

`socket` is the consumer (realtime.consumer.RealtimeConsumer); handlers use its `user`,
`connection_id`, `channel_layer`, `channel_name`, `member_of`, `watching`, `state` (a
dict for their own per-socket data), `send_frame`, `send`, `refuse`, `close`, `watch`
and `in_order`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

Handler = Callable[[Any, dict[str, Any]], Awaitable[None]]
Hook = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class Handlers:
    frames: dict[str, Handler] = field(default_factory=dict)
    events: dict[str, Handler] = field(default_factory=dict)
    closed: tuple[Hook, ...] = ()


@cache
def handlers() -> Handlers:
    frames: dict[str, Handler] = {}
    events: dict[str, Handler] = {}
    closed: list[Hook] = []
    for config in apps.get_app_configs():
        name = getattr(config, "realtime_handlers", None)
        if not name:
            continue
        module = importlib.import_module(name)
        for registry, found in ((frames, getattr(module, "FRAMES", {})),
                                (events, getattr(module, "EVENTS", {}))):
            for kind, handler in found.items():
                if kind in registry:
                    raise ImproperlyConfigured(f"{name} handles {kind!r}, which another app "
                                               "already handles.")
                registry[kind] = handler
        closed.extend(getattr(module, "CLOSED", ()))
    return Handlers(frames, events, tuple(closed))
