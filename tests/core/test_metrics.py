"""GET /metrics: who may read it, and the counters moving with real work.

The cross-process side (multiprocess mode, WebSocket delivery through daphne) is in
test_scale_out.py."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from messaging import tasks
from tests.factories import client_for, make_channel

pytestmark = pytest.mark.django_db

TOKEN = "metrics-" + "k" * 32


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_monitoring_network_reads_metrics_and_others_find_nothing(settings):
    settings.METRICS_TOKEN = ""
    local = Client().get("/metrics")
    outside = Client(REMOTE_ADDR="10.20.30.40").get("/metrics")
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    monitoring = Client(REMOTE_ADDR="10.20.30.40").get("/metrics")
    no_longer_local = Client().get("/metrics")

    assert local.status_code == 200
    assert local["Content-Type"].startswith("text/plain; version=")
    body = local.content.decode()
    for name in ("teamchat_websocket_connections", "teamchat_messages_sent_total",
                 "teamchat_messages_delivered_total", "teamchat_delivery_latency_seconds_bucket",
                 "teamchat_http_requests_total"):
        assert name in body
    assert outside.status_code == 404
    assert b"teamchat_" not in outside.content
    assert monitoring.status_code == 200
    assert no_longer_local.status_code == 404


def test_the_token_opens_metrics_from_anywhere_and_the_proxy_needs_it(settings):
    settings.METRICS_TOKEN = TOKEN
    with_token = Client(REMOTE_ADDR="198.51.100.7").get("/metrics",
                                                        HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    wrong_token = Client(REMOTE_ADDR="198.51.100.7").get("/metrics",
                                                         HTTP_AUTHORIZATION="Bearer nope")
    # Through nginx every client arrives from 127.0.0.1: only the token counts there.
    proxied = Client().get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9")
    proxied_with_token = Client().get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9",
                                      HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert with_token.status_code == 200
    assert wrong_token.status_code == 404
    assert proxied.status_code == 404
    assert proxied_with_token.status_code == 200


def test_http_requests_are_counted_by_status_class():
    ok, missing = value("teamchat_http_requests_total", status="2xx"), \
        value("teamchat_http_requests_total", status="4xx")
    Client().get("/healthz")
    Client().get("/no-such-page/")

    assert value("teamchat_http_requests_total", status="2xx") == ok + 1
    assert value("teamchat_http_requests_total", status="4xx") == missing + 1


def test_a_message_posted_over_rest_is_counted_once_committed(member, other_member,
                                                             django_capture_on_commit_callbacks):
    channel = make_channel(member, members=[other_member])
    before = value("teamchat_messages_sent_total", origin="rest")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(member).post(f"/api/v1/conversations/{channel.pk}/messages/",
                                           {"text": "counted", "client_msg_id": "c-1"},
                                           format="json")

    assert response.status_code == 201
    assert value("teamchat_messages_sent_total", origin="rest") == before + 1


def test_a_message_from_an_incoming_webhook_is_counted_as_such(admin,
                                                              django_capture_on_commit_callbacks):
    from integrations import services as integrations

    channel = make_channel(admin, "alerts")
    _, raw = integrations.incoming_webhook_create(actor=admin, conversation_id=channel.pk,
                                                  name="CI")
    before = {origin: value("teamchat_messages_sent_total", origin=origin)
              for origin in ("webhook", "rest")}
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(f"/api/v1/hooks/{raw}", '{"text": "build passed"}',
                                 content_type="application/json")

    assert response.status_code == 200
    assert value("teamchat_messages_sent_total", origin="webhook") == before["webhook"] + 1
    assert value("teamchat_messages_sent_total", origin="rest") == before["rest"]


def test_a_failed_task_is_counted():
    before = value("teamchat_celery_task_failures_total", task="messaging.tasks.deliver_digest")
    # As a worker runs it: the error is recorded, not raised to the caller.
    result = tasks.deliver_digest.apply(args=(1, "not a date"), throw=False)

    assert result.state == "FAILURE"

    assert value("teamchat_celery_task_failures_total",
                 task="messaging.tasks.deliver_digest") == before + 1


def test_the_queue_depth_is_read_from_a_redis_broker_at_scrape_time(settings):
    queue = f"tcmetrics-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    redis_broker = settings.CELERY_BROKER_URL.startswith("redis://")
    if redis_broker:
        import redis

        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        client.rpush(queue, "a", "b", "c")
    try:
        body = Client().get("/metrics").content.decode()
    finally:
        if redis_broker:
            client.delete(queue)

    line = f'teamchat_celery_queue_depth{{queue="{queue}"}}'
    if redis_broker:
        assert f"{line} 3.0" in body.splitlines()
    else:  # the embedded filesystem broker has no queue length to report
        assert "teamchat_celery_queue_depth" not in body
