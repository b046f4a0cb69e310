"""The API against its own OpenAPI schema, fuzzed by schemathesis: no request it can
generate gets a 5xx, and every documented answer matches its schema."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from accounts import services as accounts
from messaging import services as messaging
from tests.factories import make_channel, make_user, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_schema(db):
    # As Django's test client does: the request signals must not close the connection
    # that holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db) -> str:
    """A member with a channel, a thread and a reaction, so ids the fuzzer tries can exist."""
    ana, ben = make_user(name="Ana Lopez"), make_user(name="Ben Okafor")
    channel = make_channel(ana, "general", members=[ben])
    root = post(ana, channel, "hello **world** https://example.com")
    post(ben, channel, "reply", thread_root_id=root.pk)
    messaging.reaction_add(actor=ben, message_id=root.pk, emoji_value="👍")
    _, raw = accounts.api_token_create(actor=ana, user=ana, name="fuzz")
    return raw


def _summary(error: Exception) -> str:
    """The lines of a schemathesis failure that say what and how to reproduce."""
    lines = [line.strip() for line in str(error).splitlines()]
    keep = [line for line in lines if line.startswith(("- ST", "curl", "Validated", "[5", "[4"))
            or " is not " in line or "Internal" in line]
    return "\n".join(keep[:12]) or lines[0][:500]


def test_no_5xx_and_answers_match_the_schema(api_schema, token):
    headers = {"Authorization": f"Bearer {token}"}
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 60

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def exercise(case):
            case.call_and_validate(headers=headers,
                                   checks=[not_a_server_error, response_schema_conformance])

        try:
            exercise()
        except Exception as error:  # noqa: BLE001  (collected, reported together below)
            failures[operation.label] = _summary(error)
    assert failures == {}, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
