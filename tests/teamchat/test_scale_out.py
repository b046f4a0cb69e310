"""Scale-out on one machine: two daphne processes and a Celery worker, each its own
process, sharing PostgreSQL, Redis and a Prometheus multiprocess folder, as
docs/deploy.md describes for several machines. Messages, presence, typing, resume and a
missed-message email cross between them; /metrics answers for all of them; a request id
follows an HTTP request into the worker's log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings

from messaging.models import Message
from teamchat.celery import app
from tests.factories import make_channel, make_direct, make_user, wait_for
from tests.messaging.test_notifications import Mailbox, text_of
from tests.realtime import Socket, sample, token_for
from tests.servers import ROOT, DaphneServer, free_port, server_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow,
              # send_task plays beat: it always publishes, which is what these tests want.
              pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")]

METRICS_TOKEN = "scrape-" + uuid.uuid4().hex


class Cluster:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.queue = f"tcscale-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.mailbox = Mailbox()
        self.smtp_port = free_port()
        self.metrics_dir = base / "prometheus"
        self.metrics_dir.mkdir(parents=True)
        self.env = {
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "CELERY_QUEUE": self.queue,
            "EMAIL_URL": f"smtp://127.0.0.1:{self.smtp_port}",
            "NOTIFY_EMAIL_DELAY_SECONDS": "0",
            "SITE_URL": "https://chat.example.com",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "METRICS_TOKEN": METRICS_TOKEN,
        }
        self.servers: list[DaphneServer] = []
        self.worker: subprocess.Popen | None = None
        self.worker_log = base / "worker" / "worker.log"

    def start(self) -> Cluster:
        self.smtp = Controller(self.mailbox, hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()
        self.servers = [DaphneServer(self.base / "a").start(**self.env),
                        DaphneServer(self.base / "b").start(**self.env)]
        self.worker_log.parent.mkdir(parents=True)
        with open(self.worker_log, "wb") as log:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "teamchat", "worker", "--pool=solo",
                 "-Q", self.queue, "-n", f"{self.queue}@%h", "--without-gossip",
                 "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=server_env(self.base / "worker", **self.env), stdout=log,
                stderr=subprocess.STDOUT)
        wait_for(lambda: "ready" in self.worker_log.read_text() or self.worker.poll() is not None,
                 seconds=60)
        assert self.worker.poll() is None, self.worker_log.read_text()
        return self

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            os.kill(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.worker.pid, signal.SIGKILL)
                self.worker.wait(timeout=5)
        for server in self.servers:
            server.stop()
        self.smtp.stop()
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(self.queue)

    def run_due_notifications(self) -> None:
        """What beat does every 30 seconds, now: the worker picks it up from the queue."""
        app.send_task("messaging.tasks.send_due_notifications", queue=self.queue)

    def scrape(self, server: DaphneServer) -> str:
        request = urllib.request.Request(server.url + "/metrics",
                                         headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            return response.read().decode()

    def log_lines(self, path: Path) -> list[dict]:
        lines = []
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def daphne_log(self, server: DaphneServer) -> Path:
        return server.data_dir / f"daphne-{server.port}.log"


@pytest.fixture(scope="module")
def cluster(django_db_setup, tmp_path_factory):
    if not (settings.TEST_USES_POSTGRES and settings.TEST_USES_REDIS):
        pytest.skip("scale-out needs PostgreSQL and Redis (CI requires them)")
    running = Cluster(tmp_path_factory.mktemp("scale-out")).start()
    yield running
    running.stop()


def test_messages_typing_presence_and_resume_cross_the_two_processes(cluster):
    a_server, b_server = cluster.servers
    alice, bob = make_user(name="Alice"), make_user(name="Bob")
    channel = make_channel(alice, members=[bob])
    make_direct(alice, bob)  # each watches the other's presence
    alice_token, bob_token = token_for(alice), token_for(bob)

    bob_on_b = Socket(b_server.ws_url, token=bob_token)
    with bob_on_b, Socket(a_server.ws_url, token=alice_token) as alice_on_a:
        online = bob_on_b.next("presence", where=lambda f: f["user"] == alice.pk
                               and f["status"] == "online")
        alice_on_a.send(type="message.send", conversation=channel.pk, text="from A",
                        client_msg_id="scale-1")
        ack = alice_on_a.next("message.ack")
        delivered = bob_on_b.next("message.created")
        alice_on_a.send(type="typing", conversation=channel.pk)
        typing = bob_on_b.next("typing")
        seen = bob_on_b.ready["conversations"][str(channel.pk)]
        bob_on_b.close()
        # Bob is away while two more arrive, then comes back on the other process.
        for number in (2, 3):
            alice_on_a.send(type="message.send", conversation=channel.pk,
                            text=f"missed {number}", client_msg_id=f"scale-{number}")
            alice_on_a.next("message.ack")
        with Socket(a_server.ws_url, token=bob_token) as bob_on_a:
            bob_on_a.send(type="resume", since={str(channel.pk): seen + 1})
            replayed = [bob_on_a.next("message.created") for _ in range(2)]
            resumed = bob_on_a.next("resumed")
            extra = bob_on_a.collect("message.created", seconds=0.5)

    assert online["status"] == "online"
    assert delivered["message"] == ack["message"]
    assert delivered["message"]["text"] == "from A"
    assert typing == {"type": "typing", "conversation": channel.pk, "user": alice.pk,
                      "expires_in_ms": 6000}
    assert [f["message"]["text"] for f in replayed] == ["missed 2", "missed 3"]
    assert [f["seq"] for f in replayed] == [seen + 2, seen + 3]
    assert resumed["conversations"] == {str(channel.pk): seen + 3}
    assert extra == []
    assert Message.objects.filter(conversation=channel).count() == 3


def test_a_mention_of_someone_offline_is_emailed_by_the_worker(cluster):
    a_server, _ = cluster.servers
    ana, ben = make_user(name="Ana"), make_user(name="Ben")
    channel = make_channel(ana, "launch-plan", members=[ben])
    with Socket(a_server.ws_url, token=token_for(ana)) as ana_on_a:
        ana_on_a.send(type="message.send", conversation=channel.pk,
                      text=f"<@{ben.pk}> the launch moved to Friday", client_msg_id="m-1")
        message_id = ana_on_a.next("message.ack")["message"]["id"]

    # The worker queued the notification (messages_created ran there, not in daphne)...
    from messaging.models import PendingNotification

    wait_for(lambda: PendingNotification.objects.filter(user=ben).exists(), seconds=20)
    # ...and on the next beat it sends the email through the SMTP server.
    cluster.run_due_notifications()
    wait_for(lambda: cluster.mailbox.to(ben.email), seconds=30)

    (mail,) = cluster.mailbox.to(ben.email)
    body = text_of(mail)
    assert "the launch moved to Friday" in body
    assert f"https://chat.example.com/#/c/{channel.pk}/m/{message_id}" in body
    assert cluster.mailbox.to(ana.email) == []


def test_a_request_id_follows_an_http_request_into_the_worker_log(cluster):
    a_server, _ = cluster.servers
    ana, ben = make_user(), make_user()
    channel = make_channel(ana, members=[ben])
    request_id = "req-" + uuid.uuid4().hex
    request = urllib.request.Request(
        f"{a_server.url}/api/v1/conversations/{channel.pk}/messages/", method="POST",
        data=json.dumps({"text": f"<@{ben.pk}> ping", "client_msg_id": "r-1"}).encode(),
        headers={"Authorization": f"Bearer {token_for(ana)}", "Content-Type": "application/json",
                 "X-Request-ID": request_id})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        echoed = response.headers["X-Request-ID"]

    def worker_lines() -> list[dict]:
        return [line for line in cluster.log_lines(cluster.worker_log)
                if line["request_id"] == request_id]

    wait_for(lambda: any("notifications queued" in line["message"] for line in worker_lines()),
             seconds=20)
    daphne_lines = [line for line in cluster.log_lines(cluster.daphne_log(a_server))
                    if line["request_id"] == request_id]

    assert echoed == request_id
    (access,) = [line for line in daphne_lines if line["logger"] == "teamchat.access"]
    assert access["message"].startswith(f"POST /api/v1/conversations/{channel.pk}/messages/ 201 ")
    # The send's job ran in the worker, its lines under the request's id.
    assert any(line["logger"] == "messaging.tasks" and line["message"].startswith("message ")
               for line in worker_lines())
    # Every line the worker wrote is JSON with a request id field (`-` outside any task).
    assert all("request_id" in line for line in cluster.log_lines(cluster.worker_log))


def test_metrics_of_all_processes_are_scraped_from_either_one(cluster):
    a_server, b_server = cluster.servers
    alice, bob = make_user(), make_user()
    channel = make_channel(alice, members=[bob])
    before = cluster.scrape(b_server)
    with Socket(a_server.ws_url, token=token_for(alice)) as alice_on_a, \
            Socket(b_server.ws_url, token=token_for(bob)) as bob_on_b:
        for number in range(3):
            alice_on_a.send(type="message.send", conversation=channel.pk, text=f"n{number}",
                            client_msg_id=f"metrics-{number}")
            alice_on_a.next("message.ack")
            bob_on_b.next("message.created")
        during = cluster.scrape(b_server)
    wait_for(lambda: sample(cluster.scrape(a_server), "teamchat_websocket_connections") == 0,
             seconds=10)

    def moved(name: str, **labels: str) -> float:
        return sample(during, name, **labels) - sample(before, name, **labels)

    # Sent through A, counted in A's files, scraped from B.
    assert moved("teamchat_messages_sent_total", origin="websocket") == 3
    # Delivered to Bob on B and to Alice's own socket on A.
    assert moved("teamchat_messages_delivered_total") == 6
    assert moved("teamchat_delivery_latency_seconds_count") == 6
    # Each process's hub passed each message to its own followers; Bob's socket, busy
    # with nothing, had every one written at once, without a dispatch.
    passed = moved("teamchat_hub_events_total", path="at_once") + moved(
        "teamchat_hub_events_total", path="queued")
    assert passed == 6 and moved("teamchat_hub_events_total", path="at_once") >= 3
    assert sample(during, "teamchat_websocket_connections") == 2
    assert sample(during, "teamchat_http_requests_total", status="2xx") >= 1
    assert f'teamchat_celery_queue_depth{{queue="{cluster.queue}"}}' in during
    # Without the token, and not from the monitoring network as far as daphne can tell
    # (a request through the proxy), there is nothing at /metrics.
    hidden = urllib.request.Request(b_server.url + "/metrics",
                                    headers={"X-Forwarded-For": "203.0.113.9"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(hidden, timeout=10)
    assert refused.value.code == 404
