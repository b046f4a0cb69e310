"""The scheduled access checks of one process's sockets, made together.

What ends a session without news (it expired, or was deleted; a password set by an
operator) is found by checking every socket again every REALTIME_ACCESS_CHECK_SECONDS.
Each socket used to run that check itself on its own timer: three or four queries a
socket a minute, 250 queries a second for 5,000 sockets. The sweep checks all the
sockets of the event loop together (accounts.selectors.socket_accesses: four queries for
up to SWEEP_CHUNK sockets) and hands each its answer (`access_checked`): a socket refused
checks again on its own before it ends, so a change under way (a session taking a new
key) is not mistaken for an end.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from accounts.selectors import SocketAccess, socket_accesses
from core.errors import TeamchatError

logger = logging.getLogger(__name__)

SWEEP_CHUNK = 250  # sockets checked in one pass of accounts.selectors.socket_accesses


class Checked(Protocol):
    ended: bool

    def access(self) -> dict[str, Any]:
        """What the socket was opened with (accounts.selectors.SocketAccess's fields)."""

    def access_checked(self, refusal: TeamchatError | None, expires_in: float | None) -> None:
        """The sweep's answer for this socket."""


class AccessSweep:
    """The sockets of one event loop, checked together on a schedule."""

    def __init__(self) -> None:
        self.sockets: set[Checked] = set()
        self.task: asyncio.Task | None = None

    def add(self, socket: Checked) -> None:
        self.sockets.add(socket)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, socket: Checked) -> None:
        self.sockets.discard(socket)

    async def _run(self) -> None:
        """Runs while any socket is open; the first check of a socket comes at most one
        period after it opened (it was checked on opening)."""
        while self.sockets:
            await asyncio.sleep(settings.REALTIME_ACCESS_CHECK_SECONDS)
            try:
                await self.check()
            except Exception:  # the next period tries again; a socket's own checks go on
                logger.exception("the scheduled access check of this process's sockets failed")

    async def check(self) -> int:
        """Check every open socket now, SWEEP_CHUNK at a time (so that what a check reads
        is never held for thousands of sockets at once); returns how many were checked."""
        sockets = [socket for socket in self.sockets if not socket.ended]
        for start in range(0, len(sockets), SWEEP_CHUNK):
            chunk = sockets[start:start + SWEEP_CHUNK]
            answers = await database_sync_to_async(socket_accesses)(
                [SocketAccess(**socket.access()) for socket in chunk])
            for socket, (refusal, expires_in) in zip(chunk, answers, strict=True):
                if socket in self.sockets and not socket.ended:
                    socket.access_checked(refusal, expires_in)
        return len(sockets)


_sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AccessSweep] = (
    weakref.WeakKeyDictionary())


def sweep_for_loop() -> AccessSweep:
    """The sweep of the running event loop."""
    loop = asyncio.get_running_loop()
    sweep = _sweeps.get(loop)
    if sweep is None:
        sweep = _sweeps[loop] = AccessSweep()
    return sweep
