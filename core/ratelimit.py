"""Rate limits: fixed windows counted in the cache (Redis in production, so every process
shares the count). A limit is "count/seconds"; 0 turns it off. Also the atomic counters
and claims the sign-in lock-out is built on (`count`, `claim`)."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from core.errors import RateLimited


def parse(limit: str) -> tuple[int, int]:
    count, _, seconds = str(limit).partition("/")
    return int(count or 0), int(seconds or 60)


def hit(scope: str, key: Any, limit: str) -> int | None:
    """Count one event; the seconds until the window ends if it is over the limit."""
    allowed, seconds = parse(limit)
    if allowed <= 0:
        return None
    window = int(time.time() // seconds)
    name = f"ratelimit:{scope}:{key}:{window}"
    used = count(name, seconds * 2)
    if used > allowed:
        return max(1, seconds - int(time.time()) % seconds)
    return None


# The counter and, when it is new (or has none, or `refresh` asks), its expiry: one
# command, atomic.
_COUNT_SCRIPT = """
local used = redis.call('INCRBY', KEYS[1], ARGV[2])
if ARGV[3] == '1' or redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return used
"""

# Without Redis (the embedded default's file cache) add, incr and get are separate reads
# and writes of a file; this lock makes each counter step whole. The embedded default
# serves from one web process, the only one that counts.
_local_lock = threading.Lock()


def _redis() -> Any:
    redis = getattr(cache, "_cache", None)
    return redis if redis is not None and hasattr(redis, "get_client") else None


def count(name: str, timeout: int, delta: int = 1, *, refresh: bool = False) -> int:
    """Add `delta` to a counter and return its value, atomically: of any number of
    concurrent callers adding one, each sees a different value. A new counter expires
    after `timeout` s; with `refresh`, every call starts that time again. On Redis in one
    round trip (every send and API call pays it)."""
    redis = _redis()
    if redis is not None:
        key = cache.make_and_validate_key(name)
        return int(_count_script(redis, key)(keys=[key], args=[timeout, delta, int(refresh)]))
    with _local_lock:
        cache.add(name, 0, timeout=timeout)
        try:
            used = cache.incr(name, delta)
        except ValueError:  # expired between add and incr
            cache.set(name, delta, timeout=timeout)
            return delta
        if refresh:
            cache.touch(name, timeout)
        return used


def claim(name: str, value: Any, timeout: int) -> bool:
    """Store `value` under `name` for `timeout` s unless something is there already;
    whether this caller got it. Of concurrent callers, exactly one does."""
    if _redis() is not None:
        return bool(cache.add(name, value, timeout=timeout))  # SET NX EX: atomic
    with _local_lock:
        return bool(cache.add(name, value, timeout=timeout))


def _count_script(redis: Any, key: str) -> Any:
    """The script, on one redis client per process and server (its connection pool is
    thread-safe). Django's cache keeps a client per thread and per async context, so
    each socket that sent had a Redis connection of its own; and its get_client built a
    new client, with its command table, on every call (docs/performance.md)."""
    servers = tuple(getattr(redis, "_servers", ()))
    script = _count_scripts.get(servers)
    if script is None:
        script = _count_scripts[servers] = redis.get_client(key, write=True).register_script(
            _COUNT_SCRIPT)
    return script


_count_scripts: dict[tuple[str, ...], Any] = {}


def enforce(scope: str, key: Any, limit: str, what: str) -> None:
    retry_after = hit(scope, key, limit)
    if retry_after is not None:
        raise RateLimited(f"Too many {what}; try again in {retry_after} s.", retry_after=retry_after)


class ApiRateThrottle(BaseThrottle):
    """Every API request counts against its person (or address, signed out)."""

    def allow_request(self, request: Request, view: Any) -> bool:
        user = getattr(request, "user", None)
        key = f"u{user.pk}" if user is not None and user.is_authenticated else self.get_ident(request)
        self.retry_after = hit("api", key, settings.RATE_LIMIT_API)
        return self.retry_after is None

    def wait(self) -> float | None:
        return self.retry_after
