"""Settings, read from the environment through one reader (django-environ).

With nothing set, teamchat runs embedded: SQLite under TEAMCHAT_DATA_DIR (default var/),
an in-memory channel layer and Celery on a filesystem broker. DATABASE_URL and REDIS_URL
switch to PostgreSQL and Redis. DEBUG is off unless asked for, and production refuses to
start without a SECRET_KEY.
"""

from __future__ import annotations

import re
import secrets
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG: bool = env.bool("DEBUG", default=False)
DATA_DIR = Path(env.str("TEAMCHAT_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production mode (DEBUG off) refuses to start without one; "
            "set SECRET_KEY to a long random value, or DEBUG=1 for local development."
        )
    # Development only: keep one generated key so sessions survive a restart.
    key_file = DATA_DIR / "dev_secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(64))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The address people use to reach teamchat; links in email point here.
SITE_URL: str = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "mozilla_django_oidc",
    "teamchat",
    "core",
    "accounts",
    "messaging",
    "files",
    "compliance",
    "integrations",
    "calls",
    "e2ee",
]

MIDDLEWARE = [
    # First, so that every response (redirects and errors included) is counted and carries
    # its request id.
    "core.metrics.MetricsMiddleware",
    "core.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "teamchat.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.AccountSecurityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "teamchat.middleware.TeamchatErrorMiddleware",
]

ROOT_URLCONF = "teamchat.urls"
ASGI_APPLICATION = "teamchat.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
AUTHENTICATION_BACKENDS = ["accounts.backends.LockoutModelBackend"]
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "accounts:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL: str = env.str("DATABASE_URL", default="")
EMBEDDED_DATABASE = not DATABASE_URL
# PostgreSQL connections come from a pool per process (psycopg's, through Django): under
# daphne each request runs in a thread of its own, and a connection kept per thread
# (CONN_MAX_AGE) outlived its thread and piled up. With the pool a request borrows a
# connection and gives it back when it ends, so a process holds at most
# DATABASE_POOL_MAX_SIZE; more requests at once wait up to DATABASE_POOL_TIMEOUT seconds
# for one. DATABASE_POOL=0 (behind PgBouncer, say) goes back to a connection per thread,
# closed after each request unless DATABASE_CONN_MAX_AGE says otherwise.
DATABASE_POOL: bool = env.bool("DATABASE_POOL", default=True)
DATABASE_POOL_MIN_SIZE: int = env.int("DATABASE_POOL_MIN_SIZE", default=2)
DATABASE_POOL_MAX_SIZE: int = env.int("DATABASE_POOL_MAX_SIZE", default=8)
DATABASE_POOL_TIMEOUT: float = env.float("DATABASE_POOL_TIMEOUT", default=10.0)
if DATABASE_URL:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    # With a pool, the pool checks a connection as it lends it (psycopg's check), instead
    # of Django checking a kept one at the start of a request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if "postgresql" in DATABASES["default"]["ENGINE"]:
        # Our queries are short; PostgreSQL's JIT compiles any plan it guesses is costly
        # (the unread counts' correlated subqueries) and spends ~700 ms doing it.
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["options"] = (options.get("options", "") + " -c jit=off").strip()
        if DATABASE_POOL:
            if not 0 <= DATABASE_POOL_MIN_SIZE <= DATABASE_POOL_MAX_SIZE or DATABASE_POOL_MAX_SIZE < 1:
                raise ImproperlyConfigured("DATABASE_POOL_MIN_SIZE must be between 0 and "
                                           "DATABASE_POOL_MAX_SIZE, which must be at least 1")
            if env.int("DATABASE_CONN_MAX_AGE", default=0):
                raise ImproperlyConfigured("DATABASE_CONN_MAX_AGE keeps connections per thread; "
                                           "it cannot be combined with the pool (DATABASE_POOL=0)")
            options["pool"] = {"min_size": DATABASE_POOL_MIN_SIZE,
                               "max_size": DATABASE_POOL_MAX_SIZE,
                               "timeout": DATABASE_POOL_TIMEOUT,
                               # Seen as its own client in pg_stat_activity.
                               "name": "teamchat"}
    # Django refuses a pool with persistent connections: with the pool, always 0.
    DATABASES["default"]["CONN_MAX_AGE"] = (
        0 if DATABASES["default"].get("OPTIONS", {}).get("pool")
        else env.int("DATABASE_CONN_MAX_AGE", default=0))
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "teamchat.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of
                # failing with "database is locked" when a read lock is upgraded.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
    # The unread-count index carries the author for PostgreSQL's index-only scans; SQLite
    # has no such columns and builds the index without it, as it should.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
