"""Load test: many simulated people on two daphne processes sharing PostgreSQL and Redis.

    .venv/bin/python -m bench.load [--people 2000] [--seconds 60]

Person i (of the realtime seed, bench/seed_realtime.py) opens a WebSocket to daphne
process i % 2, so every 10-member team channel has members on both and every message
crosses processes through Redis. For the window, most people are idle readers; a tenth
send at human rates (a message every 10 s on average, each after a `typing` frame 1 s
before); every person sends `presence.set` (active or idle) about once a minute; a twentieth of the messages a
reader receives are marked read by a POST to /api/v1/conversations/{id}/read/. Sending
stops at the end of the window; then the run waits DRAIN seconds and counts, for every
message acked in the window, its `message.created` frames at each of its 10 members by
message id: none missing and none twice is the requirement. Latency runs from just before
the sender writes `message.send` to each member's receipt (the sender's own socket counts
as a member). Traffic goes to 127.0.0.1 only; both daphne processes are stopped by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench import environment
from bench.stats import Row, percentile

AIM_MS = 250.0
SENDER_SHARE = 0.1
SEND_EVERY = 10.0
TYPING_LEAD = 1.0
PRESENCE_EVERY = 60.0
READ_SHARE = 0.05
DRAIN = 5.0
CONNECT_CONCURRENCY = 40
QUICK_PEOPLE, FULL_PEOPLE = 500, 2000
QUICK_SECONDS, FULL_SECONDS = 20.0, 60.0


@dataclass
class State:
    """What every socket saw, shared by all the simulated people."""

    sent_at: dict[str, float] = field(default_factory=dict)  # client_msg_id -> time
    acked: dict[int, int] = field(default_factory=dict)  # message id -> team index
    receipts: Counter[tuple[int, int]] = field(default_factory=Counter)  # (person, message id)
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    frames: int = 0
    reads: int = 0


class Inbox:
    """Handles the frames of one person's socket (bench.clients.Client calls handle())."""

    def __init__(self, person: int, state: State, on_message: Any) -> None:
        self.person, self.state, self.on_message = person, state, on_message

    def handle(self, text: str, at: float) -> None:
        state = self.state
        state.frames += 1
        frame = json.loads(text)
        kind = frame.get("type")
        if kind == "message.created":
            message = frame["message"]
            state.receipts[(self.person, message["id"])] += 1
            sent = state.sent_at.get(message.get("client_msg_id") or "")
            if sent is not None:
                state.latencies.append(at - sent)
            self.on_message(self.person, frame.get("conversation") or message["conversation"],
                            message["id"])
        elif kind == "message.ack":
            message = frame["message"]
            state.acked[message["id"] if isinstance(message, dict) else message] = self.person // 10
        elif kind == "error":
            state.errors[frame.get("code") or "error"] += 1


def run(*, quick: bool, seeded: Any) -> list[Row]:
    people = QUICK_PEOPLE if quick else FULL_PEOPLE
    seconds = QUICK_SECONDS if quick else FULL_SECONDS
    return [measure(seeded, people, seconds)]


def measure(seeded: Any, people: int, seconds: float) -> Row:
    from bench import realtime, seed_realtime
    from tests.servers import DaphneServer

    people = min(people, seed_realtime.PEOPLE) // 10 * 10
    realtime._raise_open_files_limit(people)
    _log(f"  load: {people} API tokens")
    tokens = seed_realtime.tokens(seeded, people)
    servers = [DaphneServer(environment.DATA_DIR / f"daphne-load-{n}") for n in range(2)]
    try:
        for server in servers:
            server.start(**environment.CELERY_ENV, **environment.RATE_LIMITS)
            _log(f"  load: daphne pid {server.process.pid} on port {server.port}")
        state, connected = asyncio.run(_load(servers, seeded, tokens, seconds))
    finally:
        for server in servers:
            server.stop()
    return _row(state, people, connected, seconds)


