"""Fixtures shared by the messaging tests."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def frames(monkeypatch):
    """The frames sent to each person's sockets, without a channel layer:
    {user id: [frame, ...]}."""
    sent: dict[int, list[dict]] = {}

    def record(group, message):
        if group.startswith("user.") and "text" in message:
            sent.setdefault(int(group.split(".")[1]), []).append(json.loads(message["text"]))

    monkeypatch.setattr("core.live.group_send", record)
    return sent


def of_type(frames, user, kind) -> list[dict]:
    """The frames of one type sent to one person (see the `frames` fixture)."""
    return [f for f in frames.get(user.pk, []) if f["type"] == kind]