# Optional: a streaming replica of the primary that search and compliance exports read
# from (core/replica.py). Needs DATABASE_URL; writes and migrations stay on the primary.
DATABASE_REPLICA_URL: str = env.str("DATABASE_REPLICA_URL", default="") if DATABASE_URL else ""
if DATABASE_REPLICA_URL:
    # The replica's connections follow the primary's settings, in a pool of their own
    # (Django keeps one per alias): a process may hold up to twice the pool's size.
    DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
    DATABASES["replica"]["OPTIONS"] = {**DATABASES["default"].get("OPTIONS", {}),
                                       **DATABASES["replica"].get("OPTIONS", {})}
    for _key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        DATABASES["replica"][_key] = DATABASES["default"][_key]
DATABASE_ROUTERS = ["core.replica.PrimaryReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, cache, Celery broker --------------------------------------
REDIS_URL: str = env.str("REDIS_URL", default="")
EMBEDDED_REDIS = not REDIS_URL
CHANNEL_LAYER_PREFIX: str = env.str("TEAMCHAT_CHANNEL_PREFIX", default="teamchat")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": CHANNEL_LAYER_PREFIX},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CHANNEL_LAYER_PREFIX,
        }
    }
else:
    # A socket's layer events wait in the layer while it handles one thing (a resume, say);
    # the default capacity, 100, drops a burst past that without a word. The process's
    # conversation hub (realtime/hub.py) stays in a group for as long as any socket
    # follows it: the default group expiry, a day, would end its subscription silently.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                                  "CONFIG": {"capacity": 2000,
                                             "group_expiry": 10 * 365 * 86400}}}
    # A file cache, shared by the web process and the background worker.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(DATA_DIR / "cache")}}

PRESENCE_OFFLINE_GRACE_SECONDS: float = env.float("TEAMCHAT_PRESENCE_GRACE_SECONDS", default=8.0)

# --- Celery ------------------------------------------------------------------------
CELERY_BROKER_DIR = DATA_DIR / "celery-broker"
if REDIS_URL:
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    # A broker that needs no server: kombu's filesystem transport, shared by the web
    # process (which publishes) and the worker `make run` starts beside it.
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
    for _folder in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
# The queue tasks go to (and whose length /metrics reports).
CELERY_TASK_DEFAULT_QUEUE: str = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_ALWAYS_EAGER: bool = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "remove-unattached-uploads": {"task": "files.tasks.remove_unattached", "schedule": 3600.0},
    "send-due-notifications": {"task": "messaging.tasks.send_due_notifications", "schedule": 30.0},
    "send-digests": {"task": "messaging.tasks.send_digests", "schedule": 900.0},
    "expire-statuses": {"task": "accounts.tasks.expire_statuses", "schedule": 60.0},
    # At the start of every minute: scheduled messages and reminders that are due and that
    # no task published for their moment handled (a worker restarted, a time far ahead).
    "send-due-scheduled": {"task": "messaging.tasks.send_due_scheduled", "schedule": crontab()},
    "deliver-due-reminders": {"task": "messaging.tasks.deliver_due_reminders",
                              "schedule": crontab()},
    "apply-retention": {"task": "compliance.tasks.apply_retention",
                        "schedule": crontab(hour=2, minute=30)},
    "remove-expired-exports": {"task": "compliance.tasks.remove_expired_exports",
                               "schedule": 3600.0},
    # Each minute: sign the audit chain's head when enough events or time passed (below).
    "write-audit-checkpoint": {"task": "compliance.tasks.write_audit_checkpoint",
                               "schedule": 60.0},
    # Each hour: yesterday's scheduled exports (any day missed in the week before too),
    # when DAILY_EXPORT_FORMATS names some; delivered ones are left alone.
    # Each morning: a fresh checkpoint mailed to the compliance officers (outside the database).
    "mail-audit-checkpoint": {"task": "compliance.tasks.mail_audit_checkpoint",
                              "schedule": crontab(hour=6, minute=0)},
    "daily-export": {"task": "compliance.tasks.run_daily_exports", "schedule": crontab(minute=20)},
}
# A signed audit checkpoint after this many new events, or this many minutes with any new
# event, whichever comes first (docs/compliance.md, "Checkpoints").
AUDIT_CHECKPOINT_EVERY_EVENTS: int = env.int("AUDIT_CHECKPOINT_EVERY_EVENTS", default=1000)
AUDIT_CHECKPOINT_EVERY_MINUTES: int = env.int("AUDIT_CHECKPOINT_EVERY_MINUTES", default=10)
# The scheduled daily export (docs/compliance.md, "The daily export"): each UTC day's
# messages in these formats (comma-separated: jsonl, csv, eml, actiance, globalrelay;
# empty: off), delivered with a checksum and the manifest to a folder on this machine or
# to s3://bucket/prefix (through the S3_* connection settings of Files).
DAILY_EXPORT_FORMATS: list[str] = env.list("DAILY_EXPORT_FORMATS", default=[])
DAILY_EXPORT_TARGET: str = env.str("DAILY_EXPORT_TARGET", default="")
DAILY_EXPORT_WITH_FILES: bool = env.bool("DAILY_EXPORT_WITH_FILES", default=False)
DAILY_EXPORT_CATCH_UP_DAYS: int = env.int("DAILY_EXPORT_CATCH_UP_DAYS", default=7)

