"""`manage.py check --deploy`: the application's database role should not be able to set
the audit log's triggers aside (docs/deploy.md, "Two database roles"). Every `check`: the
daily export's settings make sense."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError, connection

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
