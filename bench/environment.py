"""The benchmark run's environment, set before Django is imported so that
teamchat.settings reads it: its own PostgreSQL database, Redis prefix and data folder,
and production settings (DEBUG off)."""

from __future__ import annotations

import os
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "var" / "bench"
DATABASE_NAME = "teamchat_bench"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE_NAME}"
# The maintenance database we connect to when creating or dropping the bench database.
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
BENCH_DSN = f"host=127.0.0.1 port=5432 user=postgres dbname={DATABASE_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/0"
# Every Redis key and pub/sub channel of the run starts with this, apart from the tests'
# (`tctest-…`) and the app's (`teamchat`).
CHANNEL_PREFIX = "tcbench"


# Jobs a send schedules (notifications) are published, as in production, but to an
# in-process broker that nothing consumes: in production a worker on another machine runs
# them, and on the shared Redis they would pile up where no worker of ours takes them.
CELERY_ENV = {"CELERY_BROKER_URL": "memory://localhost/", "CELERY_TASK_ALWAYS_EAGER": "0"}
# The per-person send limit (60 a minute by default) would measure the limiter, not the
# server: one benchmark sender sends hundreds. It still runs, at its usual cost.
RATE_LIMITS = {"RATE_LIMIT_MESSAGES": "1000000/60"}


def configure() -> None:
    """Point the settings at the bench services and set Django up."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "teamchat.settings",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "TEAMCHAT_CHANNEL_PREFIX": CHANNEL_PREFIX,
        "SECRET_KEY": "bench-only-" + "k" * 60,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TEAMCHAT_DATA_DIR": str(DATA_DIR),
        **CELERY_ENV,
        **RATE_LIMITS,
        "LOG_LEVEL": "WARNING",
    })
    django.setup()


def clear_redis() -> int:
    """Delete the run's Redis keys (presence, cache), all under CHANNEL_PREFIX, so that
    runs do not see each other's and nothing of ours stays behind."""
    from redis import Redis

    redis = Redis.from_url(REDIS_URL)
    keys = list(redis.scan_iter(match=f"{CHANNEL_PREFIX}*", count=1000))
    for start in range(0, len(keys), 1000):
        redis.delete(*keys[start:start + 1000])
    return len(keys)
