"""Realtime delivery through one real daphne process on PostgreSQL and Redis, against a
bare `websockets` broadcast server measured the same way in the same run.

- idle memory: RSS of the server process before and after opening N authenticated
  sockets that then sit idle;
- fan-out: one member sends `message.send` to a channel whose every member has a socket
  open; the latency of a receipt is from just before the sender's frame is written to
  the moment a member's socket hands over the matching `message.created` frame, for every
  (message, member) pair;
- sustained rate: many 10-member channels, two senders in each sending as fast as acks
  allow (within the server's per-socket limit of 10 frames a second), for a fixed time;
  we count messages acknowledged (stored) and messages received by all 10 members.

The client load runs in this process's event loop, on the same two cores as the server,
PostgreSQL and Redis; see docs/performance.md for what that means for the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import environment, machine, profiling, seed_realtime
from bench.bare_server import BareServer
from bench.clients import Client, ClientPool, Delivery, Tracker
from bench.stats import Row, Spread
from bench.stats import percentile as pct

FANOUT_AIM_RATIO = 3.0
RATE_AIM = 500.0
# The consumer allows 10 frames a second per socket (bursts of 40); senders stay just
# under it so that no frame is dropped and the server, not the limiter, sets the pace.
SEND_INTERVAL = 1 / 9.5
SENDERS_PER_TEAM = 2
FANOUT_PAUSE = 0.15
FANOUT_WARMUP = 3
DELIVERY_TIMEOUT = 15.0
# After a phase, wait until the server has used less than QUIET_SHARE of a core for a
# QUIET_SAMPLE: closing thousands of sockets leaves it work to do for seconds (presence
# announcements after the grace period), which must not fall into the next measurement.
SETTLE_SECONDS = 3.0
QUIET_SAMPLE = 1.0
QUIET_SHARE = 0.05
QUIET_TIMEOUT = 120.0


@dataclass(frozen=True)
class Plan:
    fanout_repeats: int
    sustained_seconds: float
    sustained_teams: int
    idle_connections: int


FULL = Plan(fanout_repeats=40, sustained_seconds=20.0, sustained_teams=100, idle_connections=2000)
QUICK = Plan(fanout_repeats=12, sustained_seconds=8.0, sustained_teams=50, idle_connections=2000)


@dataclass
class Memory:
    connections: int
    before_kib: int
    after_kib: int
    open_seconds: float

    @property
    def per_connection_kib(self) -> float:
        return (self.after_kib - self.before_kib) / self.connections


@dataclass
class FanOut:
    members: int
    latencies: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    missing: int = 0


@dataclass
class Sustained:
    seconds: float
    teams: int
    senders: int
    sent: list[Delivery]
    deadline: float
    cpu: machine.CpuUse

    def acked(self) -> list[Delivery]:
        return [d for d in self.sent if d.acked_at is not None and d.acked_at <= self.deadline]

    def delivered(self) -> list[Delivery]:
        return [d for d in self.sent
                if d.completed_at is not None and d.completed_at <= self.deadline]


@dataclass
class Measured:
    memory: Memory
    fanouts: list[FanOut]
    sustained: Sustained | None = None
    frame_size: int = 0
    errors: list[str] = field(default_factory=list)


def run(*, quick: bool, seeded: seed_realtime.RealtimeSeed) -> list[Row]:
    plan = QUICK if quick else FULL
    _raise_open_files_limit(plan.idle_connections)
    needed = max(plan.idle_connections, max(seed_realtime.FANOUT_SIZES),
                 plan.sustained_teams * seed_realtime.TEAM_SIZE)
    _progress(f"realtime: {needed} API tokens")
    tokens = seed_realtime.tokens(seeded, needed)
    ours = _measure_teamchat(seeded, tokens, plan)
    bare = _measure_bare(plan, frame_size=ours.frame_size)
    return _rows(ours, bare, plan)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _raise_open_files_limit(connections: int) -> None:
    """Each connection is a descriptor here and one in the server (which inherits our
    limit); raise the soft limit as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections * 2 + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# --- teamchat -----------------------------------------------------------------------------


def _measure_teamchat(seeded: seed_realtime.RealtimeSeed, tokens: list[str], plan: Plan) -> Measured:
    from tests.servers import DaphneServer

    server = DaphneServer(environment.DATA_DIR / "daphne")
    try:
        # Pooled database connections, as in production (DATABASE_URL's default).
        server.start(**environment.CELERY_ENV, **environment.RATE_LIMITS)
        _progress(f"realtime: daphne pid {server.process.pid} on port {server.port}")
        return asyncio.run(_teamchat(server.ws_url, server.process.pid, seeded, tokens, plan))
    finally:
        server.stop()


