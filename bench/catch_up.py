"""Catching up (issue 28), in-process against the seeded history: the real selectors and
payload builders, each timed call beside a bare SQL baseline.

- threads view: thread_list() of the person in 500 conversations, then the payloads of
  each thread's first message and newest reply (what GET me/threads/ does before
  rendering JSON); baseline, one SELECT of the page's follow rows joined to their roots,
  newest activity first (by the same index);
- activity view: activity_list() of the same person, then the payload of each item's
  message (GET me/activity/); baseline, one SELECT of the same messages by primary key;
- read receipts: message_receipts() of a message in a channel of 1,000 members (made
  here, on top of the seed, with read positions spread around the message); baseline,
  one SELECT of the members whose read position is at or past it.
"""

from __future__ import annotations

import random
from typing import Any

from django.db import connection, transaction

from accounts.models import Organisation, Role, User
from bench import timing
from bench.seed_history import HOT_EMAIL
from bench.stats import Row, Spread
from messaging import services
from messaging.models import Conversation, ConversationKind, Membership, Message, ThreadFollow
from messaging.payloads import message_payload
from messaging.selectors import activity_list, message_receipts, thread_list

AIM_MS = 50.0
RECEIPT_MEMBERS = 1_000
RECEIPT_CHANNEL = "bench-receipts"

THREADS_SQL = (
    "SELECT f.*, m.* FROM messaging_threadfollow f JOIN messaging_message m ON m.id = f.root_id "
    "WHERE f.user_id = %s AND f.following ORDER BY f.last_activity_at DESC, f.root_id DESC LIMIT 20"
)
MESSAGES_SQL = "SELECT * FROM messaging_message WHERE id = ANY(%s)"
RECEIPTS_SQL = (
    "SELECT user_id FROM messaging_membership WHERE conversation_id = %s AND last_read_seq >= %s"
)


def run(*, quick: bool) -> list[Row]:
    calls, warmup = (200, 20) if quick else (1000, 50)
    reader = User.objects.get(email=HOT_EMAIL)
    return [_threads_row(reader, calls, warmup), _activity_row(reader, calls, warmup),
            _receipts_row(calls, warmup)]


def _threads_row(reader: User, calls: int, warmup: int) -> Row:
    def ours() -> list[dict[str, Any]]:
        page = thread_list(user=reader)
        return [{"message": message_payload(f.root),
                 "latest": message_payload(latest) if latest else None} for f, latest in page.threads]

    def baseline() -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(THREADS_SQL, [reader.pk])
            return cursor.fetchall()

    ours_spread, base_spread = timing.paired([(ours, baseline)], calls, warmup)
    page = thread_list(user=reader)
    followed = ThreadFollow.objects.filter(user=reader, following=True).count()
    return _row(f"catch-up: threads view of a person in {_conversations(reader)} conversations",
                ours_spread, base_spread, "bare SELECT of the follows", notes=[
                    f"{calls} calls; {timing.query_count(ours)} queries per call; "
                    f"{followed} threads followed, {page.unread_threads} with unread replies; "
                    f"a page of {len(page.threads)}"])


def _activity_row(reader: User, calls: int, warmup: int) -> Row:
    def ours() -> list[dict[str, Any]]:
        return [message_payload(item.message) for item in activity_list(user=reader).items]

    ids = [item.message.pk for item in activity_list(user=reader).items]

    def baseline() -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(MESSAGES_SQL, [ids])
            return cursor.fetchall()

    ours_spread, base_spread = timing.paired([(ours, baseline)], calls, warmup)
    items = activity_list(user=reader, limit=100).items
    kinds = {kind: sum(1 for i in items if i.kind == kind) for kind in ("mention", "reply", "reaction")}
    return _row(f"catch-up: activity view of a person in {_conversations(reader)} conversations",
                ours_spread, base_spread, "bare SELECT of the same messages", notes=[
                    f"{calls} calls; {timing.query_count(ours)} queries per call; a page of "
                    f"{len(ids)}; of the newest 100: {kinds['mention']} mentions, "
                    f"{kinds['reply']} replies, {kinds['reaction']} reactions, "
                    f"{sum(1 for i in items if i.unread)} unread"])


def _receipts_row(calls: int, warmup: int) -> Row:
    author, message = _receipts_channel()
    organisation = Organisation.get()
    if organisation.read_receipts_max_members < RECEIPT_MEMBERS:
        organisation.read_receipts_max_members = RECEIPT_MEMBERS
        organisation.save(update_fields=["read_receipts_max_members"])

    def ours() -> list[int]:
        return message_receipts(user=author, message_id=message.pk).seen_by

    def baseline() -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(RECEIPTS_SQL, [message.conversation_id, message.seq])
            return cursor.fetchall()

    ours_spread, base_spread = timing.paired([(ours, baseline)], calls, warmup)
    return _row(f"catch-up: read receipts of a message in a channel of {RECEIPT_MEMBERS:,} members",
                ours_spread, base_spread, "bare SELECT of the readers", notes=[
                    f"{calls} calls; {timing.query_count(ours)} queries per call; "
                    f"seen by {len(ours())} of {RECEIPT_MEMBERS - 1}"])


def _receipts_channel() -> tuple[User, Message]:
    """A channel of RECEIPT_MEMBERS people (made once, kept with the seed) with 100
    messages, everyone's read position somewhere among them; its author and the middle
    message."""
    conversation = Conversation.objects.filter(name=RECEIPT_CHANNEL).first()
    if conversation is None:
        with transaction.atomic():
            people = User.objects.bulk_create(
                User(email=f"reader{n:04d}@receipts.bench.example", display_name=f"Reader {n}",
                     role=Role.MEMBER) for n in range(RECEIPT_MEMBERS))
            author = people[0]
            conversation = services.conversation_create(actor=author, kind=ConversationKind.PUBLIC,
                                                        name=RECEIPT_CHANNEL)
            Membership.objects.bulk_create(Membership(user=p, conversation=conversation)
                                           for p in people[1:])
        for n in range(100):
            services.message_create(author=author, conversation_id=conversation.pk, text=f"update {n}")
        rng = random.Random(28)
        last = Conversation.objects.get(pk=conversation.pk).last_seq
        readers = list(Membership.objects.filter(conversation=conversation).exclude(user=author)
                       .order_by("user_id"))
        for membership in readers:
            membership.last_read_seq = rng.randint(0, last)
        Membership.objects.bulk_update(readers, ["last_read_seq"], batch_size=500)
    author = User.objects.get(email="reader0000@receipts.bench.example")
    messages = list(Message.objects.filter(conversation=conversation).order_by("seq"))
    return author, messages[len(messages) // 2]


def _conversations(reader: User) -> int:
    return Membership.objects.filter(user=reader).count()


def _row(name: str, ours: Spread, baseline: Spread, baseline_name: str, *, notes: list[str]) -> Row:
    return Row(benchmark=name, measure="p50 / p99 ms", ours=(ours.p50, ours.p99),
               baseline=(baseline.p50, baseline.p99), baseline_name=baseline_name,
               aim=f"p99 < {AIM_MS:g} ms", met=ours.p99 < AIM_MS, notes=notes)
