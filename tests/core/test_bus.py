"""core.bus: subscribers called in order with the event's fields; the apps' own
subscriptions wired at startup."""

from __future__ import annotations

import pytest

from core import bus


def test_subscribers_get_each_event_once_in_the_order_they_subscribed():
    seen = []

    def first(**fields):
        seen.append(("first", fields))

    def second(**fields):
        seen.append(("second", fields))

    try:
        bus.subscribe("tests.topic", first)
        bus.subscribe("tests.topic", second)
        bus.subscribe("tests.topic", first)  # again: still once
        bus.publish("tests.topic", message_id=7)
        bus.publish("tests.other", message_id=8)  # nobody listens: nothing happens
    finally:
        bus.unsubscribe("tests.topic", first)
        bus.unsubscribe("tests.topic", second)
    bus.publish("tests.topic", message_id=9)
    assert seen == [("first", {"message_id": 7}), ("second", {"message_id": 7})]


def test_a_failing_subscriber_reaches_the_publisher():
    def broken(**fields):
        raise RuntimeError("webhook table gone")

    bus.subscribe("tests.failing", broken)
    try:
        with pytest.raises(RuntimeError, match="webhook table gone"):
            bus.publish("tests.failing", message_id=1)
    finally:
        bus.unsubscribe("tests.failing", broken)


def test_integrations_follow_new_messages_through_the_bus():
    from integrations.tasks import message_created
    from messaging.tasks import MESSAGE_CREATED

    assert message_created in bus._subscribers[MESSAGE_CREATED]