async def _teamchat(url: str, pid: int, seeded: seed_realtime.RealtimeSeed, tokens: list[str],
                    plan: Plan) -> Measured:
    tracker = Tracker()

    async def warm_up() -> None:
        # The first send loads what message_create needs; do it before measuring memory.
        async with ClientPool(url, tracker) as pool:
            (client,) = await pool.open([tokens[0]], wait_ready=True)
            await _settle(client, 1, tracker, _send_frame(seeded.teams[0]))

    memory = await _idle_memory(url, pid, tracker, list(tokens[:plan.idle_connections]),
                                wait_ready=True, warm_up=warm_up)
    fanouts = [await _fan_out_run(url, pid, tracker, list(tokens[:size]), wait_ready=True,
                                  frame_for=_send_frame(seeded.fanout[size]),
                                  repeats=plan.fanout_repeats, profile=f"daphne-fanout-{size}")
               for size in seed_realtime.FANOUT_SIZES]
    frame_size = int(pct(tracker.created_sizes, 0.5))
    sustained = await _sustained(url, pid, tracker, seeded, tokens, plan)
    return Measured(memory, fanouts, sustained, frame_size, tracker.errors)


# --- bare server -------------------------------------------------------------------------


def _measure_bare(plan: Plan, *, frame_size: int) -> Measured:
    server = BareServer()
    try:
        server.start()
        _progress(f"realtime: bare server pid {server.process.pid} on port {server.port}")
        return asyncio.run(_bare(f"ws://127.0.0.1:{server.port}/", server.process.pid, plan,
                                 frame_size))
    finally:
        server.stop()


async def _bare(url: str, pid: int, plan: Plan, frame_size: int) -> Measured:
    tracker = Tracker()

    def relay_frame(cmid: str, index: int) -> dict[str, Any]:
        # Padded to the size of teamchat's message.created frame, so both servers move
        # the same bytes.
        frame: dict[str, Any] = {"type": "message.created", "message": {"client_msg_id": cmid},
                                 "pad": ""}
        frame["pad"] = "x" * max(0, frame_size - len(json.dumps(frame)))
        return frame

    async def warm_up() -> None:
        async with ClientPool(url, tracker) as pool:
            (client,) = await pool.open([None], wait_ready=False)
            await _settle(client, 1, tracker, relay_frame)

    memory = await _idle_memory(url, pid, tracker, [None] * plan.idle_connections,
                                wait_ready=False, warm_up=warm_up)
    fanouts = [await _fan_out_run(url, pid, tracker, [None] * size, wait_ready=False,
                                  frame_for=relay_frame, repeats=plan.fanout_repeats)
               for size in seed_realtime.FANOUT_SIZES]
    return Measured(memory, fanouts, None, frame_size, tracker.errors)


# --- the measurements, alike for both servers ----------------------------------------------


async def _idle_memory(url: str, pid: int, tracker: Tracker, tokens: list[str | None], *,
                       wait_ready: bool, warm_up: Callable[[], Any]) -> Memory:
    await warm_up()
    await _quiet(pid)
    before = machine.rss_kib(pid)
    started = time.perf_counter()
    async with ClientPool(url, tracker) as pool:
        await pool.open(tokens, wait_ready=wait_ready)
        opened = time.perf_counter() - started
        await _quiet(pid)
        after = machine.rss_kib(pid)
    await _quiet(pid)
    _progress(f"  {len(tokens)} idle sockets: RSS {before} -> {after} KiB, opened in {opened:.1f} s")
    return Memory(len(tokens), before, after, opened)


async def _quiet(pid: int) -> None:
    """Wait for the server process to go idle (see QUIET_SHARE)."""
    await asyncio.sleep(SETTLE_SECONDS)
    deadline = time.monotonic() + QUIET_TIMEOUT
    while time.monotonic() < deadline:
        used = machine.cpu_seconds(pid)
        await asyncio.sleep(QUIET_SAMPLE)
        if machine.cpu_seconds(pid) - used < QUIET_SHARE * QUIET_SAMPLE:
            return
    _progress(f"  the server did not go idle within {QUIET_TIMEOUT:g} s")


async def _settle(sender: Client, receivers: int, tracker: Tracker,
                  frame_for: Callable[[str, int], dict[str, Any]]) -> None:
    """Send until one message reaches every socket: all are subscribed (the bare server
    registers a socket only after its handshake) and the server's code paths are warm."""
    for attempt in range(10):
        delivery = await _send_one(sender, receivers, tracker, frame_for, attempt, timeout=5.0)
        if delivery.completed_at is not None:
            return
        await asyncio.sleep(FANOUT_PAUSE)
    raise RuntimeError(f"no message reached all {receivers} sockets; errors: {tracker.errors[-3:]}")


