"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import uuid

import pytest
from django.conf import settings

from accounts.models import Role, User
from tests.factories import make_user


def pytest_report_header(config: pytest.Config) -> str:
    return settings.TEST_SERVICES_LINE


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's session-wide event loop, once started, runs in
    the test thread, where the services' async_to_sync broadcasts may not run."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


def pytest_configure(config: pytest.Config) -> None:
    _flush_past_append_only_triggers()


def _flush_past_append_only_triggers() -> None:
    """Transactional tests empty every table with TRUNCATE, which the audit tables refuse
    (compliance/migrations/0006). The suite connects as a superuser, so it sets the
    triggers aside for its flush as a superuser can: session_replication_role = replica
    for that one transaction."""
    import time

    from django.db import OperationalError, transaction
    from django.db.backends.postgresql.operations import DatabaseOperations

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        # A server may still touch the database when a test ends (a presence announcement
        # a few seconds after a socket closed, say); PostgreSQL may then pick the flush's
        # TRUNCATE as a deadlock's victim. It is tried again, a few times.
        for attempt in range(5):
            try:
                with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
                    cursor.execute("SET LOCAL session_replication_role = replica")
                    for sql in sql_list:
                        cursor.execute(sql)
                return
            except OperationalError as error:
                if attempt == 4 or "deadlock detected" not in str(error):
                    raise
                time.sleep(0.5 * (attempt + 1))

    DatabaseOperations.execute_sql_flush = execute_sql_flush


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache (lock-outs, rate-limit windows, the cached
    organisation), without touching other runs' keys on a shared Redis."""
    from django.core.cache import cache

    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{settings.CHANNEL_LAYER_PREFIX}:1:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture
def user_factory(db):
    return make_user


@pytest.fixture
def owner(db) -> User:
    return make_user(Role.OWNER, name="Olivia Owner")


@pytest.fixture
def admin(db) -> User:
    return make_user(Role.ADMIN, name="Adam Admin")


@pytest.fixture
def member(db) -> User:
    return make_user(Role.MEMBER, name="Mia Member")


@pytest.fixture
def other_member(db) -> User:
    return make_user(Role.MEMBER, name="Otto Other")


@pytest.fixture
def guest(db) -> User:
    return make_user(Role.GUEST, name="Gus Guest")


@pytest.fixture
def compliance_officer(db) -> User:
    return make_user(Role.COMPLIANCE, name="Cora Compliance")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(scope="session")
def daphne_pair(django_db_setup, tmp_path_factory):
    """Two daphne processes sharing the test database and Redis (PostgreSQL and Redis
    only: the embedded parts cannot be shared between processes)."""
    from tests.servers import DaphneServer

    if not (settings.TEST_USES_POSTGRES and settings.TEST_USES_REDIS):
        pytest.skip("cross-process tests need PostgreSQL and Redis (CI requires them)")
    base = tmp_path_factory.mktemp("daphne")
    servers = [DaphneServer(base / "a").start(), DaphneServer(base / "b").start()]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def call_daphne_pair(django_db_setup, tmp_path_factory):
    """Like daphne_pair, with calls that ring for CALL_RING_SECONDS only, so the tests of
    missed calls are short (tests/calls, tests/e2e/test_calls.py)."""
    from tests.servers import DaphneServer

    if not (settings.TEST_USES_POSTGRES and settings.TEST_USES_REDIS):
        pytest.skip("cross-process tests need PostgreSQL and Redis (CI requires them)")
    base = tmp_path_factory.mktemp("daphne-calls")
    ring = {"CALL_RING_TIMEOUT_SECONDS": str(CALL_RING_SECONDS)}
    servers = [DaphneServer(base / "a").start(**ring), DaphneServer(base / "b").start(**ring)]
    yield servers
    for server in servers:
        server.stop()


CALL_RING_SECONDS = 6.0


@pytest.fixture
def servers_settled(transactional_db):
    """For tests against the daphne servers: after the test, and before the database is
    emptied, wait until the servers are done with it (tests.servers.wait_until_servers_idle)."""
    from tests.servers import wait_until_servers_idle

    yield
    wait_until_servers_idle()


@pytest.fixture
def real_worker():
    """A real Celery worker (in a thread) on the test Redis, with its own queue. Tests that
    use it need django_db(transaction=True): the worker has its own connection."""
    from celery.contrib.testing.worker import start_worker

    from teamchat.celery import app

    queue = f"tctest-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    saved = {key: app.conf.get(key) for key in ("task_always_eager", "task_default_queue")}
    app.conf.update(task_always_eager=False, task_default_queue=queue)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue],
                          loglevel="WARNING", shutdown_timeout=5):
            yield
    finally:
        app.conf.update(saved)
