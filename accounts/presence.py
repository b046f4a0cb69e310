"""Presence: who is online, away, in do-not-disturb or offline, from their connections.

Each open socket is a connection that reports itself active or idle and is refreshed by
heartbeats; a connection not refreshed within CONNECTION_TTL counts as gone (a process
that died leaves nothing behind for long). In production the connections live in Redis,
shared by every daphne process; in the embedded mode, in the local file cache.

A person is `dnd` while their do-not-disturb lasts, `away` when they said so or when
every connection is idle, `online` while any connection is active, and `offline` when
none is left. Going offline is announced only after OFFLINE_GRACE, so a reload does not
flap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils import timezone

if TYPE_CHECKING:
    from accounts.models import User

CONNECTION_TTL = 90.0  # seconds; sockets heartbeat every 30
# Seconds between the last socket closing and "offline": longer than a page reload.
OFFLINE_GRACE: float = settings.PRESENCE_OFFLINE_GRACE_SECONDS

ONLINE, AWAY, DND, OFFLINE = "online", "away", "dnd", "offline"
CONNECTION_STATES = ("active", "idle")


@dataclass(frozen=True)
class Presence:
    user_id: int
    status: str
    status_text: str
    status_emoji: str
    dnd_until: str | None

    def as_frame(self) -> dict:
        return {
            "type": "presence",
            "user": self.user_id,
            "status": self.status,
            "status_text": self.status_text,
            "status_emoji": self.status_emoji,
            "dnd_until": self.dnd_until,
        }


class ConnectionStore(Protocol):
    def touch(self, user_id: int, connection_id: str, state: str) -> bool:
        """Record the connection as live in `state`; whether that changed anything (a
        connection new, expired or in another state before)."""
        ...
    def drop(self, user_id: int, connection_id: str) -> None: ...
    def states(self, user_ids: Iterable[int]) -> dict[int, list[str]]: ...
    def connections(self, user_ids: Iterable[int]) -> dict[int, set[str]]: ...
    def swap_announced(self, user_id: int, value: str) -> str | None: ...


class CacheConnectionStore:
    """Connections in Django's cache (the embedded mode's file cache), so the background
    worker sees who is active as well as the web process that holds the sockets. Only
    the one web process writes; the lock keeps its threads from losing updates."""

    def __init__(self) -> None:
        from django.core.cache import cache

        self._cache = cache
        self._lock = threading.Lock()

    def _key(self, user_id: int) -> str:
        return f"presence:conns:{user_id}"

    def touch(self, user_id: int, connection_id: str, state: str) -> bool:
        with self._lock:
            connections = self._cache.get(self._key(user_id)) or {}
            now = time.time()
            before = connections.get(connection_id)
            connections[connection_id] = (state, now + CONNECTION_TTL)
            self._cache.set(self._key(user_id), connections, timeout=int(CONNECTION_TTL) * 2)
            return before is None or before[0] != state or before[1] <= now

    def drop(self, user_id: int, connection_id: str) -> None:
        with self._lock:
            connections = self._cache.get(self._key(user_id)) or {}
            connections.pop(connection_id, None)
            self._cache.set(self._key(user_id), connections, timeout=int(CONNECTION_TTL) * 2)

    def states(self, user_ids: Iterable[int]) -> dict[int, list[str]]:
        ids = list(user_ids)
        found = self._cache.get_many([self._key(uid) for uid in ids])
        now = time.time()
        return {uid: [state for state, expires in (found.get(self._key(uid)) or {}).values()
                      if expires > now] for uid in ids}

    def connections(self, user_ids: Iterable[int]) -> dict[int, set[str]]:
        ids = list(user_ids)
        found = self._cache.get_many([self._key(uid) for uid in ids])
        now = time.time()
        return {uid: {conn for conn, (_, expires) in (found.get(self._key(uid)) or {}).items()
                      if expires > now} for uid in ids}

    def swap_announced(self, user_id: int, value: str) -> str | None:
        with self._lock:
            key = f"presence:announced:{user_id}"
            old = self._cache.get(key)
            self._cache.set(key, value, timeout=24 * 3600)
            return old


class RedisConnectionStore:
    """Connections in Redis: a sorted set of connection ids scored by expiry, and a hash
    of their states, per person."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._prefix = f"{prefix}:presence"

    def _keys(self, user_id: int) -> tuple[str, str]:
        return f"{self._prefix}:conns:{user_id}", f"{self._prefix}:state:{user_id}"

    def swap_announced(self, user_id: int, value: str) -> str | None:
        # GETSET, atomic across processes: only the process that changes it announces.
        return self._redis.set(f"{self._prefix}:announced:{user_id}", value, get=True,
                               ex=24 * 3600)

    def touch(self, user_id: int, connection_id: str, state: str) -> bool:
        conns, states = self._keys(user_id)
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        pipe.zscore(conns, connection_id)
        pipe.hget(states, connection_id)
        pipe.zadd(conns, {connection_id: now + CONNECTION_TTL})
        pipe.hset(states, connection_id, state)
        pipe.expire(conns, int(CONNECTION_TTL) * 2)
        pipe.expire(states, int(CONNECTION_TTL) * 2)
        expires, before = pipe.execute()[:2]
        return expires is None or float(expires) <= now or before != state

    def drop(self, user_id: int, connection_id: str) -> None:
        conns, states = self._keys(user_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrem(conns, connection_id)
        pipe.hdel(states, connection_id)
        pipe.execute()

    def states(self, user_ids: Iterable[int]) -> dict[int, list[str]]:
        ids = list(user_ids)
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        for uid in ids:
            conns, states = self._keys(uid)
            pipe.zrangebyscore(conns, now, "+inf")
            pipe.hgetall(states)
        replies = pipe.execute()
        result: dict[int, list[str]] = {}
        for index, uid in enumerate(ids):
            live, state_map = replies[2 * index], replies[2 * index + 1]
            result[uid] = [state_map.get(conn, "active") for conn in live]
        return result

    def connections(self, user_ids: Iterable[int]) -> dict[int, set[str]]:
        ids = list(user_ids)
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        for uid in ids:
            pipe.zrangebyscore(self._keys(uid)[0], now, "+inf")
        return {uid: set(live) for uid, live in zip(ids, pipe.execute(), strict=True)}


_store: ConnectionStore | None = None
_store_lock = threading.Lock()


def store() -> ConnectionStore:
    global _store
    with _store_lock:
        if _store is None:
            if settings.REDIS_URL:
                _store = RedisConnectionStore(settings.REDIS_URL, settings.CHANNEL_LAYER_PREFIX)
            else:
                _store = CacheConnectionStore()
        return _store


def _status(connection_states: list[str], manual: str, dnd_until) -> str:
    if dnd_until is not None and dnd_until > timezone.now():
        return DND
    if not connection_states:
        return OFFLINE
    if manual == AWAY or "active" not in connection_states:
        return AWAY
    return ONLINE


def presence_many(user_ids: Iterable[int]) -> list[Presence]:
    """Presence of many people with one database query and one Redis round trip."""
    from accounts.models import User

    ids = sorted({int(uid) for uid in user_ids})
    states = store().states(ids)
    people = User.objects.filter(pk__in=ids).only(
        "pk", "presence_manual", "dnd_until", "status_text", "status_emoji", "status_expires_at",
        "is_active")
    now = timezone.now()
    return [
        Presence(
            user_id=user.pk,
            status=_status(states.get(user.pk, []), user.presence_manual, user.dnd_until)
            if user.is_active else OFFLINE,
            # A status past its time is gone, even before the minute's sweep clears it.
            status_text="" if _expired(user, now) else user.status_text,
            status_emoji="" if _expired(user, now) else user.status_emoji,
            dnd_until=user.dnd_until.isoformat().replace("+00:00", "Z")
            if user.dnd_until and user.dnd_until > timezone.now() else None,
        )
        for user in people
    ]


def _expired(user: User, now: datetime) -> bool:
    return user.status_expires_at is not None and user.status_expires_at <= now


def active_among(user_ids: Iterable[int]) -> list[int]:
    """Those of `user_ids` with an active connection right now (for @here)."""
    states = store().states(list(user_ids))
    return [uid for uid, conns in states.items() if "active" in conns]


def is_connected(user_id: int) -> bool:
    return bool(store().states([user_id]).get(user_id))


def live_connections(user_ids: Iterable[int]) -> dict[int, set[str]]:
    """The ids of each person's sockets that are open (RealtimeConsumer.connection_id)."""
    return store().connections(user_ids)


def announce(user_id: int) -> Presence:
    """Work out a person's presence and, if it differs from what was last announced,
    tell the sockets watching them (and their own).

    Two processes may work it out at once and swap in their answers in the wrong order;
    looking again after announcing settles on what the connections say now.
    """
    from core.live import PRESENCE_EVENT, encode, group_send, presence_group, user_group

    current = Presence(user_id, OFFLINE, "", "", None)
    for _ in range(3):
        (current,) = presence_many([user_id]) or [Presence(user_id, OFFLINE, "", "", None)]
        fingerprint = (f"{current.status}|{current.status_text}|{current.status_emoji}|"
                       f"{current.dnd_until}")
        if store().swap_announced(user_id, fingerprint) == fingerprint:
            break
        message = {"type": PRESENCE_EVENT, "user": user_id, "text": encode(current.as_frame())}
        group_send(presence_group(user_id), message)
        group_send(user_group(user_id), message)
    return current


def connection_open(user_id: int, connection_id: str) -> Presence:
    store().touch(user_id, connection_id, "active")
    return announce(user_id)


def connection_state(user_id: int, connection_id: str, state: str) -> None:
    """A socket reports its tab active or idle (and thereby heartbeats). Only a report
    that changes the connection's state can change the person's presence: any other is a
    heartbeat, with no announcement worked out (no query, one Redis round trip)."""
    if store().touch(user_id, connection_id, state):
        announce(user_id)


def connection_heartbeat(user_id: int, connection_id: str, state: str) -> None:
    store().touch(user_id, connection_id, state)


def connection_close(user_id: int, connection_id: str) -> bool:
    """Forget a socket; True when the person has no connection left (announce offline
    after OFFLINE_GRACE if none comes back)."""
    store().drop(user_id, connection_id)
    return not is_connected(user_id)
