"""GET /api/v1/audit/events/: the audit log for compliance officers and owners, filtered,
paged by an opaque cursor over `seq` that holds while events are appended, refusing a bad
filter by name, and every read of it recorded as `audit.viewed`."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as accounts
from accounts.models import Role
from compliance import audit_words
from compliance.payloads import audit_event_payload
from core.audit import audit_record
from core.models import AuditEvent
from tests.factories import client_for, make_user

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit/events/"


def views() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="audit.viewed").order_by("seq"))


def all_pages(client: APIClient, url: str) -> list[dict]:
    seen = []
    while url:
        body = client.get(url).json()
        seen.extend(body["results"])
        url = body["next"]
    return seen


@pytest.mark.parametrize(("role", "status"), [
    (Role.OWNER, 200), (Role.COMPLIANCE, 200), (Role.ADMIN, 403), (Role.MEMBER, 403),
    (Role.GUEST, 403)])
def test_only_compliance_officers_and_owners_read_the_log(role, status):
    person = make_user(role)

    response = client_for(person).get(URL, {"action": "user"})

    assert response.status_code == status
    if status == 403:
        assert response.json() == {"error": {
            "code": "forbidden", "fields": {},
            "detail": "Only compliance officers and owners may read the audit log through the API."}}
        assert views() == []
    else:
        assert response.json()["results"][-1]["action"] == "user.created"
        assert [v.actor_id for v in views()] == [person.pk]


def test_a_bot_token_is_refused_and_an_owners_own_token_reads(owner, admin):
    bot = accounts.bot_create(actor=admin, display_name="Collector", username="collector")
    _, bot_token = accounts.api_token_create(actor=admin, user=bot, name="siem")
    _, owner_token = accounts.api_token_create(actor=owner, user=owner, name="siem pull")

    as_bot = APIClient().get(URL, HTTP_AUTHORIZATION=f"Bearer {bot_token}")
    as_owner = APIClient().get(URL, HTTP_AUTHORIZATION=f"Bearer {owner_token}")
    anonymous = APIClient().get(URL)

    assert as_bot.status_code == 403
    assert as_owner.status_code == 200
    assert anonymous.status_code == 401
    assert [v.actor_id for v in views()] == [owner.pk]


def test_an_event_answers_as_recorded_with_its_number_and_hashes(compliance_officer):
    event = audit_record(action="message.deleted", actor=compliance_officer,
                         target_type="messaging.message", target_id=42, conversation_id=7,
                         ip_address="192.0.2.1", data={"author": 3})

    body = client_for(compliance_officer).get(URL, {"target_id": "42"}).json()

    assert body == {"results": [audit_event_payload(event)], "next_cursor": None, "next": None}
    assert body["results"][0] == {
        "seq": event.seq, "id": event.id, "created_at": event.created_at.isoformat(),
        "actor_id": compliance_officer.pk, "actor_label": compliance_officer.email,
        "action": "message.deleted", "target_type": "messaging.message", "target_id": "42",
        "conversation_id": 7, "ip_address": "192.0.2.1", "data": {"author": 3},
        "prev_hash": event.prev_hash, "hash": event.hash}


def test_filters_narrow_the_log(compliance_officer, member, other_member):
    client = client_for(compliance_officer)
    start = AuditEvent.objects.order_by("-seq").first().seq
    deleted = audit_record(action="message.deleted", actor=member, target_type="messaging.message",
                           target_id=1, conversation_id=5)
    edited = audit_record(action="message.edited", actor=other_member,
                          target_type="messaging.message", target_id=2, conversation_id=6)
    joined = audit_record(action="membership.joined", actor=member, conversation_id=5)
    later = timezone.now()
    signed_in = audit_record(action="auth.sign_in", actor=member)

    def seqs(**params) -> list[int]:
        response = client.get(URL, {"after_seq": start, **params})
        assert response.status_code == 200, response.json()
        return [event["seq"] for event in response.json()["results"]
                if event["action"] != "audit.viewed"]

    assert seqs(actor=member.pk) == [deleted.seq, joined.seq, signed_in.seq]
    assert seqs(actor=other_member.email.upper()) == [edited.seq]
    assert seqs(action="message.deleted") == [deleted.seq]
    assert seqs(action="message") == [deleted.seq, edited.seq]
    assert seqs(action="message.edited, membership") == [edited.seq, joined.seq]
    assert seqs(target_type="messaging.message", target_id="2") == [edited.seq]
    assert seqs(conversation=5) == [deleted.seq, joined.seq]
    assert seqs(**{"from": later.isoformat()}) == [signed_in.seq]
    assert seqs(to=later.isoformat()) == [deleted.seq, edited.seq, joined.seq]
    assert seqs(after_seq=edited.seq, action="message,membership,auth") == [joined.seq, signed_in.seq]
    assert seqs(actor="", action="") == [deleted.seq, edited.seq, joined.seq, signed_in.seq]


@pytest.mark.parametrize(("params", "field"), [
    ({"actor": "somebody"}, "actor"),
    ({"action": "Message Deleted"}, "action"),
    ({"action": "message..deleted"}, "action"),
    ({"conversation": "five"}, "conversation"),
    ({"from": "yesterday"}, "from"),
    ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "to"),
    ({"after_seq": "-1"}, "after_seq"),
    ({"limit": "0"}, "limit"),
    ({"limit": "501"}, "limit"),
    ({"order": "sideways"}, "order"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "ZDEw", "order": "asc"}, "cursor"),  # a newest-first cursor, asked oldest first
    ({"acter": "ana@example.com"}, "acter"),
])
def test_a_bad_filter_is_refused_by_name_and_reads_nothing(compliance_officer, params, field):
    response = client_for(compliance_officer).get(URL, params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    assert field in error["detail"]
    assert views() == []


def test_pages_follow_the_cursor_without_repeats_or_gaps_while_events_are_appended(
        compliance_officer, member):
    client = client_for(compliance_officer)
    audit_record_many = [audit_record(action="auth.sign_in", actor=member) for _ in range(7)]
    first = client.get(URL, {"action": "auth", "limit": 3}).json()
    # Appended between pages: the oldest-first walk reaches them at its end.
    appended = [audit_record(action="auth.sign_in", actor=member) for _ in range(2)]
    rest = all_pages(client, first["next"])

    walked = [event["seq"] for event in first["results"] + rest]
    assert walked == [e.seq for e in audit_record_many + appended]
    assert len(first["results"]) == 3 and first["next_cursor"]
    assert parse_qs(urlsplit(first["next"]).query) == {
        "action": ["auth"], "limit": ["3"], "cursor": [first["next_cursor"]]}


def test_newest_first_pages_hold_still_while_events_are_appended(compliance_officer, member):
    client = client_for(compliance_officer)
    recorded = [audit_record(action="auth.sign_in", actor=member) for _ in range(5)]
    first = client.get(URL, {"action": "auth", "limit": 2, "order": "desc"}).json()
    [audit_record(action="auth.sign_in", actor=member) for _ in range(3)]
    rest = all_pages(client, first["next"])

    walked = [event["seq"] for event in first["results"] + rest]
    assert walked == [e.seq for e in reversed(recorded)]


def test_each_read_is_audited_with_its_filters(compliance_officer):
    client = client_for(compliance_officer)
    for _ in range(3):
        audit_record(action="auth.sign_in", actor=compliance_officer)
    since = (timezone.now() - timedelta(hours=1)).isoformat()

    first = client.get(URL, {"action": "auth", "from": since, "limit": 2}, REMOTE_ADDR="192.0.2.9").json()
    client.get(first["next"])

    reads = views()
    assert [v.data for v in reads] == [
        {"filters": {"action": "auth", "from": since}, "page": None, "via": "api", "count": 2},
        {"filters": {"action": "auth", "from": since},
         "page": first["results"][-1]["seq"], "via": "api", "count": 1}]
    assert reads[0].ip_address == "192.0.2.9"
    sentence = str(audit_words.describe(reads[1], audit_words.Names([reads[1]])))
    assert "read 1 event of the audit log through the API (after event" in sentence
    assert "filtered by action auth" in sentence


def test_a_page_costs_the_same_queries_however_long(compliance_officer, member):
    client = client_for(compliance_officer)
    [audit_record(action="auth.sign_in", actor=member) for _ in range(60)]

    def queries(limit: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL, {"limit": limit}).status_code == 200
        return len(captured)

    # The page in one query; the read's record in five: the chain's lock and head and the
    # insert, inside a savepoint (in production, a transaction of their own).
    assert queries(5) == queries(50) == 6