# --- Audit stream to a SIEM (docs/compliance.md, "Streaming to a SIEM") ---------------------
# Collectors every audit event (and checkpoint) goes out to, in order, comma-separated:
# syslog+tls://host:port (RFC 5424 in octet-counted frames) or jsonl+tls://host:port (JSON
# lines); +tcp instead of +tls for plain TCP (a relay on loopback). Empty: no stream.
AUDIT_STREAM_URL: list[str] = env.list("AUDIT_STREAM_URL", default=[])
# The authorities the collector's certificate must chain to (PEM); empty: the system's.
AUDIT_STREAM_CA_FILE: str = env.str("AUDIT_STREAM_CA_FILE", default="")
# A client certificate and key (PEM) for collectors that ask for one (mutual TLS).
AUDIT_STREAM_CLIENT_CERT: str = env.str("AUDIT_STREAM_CLIENT_CERT", default="")
AUDIT_STREAM_CLIENT_KEY: str = env.str("AUDIT_STREAM_CLIENT_KEY", default="")
# Seconds to wait for the collector to connect or take a write.
AUDIT_STREAM_TIMEOUT: float = env.float("AUDIT_STREAM_TIMEOUT", default=10.0)
# Events read and written per step; the cursor moves after each step's write.
AUDIT_STREAM_BATCH: int = env.int("AUDIT_STREAM_BATCH", default=500)
# Syslog only: HOSTNAME (default: SITE_URL's host), facility (13, log audit) and the
# structured data's SD-ID (32473 is the enterprise number RFC 5612 reserves for examples;
# an organisation with its own number may put it here).
AUDIT_STREAM_SYSLOG_HOSTNAME: str = env.str("AUDIT_STREAM_SYSLOG_HOSTNAME", default="") or (
    urlsplit(SITE_URL).hostname or "teamchat")
AUDIT_STREAM_SYSLOG_FACILITY: int = env.int("AUDIT_STREAM_SYSLOG_FACILITY", default=13)
AUDIT_STREAM_SYSLOG_SD_ID: str = env.str("AUDIT_STREAM_SYSLOG_SD_ID", default="teamchat@32473")
if AUDIT_STREAM_URL:
    # Every five seconds; a run still catching up holds the cursor's lease and the next one
    # leaves it be. A run that waited in a busy queue past the next one is dropped.
    CELERY_BEAT_SCHEDULE["stream-audit-events"] = {
        "task": "compliance.tasks.stream_audit_events", "schedule": 5.0,
        "options": {"expires": 5.0}}

