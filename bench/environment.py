"""The benchmark run's environment, set before Django is imported so that
teamchat.settings reads it: its own PostgreSQL database, Redis prefix and data folder,
and production settings (DEBUG off)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent


def _instance() -> str:
    """BENCH_INSTANCE names a run apart from the others on the machine (two checkouts
    measured side by side, say): its own database, Redis keys and pub/sub channels, and
    data folder. Empty, the default, is the usual run."""
    name = os.environ.get("BENCH_INSTANCE", "")
    if not re.fullmatch(r"[a-z0-9]{0,16}", name):
        raise SystemExit(f"BENCH_INSTANCE must be up to 16 lowercase letters and digits, not {name!r}")
    return name


INSTANCE = _instance()
_SUFFIX = f"_{INSTANCE}" if INSTANCE else ""
DATA_DIR = ROOT / "var" / f"bench{_SUFFIX}"
DATABASE_NAME = f"teamchat_bench{_SUFFIX}"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE_NAME}"
# The maintenance database we connect to when creating or dropping the bench database.
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
BENCH_DSN = f"host=127.0.0.1 port=5432 user=postgres dbname={DATABASE_NAME}"
# The database number separates keys only: pub/sub channels (the channel layer's) are
# shared by every database, so the prefix is what keeps runs apart.
_REDIS_DB = os.environ.get("BENCH_REDIS_DB", "0")
if not re.fullmatch(r"[0-9]{1,2}", _REDIS_DB):
    raise SystemExit(f"BENCH_REDIS_DB must be a Redis database number, not {_REDIS_DB!r}")
REDIS_URL = f"redis://127.0.0.1:6379/{_REDIS_DB}"
# Every Redis key (`tcbench:…`) and pub/sub channel of the run starts with this, apart
# from the tests' (`tctest-…`), the app's (`teamchat`) and other instances'
# (`tcbench_b:…`).
CHANNEL_PREFIX = f"tcbench{_SUFFIX}"


# Jobs a send schedules (notifications) are published, as in production, but to an
# in-process broker that nothing consumes: in production a worker on another machine runs
# them, and on the shared Redis they would pile up where no worker of ours takes them.
CELERY_ENV = {"CELERY_BROKER_URL": "memory://localhost/", "CELERY_TASK_ALWAYS_EAGER": "0"}
# The per-person send limit (60 a minute by default) would measure the limiter, not the
# server: one benchmark sender sends hundreds. It still runs, at its usual cost.
RATE_LIMITS = {"RATE_LIMIT_MESSAGES": "1000000/60"}


def configure(database_name: str = DATABASE_NAME) -> None:
    """Point the settings at the bench services and set Django up; `database_name` picks
    another database of the run's own (the Slack import's, say)."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "teamchat.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database_name}",
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
    keys = list(redis.scan_iter(match=f"{CHANNEL_PREFIX}:*", count=1000))
    for start in range(0, len(keys), 1000):
        redis.delete(*keys[start:start + 1000])
    return len(keys)
