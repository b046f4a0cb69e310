"""The presence frames of the WebSocket stream (docs/realtime.md), registered with
realtime through AccountsConfig.realtime_handlers."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from accounts import presence
from accounts.selectors import user_ids_visible
from core.errors import InvalidInput, require_field

MAX_PRESENCE_WATCH = 500


async def presence_set(socket: Any, frame: dict[str, Any]) -> None:
    state = require_field(frame, "status", str)
    if state not in presence.CONNECTION_STATES:
        raise InvalidInput.of_field("status", "'status' is 'active' or 'idle' (set away and "
                                              "do-not-disturb with PUT /api/v1/me/presence/).")
    await database_sync_to_async(presence.connection_state)(socket.user.pk,
                                                            socket.connection_id, state)


async def presence_subscribe(socket: Any, frame: dict[str, Any]) -> None:
    users = require_field(frame, "users", list)
    if not all(isinstance(u, int) and not isinstance(u, bool) for u in users):
        raise InvalidInput.of_field("users", "'users' must be a list of ids.")
    if len(socket.watching | set(users)) > MAX_PRESENCE_WATCH:
        raise InvalidInput.of_field("users", f"Watch at most {MAX_PRESENCE_WATCH} people.",
                                    code="too_large")
    visible = await database_sync_to_async(user_ids_visible)(viewer=socket.user, user_ids=users)
    # Watched before their presence is read: a change after the read also arrives.
    await socket.watch(visible)
    for entry in await database_sync_to_async(presence.presence_many)(visible):
        await socket.send_frame(entry.as_frame())


FRAMES = {"presence.set": presence_set, "presence.subscribe": presence_subscribe}
