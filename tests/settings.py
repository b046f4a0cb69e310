"""Settings for the test run: PostgreSQL and Redis when they answer, else the embedded parts.

`make test` points at the local servers by default; TEAMCHAT_REQUIRE_SERVICES=1 (set
by CI) turns a missing server into a failure instead of a fallback.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import environ

# One database name per checkout and run, so two runs on one machine (two checkouts, or
# two people testing parts of one) never drop each other's database (pytest-django
# prefixes it with test_ and removes it at the end).
_checkout = hashlib.sha256(str(Path(__file__).resolve().parent.parent).encode()).hexdigest()[:8]
DEFAULT_DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/teamchat_{_checkout}_{os.getpid()}"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

_env = environ.Env()
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")


def _postgres_answers(url: str) -> str | None:
    import psycopg

    config = environ.Env.db_url_config(url)
    try:
        with psycopg.connect(
            host=config["HOST"] or "127.0.0.1", port=config["PORT"] or 5432,
            user=config["USER"] or None, password=config["PASSWORD"] or None,
            dbname="postgres", connect_timeout=2,
        ):
            return None
    except Exception as error:  # noqa: BLE001
        return str(error).strip().splitlines()[0]


def _redis_answers(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as error:  # noqa: BLE001
        return str(error)
    return None


_database_url = _env.str("DATABASE_URL", default=DEFAULT_DATABASE_URL)
_redis_url = _env.str("REDIS_URL", default=DEFAULT_REDIS_URL)
_pg_problem = _postgres_answers(_database_url) if _database_url else "not configured"
_redis_problem = _redis_answers(_redis_url) if _redis_url else "not configured"

if _env.bool("TEAMCHAT_REQUIRE_SERVICES", default=False) and (_pg_problem or _redis_problem):
    raise RuntimeError(
        "TEAMCHAT_REQUIRE_SERVICES=1 but "
        + "; ".join(
            f"{name} at {url} does not answer ({problem})"
            for name, url, problem in (
                ("PostgreSQL", _database_url, _pg_problem),
                ("Redis", _redis_url, _redis_problem),
            )
            if problem
        )
    )

os.environ["DATABASE_URL"] = "" if _pg_problem else _database_url
os.environ["REDIS_URL"] = "" if _redis_problem else _redis_url
_data_dir = Path(__file__).resolve().parent.parent / "var" / "test" / _worker
os.environ["TEAMCHAT_DATA_DIR"] = str(_data_dir)
os.environ["TEAMCHAT_CHANNEL_PREFIX"] = f"tctest-{os.getpid()}-{_worker}"
os.environ.setdefault("SECRET_KEY", "test-only-" + "x" * 60)
os.environ["DEBUG"] = "0"
# SMTP retries after 1 s, 2 s… in the tests that run a real worker against a failing server.
os.environ["NOTIFY_SMTP_RETRY_SECONDS"] = "1"
os.environ["WEBHOOK_RETRY_SECONDS"] = "1"
# Tests post quickly; the rate-limit tests turn the limits on themselves.
for _limit in ("RATE_LIMIT_API", "RATE_LIMIT_MESSAGES", "RATE_LIMIT_UPLOADS", "RATE_LIMIT_SIGN_IN"):
    os.environ[_limit] = "0"
for _name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
    os.environ[_name] = "0"

from teamchat.settings import *  # noqa: E402, F403
from teamchat.settings import CELERY_BROKER_URL  # noqa: E402

TEST_SERVICES_LINE = "teamchat test services: " + ", ".join(
    [
        f"PostgreSQL at {_database_url}" if not _pg_problem else f"SQLite (PostgreSQL: {_pg_problem})",
        f"Redis at {_redis_url}" if not _redis_problem else f"in-memory layer (Redis: {_redis_problem})",
    ]
)
TEST_USES_POSTGRES = not _pg_problem
TEST_USES_REDIS = not _redis_problem
if TEST_USES_POSTGRES:
    # A statement of the tests' own that waits a minute for a lock (the flush between
    # tests meeting a server's open transaction) fails with the lock named, not hangs.
    _options = DATABASES["default"].setdefault("OPTIONS", {})  # noqa: F405
    _options["options"] = (_options.get("options", "") + " -c lock_timeout=60s").strip()
    # The replica alias on the test database itself, for tests/core/test_replica.py;
    # nothing reads from it unless a test sets DATABASE_REPLICA_URL.
    # Without a pool of its own: dropping the test database at the end closes only the
    # pool of the alias it drops, and a mirror's open pool would keep the database busy.
    DATABASES["replica"] = {  # noqa: F405
        **DATABASES["default"], "TEST": {"MIRROR": "default"},  # noqa: F405
        "OPTIONS": {key: value for key, value in DATABASES["default"].get("OPTIONS", {}).items()  # noqa: F405
                    if key != "pool"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = CELERY_BROKER_URL
SECURE_HSTS_SECONDS = 0
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
