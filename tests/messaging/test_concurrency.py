"""Concurrent sends on PostgreSQL: seq stays strictly increasing without gaps, and a
retried client_msg_id racing its first attempt still yields one message."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from messaging import services
from messaging.models import ConversationEvent, Message
from tests.factories import make_channel, make_user


def run_in_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def worker(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as error:  # noqa: BLE001  (reported to the test below)
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.fixture
def postgres_only(settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are what this checks; SQLite serialises all writers anyway")


@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_get_consecutive_seqs(postgres_only):
    authors = [make_user(name=f"Writer {n}") for n in range(6)]
    channel = make_channel(authors[0], members=authors[1:])

    def send(index: int) -> None:
        for n in range(15):
            services.message_create(author=authors[index], conversation_id=channel.pk,
                                    text=f"{index}-{n}", client_msg_id=f"w{index}-{n}")

    errors = run_in_threads(len(authors), send)

    assert errors == []
    seqs = list(Message.objects.filter(conversation=channel).order_by("seq")
                .values_list("seq", flat=True))
    assert seqs == list(range(2, 2 + 6 * 15))
    event_seqs = list(ConversationEvent.objects.filter(conversation=channel).order_by("seq")
                      .values_list("seq", flat=True))
    assert event_seqs == list(range(1, 2 + 6 * 15))
    ids_by_seq = list(Message.objects.filter(conversation=channel).order_by("seq")
                      .values_list("id", flat=True))
    assert ids_by_seq == sorted(ids_by_seq)


@pytest.mark.django_db(transaction=True)
def test_a_retry_racing_the_first_attempt_is_one_message(postgres_only):
    author = make_user()
    channel = make_channel(author)
    results: list[int] = []

    def send(index: int) -> None:
        result = services.message_create(author=author, conversation_id=channel.pk,
                                         text="once", client_msg_id="same-id")
        results.append(result.message.pk)

    errors = run_in_threads(5, send)

    assert errors == []
    assert Message.objects.filter(conversation=channel).count() == 1
    assert len(set(results)) == 1 and len(results) == 5
