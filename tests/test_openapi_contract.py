"""The API against its own OpenAPI schema, fuzzed by schemathesis: no request it can
generate gets a 5xx, and every answer is documented (status code, content type, body).

Schemathesis runs every phase against the WSGI application in this process: examples,
coverage and fuzzing per operation, in positive and negative modes, and the stateful
phase, which chains operations along the links schemathesis infers from the schema (a
conversation created, then read, changed, posted in, left). A fixed seed and few
examples per operation keep the run repeatable and about a minute and a half long.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import hypothesis
import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import services as accounts
from accounts.models import Role
from integrations import services as integrations
from messaging import services as messaging
from messaging.services import notifications
from tests.factories import client_for, make_channel, make_user, post

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]

CONFIG = {
    "seed": 27,
    "generation": {"mode": "all", "max-examples": 6, "deterministic": True, "database": "none"},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
               "fuzzing": {"enabled": True}, "stateful": {"enabled": True}},
    "suppress-health-check": ["all"],
}


def _load_schema(document: dict) -> schemathesis.BaseSchema:
    """The schema built at collection, so that each operation is a test of its own;
    requests go to the WSGI application in this process. Schemathesis adds the links it
    infers to the document it is given: it gets a copy."""
    loaded = schemathesis.openapi.from_dict(json.loads(json.dumps(document)),
                                            config=SchemathesisConfig.from_dict(CONFIG))
    loaded.app = get_wsgi_application()
    return loaded


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    # As Django's test client does: the request signals must not close the connection
    # that holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db) -> dict[str, str]:
    """A member, an admin and a compliance officer, with what the fuzzer's ids can find: a
    channel, a thread, a reaction, quiet hours, webhooks never used nor revoked, a scheduled
    message and a reminder. Returns their tokens."""
    ana, ben = make_user(name="Ana Lopez"), make_user(name="Ben Okafor")
    boss = make_user(Role.ADMIN, name="Bo Admin")
    channel = make_channel(ana, "general", members=[ben, boss])
    root = post(ana, channel, "hello **world** https://example.com")
    post(ben, channel, "reply", thread_root_id=root.pk)
    messaging.reaction_add(actor=ben, message_id=root.pk, emoji_value="👍")
    notifications.notification_preferences_update(user=ana, quiet_hours_start=time(22),
                                                  quiet_hours_end=time(7))
    integrations.incoming_webhook_create(actor=boss, conversation_id=channel.pk, name="CI")
    integrations.outgoing_webhook_create(actor=boss, name="Deploy", url="https://ci.example.com/",
                                         conversation_ids=[channel.pk])
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    messaging.scheduled_create(actor=ana, conversation_id=channel.pk, text="later", send_at=soon)
    messaging.reminder_set(actor=ana, message_id=root.pk, in_minutes=30)
    cora = make_user(Role.COMPLIANCE, name="Cora Compliance")
    return {"member": accounts.api_token_create(actor=ana, user=ana, name="fuzz")[1],
            "admin": accounts.api_token_create(actor=boss, user=boss, name="fuzz")[1],
            "compliance": accounts.api_token_create(actor=cora, user=cora, name="fuzz")[1]}


# The schema as /api/v1/schema/ serves it.
DOCUMENT = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))
schema = _load_schema(DOCUMENT)


# Revoking a token by id could revoke the one this run signs in with, and every later
# answer would be a (documented) 401 that tests nothing.
_member_schema = schema.exclude(method="DELETE", path="/api/v1/me/tokens/{token_id}/")
STATEFUL_SCENARIOS = 50
STATEFUL_STEPS = 10


@_member_schema.parametrize()
def test_a_member_gets_no_5xx_and_only_documented_answers(case, world):
    case.call_and_validate(headers={"Authorization": f"Bearer {world['member']}"}, checks=CHECKS)


# An admin reads what members are refused (webhooks, invitations, bots); reads only, so
# the run changes nothing a member's run could not.
@schema.include(method="GET").parametrize()
def test_an_admin_reading_gets_no_5xx_and_only_documented_answers(case, world):
    case.call_and_validate(headers={"Authorization": f"Bearer {world['admin']}"}, checks=CHECKS)


# The audit log answers compliance officers (and owners) only: their filters are fuzzed too.
@schema.include(path_regex="^/api/v1/audit/").parametrize()
def test_a_compliance_officer_reading_the_audit_log_gets_only_documented_answers(case, world):
    case.call_and_validate(headers={"Authorization": f"Bearer {world['compliance']}"},
                           checks=CHECKS)


def test_chained_calls_as_a_member_get_no_5xx_and_only_documented_answers(world):
    """The stateful phase: sequences of calls, each fed ids from the answers before it."""
    token = world["member"]
    workflow = _member_schema.as_state_machine()

    class AsAMember(workflow):  # type: ignore[misc, valid-type]
        # Each scenario starts from the same data (the world), so that what one scenario
        # wrote cannot make the next one's choices differ from run to run.
        def setup(self):
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Bearer {token}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    answers: list[tuple[str, int]] = []
    original_step = AsAMember.step

    def counted_step(self, input):
        output = original_step(self, input)
        answers.append((input.case.operation.path, output.response.status_code))
        return output

    AsAMember.step = counted_step
    AsAMember.run(settings=hypothesis.settings(
        max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS, deadline=None,
        derandomize=True, database=None, suppress_health_check=list(hypothesis.HealthCheck)))
    # The phase ran chains: more calls than scenarios, and calls to an operation that
    # takes an id found what it named (the id came from an earlier answer).
    assert len(answers) > STATEFUL_SCENARIOS
    assert any("{" in path and status < 300 for path, status in answers)


def test_bodies_are_json_except_the_uploads(member):
    client = client_for(member)
    form = client.post("/api/v1/conversations/", {"kind": "public", "name": "by-form"},
                       format="multipart")
    assert form.status_code == 415
    assert form.json()["error"]["code"] == "unsupported_media_type"
    assert client.patch("/api/v1/me/", "display_name=Form", content_type="application/x-www-form-urlencoded"
                        ).status_code == 415
    member.refresh_from_db()
    assert member.display_name != "Form"
    upload = client.post("/api/v1/files/", {"file": SimpleUploadedFile("a.txt", b"hello")},
                         format="multipart")
    assert upload.status_code == 201


def test_quiet_hours_read_the_same_on_me_and_on_my_notifications(member):
    client = client_for(member)
    changed = client.patch("/api/v1/me/notifications/",
                           {"quiet_hours_start": "22:00", "quiet_hours_end": "07:30"})
    assert changed.status_code == 200
    me = client.get("/api/v1/me/").json()
    assert (me["quiet_hours_start"], me["quiet_hours_end"]) == ("22:00", "07:30")
    assert (changed.json()["quiet_hours_start"], changed.json()["quiet_hours_end"]) == ("22:00", "07:30")


def test_the_schema_fuzzed_here_is_the_one_served(member):
    served = client_for(member).get("/api/v1/schema/?format=json")
    assert served.status_code == 200
    assert served.json() == DOCUMENT