async def _send_one(sender: Client, receivers: int, tracker: Tracker,
                    frame_for: Callable[[str, int], dict[str, Any]], index: int, *,
                    timeout: float) -> Delivery:
    client_msg_id = f"bench-{uuid.uuid4().hex}"
    delivery = tracker.expect(client_msg_id, receivers)
    delivery.sent_at = time.perf_counter()
    await sender.send(frame_for(client_msg_id, index))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(delivery.completed), timeout)
    return delivery


async def _fan_out_run(url: str, pid: int, tracker: Tracker, tokens: list[str | None], *,
                       wait_ready: bool, frame_for: Callable[[str, int], dict[str, Any]],
                       repeats: int, profile: str | None = None) -> FanOut:
    result = FanOut(len(tokens))
    async with ClientPool(url, tracker) as pool:
        clients = await pool.open(tokens, wait_ready=wait_ready)
        sender = clients[0]
        await _settle(sender, len(clients), tracker, frame_for)
        await _quiet(pid)
        with profiling.recorded(pid, profile):
            for index in range(FANOUT_WARMUP + repeats):
                delivery = await _send_one(sender, len(clients), tracker, frame_for, index,
                                           timeout=DELIVERY_TIMEOUT)
                if index >= FANOUT_WARMUP:
                    result.latencies += [at - delivery.sent_at for at in delivery.receipts]
                    result.missing += delivery.expected - len(delivery.receipts)
                    if delivery.acked_at is not None:
                        result.acks.append(delivery.acked_at - delivery.sent_at)
                # One socket may send 10 frames a second; the pause also lets each
                # message's fan-out finish before the next begins: one message at a time.
                await asyncio.sleep(FANOUT_PAUSE)
    await _quiet(pid)
    spread = Spread.of_seconds(result.latencies)
    _progress(f"  fan-out to {len(tokens)}: p50 {spread.p50:.1f} ms, p99 {spread.p99:.1f} ms")
    return result


async def _sustained(url: str, pid: int, tracker: Tracker, seeded: seed_realtime.RealtimeSeed,
                     tokens: list[str], plan: Plan) -> Sustained:
    size = seed_realtime.TEAM_SIZE
    async with ClientPool(url, tracker) as pool:
        clients = await pool.open(tokens[:plan.sustained_teams * size], wait_ready=True)
        teams = [(seeded.teams[team], clients[team * size:(team + 1) * size])
                 for team in range(plan.sustained_teams)]
        await asyncio.gather(*(_settle(members[0], size, tracker, _send_frame(cid))
                               for cid, members in teams))
        await _quiet(pid)
        sent: list[Delivery] = []
        meter = machine.CpuMeter(pid)
        deadline = time.perf_counter() + plan.sustained_seconds
        # CPU is read at the end of the window, not when the last ack is in.
        cpu = asyncio.get_running_loop().create_task(_read_at(meter, deadline))
        with profiling.recorded(pid, "daphne-sustained"):
            await asyncio.gather(*(_send_loop(members[k], cid, tracker, deadline, sent)
                                   for cid, members in teams for k in range(SENDERS_PER_TEAM)))
        result = Sustained(seconds=plan.sustained_seconds, teams=plan.sustained_teams,
                           senders=plan.sustained_teams * SENDERS_PER_TEAM, sent=sent,
                           deadline=deadline, cpu=await cpu)
        # Let the last messages of the window reach their members before closing.
        pending = [d.completed for d in sent if not d.completed.done()]
        if pending:
            await asyncio.wait(pending, timeout=DELIVERY_TIMEOUT)
    await _quiet(pid)
    _progress(f"  sustained: {len(result.acked()) / result.seconds:.0f} msg/s acked, "
              f"{len(result.delivered()) / result.seconds:.0f} msg/s delivered to all")
    return result


async def _read_at(meter: machine.CpuMeter, deadline: float) -> machine.CpuUse:
    """Sample the meter every second, and read it when the window closes."""
    while (left := deadline - time.perf_counter()) > 0:
        await asyncio.sleep(min(1.0, left))
        meter.sample()
    return meter.read()


def _send_frame(conversation_id: int) -> Callable[[str, int], dict[str, Any]]:
    """A `message.send` frame for a conversation, by client_msg_id and index."""
    return lambda cmid, index: {"type": "message.send", "conversation": conversation_id,
                                "text": f"Benchmark message {index}", "client_msg_id": cmid}


async def _send_loop(sender: Client, conversation_id: int, tracker: Tracker, deadline: float,
                     sent: list[Delivery]) -> None:
    """Send, wait for the ack, send the next: one message in flight per sender, and never
    faster than SEND_INTERVAL apart."""
    frame_for = _send_frame(conversation_id)
    next_at = time.perf_counter()
    index = 0
    while (now := time.perf_counter()) < deadline:
        if now < next_at:
            await asyncio.sleep(next_at - now)
        next_at = time.perf_counter() + SEND_INTERVAL
        client_msg_id = f"bench-{uuid.uuid4().hex}"
        delivery = tracker.expect(client_msg_id, seed_realtime.TEAM_SIZE)
        delivery.sent_at = time.perf_counter()
        sent.append(delivery)
        await sender.send(frame_for(client_msg_id, index))
        index += 1
        try:
            await asyncio.wait_for(asyncio.shield(delivery.acked), DELIVERY_TIMEOUT)
        except TimeoutError:
            return