async def _load(servers: list[Any], seeded: Any, tokens: list[str], seconds: float) -> tuple[State, int]:
    import httpx
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    from bench.clients import OPEN_TIMEOUT, Client

    state = State()
    rng = random.Random(13)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    http = [httpx.AsyncClient(base_url=server.url, timeout=30,
                              limits=httpx.Limits(max_connections=10)) for server in servers]
    reads: set[asyncio.Task[None]] = set()

    async def mark_read(person: int, conversation: int, message: int) -> None:
        try:
            response = await http[person % 2].post(
                f"/api/v1/conversations/{conversation}/read/", json={"message": message},
                headers={"Authorization": f"Bearer {tokens[person]}"})
            state.reads += 1
            if response.status_code >= 400:
                state.errors[f"read HTTP {response.status_code}"] += 1
        except httpx.HTTPError as error:
            state.errors[f"read {type(error).__name__}"] += 1

    def on_message(person: int, conversation: int, message: int) -> None:
        if sending and rng.random() < READ_SHARE:
            task = asyncio.get_running_loop().create_task(mark_read(person, conversation, message))
            reads.add(task)
            task.add_done_callback(reads.discard)

    async def open_one(person: int) -> Client | None:
        async with gate:
            try:
                connection = await connect(
                    servers[person % 2].ws_url, compression=None, open_timeout=OPEN_TIMEOUT,
                    ping_interval=None, close_timeout=5, max_size=2**20,
                    additional_headers={"Authorization": f"Bearer {tokens[person]}"})
                await asyncio.wait_for(connection.recv(), OPEN_TIMEOUT)  # the ready frame
            except (OSError, TimeoutError, WebSocketException) as error:  # counted, not fatal
                state.errors[f"connect {type(error).__name__}"] += 1
                return None
        return Client(connection, Inbox(person, state, on_message))  # type: ignore[arg-type]

    async def behave(person: int, client: Client, until: float) -> None:
        team = seeded.teams[person // 10]
        sender = rng.random() < SENDER_SHARE
        next_presence = time.monotonic() + rng.uniform(0, PRESENCE_EVERY)
        while True:
            pause = rng.expovariate(1 / SEND_EVERY) if sender else rng.uniform(5, 15)
            if time.monotonic() + pause >= until:
                return
            await asyncio.sleep(pause)
            try:
                if time.monotonic() >= next_presence:
                    await client.send({"type": "presence.set",
                                       "status": rng.choice(("active", "idle"))})
                    next_presence += PRESENCE_EVERY
                if sender:
                    await client.send({"type": "typing", "conversation": team})
                    await asyncio.sleep(TYPING_LEAD)
                    client_msg_id = f"load-{uuid.uuid4()}"
                    state.sent_at[client_msg_id] = time.perf_counter()
                    await client.send({"type": "message.send", "conversation": team,
                                       "text": "load test message", "client_msg_id": client_msg_id})
            except WebSocketException as error:  # a closed socket is counted, not raised
                state.errors[f"send {type(error).__name__}"] += 1
                return

    sending = True
    clients: list[Client | None] = []
    try:
        started = time.monotonic()
        clients = list(await asyncio.gather(*(open_one(p) for p in range(len(tokens)))))
        connected = sum(1 for c in clients if c is not None)
        _log(f"  load: {connected} sockets open in {time.monotonic() - started:.0f} s; "
             f"running {seconds:g} s")
        until = time.monotonic() + seconds
        await asyncio.gather(*(behave(p, c, until) for p, c in enumerate(clients) if c is not None))
        sending = False
        await asyncio.sleep(max(0.0, until - time.monotonic()) + DRAIN)
        if reads:
            await asyncio.wait(reads, timeout=30)
    finally:
        for start in range(0, len(clients), 200):
            await asyncio.gather(*(c.close() for c in clients[start:start + 200] if c is not None),
                                 return_exceptions=True)
        for client in http:
            await client.aclose()
    return state, connected


def _row(state: State, people: int, connected: int, seconds: float) -> Row:
    lost = duplicated = 0
    for message, team in state.acked.items():
        for member in range(team * 10, team * 10 + 10):
            count = state.receipts.get((member, message), 0)
            lost += count == 0
            duplicated += count > 1
    figures = tuple(percentile(state.latencies, f) * 1000 for f in (0.5, 0.95, 0.99))
    errors = sum(state.errors.values())
    _log(f"  load: {len(state.acked)} messages, p99 {figures[2]:.0f} ms, lost {lost}, "
         f"duplicated {duplicated}, errors {dict(state.errors)}")
    return Row(
        benchmark=f"load: {people} people on 2 daphne processes, delivery to every member",
        measure="p50 / p95 / p99 ms", ours=figures,
        aim=f"p99 < {AIM_MS:g} ms, nothing lost or twice", met=(
            figures[2] < AIM_MS and not lost and not duplicated and connected == people),
        notes=[f"{connected} of {people} sockets open for {seconds:g} s; {len(state.acked)} "
               f"messages acked, {len(state.latencies)} deliveries; {lost} missing and "
               f"{duplicated} duplicated deliveries; {state.reads} read-position POSTs; "
               f"{state.frames} frames received; errors: "
               + (", ".join(f"{k} {v}" for k, v in sorted(state.errors.items())) or "none")
               + f" ({errors} in all)"])


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=FULL_PEOPLE)
    parser.add_argument("--seconds", type=float, default=FULL_SECONDS)
    args = parser.parse_args(argv)
    environment.configure()
    from bench import report, seed_realtime

    environment.clear_redis()
    try:
        row = measure(seed_realtime.seed(), args.people, args.seconds)
    finally:
        environment.clear_redis()
    print(report.table([row]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
