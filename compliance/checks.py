"""`manage.py check --deploy`: the application's database role should not be able to set
the audit log's triggers aside (docs/deploy.md, "Two database roles"). Every `check`: the
daily export's settings make sense, and the audit stream's are usable (docs/compliance.md,
"Streaming to a SIEM")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError, connection

from compliance.stream import parse_collector

AUDIT_TABLE = "compliance_auditevent"


def database_role_warnings(conn: Any) -> list[Warning]:
    """Warnings for a connection that could disable the audit triggers or TRUNCATE: it is
    a superuser, or owns (or is a member of the owner of) the audit table."""
    if conn.vendor != "postgresql":
        return []
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            superuser = bool(cursor.fetchone()[0])
            cursor.execute("SELECT pg_has_role(current_user, c.relowner, 'USAGE') "
                           "FROM pg_class c WHERE c.oid = to_regclass(%s)", [AUDIT_TABLE])
            row = cursor.fetchone()
    except DatabaseError:
        return []  # no database to ask: the other checks say so
    warnings = []
    if superuser:
        warnings.append(Warning(
            "The application connects to PostgreSQL as a superuser, who can disable the "
            "audit log's triggers, delete or truncate it.",
            hint="Connect as an application role that is neither superuser nor table owner; "
                 "run migrations as the owner role (docs/deploy.md, 'Two database roles').",
            id="teamchat.W030"))
    if row is not None and row[0] and not superuser:
        warnings.append(Warning(
            f"The application's database role owns {AUDIT_TABLE}, so it can disable the "
            "audit log's triggers and truncate it.",
            hint="Let an owner role run migrations and grant the application role only "
                 "SELECT, INSERT, UPDATE, DELETE (docs/deploy.md, 'Two database roles').",
            id="teamchat.W031"))
    return warnings


# Not tagged `database`: those run only with `check --database`, and this one belongs to
# every `check --deploy`.
@register(Tags.security, deploy=True)
def check_database_role(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    return database_role_warnings(connection)


@register()
def check_daily_export(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from compliance.services.daily import daily_export_settings_problems

    return [Error(problem, hint="docs/compliance.md, 'The daily export'", id="teamchat.E032")
            for problem in daily_export_settings_problems()]


@register()
def check_audit_stream(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    for url in (url for url in settings.AUDIT_STREAM_URL if url.strip()):
        try:
            collector = parse_collector(url)
        except ValueError as error:
            problems.append(Error(f"AUDIT_STREAM_URL: {error}.", id="teamchat.E033",
                                  hint="For example syslog+tls://siem.example.com:6514."))
            continue
        if collector.transport == "tcp" and collector.host not in ("localhost", "127.0.0.1", "::1"):
            problems.append(Warning(
                f"AUDIT_STREAM_URL sends the audit log to {collector.host} without TLS.",
                hint="Use +tls, or plain TCP only to a relay on this machine.", id="teamchat.W034"))
    for name in ("AUDIT_STREAM_CA_FILE", "AUDIT_STREAM_CLIENT_CERT", "AUDIT_STREAM_CLIENT_KEY"):
        path = getattr(settings, name)
        if path and not Path(path).is_file():
            problems.append(Error(f"{name} names {path}, which is not a file.", id="teamchat.E035"))
    return problems
