"""WebSocket clients for the realtime benchmarks, all in the runner's event loop.

Every socket has a reader task that stamps each frame with time.perf_counter() as it is
handed over by `websockets`, before parsing it, and passes it to one Tracker. The same
code measures daphne and the bare server, so the client's own cost falls on both.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

OPEN_TIMEOUT = 60.0
READY_TIMEOUT = 60.0


@dataclass
class Delivery:
    """One message on its way: when it was sent, its ack, and its receipts."""

    expected: int
    sent_at: float = 0.0
    acked_at: float | None = None
    completed_at: float | None = None
    receipts: list[float] = field(default_factory=list)
    error: str | None = None
    acked: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop()
                                        .create_future())
    completed: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop()
                                            .create_future())


class Tracker:
    """Matches `message.created` and `message.ack` frames to the messages we sent, by
    client_msg_id. Frames about messages we are not tracking are ignored."""

    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}
        self.created_sizes: list[int] = []
        self.errors: list[str] = []

    def expect(self, client_msg_id: str, receivers: int) -> Delivery:
        delivery = Delivery(expected=receivers)
        self.deliveries[client_msg_id] = delivery
        return delivery

    def handle(self, text: str, at: float) -> None:
        frame = json.loads(text)
        kind = frame.get("type")
        if kind == "message.created":
            self._received(frame["message"].get("client_msg_id"), at, len(text))
        elif kind == "message.ack":
            delivery = self.deliveries.get(frame.get("client_msg_id"))
            if delivery is not None and not delivery.acked.done():
                delivery.acked_at = at
                delivery.acked.set_result(None)
        elif kind == "error":
            self.errors.append(text[:300])
            self._refused(frame)

    def _refused(self, frame: dict[str, Any]) -> None:
        """An error answering one of our sends: stop waiting for its ack and receipts
        (acked_at and completed_at stay None, so it counts as neither)."""
        delivery = self.deliveries.get(frame.get("client_msg_id") or "")
        if delivery is None:
            return
        delivery.error = frame.get("code") or "error"
        for future in (delivery.acked, delivery.completed):
            if not future.done():
                future.set_result(None)

    def _received(self, client_msg_id: str | None, at: float, size: int) -> None:
        delivery = self.deliveries.get(client_msg_id or "")
        if delivery is None:
            return
        delivery.receipts.append(at)
        if len(self.created_sizes) < 1000:
            self.created_sizes.append(size)
        if len(delivery.receipts) == delivery.expected and not delivery.completed.done():
            delivery.completed_at = at
            delivery.completed.set_result(None)


class Client:
    """One open socket and its reader task."""

    def __init__(self, connection: ClientConnection, tracker: Tracker) -> None:
        self.connection = connection
        self.tracker = tracker
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.connection:
                self.tracker.handle(str(text), time.perf_counter())
        except ConnectionClosed:
            pass

    async def send(self, frame: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(frame))

    async def close(self) -> None:
        await self.connection.close()
        await self.reader


class ClientPool:
    """Opens sockets a bounded number at a time and closes every one of them on exit,
    also when a benchmark fails half-way."""

    def __init__(self, url: str, tracker: Tracker, *, concurrency: int = 40) -> None:
        self.url = url
        self.tracker = tracker
        self.clients: list[Client] = []
        self._gate = asyncio.Semaphore(concurrency)

    async def open(self, tokens: list[str | None], *, wait_ready: bool) -> list[Client]:
        return list(await asyncio.gather(*(self._open_one(t, wait_ready) for t in tokens)))

    async def _open_one(self, token: str | None, wait_ready: bool) -> Client:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        async with self._gate:
            connection = await connect(self.url, additional_headers=headers, compression=None,
                                       open_timeout=OPEN_TIMEOUT, ping_interval=None,
                                       close_timeout=5, max_size=2**20)
            try:
                if wait_ready:
                    first = json.loads(await asyncio.wait_for(connection.recv(), READY_TIMEOUT))
                    if first.get("type") != "ready":
                        raise RuntimeError(f"expected a ready frame, got {first}")
            except BaseException:
                await connection.close()
                raise
        client = Client(connection, self.tracker)
        self.clients.append(client)
        return client

    async def close(self) -> None:
        clients, self.clients = self.clients, []
        for start in range(0, len(clients), 200):
            await asyncio.gather(*(c.close() for c in clients[start:start + 200]),
                                 return_exceptions=True)

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
