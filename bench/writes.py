"""Sending one message, in-process: messaging.services.message_create plus the payload
the sender's ack carries, into a 10-member channel, beside a baseline that stores the
same rows (the message, the conversation's new seq, the event) in one transaction
through a raw cursor.

This is the write every realtime send waits for; the realtime benchmarks add the
server around it. Broadcasts are off here (no one listens in this process), so the
figure is the database work and the Python around it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone
from psycopg import sql

from accounts.models import User
from bench import timing
from bench.seed_history import broadcasts_off
from bench.seed_realtime import RealtimeSeed
from bench.stats import Row, Spread
from messaging.models import ConversationEvent, Message
from messaging.payloads import message_payload
from messaging.services import message_create

IDLE_GAP = 0.15  # seconds between sends, as in the fan-out benchmark
IDLE_CALLS = 30


def run(*, quick: bool, seeded: RealtimeSeed) -> list[Row]:
    calls, warmup = (200, 20) if quick else (1000, 50)
    conversation_id = seeded.teams[-1]
    author = User.objects.get(pk=seeded.user_ids[len(seeded.user_ids) - 1])
    with broadcasts_off():
        ours, base = timing.paired([(_send(author, conversation_id),
                                   _bare_send(author, conversation_id))], calls, warmup)
        queries = timing.query_count(_send(author, conversation_id))
        idle = _after_idle(_send(author, conversation_id))
    return [Row(
        benchmark="write: send one message in-process (message_create + payload)",
        measure="p50 / p99 ms", ours=(ours.p50, ours.p99), baseline=(base.p50, base.p99),
        baseline_name="bare INSERTs in one transaction",
        notes=[f"{calls} sends back to back into a 10-member channel; {queries} queries per "
               f"send; sent {IDLE_GAP:g} s apart instead, p50 is {idle.p50:.1f} ms "
               f"(the database and this process wake from idle for each)"])]


def _send(author: User, conversation_id: int) -> Callable[[], Any]:
    def call() -> dict[str, Any]:
        result = message_create(author=author, conversation_id=conversation_id,
                                text="Benchmark message", client_msg_id=f"bench-{uuid.uuid4().hex}")
        return message_payload(result.message)

    return call


def _bare_send(author: User, conversation_id: int) -> Callable[[], Any]:
    """Lock the conversation, store the message and its event, advance last_seq."""
    message_fields = [f for f in Message._meta.concrete_fields if not f.primary_key]
    event_fields = [f for f in ConversationEvent._meta.concrete_fields if not f.primary_key]
    message_sql = _insert_sql(Message, message_fields) + sql.SQL(" RETURNING id")
    event_sql = _insert_sql(ConversationEvent, event_fields)

    def call() -> None:
        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT last_seq FROM messaging_conversation WHERE id = %s FOR UPDATE",
                           [conversation_id])
            seq = cursor.fetchone()[0] + 1
            message = Message(conversation_id=conversation_id, author=author, seq=seq,
                              text="Benchmark message", html="<p>Benchmark message</p>",
                              client_msg_id=f"bench-{uuid.uuid4().hex}", created_at=now)
            cursor.execute(message_sql, _values(message, message_fields))
            event = ConversationEvent(conversation_id=conversation_id, seq=seq,
                                      type="message.created", message_id=cursor.fetchone()[0],
                                      created_at=now)
            cursor.execute("UPDATE messaging_conversation SET last_seq = %s, "
                           "last_message_at = %s WHERE id = %s", [seq, now, conversation_id])
            cursor.execute(event_sql, _values(event, event_fields))

    return call


def _insert_sql(model: type[Model], fields: list[Any]) -> sql.Composed:
    """INSERT of every column the model has now (read from the model, so the baseline
    follows the schema as it changes); the values go as parameters."""
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(model._meta.db_table),
        sql.SQL(", ").join(sql.Identifier(f.column) for f in fields),
        sql.SQL(", ").join(sql.Placeholder() * len(fields)))


def _values(instance: Model, fields: list[Any]) -> list[Any]:
    return [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]


def _after_idle(call: Callable[[], Any]) -> Spread:
    samples = []
    for _ in range(IDLE_CALLS):
        time.sleep(IDLE_GAP)
        samples.append(timing.timed(call))
    return Spread.of_seconds(samples)
