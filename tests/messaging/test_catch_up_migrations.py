"""Migrations 0010 and 0011 on existing data (issue 28): threads already there are
followed by their starters and repliers, read to the end, with their activity and newest
reply by someone else; each reply knows its thread's starter and each reaction its
message's author, so the Threads and Activity views find them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.migrating import migrate_to as migrate

BEFORE = [("messaging", "0009_saved_done")]
AFTER = [("messaging", "0011_activity")]




@pytest.mark.django_db(transaction=True)
def test_existing_threads_followed_and_replies_and_reactions_carry_their_author():
    apps = migrate(BEFORE)
    try:
        User = apps.get_model("accounts", "User")
        Conversation = apps.get_model("messaging", "Conversation")
        Message = apps.get_model("messaging", "Message")
        Reaction = apps.get_model("messaging", "Reaction")
        ana, ben, cleo = (User.objects.create(email=f"{n}@m.example", display_name=n)
                          for n in ("ana", "ben", "cleo"))
        channel = Conversation.objects.create(kind="public", name="old", last_seq=4)
        start = timezone.now() - timedelta(days=3)
        root = Message.objects.create(conversation=channel, author=ana, text="root", seq=1,
                                      created_at=start, reply_count=3,
                                      last_reply_at=start + timedelta(hours=3))
        replies = [Message.objects.create(conversation=channel, author=author, text=text, seq=seq,
                                          thread_root=root, created_at=start + timedelta(hours=seq))
                   for author, text, seq in ((ben, "one", 2), (ana, "two", 3), (ben, "three", 4))]
        Reaction.objects.create(message=root, user=cleo, emoji="👍")

        apps = migrate(AFTER)
        Follow = apps.get_model("messaging", "ThreadFollow")
        follows = {f.user_id: f for f in Follow.objects.filter(root_id=root.pk)}
        assert set(follows) == {ana.pk, ben.pk}  # the starter and the repliers; not cleo
        for follow in follows.values():
            assert follow.following and follow.last_read_reply_id == replies[-1].pk  # all read
            assert follow.last_activity_at == root.last_reply_at
        assert follows[ana.pk].last_other_reply_id == replies[2].pk  # ben's newest
        assert follows[ben.pk].last_other_reply_id == replies[1].pk  # ana's
        Message = apps.get_model("messaging", "Message")
        assert set(Message.objects.filter(thread_root_id=root.pk)
                   .values_list("thread_root_author_id", flat=True)) == {ana.pk}
        assert Message.objects.get(pk=root.pk).thread_root_author_id is None
        Reaction = apps.get_model("messaging", "Reaction")
        assert Reaction.objects.get(message_id=root.pk).message_author_id == ana.pk
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
