"""The conversation event log, and its broadcasts on commit (through core.live)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import cache, partial
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Field, Model
from django.utils import timezone
from psycopg import sql

from core import metrics, requestid
from core.compiled import django_internals_supported
from core.live import CONV_EVENT, conversation_group, encode, group_send_many, user_group
from messaging.models import Conversation, ConversationEvent, Membership, Message
from messaging.payloads import message_payload

MESSAGE_EVENTS = {"message.created", "message.edited", "message.deleted"}


def thread_summary(root: Message) -> dict[str, Any]:
    return {
        "root": root.pk,
        "reply_count": root.reply_count,
        "last_reply_at": root.last_reply_at.isoformat().replace("+00:00", "Z")
        if root.last_reply_at else None,
        "participants": root.thread_participants,
    }


def event_frame(
    event_type: str,
    conversation_id: int,
    seq: int,
    *,
    message: Message | None = None,
    thread_root: Message | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": event_type, "conversation": conversation_id, "seq": seq}
    frame.update(payload or {})
    if message is not None:
        frame["message"] = message_payload(message)
    if thread_root is not None:
        frame["thread"] = thread_summary(thread_root)
    return frame


def event_record(
    *,
    conversation: Conversation,
    event_type: str,
    message: Message | None = None,
    thread_root: Message | None = None,
    payload: dict[str, Any] | None = None,
    subscribe_users: Iterable[int] = (),
    unsubscribe_users: Iterable[int] = (),
    touch_last_message: bool = False,
) -> dict[str, Any]:
    """Give an event the conversation's next seq, log it, and broadcast it after commit.

    Call inside a transaction that holds the conversation row lock (select_for_update),
    so seqs are handed out one at a time and without gaps. `subscribe_users` and
    `unsubscribe_users` are people whose sockets start or stop following the
    conversation with this event.
    """
    seq = _event_store(conversation, event_type, message, thread_root, payload, touch_last_message)
    return event_announce(conversation=conversation, event_type=event_type, seq=seq,
                          message=message, thread_root=thread_root, payload=payload,
                          subscribe_users=subscribe_users, unsubscribe_users=unsubscribe_users)


def message_created_record(*, conversation: Conversation, message: Message,
                           thread_root: Message | None, reader: Membership | None) -> int:
    """Store a new message and its `message.created` event: the message row (saved into
    `message`), the event row, the conversation's new seq (which is the message's) and,
    for a message shown in the channel, its last message time and the author's read
    position (`reader`). Returns the seq; announce the event with `event_announce` once
    the message's files and mentions are stored.

    Call as `event_record`, holding the conversation row lock. On PostgreSQL the four
    writes are one statement: a send is the hottest write there is, and as four ORM
    statements they cost about 1.5 ms of Python and three more round trips
    (docs/performance.md).
    """
    if reader is not None and not message.in_channel:
        reader = None
    alias = router.db_for_write(Message)
    connection = connections[alias]
    if connection.vendor != "postgresql" or not django_internals_supported():
        message.save(force_insert=True, using=alias)
        seq = _event_store(conversation, "message.created", message, thread_root, None,
                           message.in_channel)
        if reader is not None:
            Membership.objects.filter(pk=reader.pk, last_read_seq__lt=seq).update(
                last_read_seq=seq, last_read_message_id=message.pk)
        return seq
    seq, updates = _advance(conversation, message, message.in_channel)
    event = ConversationEvent(conversation=conversation, seq=seq, type="message.created",
                              payload=_event_payload(None, thread_root))
    params = [*_prepared(message, _insert_fields(Message), connection),
              seq, updates.get("last_message_at"), conversation.pk,
              seq, reader.pk if reader is not None else None, seq,
              *_prepared(event, _event_fields_but_message(), connection)]
    with connection.cursor() as cursor:
        cursor.execute(_message_created_sql(), params)
        message.pk = cursor.fetchone()[0]
    message._state.adding = False
    message._state.db = alias
    return seq


def _event_store(conversation: Conversation, event_type: str, message: Message | None,
                 thread_root: Message | None, payload: dict[str, Any] | None,
                 touch_last_message: bool) -> int:
    """The conversation's next seq and the event's row, by the ORM; returns the seq."""
    seq, updates = _advance(conversation, message, touch_last_message)
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    ConversationEvent.objects.create(conversation=conversation, seq=seq, type=event_type,
                                     message=message, payload=_event_payload(payload, thread_root))
    return seq


def _advance(conversation: Conversation, message: Message | None,
             touch_last_message: bool) -> tuple[int, dict[str, Any]]:
    """The conversation's next seq (and, if touched, last message time), on the instance
    and as the columns to update."""
    conversation.last_seq += 1
    updates: dict[str, Any] = {"last_seq": conversation.last_seq}
    if touch_last_message:
        conversation.last_message_at = message.created_at if message else timezone.now()
        updates["last_message_at"] = conversation.last_message_at
    return conversation.last_seq, updates


def _event_payload(payload: dict[str, Any] | None, thread_root: Message | None) -> dict[str, Any]:
    return {**(payload or {}), **({"thread_root": thread_root.pk} if thread_root else {})}


def _insert_fields(model: type[Model]) -> list[Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _event_fields_but_message() -> list[Field[Any, Any]]:
    """An event's columns but its message, which the statement takes from the new row."""
    return [f for f in _insert_fields(ConversationEvent) if f.attname != "message_id"]


