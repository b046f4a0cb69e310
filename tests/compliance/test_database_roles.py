"""The application role of docs/deploy.md ("Two database roles") cannot set the audit
triggers aside, and `check --deploy` warns when the application connects as a superuser."""

from __future__ import annotations

import os
import re
import subprocess  # nosec B404: runs manage.py with fixed arguments
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from compliance.checks import check_database_role, database_role_warnings

pytestmark = pytest.mark.django_db

DEPLOY_MD = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def documented_blocks() -> list[list[str]]:
    """The statements of the "Two database roles" section, block by block: as superuser,
    as superuser in the new database, as the owner role."""
    section = DEPLOY_MD.read_text().split("### Two database roles", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    return [block.strip().splitlines() for block in blocks]


def documented_sql() -> list[str]:
    return [line for block in documented_blocks() for line in block]


@pytest.fixture
def app_role(settings):
    """A role made as docs/deploy.md says, on the test database whose tables the suite's
    superuser owns (standing in for the owner role). Yields psycopg connection arguments."""
    if not settings.TEST_USES_POSTGRES:
        pytest.skip("database roles are PostgreSQL's")
    params = connection.get_connection_params()
    database = connection.settings_dict["NAME"]
    role = f"tc_app_{uuid.uuid4().hex[:8]}"
    statements = [line.replace("teamchat_app", role).replace("app-password", "app-secret")
                  .replace("DATABASE teamchat", f"DATABASE {database}") for line in documented_sql()
                  if "teamchat_owner" not in line]  # the owner is the suite's superuser here
    assert any(line.startswith(f"CREATE ROLE {role} LOGIN") for line in statements)
    assert any("ALTER DEFAULT PRIVILEGES" in line for line in statements)
    admin = psycopg.connect(host=params.get("host"), port=params.get("port"), user=params.get("user"),
                            password=params.get("password"), dbname=database, autocommit=True)
    try:
        for statement in statements:
            admin.execute(statement)
        yield {"host": params.get("host"), "port": params.get("port"), "user": role,
               "password": "app-secret", "dbname": database}
    finally:
        admin.execute(f"DROP OWNED BY {role}")
        admin.execute(f"DROP ROLE {role}")
        admin.close()


def _refused(conn: psycopg.Connection, sql: str) -> str:
    with pytest.raises(psycopg.Error) as error:
        conn.execute(sql)
    conn.rollback()
    return str(error.value)


def test_the_application_role_reads_and_writes_but_cannot_set_the_audit_triggers_aside(app_role):
    with psycopg.connect(**app_role) as conn:
        before = conn.execute("SELECT count(*) FROM compliance_auditevent").fetchone()[0]
        conn.execute("INSERT INTO compliance_auditevent (seq, created_at, actor_label, action, "
                     "target_type, target_id, data, prev_hash, hash) VALUES (%s, now(), '', "
                     "'test.role', '', '', '{}', %s, %s)", [10**12, "0" * 64, uuid.uuid4().hex])
        assert conn.execute("SELECT count(*) FROM compliance_auditevent").fetchone()[0] == before + 1
        assert "append-only" in _refused(conn, "DELETE FROM compliance_auditevent")  # rolls back

        assert "must be owner" in _refused(
            conn, "ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
        assert "permission denied" in _refused(conn, "TRUNCATE compliance_auditevent")
        assert "permission denied" in _refused(conn, "TRUNCATE compliance_auditcheckpoint")
        assert "permission denied" in _refused(conn, "SET session_replication_role = replica")
        assert "permission denied" in _refused(conn, "CREATE TABLE role_probe (id int)")
        assert "must be owner" in _refused(conn, "DROP TRIGGER compliance_auditevent_no_truncate "
                                                 "ON compliance_auditevent")


def test_check_deploy_warns_for_a_superuser_connection(settings):
    if not settings.TEST_USES_POSTGRES:
        pytest.skip("database roles are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone()[0] is True  # the suite connects as a superuser

    assert [warning.id for warning in check_database_role()] == ["teamchat.W030"]


def test_check_deploy_is_silent_for_the_application_role(app_role):
    from django.db.backends.postgresql.base import DatabaseWrapper

    as_app = DatabaseWrapper({**connection.settings_dict, "USER": app_role["user"],
                              "PASSWORD": app_role["password"],
                              "OPTIONS": {**connection.settings_dict["OPTIONS"], "pool": False}},
                             alias="app_role")
    try:
        assert database_role_warnings(as_app) == []
    finally:
        as_app.close()


def test_check_deploy_warns_when_the_application_role_owns_the_audit_table(app_role):
    owner = connection.settings_dict["USER"]
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute(f"GRANT {owner} TO {app_role['user']}")
        cursor.execute(f"SET LOCAL ROLE {app_role['user']}")
    try:
        assert [warning.id for warning in database_role_warnings(connection)] == ["teamchat.W031"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


@pytest.mark.slow
def test_migrate_runs_as_the_owner_role_and_the_app_role_gets_the_new_tables(settings, tmp_path):
    """The documented set-up end to end: roles and database as docs/deploy.md makes them,
    `migrate` with the owner's DATABASE_URL, then `check --deploy` as each role."""
    if not settings.TEST_USES_POSTGRES:
        pytest.skip("database roles are PostgreSQL's")
    params = connection.get_connection_params()
    host, port, superuser = params.get("host"), params.get("port") or 5432, params.get("user")
    suffix = uuid.uuid4().hex[:8]
    names = {"teamchat_owner": f"tc_own_{suffix}", "teamchat_app": f"tc_app_{suffix}",
             "DATABASE teamchat": f"DATABASE tc_roles_{suffix}"}
    database = f"tc_roles_{suffix}"

    def named(line: str) -> str:
        for old, new in names.items():
            line = line.replace(old, new)
        return line

    as_super, in_database, as_owner = ([named(line) for line in block]
                                       for block in documented_blocks())
    root = psycopg.connect(host=host, port=port, user=superuser, dbname="postgres", autocommit=True)

    def url(role: str, password: str) -> str:
        return f"postgres://{role}:{password}@{host}:{port}/{database}"

    def manage(*args: str, role: str, password: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "teamchat.settings",
               "DATABASE_URL": url(role, password), "REDIS_URL": "", "DEBUG": "0",
               "TEAMCHAT_DATA_DIR": str(tmp_path), "ALLOWED_HOSTS": "chat.example.com"}
        return subprocess.run([sys.executable, "manage.py", *args], env=env,  # nosec B603
                              capture_output=True, text=True, timeout=300, check=False,
                              cwd=DEPLOY_MD.parents[1])

    try:
        for statement in as_super:
            root.execute(statement)
        with psycopg.connect(host=host, port=port, user=superuser, dbname=database,
                             autocommit=True) as conn:
            for statement in in_database:
                conn.execute(statement)
        with psycopg.connect(host=host, port=port, user=names["teamchat_owner"],
                             password="owner-password", dbname=database, autocommit=True) as conn:
            for statement in as_owner:
                conn.execute(statement)

        migrated = manage("migrate", "--noinput", role=names["teamchat_owner"],
                          password="owner-password")
        assert migrated.returncode == 0, migrated.stderr
        as_app = manage("check", "--deploy", role=names["teamchat_app"], password="app-password")
        as_owner_check = manage("check", "--deploy", role=names["teamchat_owner"],
                                password="owner-password")

        assert "teamchat.W030" not in as_app.stderr + as_app.stdout
        assert "teamchat.W031" not in as_app.stderr + as_app.stdout
        assert "teamchat.W031" in as_owner_check.stderr + as_owner_check.stdout
        with psycopg.connect(host=host, port=port, user=names["teamchat_app"],
                             password="app-password", dbname=database) as conn:
            conn.execute("INSERT INTO compliance_auditevent (seq, created_at, actor_label, "
                         "action, target_type, target_id, data, prev_hash, hash) VALUES "
                         "(1, now(), '', 'test.role', '', '', '{}', %s, %s)", ["0" * 64, "1" * 64])
            assert "permission denied" in _refused(conn, "TRUNCATE compliance_auditevent")
            assert "must be owner" in _refused(
                conn, "ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
    finally:
        root.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        for role in (names["teamchat_app"], names["teamchat_owner"]):
            root.execute(f"DROP ROLE IF EXISTS {role}")
        root.close()
