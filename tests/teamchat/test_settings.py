"""Settings come from the environment; production refuses unsafe defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRINT_SETTINGS = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"), "port": db.get("PORT"),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "layer_hosts": settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts"),
    "broker": settings.CELERY_BROKER_URL,
    "email_backend": settings.EMAIL_BACKEND, "email_host": settings.EMAIL_HOST,
    "email_port": settings.EMAIL_PORT,
    "debug": settings.DEBUG, "hosts": settings.ALLOWED_HOSTS,
    "media": str(settings.MEDIA_ROOT), "secure_cookies": settings.SESSION_COOKIE_SECURE,
    "max_upload": settings.FILE_UPLOAD_MAX_BYTES,
}))
"""


SETTINGS_ENV = {
    "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "EMAIL_URL", "ALLOWED_HOSTS",
    "TEAMCHAT_DATA_DIR", "DJANGO_SETTINGS_MODULE", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE", "TEAMCHAT_CHANNEL_PREFIX", "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def run_settings(env: dict[str, str], code: str = PRINT_SETTINGS) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in SETTINGS_ENV}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup();" + code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "teamchat.settings"},
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


def test_nothing_set_means_the_embedded_default(tmp_path):
    result = run_settings({"DEBUG": "1", "TEAMCHAT_DATA_DIR": str(tmp_path)})

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "teamchat.sqlite3")
    assert values["layer"] == "channels.layers.InMemoryChannelLayer"
    assert values["broker"] == "filesystem://"
    assert values["media"] == str(tmp_path / "media")
    assert values["email_backend"] == "django.core.mail.backends.console.EmailBackend"


def test_service_urls_switch_to_postgresql_redis_and_smtp(tmp_path):
    result = run_settings({
        "SECRET_KEY": "s" * 60, "TEAMCHAT_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://chat:pw@db.internal:6543/teamchat",
        "REDIS_URL": "redis://cache.internal:6380/2",
        "EMAIL_URL": "smtp://mail.internal:2525",
        "ALLOWED_HOSTS": "chat.example.com,chat2.example.com",
        "FILE_UPLOAD_MAX_BYTES": "1048576",
    })

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.postgresql"
    assert (values["name"], values["host"], values["port"]) == ("teamchat", "db.internal", 6543)
    assert values["layer"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert values["layer_hosts"] == ["redis://cache.internal:6380/2"]
    assert values["broker"] == "redis://cache.internal:6380/2"
    assert values["email_backend"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (values["email_host"], values["email_port"]) == ("mail.internal", 2525)
    assert values["hosts"] == ["chat.example.com", "chat2.example.com"]
    assert values["debug"] is False
    assert values["secure_cookies"] is True
    assert values["max_upload"] == 1048576


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_settings({"TEAMCHAT_DATA_DIR": str(tmp_path)})

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_a_malformed_value_is_named(tmp_path):
    result = run_settings({"DEBUG": "1", "TEAMCHAT_DATA_DIR": str(tmp_path),
                           "FILE_UPLOAD_MAX_BYTES": "lots"})
    assert result.returncode != 0
    assert "lots" in result.stderr


def test_check_deploy_is_clean_in_production(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    env.update({"SECRET_KEY": "q8Zr-2vLm_Wp9xKt" * 4, "ALLOWED_HOSTS": "chat.example.com",
                "TEAMCHAT_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "teamchat.settings"})

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_test_run_says_which_services_it_uses(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "REDIS_URL": "redis://127.0.0.1:1/0",
                "DJANGO_SETTINGS_MODULE": "tests.settings"})
    env.pop("TEAMCHAT_REQUIRE_SERVICES", None)
    code = "from django.conf import settings; print(settings.TEST_SERVICES_LINE)"

    fallback = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    required = subprocess.run([sys.executable, "-c", code],
                              env={**env, "TEAMCHAT_REQUIRE_SERVICES": "1"}, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    assert fallback.returncode == 0, fallback.stderr
    assert fallback.stdout.startswith("teamchat test services: SQLite (PostgreSQL: ")
    assert "in-memory layer (Redis: " in fallback.stdout
    assert required.returncode != 0
    assert "TEAMCHAT_REQUIRE_SERVICES=1 but PostgreSQL at postgres://nobody@127.0.0.1:1/none" in (
        required.stderr)


PRINT_DATABASES = """
import json
from django.conf import settings
print(json.dumps({alias: {key: db.get(key) for key in ("ENGINE", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS")}
                  | {"pool": db.get("OPTIONS", {}).get("pool")}
                  for alias, db in settings.DATABASES.items()}))
"""


def test_postgresql_connections_come_from_a_pool_sized_by_the_environment(tmp_path):
    base = {"SECRET_KEY": "s" * 60, "TEAMCHAT_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://chat:pw@db.internal:5432/teamchat"}
    pooled = run_settings({**base, "DATABASE_REPLICA_URL": "postgres://chat:pw@replica.internal/teamchat",
                           "DATABASE_POOL_MIN_SIZE": "1", "DATABASE_POOL_MAX_SIZE": "6"},
                          PRINT_DATABASES)
    assert pooled.returncode == 0, pooled.stderr
    databases = json.loads(pooled.stdout)
    pool = {"min_size": 1, "max_size": 6, "timeout": 10.0, "name": "teamchat"}
    for alias in ("default", "replica"):
        # Django refuses a pool with persistent connections; the pool checks each loan.
        assert databases[alias] == {"ENGINE": "django.db.backends.postgresql", "CONN_MAX_AGE": 0,
                                    "CONN_HEALTH_CHECKS": True, "pool": pool}, alias

    without = run_settings({**base, "DATABASE_POOL": "0", "DATABASE_CONN_MAX_AGE": "30"},
                           PRINT_DATABASES)
    assert json.loads(without.stdout)["default"]["pool"] is None
    assert json.loads(without.stdout)["default"]["CONN_MAX_AGE"] == 30

    refused = run_settings({**base, "DATABASE_CONN_MAX_AGE": "60"}, PRINT_DATABASES)
    assert refused.returncode != 0 and "DATABASE_POOL=0" in refused.stderr

    embedded = run_settings({"DEBUG": "1", "TEAMCHAT_DATA_DIR": str(tmp_path)}, PRINT_DATABASES)
    assert json.loads(embedded.stdout)["default"]["pool"] is None