def _prepared(instance: Model, fields: list[Field[Any, Any]], connection: Any) -> list[Any]:
    """The values an INSERT of the instance stores, as Django's save() prepares them."""
    return [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]


@cache
def _message_created_sql() -> str:
    """The message, its event, the conversation's seq and the reader's position, in one
    PostgreSQL statement. The read position moves only forward, and only when a
    membership id is given; the last message time only when one is given."""
    def table(model: type[Model]) -> sql.Identifier:
        return sql.Identifier(model._meta.db_table)

    def columns(fields: list[Field[Any, Any]]) -> sql.Composed:
        return sql.SQL(", ").join(sql.Identifier(f.column) for f in fields)

    def values(count: int) -> sql.Composed:
        return sql.SQL(", ").join(sql.Placeholder() * count)

    message_fields = _insert_fields(Message)
    event_fields = _event_fields_but_message()
    return sql.SQL(
        "WITH new_message AS (INSERT INTO {message} ({message_columns}) VALUES ({message_values}) "
        "RETURNING {message_id} AS id), "
        "seq AS (UPDATE {conversation} SET last_seq = %s, "
        "last_message_at = COALESCE(%s, last_message_at) WHERE id = %s), "
        "reader AS (UPDATE {membership} SET last_read_seq = %s, "
        "last_read_message_id = (SELECT id FROM new_message) WHERE id = %s AND last_read_seq < %s) "
        "INSERT INTO {event} ({event_columns}, {event_message}) "
        "SELECT {event_values}, id FROM new_message RETURNING {event_message}"
    ).format(
        message=table(Message), message_columns=columns(message_fields),
        message_values=values(len(message_fields)), message_id=sql.Identifier(Message._meta.pk.column),
        conversation=table(Conversation), membership=table(Membership),
        event=table(ConversationEvent), event_columns=columns(event_fields),
        event_message=sql.Identifier(ConversationEvent._meta.get_field("message").column),
        event_values=values(len(event_fields)),
    ).as_string(None)


def event_announce(
    *,
    conversation: Conversation,
    event_type: str,
    seq: int,
    message: Message | None = None,
    thread_root: Message | None = None,
    payload: dict[str, Any] | None = None,
    subscribe_users: Iterable[int] = (),
    unsubscribe_users: Iterable[int] = (),
) -> dict[str, Any]:
    """The event's frame, broadcast once the transaction commits (see event_record)."""
    frame = event_frame(event_type, conversation.pk, seq, message=message,
                        thread_root=thread_root, payload=payload)
    layer_message = {"type": CONV_EVENT, "conversation": conversation.pk, "seq": seq,
                     "event": event_type, "text": encode(frame)}
    if event_type == "message.created":
        # Counted once committed, by the door it came in by.
        transaction.on_commit(partial(metrics.message_sent, requestid.origin.get()))
    subscribe = list(subscribe_users)
    unsubscribe = list(unsubscribe_users)
    if unsubscribe:
        layer_message["leaving"] = unsubscribe
    transaction.on_commit(
        lambda: broadcast_conversation_event(layer_message, subscribe, unsubscribe)
    )
    return frame


def broadcast_conversation_event(layer_message: dict[str, Any], subscribe: list[int],
                                 unsubscribe: list[int]) -> None:
    """Send to the conversation's subscribers, and to the sockets of people who start or
    stop following it with this event (they may not be subscribed yet, or any more)."""
    if layer_message["event"] == "message.created":
        # The delivery latency metric runs from here: the commit, not the transaction's start.
        layer_message = {**layer_message, "sent_at": time.time()}
    group_send_many([
        (conversation_group(layer_message["conversation"]), layer_message),
        *((user_group(user_id), {**layer_message, "membership": "added"})
          for user_id in subscribe or ()),
        *((user_group(user_id), {**layer_message, "membership": "removed"})
          for user_id in unsubscribe or ()),
    ])