# --- rows of the table -------------------------------------------------------------------


def _rows(ours: Measured, bare: Measured, plan: Plan) -> list[Row]:
    rows = []
    for mine, base in zip(ours.fanouts, bare.fanouts, strict=True):
        ours_spread, base_spread = Spread.of_seconds(mine.latencies), Spread.of_seconds(base.latencies)
        acks = Spread.of_seconds(mine.acks)
        rows.append(Row(
            benchmark=f"realtime: fan-out of one message to {mine.members} connected members",
            measure="p50 / p99 ms, send to each receipt",
            ours=(ours_spread.p50, ours_spread.p99), baseline=(base_spread.p50, base_spread.p99),
            baseline_name="bare websockets relay",
            aim=f"p99 within {FANOUT_AIM_RATIO:g}x the bare server",
            met=ours_spread.p99 <= FANOUT_AIM_RATIO * base_spread.p99,
            notes=[f"{plan.fanout_repeats} messages, {ours_spread.count} receipts "
                   f"({mine.missing} missing; bare: {base.missing}); sender's ack after "
                   f"{acks.p50:.1f} ms p50, {acks.p99:.1f} ms p99; frames of {ours.frame_size} bytes"]))
    if ours.sustained is not None:
        rows.append(_sustained_row(ours.sustained))
    memory, base_memory = ours.memory, bare.memory
    rows.append(Row(
        benchmark=f"realtime: memory per idle connection, {memory.connections} connections",
        measure="KiB of server RSS",
        ours=(memory.per_connection_kib,), baseline=(base_memory.per_connection_kib,),
        baseline_name="bare websockets relay",
        notes=[f"daphne RSS {memory.before_kib / 1024:.0f} MiB before, "
               f"{memory.after_kib / 1024:.0f} MiB after (opened in {memory.open_seconds:.0f} s); "
               f"bare server {base_memory.before_kib / 1024:.0f} -> "
               f"{base_memory.after_kib / 1024:.0f} MiB"]))
    if ours.errors:
        rows[-1].notes.append(f"{len(ours.errors)} error frames came back during the realtime "
                              f"benchmarks, the first: {ours.errors[0]}")
    return rows


def _sustained_row(result: Sustained) -> Row:
    acked, delivered = result.acked(), result.delivered()
    acked_rate = len(acked) / result.seconds
    delivered_rate = len(delivered) / result.seconds
    ack_latency = Spread.of_seconds([d.acked_at - d.sent_at for d in acked])
    delivery_latency = Spread.of_seconds([d.completed_at - d.sent_at for d in delivered])
    first_latency = Spread.of_seconds([d.receipts[0] - d.sent_at for d in delivered])
    cap = result.senders / SEND_INTERVAL
    return Row(
        benchmark=f"realtime: sustained rate, {result.teams} channels of "
                  f"{seed_realtime.TEAM_SIZE} members, {result.senders} senders, {result.seconds:g} s",
        measure="msg/s stored (acked) / delivered to all members",
        ours=(acked_rate, delivered_rate),
        aim=f"at least {RATE_AIM:g} msg/s on one daphne process",
        met=min(acked_rate, delivered_rate) >= RATE_AIM,
        notes=[f"{len(result.sent)} sent in the window, "
               f"{sum(1 for d in result.sent if d.error)} refused with an error frame; "
               f"send to ack {ack_latency.p50:.0f} ms p50, {ack_latency.p99:.0f} ms p99; "
               f"send to the first member {first_latency.p50:.0f} ms p50, "
               f"{first_latency.p99:.0f} ms p99; send to the 10th member {delivery_latency.p50:.0f} ms p50, "
               f"{delivery_latency.p99:.0f} ms p99; the senders' own limit is {cap:.0f} msg/s",
               _cpu_note(result.cpu, len(acked))])


def _cpu_note(cpu: machine.CpuUse, messages: int) -> str:
    """Where the CPU went, as a share of one core and in ms per stored message."""
    parts = [("daphne", cpu.server), ("its PostgreSQL backends", cpu.database),
             ("Redis", cpu.redis), ("the benchmark client", cpu.client)]
    shares = ", ".join(f"{name} {used / cpu.elapsed:.0%} of a core "
                       f"({used * 1000 / max(messages, 1):.1f} ms per message)"
                       for name, used in parts)
    return f"CPU during the window: {shares}; whole machine {cpu.machine_busy:.0%} busy"
