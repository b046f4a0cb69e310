"""A socket's presence.set: only a report that changes its connection's state works out
and announces the person's presence; the same state again is a heartbeat, with no
database query. Checked on both connection stores (Redis, and the embedded cache)."""

from __future__ import annotations

import pytest

from accounts import presence
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["redis", "cache"])
def connection_store(request, settings, monkeypatch):
    if request.param == "redis":
        if not settings.REDIS_URL:
            pytest.skip("needs Redis (CI has it)")
        chosen = presence.RedisConnectionStore(settings.REDIS_URL, settings.CHANNEL_LAYER_PREFIX)
    else:
        chosen = presence.CacheConnectionStore()
    monkeypatch.setattr(presence, "_store", chosen)
    return chosen


def announced(user_id: int) -> str | None:
    """What was last announced for this person (and leave it as it was)."""
    value = presence.store().swap_announced(user_id, "probe")
    presence.store().swap_announced(user_id, value or "")
    return value


def test_the_same_state_again_is_a_heartbeat_and_a_new_one_is_announced(
        connection_store, django_assert_num_queries, django_assert_max_num_queries):
    ana = make_user()
    with django_assert_max_num_queries(5):
        presence.connection_state(ana.pk, "tab-1", "active")
    assert announced(ana.pk).startswith("online|")

    presence.store().swap_announced(ana.pk, "something else")  # would be corrected by an announce
    with django_assert_num_queries(0):
        presence.connection_state(ana.pk, "tab-1", "active")
    assert announced(ana.pk) == "something else"

    presence.connection_state(ana.pk, "tab-1", "idle")
    assert announced(ana.pk).startswith("away|")


def test_a_report_from_a_connection_that_had_expired_is_announced(connection_store, monkeypatch):
    ana = make_user()
    presence.connection_state(ana.pk, "tab-1", "active")
    later = presence.time.time() + presence.CONNECTION_TTL + 1
    monkeypatch.setattr(presence.time, "time", lambda: later)
    assert presence.store().touch(ana.pk, "tab-1", "active") is True
    assert presence.store().touch(ana.pk, "tab-1", "active") is False
    assert presence.store().touch(ana.pk, "tab-2", "active") is True
