"""A real WebSocket client (the `websockets` library) for tests against daphne."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from websockets.sync.client import ClientConnection, connect

from accounts import services as accounts
from accounts.models import User

Frame = dict[str, Any]


def token_for(user: User) -> str:
    _, raw = accounts.api_token_create(actor=user, user=user, name="realtime test")
    return raw


def session_cookie_for(user: User) -> str:
    """A signed-in browser session, as Django's login would leave it."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "accounts.backends.LockoutModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"sessionid={session.session_key}"


class Socket:
    """One client connection; frames are read with timeouts so a test never hangs."""

    def __init__(self, url: str, *, token: str | None = None, cookie: str | None = None,
                 origin: str | None = None) -> None:
        headers = []
        if token:
            headers.append(("Authorization", f"Bearer {token}"))
        if cookie:
            headers.append(("Cookie", cookie))
        self.ws: ClientConnection = connect(url, additional_headers=headers, origin=origin,
                                            open_timeout=10, close_timeout=2).__enter__()
        self.backlog: list[Frame] = []
        self.ready = self.next("ready")

    def send(self, **frame: Any) -> None:
        self.ws.send(json.dumps(frame))

    def send_raw(self, text: str) -> None:
        self.ws.send(text)

    def _read(self, timeout: float) -> Frame:
        return json.loads(self.ws.recv(timeout=timeout))

    def next(self, *types: str, timeout: float = 8.0,
             where: Callable[[Frame], bool] | None = None) -> Frame:
        """The next frame of one of `types` (matching `where`); others are kept aside."""
        for index, frame in enumerate(self.backlog):
            if frame["type"] in types and (where is None or where(frame)):
                return self.backlog.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {types} frame within {timeout}s; saw {self.backlog}")
            frame = self._read(remaining)
            if frame["type"] in types and (where is None or where(frame)):
                return frame
            self.backlog.append(frame)

    def collect(self, *types: str, seconds: float) -> list[Frame]:
        """Every frame of `types` that arrives within `seconds` (others kept aside)."""
        found = [f for f in self.backlog if f["type"] in types]
        self.backlog = [f for f in self.backlog if f["type"] not in types]
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frame = self._read(remaining)
            except TimeoutError:
                break
            (found if frame["type"] in types else self.backlog).append(frame)
        return found

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus' text format (0 when it is absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)$"
    for line in text.splitlines():
        match = re.match(pattern, line)
        if match:
            return float(match.group(1))
    return 0.0


# Frames with a seq that are not events of a conversation (read.updated tells the seq
# without advancing it).
NOT_EVENTS = {"resync", "resumed", "subscribed", "read.updated", "error"}


class StrictClient:
    """What a client that applies a conversation's events only in seq order holds: an
    event ahead of the next seq is kept aside until what comes before it arrives, a
    resync reloads over REST up to its seq, and a repeat is a failure."""

    def __init__(self, conversation: int, held: int) -> None:
        self.conversation = conversation
        self.held = held
        self.aside: set[int] = set()

    def apply(self, frame: Frame) -> bool:
        """Take one frame; True when it was an event of the conversation."""
        if frame.get("conversation") != self.conversation or "seq" not in frame:
            return False
        seq, event = frame["seq"], frame["type"] not in NOT_EVENTS
        if frame["type"] == "resync":
            self.held = max(self.held, seq)
        elif event:
            assert seq > self.held and seq not in self.aside, f"seq {seq} repeated"
            self.aside.add(seq)
        while self.held + 1 in self.aside:
            self.held += 1
        self.aside = {s for s in self.aside if s > self.held}
        return event
