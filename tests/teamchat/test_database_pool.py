"""A daphne process borrows its database connections from a pool of a fixed size
(teamchat/settings.py, docs/deploy.md): however many requests it has served, one after
another or at once, it holds no more connections than the pool's maximum."""

from __future__ import annotations

import threading
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from accounts import services as accounts
from tests.factories import make_user
from tests.servers import DaphneServer

POOL_MAX_SIZE = 4
SEQUENTIAL, CONCURRENT, CLIENTS = 300, 200, 12


def _probe() -> psycopg.Connection:
    database = connection.settings_dict
    return psycopg.connect(host=database["HOST"] or None, port=database["PORT"] or None,
                           user=database["USER"] or None, password=database["PASSWORD"] or None,
                           dbname=database["NAME"], autocommit=True)


def _held(probe: psycopg.Connection, application_name: str) -> int:
    return probe.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                         "AND application_name = %s", [application_name]).fetchone()[0]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_daphne_process_holds_no_more_connections_than_its_pool(tmp_path, servers_settled):
    if not settings.TEST_USES_POSTGRES:
        pytest.skip("the pool is PostgreSQL's (the embedded SQLite has none)")
    # given one daphne process whose connections are told apart by their application
    # name (libpq reads PGAPPNAME), and a member's token
    member = make_user()
    _, token = accounts.api_token_create(actor=member, user=member, name="pool")
    name = f"tc-pool-{uuid.uuid4().hex[:8]}"
    server = DaphneServer(tmp_path / "pool").start(
        PGAPPNAME=name, DATABASE_POOL_MIN_SIZE="1", DATABASE_POOL_MAX_SIZE=str(POOL_MAX_SIZE))
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        with _probe() as probe:
            while not done.is_set():
                samples.append(_held(probe, name))
                done.wait(0.02)

    def get_me(_: int = 0) -> int:
        request = urllib.request.Request(f"{server.url}/api/v1/me/",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        # when it serves 500 requests: one after another, then twelve clients at once
        statuses = [get_me() for _ in range(SEQUENTIAL)]
        with ThreadPoolExecutor(CLIENTS) as clients:
            statuses += list(clients.map(get_me, range(CONCURRENT)))
        done.set()
        sampler.join(timeout=10)
        with _probe() as probe:
            after = _held(probe, name)
    finally:
        done.set()
        server.stop()

    # then every request was answered, and the process never held more than the pool
    assert statuses == [200] * (SEQUENTIAL + CONCURRENT)
    assert samples and max(samples) >= 1
    assert max(samples) <= POOL_MAX_SIZE, f"held up to {max(samples)} connections"
    assert after <= POOL_MAX_SIZE
