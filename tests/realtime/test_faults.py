"""Faults real deployments see, on real processes: two daphne processes sharing a
private PostgreSQL and a private Redis (started here on ports of their own), and clients
that send steadily and follow docs/realtime.md's loop (resume from what they hold, send
again what was not acknowledged, reconnect with backoff). While they run, one daphne is
killed with SIGKILL and restarted, Redis is restarted, or PostgreSQL is restarted.

Counted per client by client_msg_id and by seq: nothing lost, no duplicated rows, no
repeated or out-of-order frame on any socket, every client holding every event at the
end, and every client's sends acknowledged again within 3 s of the service's return."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from itertools import pairwise

import pytest
from django.conf import settings
from django.db import connection
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from tests.factories import make_channel, make_user
from tests.realtime import StrictClient, token_for
from tests.realtime.services import PrivatePostgres, PrivateRedis
from tests.servers import DaphneServer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLIENTS = 4
SEND_EVERY = 0.15  # seconds, per client
STEADY, DOWN, AFTER = 3.0, 1.0, 5.0  # seconds of each phase
BACK_WITHIN = 3.0  # seconds from a service's return to each client's next ack


class Client(threading.Thread):
    """A strict-seq client of one conversation: it applies only the next seq (keeping
    anything ahead aside), reloads on resync, and counts everything."""

    def __init__(self, name: str, token: str, urls: list[str], conversation: int,
                 held: int) -> None:
        super().__init__(name=name, daemon=True)
        self.token, self.urls, self.conversation = token, urls, conversation
        self.sending = threading.Event()
        self.sending.set()
        self.done = threading.Event()
        self.order = StrictClient(conversation, held)  # held: loaded over REST before
        self.sent: list[str] = []  # every client_msg_id made, in order
        self.outbox: dict[str, str] = {}  # not acknowledged yet
        self.acked: dict[str, int] = {}  # client_msg_id -> message id
        self.ack_times: list[float] = []
        self.created: set[int] = set()  # message ids seen in message.created
        self.sockets: list[list[int]] = []  # the event seqs each socket sent, in order
        self.resyncs: list[int] = []
        self.connections = 0
        self.failure: BaseException | None = None
        self.final: int | None = None  # the conversation's last seq, once sending stopped

    def run(self) -> None:
        try:
            self.loop()
        except BaseException as error:  # noqa: BLE001  (reported by the test)
            self.failure = error

    def loop(self) -> None:
        attempt = 0
        while not (self.done.is_set() and not self.outbox and self.settled()):
            url = self.urls[(self.connections + attempt) % len(self.urls)]
            try:
                with connect(url, additional_headers=[("Authorization", f"Bearer {self.token}")],
                             open_timeout=3, close_timeout=1) as ws:
                    self.connections += 1
                    attempt = 0
                    self.session(ws)
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                attempt += 1
                time.sleep(min(1.0, 0.1 * 2 ** attempt))

    def settled(self) -> bool:
        return self.final is not None and self.order.held >= self.final and not self.order.aside

    def session(self, ws) -> None:
        seqs: list[int] = []
        self.sockets.append(seqs)
        ready = self.read(ws, 5.0)
        while ready is not None and ready["type"] != "ready":
            ready = self.read(ws, 5.0)
        if ready is None:
            return
        ws.send(json.dumps({"type": "resume", "since": {str(self.conversation): self.order.held}}))
        for client_msg_id, text in list(self.outbox.items()):
            self.send(ws, client_msg_id, text)
        next_send = time.monotonic()
        last_frame = last_ping = time.monotonic()
        while not (self.done.is_set() and not self.outbox and self.settled()):
            now = time.monotonic()
            if self.sending.is_set() and now >= next_send:
                client_msg_id = f"{self.name}-{len(self.sent)}-{uuid.uuid4().hex[:6]}"
                self.sent.append(client_msg_id)
                self.outbox[client_msg_id] = f"{self.name} {len(self.sent)}"
                self.send(ws, client_msg_id, self.outbox[client_msg_id])
                next_send = now + SEND_EVERY
            if now - last_ping > 0.5:
                ws.send(json.dumps({"type": "ping"}))
                last_ping = now
            if now - last_frame > 2.0:
                return  # nothing for two seconds, not even a pong: reconnect
            frame = self.read(ws, 0.05)
            if frame is None:
                continue
            last_frame = time.monotonic()
            self.apply(frame, seqs)

    def send(self, ws, client_msg_id: str, text: str) -> None:
        ws.send(json.dumps({"type": "message.send", "conversation": self.conversation,
                            "text": text, "client_msg_id": client_msg_id}))

    def read(self, ws, timeout: float) -> dict | None:
        try:
            return json.loads(ws.recv(timeout=timeout))
        except TimeoutError:
            return None

    def apply(self, frame: dict, seqs: list[int]) -> None:
        kind = frame["type"]
        if kind == "message.ack":
            if self.outbox.pop(frame["client_msg_id"], None) is not None:
                self.ack_times.append(time.monotonic())
            self.acked[frame["client_msg_id"]] = frame["message"]["id"]
        elif kind == "resync":
            self.resyncs.append(frame["seq"])
        if self.order.apply(frame):
            seqs.append(frame["seq"])
            if kind == "message.created":
                self.created.add(frame["message"]["id"])


@pytest.fixture
def deployment(tmp_path_factory):
    """Two daphnes on a private PostgreSQL and Redis, and the people of one channel."""
    if not (settings.TEST_USES_POSTGRES and settings.TEST_USES_REDIS):
        pytest.skip("cross-process tests need PostgreSQL and Redis (CI requires them)")
    people = [make_user(name=f"Sender {n}") for n in range(CLIENTS)]
    channel = make_channel(people[0], members=people[1:])
    tokens = [token_for(person) for person in people]
    postgres = PrivatePostgres()
    folder = tmp_path_factory.mktemp("faults")
    redis_server = PrivateRedis(folder)
    servers: list[DaphneServer] = []
    try:
        postgres.load(connection.settings_dict)
        env = {"DATABASE_URL": postgres.url, "REDIS_URL": redis_server.url,
               "CELERY_BROKER_URL": redis_server.url, "RATE_LIMIT_MESSAGES": "0",
               "TEAMCHAT_CHANNEL_PREFIX": f"faults-{uuid.uuid4().hex[:8]}"}
        servers = [DaphneServer(folder / name).start(**env) for name in ("a", "b")]
        yield {"postgres": postgres, "redis": redis_server, "servers": servers, "env": env,
               "channel": channel, "tokens": tokens, "folder": folder}
    finally:
        for server in servers:
            server.stop()
        redis_server.close()
        postgres.close()


def run_with_fault(deployment, fault) -> list[Client]:
    servers, channel = deployment["servers"], deployment["channel"]
    urls = [server.ws_url for server in servers]
    channel.refresh_from_db()
    clients = [Client(f"c{n}", token, urls[n % 2:] + urls[:n % 2], channel.pk, channel.last_seq)
               for n, token in enumerate(deployment["tokens"])]
    for client in clients:
        client.start()
    time.sleep(STEADY)
    restored_at = fault()
    time.sleep(AFTER)
    for client in clients:
        client.sending.clear()
    # Drain: every send acknowledged, then every client holding the conversation's end.
    deadline = time.monotonic() + 30
    while any(c.outbox for c in clients) and time.monotonic() < deadline:
        time.sleep(0.1)
    with deployment["postgres"].connect() as db:
        last_seq = db.execute("SELECT last_seq FROM messaging_conversation WHERE id = %s",
                              [channel.pk]).fetchone()[0]
        for client in clients:
            client.final = last_seq
            client.done.set()
        for client in clients:
            client.join(timeout=max(1.0, deadline - time.monotonic()))
        stored = dict(db.execute(
            "SELECT client_msg_id, count(*) FROM messaging_message WHERE conversation_id = %s "
            "GROUP BY client_msg_id", [channel.pk]).fetchall())
        ids = dict(db.execute("SELECT client_msg_id, id FROM messaging_message "
                              "WHERE conversation_id = %s", [channel.pk]).fetchall())

    for client in clients:
        assert client.failure is None, (client.name, client.failure)
        assert not client.is_alive(), f"{client.name} never settled: held {client.order.held} of " \
                                      f"{last_seq}, {len(client.outbox)} unacknowledged"
        # Nothing lost, nothing stored twice, each ack naming the stored message.
        assert len(client.sent) > 10
        assert {cmid: stored.get(cmid) for cmid in client.sent} == dict.fromkeys(client.sent, 1)
        assert client.acked == {cmid: ids[cmid] for cmid in client.sent}
        # No socket sent a seq twice or out of order; the client holds everything.
        for seqs in client.sockets:
            assert all(a < b for a, b in pairwise(seqs)), (client.name, seqs)
        assert (client.order.held, client.order.aside) == (last_seq, set())
        reloaded = max(client.resyncs, default=0)
        missing = set(ids.values()) - client.created
        assert all(_seq_of(deployment, m) <= reloaded for m in missing), client.name
        # Back to acknowledged sends within BACK_WITHIN of the service's return.
        assert any(restored_at <= t <= restored_at + BACK_WITHIN for t in client.ack_times), (
            client.name, [round(t - restored_at, 2) for t in client.ack_times[-5:]])
    return clients


def _seq_of(deployment, message_id: int) -> int:
    with deployment["postgres"].connect() as db:
        return db.execute("SELECT seq FROM messaging_message WHERE id = %s",
                          [message_id]).fetchone()[0]


def test_a_daphne_killed_and_restarted_loses_and_repeats_nothing(deployment):
    servers = deployment["servers"]

    def fault() -> float:
        victim = servers[0]
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=10)
        time.sleep(DOWN)
        servers[0] = DaphneServer(victim.data_dir, port=victim.port).start(**deployment["env"])
        return time.monotonic()

    clients = run_with_fault(deployment, fault)
    # Those on the killed process (every other one) came back through a new connection.
    assert [c.connections >= 2 for c in clients[::2]] == [True] * len(clients[::2])


def test_a_redis_restart_loses_and_repeats_nothing(deployment):
    def fault() -> float:
        deployment["redis"].stop()
        time.sleep(DOWN)
        deployment["redis"].start()
        return time.monotonic()

    clients = run_with_fault(deployment, fault)
    assert any(c.connections >= 2 for c in clients)  # the fault was felt


def test_a_postgresql_restart_loses_and_repeats_nothing(deployment):
    stopped: list[float] = []

    def fault() -> float:
        deployment["postgres"].stop("fast")
        stopped.append(time.monotonic())
        time.sleep(DOWN)
        deployment["postgres"].start()
        return time.monotonic()

    clients = run_with_fault(deployment, fault)
    # The fault was felt: while the database was surely down, no send was acknowledged
    # (a send waits for a pooled connection, or its socket ends and the client reconnects).
    down = (stopped[0] + 0.1, stopped[0] + DOWN)
    assert [t for c in clients for t in c.ack_times if down[0] <= t <= down[1]] == []
    assert all(len(c.ack_times) > 10 for c in clients)
