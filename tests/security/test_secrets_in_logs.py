"""Secrets never reach the logs: the configured handler masks tokens, webhook keys and
signing secrets, in messages and in tracebacks."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.test import Client

from accounts import services as accounts
from integrations import services
from teamchat.log import RedactSecrets, redact
from tests.factories import make_channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_output():
    """What the configured console handler writes, for the duration of a test."""
    handlers = [h for h in logging.getLogger().handlers
                if any(isinstance(f, RedactSecrets) for f in h.filters)]
    assert handlers, "the console handler must carry the RedactSecrets filter"
    stream = io.StringIO()
    previous = handlers[0].setStream(stream)
    yield stream
    handlers[0].setStream(previous)


def test_redact_masks_each_kind_of_secret():
    text = ("token tc_AbC123xyz_-9 key whk_q1w2e3r4t5 secret whsec_Zx-9_8yT "
            "header Authorization: Bearer abc.def/ghi= and tc_ alone")
    assert redact(text) == ("token tc_[redacted] key whk_[redacted] secret whsec_[redacted] "
                            "header Authorization: Bearer [redacted] and tc_ alone")


def test_a_webhook_url_in_a_warning_is_masked(admin, log_output):
    channel = make_channel(admin, "alerts")
    _, raw = services.incoming_webhook_create(actor=admin, conversation_id=channel.pk, name="CI")
    response = Client().post(f"/api/v1/hooks/{raw}", "not json", content_type="application/json")
    assert response.status_code == 400
    output = log_output.getvalue()
    assert "/api/v1/hooks/whk_[redacted]" in output
    assert raw not in output


def test_tokens_in_messages_arguments_and_tracebacks_are_masked(admin, log_output):
    _, token = accounts.api_token_create(actor=admin, user=admin, name="ci")
    logger = logging.getLogger("teamchat.test")
    logger.warning("calling with %s", f"Authorization: Bearer {token}")
    try:
        raise ValueError(f"refused {token}")
    except ValueError:
        logger.exception("it failed")
    output = log_output.getvalue()
    assert token not in output
    assert token[3:] not in output
    assert "Bearer [redacted]" in output
    assert "ValueError: refused tc_[redacted]" in output


def test_json_log_lines_are_masked_too(admin, log_output):
    from core.requestid import JsonFormatter

    (handler,) = [h for h in logging.getLogger().handlers
                  if any(isinstance(f, RedactSecrets) for f in h.filters)]
    previous = handler.formatter
    handler.setFormatter(JsonFormatter())
    _, token = accounts.api_token_create(actor=admin, user=admin, name="ci")
    logger = logging.getLogger("teamchat.test")
    try:
        logger.warning("calling with %s", f"Authorization: Bearer {token}")
        try:
            raise ValueError(f"refused {token}")
        except ValueError:
            logger.exception("it failed")
    finally:
        handler.setFormatter(previous)

    output = log_output.getvalue()
    first, second = (json.loads(line) for line in output.splitlines())
    assert token not in output and token[3:] not in output
    assert first["message"].startswith("calling with Authorization: Bearer [redacted]")
    assert "ValueError: refused tc_[redacted]" in second["exc"]
    assert first["request_id"] == second["request_id"] == "-"
