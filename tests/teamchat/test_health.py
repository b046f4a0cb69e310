"""GET /healthz reports each part and answers 503 when one is down."""

from __future__ import annotations

import pytest
from channels.layers import channel_layers
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthz_is_200_when_everything_answers(settings):
    response = Client().get("/healthz")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "channel_layer", "broker"}
    assert all(check["ok"] for check in body["checks"].values())
    expected_engine = "postgresql" if settings.TEST_USES_POSTGRES else "sqlite"
    assert body["checks"]["database"]["engine"] == expected_engine


def test_healthz_is_503_and_names_the_parts_that_are_down(settings):
    dead = "redis://127.0.0.1:1/0"
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [dead]}}}
    settings.CELERY_BROKER_URL = dead
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    try:
        response = Client().get("/healthz")
    finally:
        channel_layers.backends.clear()

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["channel_layer"]["ok"] is False
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"]


def test_healthz_needs_no_sign_in_and_no_https_redirect(settings):
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get("/healthz")
    assert response.status_code in (200, 503)