# --- Single sign-on (OpenID Connect; docs/security.md) -------------------------------------------
OIDC_RP_CLIENT_ID: str = env.str("OIDC_CLIENT_ID", default="")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_RP_CLIENT_SECRET: str = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT: str = env.str("OIDC_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT: str = env.str("OIDC_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT: str = env.str("OIDC_USERINFO_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT: str = env.str("OIDC_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO: str = env.str("OIDC_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = "openid email profile"
OIDC_CREATE_USERS: bool = env.bool("OIDC_CREATE_USERS", default=False)
OIDC_ALLOWED_DOMAINS: list[str] = [d.lower() for d in env.list("OIDC_ALLOWED_DOMAINS", default=[])]
OIDC_BUTTON_LABEL: str = env.str("OIDC_BUTTON_LABEL", default="Sign in with single sign-on")
OIDC_USE_NONCE = True
OIDC_STORE_ID_TOKEN = False
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:sso_callback"
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
if OIDC_ENABLED:
    AUTHENTICATION_BACKENDS = ["accounts.oidc.TeamchatOIDCBackend", *AUTHENTICATION_BACKENDS]

# --- SAML 2.0 single sign-on and the password switch (docs/identity.md, "SAML 2.0") ----------
# Everything SAML reads is in this block. The identity provider's metadata, from a URL
# (fetched again every SAML_IDP_METADATA_REFRESH_SECONDS) or a file; either turns SAML on.
SAML_IDP_METADATA_URL: str = env.str("SAML_IDP_METADATA_URL", default="")
SAML_IDP_METADATA_FILE: str = env.str("SAML_IDP_METADATA_FILE", default="")
SAML_ENABLED = bool(SAML_IDP_METADATA_URL or SAML_IDP_METADATA_FILE)
SAML_IDP_METADATA_REFRESH_SECONDS: int = env.int("SAML_IDP_METADATA_REFRESH_SECONDS", default=3600)
# Our entity id (default: the metadata URL, as most providers expect).
SAML_SP_ENTITY_ID: str = env.str("SAML_SP_ENTITY_ID", default="") or f"{SITE_URL}/saml/metadata/"
# Our key and certificate (PEM): with them requests are signed and encrypted assertions
# can be read; without them assertions must come unencrypted (and always signed).
SAML_SP_KEY_FILE: str = env.str("SAML_SP_KEY_FILE", default="")
SAML_SP_CERT_FILE: str = env.str("SAML_SP_CERT_FILE", default="")
# Attribute names to read, first found wins (compared ignoring case). Email falls back
# to the NameID when it is an email address.
SAML_ATTRIBUTE_EMAIL: list[str] = env.list("SAML_ATTRIBUTE_EMAIL", default=[
    "email", "mail", "emailaddress",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"])
SAML_ATTRIBUTE_NAME: list[str] = env.list("SAML_ATTRIBUTE_NAME", default=[
    "displayName", "name", "cn", "http://schemas.microsoft.com/identity/claims/displayname"])
SAML_ATTRIBUTE_GROUPS: list[str] = env.list("SAML_ATTRIBUTE_GROUPS", default=[
    "groups", "memberOf", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"])
# Create a member on first sign-in (just in time) for people teamchat does not know.
SAML_CREATE_USERS: bool = env.bool("SAML_CREATE_USERS", default=False)
# Groups whose members get the admin or compliance role at sign-in; empty: never.
SAML_ADMIN_GROUPS: list[str] = env.list("SAML_ADMIN_GROUPS", default=[])
SAML_COMPLIANCE_GROUPS: list[str] = env.list("SAML_COMPLIANCE_GROUPS", default=[])
# How far our clock and the provider's may differ when checking an assertion's times.
SAML_CLOCK_SKEW_SECONDS: int = env.int("SAML_CLOCK_SKEW_SECONDS", default=120)
# Accept sign-ins the provider starts (from its app launcher) as well as ours.
SAML_IDP_INITIATED: bool = env.bool("SAML_IDP_INITIATED", default=True)
SAML_BUTTON_LABEL: str = env.str("SAML_BUTTON_LABEL", default="Sign in with SAML")
# Password sign-in: off (with an identity provider configured) leaves it to the one
# break-glass owner named here, for when the provider is down.
PASSWORD_SIGN_IN: bool = env.bool("PASSWORD_SIGN_IN", default=True)
PASSWORD_SIGN_IN_BREAK_GLASS: str = env.str("PASSWORD_SIGN_IN_BREAK_GLASS", default="").lower()

# --- LDAP and Active Directory (docs/identity.md, "LDAP and Active Directory") ---------------
# Off unless LDAP_SERVER_URI is set: ldap://host (add LDAP_START_TLS=1) or ldaps://host.
# People sign in on the usual form with their email and directory password; the search
# filter (or the direct-bind DN template) gets that email as %(user)s. Read by
# django-auth-ldap (integrations/ldap_auth.py) and by the sync (integrations/directory.py).
LDAP_SERVER_URI: str = env.str("LDAP_SERVER_URI", default="")
LDAP_ENABLED = bool(LDAP_SERVER_URI)
LDAP_START_TLS: bool = env.bool("LDAP_START_TLS", default=False)
# The authorities the server's certificate must chain to (PEM); empty: the system's.
LDAP_CA_FILE: str = env.str("LDAP_CA_FILE", default="")
# Seconds to connect and to wait for an answer: past them the directory counts as down.
LDAP_TIMEOUT: float = env.float("LDAP_TIMEOUT", default=10.0)
# The service account that searches (bind and search) and that the sync reads with.
LDAP_BIND_DN: str = env.str("LDAP_BIND_DN", default="")
LDAP_BIND_PASSWORD: str = env.str("LDAP_BIND_PASSWORD", default="")
LDAP_USER_SEARCH_BASE: str = env.str("LDAP_USER_SEARCH_BASE", default="")
LDAP_USER_SEARCH_FILTER: str = env.str("LDAP_USER_SEARCH_FILTER", default="(mail=%(user)s)")
# Direct bind instead of search: the DN to bind as, e.g. "%(user)s" (Active Directory takes
# the userPrincipalName) or "uid=%(user)s,ou=people,dc=example,dc=com".
LDAP_USER_DN_TEMPLATE: str = env.str("LDAP_USER_DN_TEMPLATE", default="")
LDAP_ATTR_EMAIL: str = env.str("LDAP_ATTR_EMAIL", default="mail")
LDAP_ATTR_DISPLAY_NAME: str = env.str("LDAP_ATTR_DISPLAY_NAME", default="displayName")
LDAP_ATTR_FULL_NAME: str = env.str("LDAP_ATTR_FULL_NAME", default="cn")
LDAP_ATTR_UID: str = env.str("LDAP_ATTR_UID", default="uid")
# How groups name their members: member (groupOfNames, Active Directory), uniqueMember
# (groupOfUniqueNames) hold DNs; memberUid (posixGroup) holds LDAP_ATTR_UID values.
LDAP_GROUP_MEMBER_ATTR: str = env.str("LDAP_GROUP_MEMBER_ATTR", default="member")
# Members that are themselves groups count with their members (Active Directory nesting).
LDAP_GROUP_NESTED: bool = env.bool("LDAP_GROUP_NESTED", default=False)
# Group DNs: only members of LDAP_REQUIRE_GROUP may sign in (and the sync deactivates the
# rest); members of the others get that role. The directory then decides those roles for
# the people it manages; owners are never changed by it.
LDAP_REQUIRE_GROUP: str = env.str("LDAP_REQUIRE_GROUP", default="")
LDAP_ADMIN_GROUP: str = env.str("LDAP_ADMIN_GROUP", default="")
LDAP_COMPLIANCE_GROUP: str = env.str("LDAP_COMPLIANCE_GROUP", default="")
# Directory groups kept as teamchat user groups: a JSON object {"group DN": "handle"}.
LDAP_USER_GROUPS: dict[str, str] = env.json("LDAP_USER_GROUPS", default={})
# A directory person with no teamchat account gets one at their first sign-in.
LDAP_CREATE_USERS: bool = env.bool("LDAP_CREATE_USERS", default=True)
# Who the sync reads as the directory's people (default: the search filter for anyone).
LDAP_SYNC_FILTER: str = env.str("LDAP_SYNC_FILTER", default="") or LDAP_USER_SEARCH_FILTER.replace(
    "%(user)s", "*")
# Seconds between syncs (Celery beat); 0: only `manage.py ldap_sync`.
LDAP_SYNC_INTERVAL_SECONDS: int = env.int("LDAP_SYNC_INTERVAL_SECONDS", default=3600)
if LDAP_ENABLED:
    import ldap
    from django_auth_ldap.config import LDAPSearch

    _bad_handles = [h for h in LDAP_USER_GROUPS.values()
                    if not isinstance(h, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", h)]
    if _bad_handles:
        raise ImproperlyConfigured(f"LDAP_USER_GROUPS maps to user group handles, up to 40 lowercase "
                                   f"letters, digits, - and _: not {_bad_handles!r}")
    if not (LDAP_USER_SEARCH_BASE or LDAP_USER_DN_TEMPLATE):
        raise ImproperlyConfigured("LDAP_SERVER_URI needs LDAP_USER_SEARCH_BASE (bind and search) "
                                   "or LDAP_USER_DN_TEMPLATE (direct bind)")
    AUTH_LDAP_SERVER_URI = LDAP_SERVER_URI
    AUTH_LDAP_START_TLS = LDAP_START_TLS
    AUTH_LDAP_BIND_DN = LDAP_BIND_DN
    AUTH_LDAP_BIND_PASSWORD = LDAP_BIND_PASSWORD
    if LDAP_USER_DN_TEMPLATE:
        AUTH_LDAP_USER_DN_TEMPLATE = LDAP_USER_DN_TEMPLATE
        # Without a service account, the person's own bind reads their entry and groups.
        AUTH_LDAP_BIND_AS_AUTHENTICATING_USER = not LDAP_BIND_DN
    else:
        AUTH_LDAP_USER_SEARCH = LDAPSearch(LDAP_USER_SEARCH_BASE, ldap.SCOPE_SUBTREE,
                                           LDAP_USER_SEARCH_FILTER)
    AUTH_LDAP_CONNECTION_OPTIONS = {
        ldap.OPT_NETWORK_TIMEOUT: LDAP_TIMEOUT,
        ldap.OPT_TIMEOUT: LDAP_TIMEOUT,
        # Active Directory's referrals would be followed anonymously.
        ldap.OPT_REFERRALS: 0,
        ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
        **({ldap.OPT_X_TLS_CACERTFILE: LDAP_CA_FILE} if LDAP_CA_FILE else {}),
        # Last: a new TLS context with the options above.
        ldap.OPT_X_TLS_NEWCTX: 0,
    }
    # teamchat applies the entry itself, through its services (integrations/services/ldap.py).
    AUTH_LDAP_ALWAYS_UPDATE_USER = False
    AUTHENTICATION_BACKENDS = ["integrations.ldap_auth.TeamchatLDAPBackend", *AUTHENTICATION_BACKENDS]
    if LDAP_SYNC_INTERVAL_SECONDS > 0:
        CELERY_BEAT_SCHEDULE["ldap-sync"] = {"task": "integrations.tasks.ldap_sync",
                                             "schedule": float(LDAP_SYNC_INTERVAL_SECONDS),
                                             "options": {"expires": float(LDAP_SYNC_INTERVAL_SECONDS)}}

# --- Rate limits ("count/seconds"; 0 turns one off) -------------------------------------------
RATE_LIMIT_API: str = env.str("RATE_LIMIT_API", default="1200/60")  # per person, every request
RATE_LIMIT_MESSAGES: str = env.str("RATE_LIMIT_MESSAGES", default="60/60")  # sends per person
RATE_LIMIT_UPLOADS: str = env.str("RATE_LIMIT_UPLOADS", default="30/60")  # uploads per person
RATE_LIMIT_SIGN_IN: str = env.str("RATE_LIMIT_SIGN_IN", default="20/60")  # attempts per address
# second-step codes (sign-in 2FA) per address
RATE_LIMIT_TWO_FACTOR: str = env.str("RATE_LIMIT_TWO_FACTOR", default="10/60")

# --- Integrations (docs/api.md) -------------------------------------------------------------
# Link previews and webhooks may reach private and loopback addresses only when this is on.
INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES: bool = env.bool("INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES",
                                                      default=False)
INCOMING_WEBHOOK_RATE_PER_MINUTE: int = env.int("INCOMING_WEBHOOK_RATE_PER_MINUTE", default=60)
# First wait before an outgoing webhook delivery is retried; doubling, six times.
WEBHOOK_RETRY_SECONDS: int = env.int("WEBHOOK_RETRY_SECONDS", default=10)

# --- The live connection (docs/realtime.md) ---------------------------------------------------
# How often the web client pings; a connection that answered nothing between two pings
# is taken as lost, so a cut network shows within two of them.
REALTIME_HEARTBEAT_SECONDS: int = env.int("REALTIME_HEARTBEAT_SECONDS", default=30)
# How often each socket checks again that its session (or token) still lets it stream:
# the bound on how long one keeps streaming after its session was deleted without news.
# An expiring session ends its sockets as it expires; changes that have news (sign-out, a
# reset password, deactivation, a role or two-factor policy change) close them at once.
REALTIME_ACCESS_CHECK_SECONDS: float = env.float("REALTIME_ACCESS_CHECK_SECONDS", default=60.0)

# --- Calls (docs/realtime.md, docs/deploy.md) -----------------------------------------------
# Calls connect every pair of people directly (a mesh): each person sends their media to
# every other, so the upload a call needs grows with its size. Four is what a laptop on
# an office network carries comfortably.
CALL_MAX_PARTICIPANTS: int = env.int("CALL_MAX_PARTICIPANTS", default=4)
# How long a call rings before it counts as missed.
CALL_RING_TIMEOUT_SECONDS: float = env.float("CALL_RING_TIMEOUT_SECONDS", default=30.0)
# ICE servers handed to browsers. No STUN by default: on an intranet the host candidates
# suffice, and a public STUN server would tell a third party who calls whom.
CALL_STUN_URLS: list[str] = env.list("CALL_STUN_URLS", default=[])
CALL_TURN_URLS: list[str] = env.list("CALL_TURN_URLS", default=[])
# coturn's use-auth-secret: browsers get credentials derived from it, valid for the TTL.
CALL_TURN_SECRET: str = env.str("CALL_TURN_SECRET", default="")
CALL_TURN_TTL_SECONDS: int = env.int("CALL_TURN_TTL_SECONDS", default=12 * 3600)

# --- Notifications (docs/notifications.md) -------------------------------------------------
# How long a mention or direct message must stay unread before it is emailed.
NOTIFY_EMAIL_DELAY_SECONDS: int = env.int("NOTIFY_EMAIL_DELAY_SECONDS", default=300)
# At most one missed-message email per person per window; later ones wait and collect.
NOTIFY_EMAIL_WINDOW_SECONDS: int = env.int("NOTIFY_EMAIL_WINDOW_SECONDS", default=900)
# The first retry after an SMTP failure waits this long; each further one twice as long.
NOTIFY_SMTP_RETRY_SECONDS: int = env.int("NOTIFY_SMTP_RETRY_SECONDS", default=30)
# The local hour at which daily digests go out.
NOTIFY_DIGEST_HOUR: int = env.int("NOTIFY_DIGEST_HOUR", default=8)
# Web Push (docs/notifications.md): the push services browsers subscribe with. teamchat
# posts only to these hosts (a name, or ".suffix" for its subdomains), so a subscription
# cannot make the server call anywhere else; plain http only to loopback, for tests.
PUSH_SERVICE_HOSTS: list[str] = env.list("PUSH_SERVICE_HOSTS", default=[
    "fcm.googleapis.com", "updates.push.services.mozilla.com", ".push.apple.com",
    ".notify.windows.com"])
# First wait before a push the push service refused for now (429, 5xx) is retried.
PUSH_RETRY_SECONDS: int = env.int("PUSH_RETRY_SECONDS", default=5)

# --- Email ---------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = EMAIL_CONFIG["EMAIL_BACKEND"]
EMAIL_HOST = EMAIL_CONFIG.get("EMAIL_HOST", "localhost")
EMAIL_PORT = EMAIL_CONFIG.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = EMAIL_CONFIG.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = EMAIL_CONFIG.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = EMAIL_CONFIG.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = EMAIL_CONFIG.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="teamchat <teamchat@localhost>")
# The contact push services see in the VAPID claim (RFC 8292): a mailto: or https: URL;
# by default the site when it is served over https, else the sender address of its email.
PUSH_VAPID_SUBJECT: str = env.str("PUSH_VAPID_SUBJECT", default=(
    SITE_URL if SITE_URL.startswith("https://") else f"mailto:{parseaddr(DEFAULT_FROM_EMAIL)[1]}"))

# --- Files ---------------------------------------------------------------------------
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
MEDIA_URL = "/media/"
FILE_STORAGE_BACKEND: str = env.str("FILE_STORAGE", default="local")
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# After `collectstatic` (production), serve hashed, compressed files from STATIC_ROOT;
# before it (make run, tests), WhiteNoise serves the source folders directly.
_STATIC_COLLECTED = (STATIC_ROOT / "staticfiles.json").exists()
WHITENOISE_USE_FINDERS = not _STATIC_COLLECTED
STORAGES: dict = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _STATIC_COLLECTED
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# How to reach the S3-compatible store: files (FILE_STORAGE=s3) and the daily export.
S3_CONNECTION: dict = {
    "endpoint_url": env.str("S3_ENDPOINT_URL", default=None),
    "region_name": env.str("S3_REGION", default=None),
    "access_key": env.str("S3_ACCESS_KEY_ID", default=None),
    "secret_key": env.str("S3_SECRET_ACCESS_KEY", default=None),
}
if FILE_STORAGE_BACKEND == "s3":
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("S3_BUCKET"),
            **S3_CONNECTION,
            "querystring_expire": env.int("S3_SIGNED_URL_SECONDS", default=300),
            "default_acl": None,
            "file_overwrite": False,
            "signature_version": "s3v4",
            "addressing_style": env.str("S3_ADDRESSING_STYLE", default="path"),
        },
    }
elif FILE_STORAGE_BACKEND != "local":
    raise ImproperlyConfigured(f"FILE_STORAGE must be 'local' or 's3', not {FILE_STORAGE_BACKEND!r}")
FILE_UPLOAD_MAX_BYTES: int = env.int("FILE_UPLOAD_MAX_BYTES", default=100 * 1024 * 1024)
# Slack imports (docs/import.md): the largest export the console takes as an upload, and
# the most an export may hold uncompressed (past it, it is refused as a zip bomb).
SLACK_IMPORT_MAX_UPLOAD_BYTES: int = env.int("SLACK_IMPORT_MAX_UPLOAD_BYTES",
                                             default=5 * 1024**3)
SLACK_IMPORT_MAX_BYTES: int = env.int("SLACK_IMPORT_MAX_BYTES", default=20 * 1024**3)
# The size guard first; then small files in memory and the rest streamed to a temporary
# file, from which storage copies in chunks.
FILE_UPLOAD_HANDLERS = [
    "files.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default=None)
# Behind nginx: the app authorises a download and nginx sends the bytes from this
# internal location (e.g. /protected/ aliased to MEDIA_ROOT). Empty: the app streams them.
FILE_ACCEL_REDIRECT_PREFIX: str = env.str("FILE_ACCEL_REDIRECT_PREFIX", default="")
FILE_QUOTA_BYTES: int = env.int("FILE_QUOTA_BYTES", default=10 * 1024 * 1024 * 1024)

# --- Security --------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
_secure_default = not DEBUG
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=_secure_default)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SESSION_COOKIE_SECURE: bool = env.bool("SESSION_COOKIE_SECURE", default=_secure_default)
CSRF_COOKIE_SECURE: bool = env.bool("CSRF_COOKIE_SECURE", default=_secure_default)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=14 * 24 * 3600)
SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# No script but our own files, no inline script, nothing framing us (docs/security.md).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        # The web app manifest (/manifest.webmanifest); the service worker is /sw.js.
        "manifest-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
# Calls need the camera, microphone and screen; nothing else a page could ask for. Only
# features browsers know: an unknown one (bluetooth, interest-cohort) is logged as an
# error on every page (tests/e2e/test_onboarding.py).
PERMISSIONS_POLICY = ("camera=(self), microphone=(self), display-capture=(self), "
                      "geolocation=(), payment=(), usb=(), serial=()")
if env.bool("TEAMCHAT_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

# --- Internationalisation --------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bodies are JSON objects (docs/api.md), bounded in size and nesting (core/parsers.py);
    # only the upload endpoints (files/, me/avatar/) take multipart, and say so themselves.
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONObjectParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["core.ratelimit.ApiRateThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "teamchat API",
    "DESCRIPTION": "REST API of teamchat. Authenticate with a session or "
    "`Authorization: Bearer <token>`. See docs/api.md.",
    "VERSION": "1",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "teamchat.openapi.finish_schema"],
    "ENUM_NAME_OVERRIDES": {
        "OrganisationRoleEnum": "accounts.models.Role",
        "ChannelRoleEnum": "messaging.models.MembershipRole",
        "ConversationKindEnum": "messaging.models.ConversationKind",
        "FileKindEnum": "files.models.FileKind",
    },
}

# --- Monitoring (docs/deploy.md, "Monitoring") ----------------------------------------------
# /metrics answers the holder of this token (Authorization: Bearer …) and, without going
# through the proxy, addresses in these networks; anyone else gets a 404.
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS: list[str] = env.list("METRICS_ALLOWED_NETWORKS",
                                               default=["127.0.0.1/32", "::1/128"])

# --- Logging ---------------------------------------------------------------------------
# json: one object per line with a request_id (for a log shipper); plain: for people.
LOG_FORMAT: str = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'plain', not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "core.requestid.JsonFormatter"},
    },
    "filters": {"redact_secrets": {"()": "teamchat.log.RedactSecrets"},
                "request_id": {"()": "core.requestid.RequestIdFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT,
                             "filters": ["redact_secrets", "request_id"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
