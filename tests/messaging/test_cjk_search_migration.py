"""Migration 0015_cjk_search on existing data: messages written in Chinese, Japanese or
Korean before it, indexed the earlier way (whole runs only), are found by any substring
after it, on PostgreSQL and (through test_the_embedded_mode_migrates_the_same_way) SQLite;
and migrating back leaves a search index that still answers words."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.embedded import rerun_on_sqlite
from tests.migrating import migrate_to as migrate

BEFORE = [("messaging", "0014_push_subscriptions")]
AFTER = [("messaging", "0015_cjk_search")]
OLD = ["来週は東京都庁で打ち合わせです", "다음 주에 서울에서 만나요", "今期のQ3の売上は好調でした",
       "deploy the release tonight"]




def found(user_id: int, query: str) -> list[str]:
    from accounts.models import User
    from messaging.search import message_search

    user = User.objects.get(pk=user_id)
    return sorted(hit.message.text for hit in message_search(user=user, query=query).hits)


@pytest.mark.django_db(transaction=True)
def test_existing_cjk_messages_become_findable_by_any_substring():
    apps = migrate(BEFORE)
    try:
        User = apps.get_model("accounts", "User")
        Conversation = apps.get_model("messaging", "Conversation")
        Message = apps.get_model("messaging", "Message")
        ana = User.objects.create(email="ana@m.example", display_name="Ana", role="member")
        channel = Conversation.objects.create(kind="public", name="old", last_seq=len(OLD))
        for seq, text in enumerate(OLD, start=1):
            Message.objects.create(conversation=channel, author=ana, text=text, seq=seq)
        if connection.vendor == "postgresql":  # (SQLite's earlier table has no cjk column)
            # Indexed the earlier way: a substring of a run is not found.
            assert found(ana.pk, "東京") == []

        migrate(AFTER)

        assert found(ana.pk, "東京") == ["来週は東京都庁で打ち合わせです"]
        assert found(ana.pk, "都庁") == ["来週は東京都庁で打ち合わせです"]
        assert found(ana.pk, "서울") == ["다음 주에 서울에서 만나요"]
        assert found(ana.pk, "Q3の売上") == ["今期のQ3の売上は好調でした"]
        assert found(ana.pk, "deploy") == ["deploy the release tonight"]

        migrate(BEFORE)  # and back: the earlier index, words still found

        assert found(ana.pk, "deploy") == ["deploy the release tonight"]
        if connection.vendor == "postgresql":
            assert found(ana.pk, "東京") == []
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_embedded_mode_migrates_the_same_way():
    rerun_on_sqlite(__file__, deselect="embedded_mode", passed=1)
