"""The rate-limit window counter on Redis (core/ratelimit.py): one script call counts a
hit and gives a new window its expiry, and survives Redis forgetting the script."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.core.cache import cache

from core import ratelimit


def test_a_window_counts_each_hit_once_and_expires():
    if not settings.TEST_USES_REDIS:
        pytest.skip("the script runs on Redis (CI requires it)")
    name = f"ratelimit:test:{uuid.uuid4().hex}:1"
    key = cache.make_and_validate_key(name)
    client = cache._cache.get_client(key, write=True)

    assert [ratelimit.count(name, 120) for _ in range(3)] == [1, 2, 3]
    assert 0 < client.ttl(key) <= 120
    client.expire(key, 30)  # a later hit leaves the window's expiry alone
    assert ratelimit.count(name, 120) == 4 and client.ttl(key) <= 30
    client.script_flush()  # Redis restarted, say: the script is loaded again
    assert ratelimit.count(name, 120) == 5
    client.delete(key)


def test_over_the_limit_says_how_long_to_wait(settings):
    key = uuid.uuid4().hex
    assert [ratelimit.hit("test", key, "2/60") for _ in range(2)] == [None, None]
    assert 1 <= ratelimit.hit("test", key, "2/60") <= 60


def test_every_thread_counts_through_one_client_and_no_hit_is_lost():
    if not settings.TEST_USES_REDIS:
        pytest.skip("the script runs on Redis (CI requires it)")
    from concurrent.futures import ThreadPoolExecutor

    name = f"ratelimit:test:{uuid.uuid4().hex}:1"
    key = cache.make_and_validate_key(name)

    def hits(_: int) -> tuple[int, object]:
        used = [ratelimit.count(name, 120) for _ in range(25)]
        return max(used), ratelimit._count_script(cache._cache, key)

    with ThreadPoolExecutor(4) as pool:  # each thread has a cache client of its own
        results = list(pool.map(hits, range(4)))
    assert max(used for used, _ in results) == 100
    assert len({id(script) for _, script in results}) == 1
    cache._cache.get_client(key, write=True).delete(key)
