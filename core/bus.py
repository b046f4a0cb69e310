"""The event bus: an app that must react to another's events subscribes here instead of
being imported by it, so imports keep pointing down the floors (pyproject.toml,
[tool.importlinter]).

A topic is a string named by the publishing app (`messaging.message_created`); a
subscriber is a function taking the event's fields as keyword arguments. Publishing
calls the subscribers in the order they subscribed, in the publisher's process and
thread: publish after commit (from a Celery task, or in `transaction.on_commit`), and
let a subscriber that does slow work queue a task of its own. A subscriber's exception
reaches the publisher, which owns the retry policy. Apps subscribe in AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Subscriber = Callable[..., Any]

_subscribers: dict[str, list[Subscriber]] = {}


def subscribe(topic: str, subscriber: Subscriber) -> None:
    """Call `subscriber(**fields)` for each event of `topic` (once, however often asked)."""
    subscribers = _subscribers.setdefault(topic, [])
    if subscriber not in subscribers:
        subscribers.append(subscriber)


def unsubscribe(topic: str, subscriber: Subscriber) -> None:
    subscribers = _subscribers.get(topic, [])
    if subscriber in subscribers:
        subscribers.remove(subscriber)


def publish(topic: str, **fields: Any) -> None:
    for subscriber in list(_subscribers.get(topic, ())):
        subscriber(**fields)
