"""DATABASE_REPLICA_URL: search and compliance exports read from the replica; everything
else stays on the primary. The replica here is the test database itself, reached through
its own connection (tests/settings.py), so the reads really take the other alias."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.conf import settings
from django.db import connections
from django.test.utils import CaptureQueriesContext

from compliance import services as compliance
from core.replica import PrimaryReplicaRouter, replica_alias
from messaging.models import Message
from messaging.search import message_search
from tests.factories import make_channel, post

if not settings.TEST_USES_POSTGRES:
    pytest.skip("a replica alias needs PostgreSQL (CI requires it)", allow_module_level=True)

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture
def replica(settings):
    settings.DATABASE_REPLICA_URL = "postgres://replica.example/teamchat"  # only its presence counts
    return connections["replica"]


def test_search_reads_from_the_replica_when_one_is_configured(replica, member, other_member):
    channel = make_channel(member, members=[other_member])
    wanted = post(member, channel, "the quarterly kerfuffle report")
    post(member, channel, "something else")

    with CaptureQueriesContext(replica) as on_replica:
        page = message_search(user=other_member, query="kerfuffle")

    assert [hit.message.pk for hit in page.hits] == [wanted.pk]
    assert any("websearch_to_tsquery" in query["sql"] for query in on_replica.captured_queries)


def test_without_a_replica_search_stays_on_the_primary(member):
    channel = make_channel(member)
    post(member, channel, "kerfuffle")
    replica = connections["replica"]

    with CaptureQueriesContext(replica) as on_replica:
        page = message_search(user=member, query="kerfuffle")

    assert replica_alias() == "default"
    assert len(page.hits) == 1
    assert on_replica.captured_queries == []


def test_an_export_reads_messages_from_the_replica(replica, compliance_officer, member):
    channel = make_channel(member)
    for text in ("one", "two", "three"):
        post(member, channel, text)

    job = compliance.export_start(actor=compliance_officer, format="jsonl", in_background=False)
    with CaptureQueriesContext(replica) as on_replica:
        job = compliance.export_run(job_id=job.pk)
    with job.archive.open("rb") as stream:
        bundle = zipfile.ZipFile(io.BytesIO(stream.read()))
    (name,) = [n for n in bundle.namelist() if n.endswith(".jsonl")]
    records = [json.loads(line) for line in bundle.read(name).decode().splitlines() if line]

    assert job.total == 3
    assert sorted(r["text"] for r in records if "text" in r) == ["one", "three", "two"]
    assert any("messaging_message" in query["sql"] for query in on_replica.captured_queries)


def test_writes_and_migrations_never_go_to_the_replica(replica):
    router = PrimaryReplicaRouter()

    assert replica_alias() == "replica"
    assert router.db_for_write(Message) == "default"
    assert router.db_for_read(Message) is None
    assert router.allow_migrate("replica", "messaging") is False
    assert router.allow_migrate("default", "messaging") is None


def test_a_row_read_from_the_replica_is_saved_to_the_primary(replica, member):
    channel = make_channel(member, "ops")
    message = post(member, channel, "first")
    read = Message.objects.using("replica").get(pk=message.pk)
    assert read._state.db == "replica"

    with CaptureQueriesContext(connections["default"]) as on_primary, \
            CaptureQueriesContext(replica) as on_replica:
        read.text = "changed"
        read.save(update_fields=["text"])

    assert any(q["sql"].startswith("UPDATE") for q in on_primary.captured_queries)
    assert on_replica.captured_queries == []
    assert Message.objects.get(pk=message.pk).text == "changed"
