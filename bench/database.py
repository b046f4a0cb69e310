"""The bench database: created when missing, recreated when its seed is missing or too
small, kept between runs otherwise (seeding a million messages takes minutes)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from bench import environment

# The history seed writes its size here last, so an interrupted seed is never mistaken
# for a finished one.
MARKER_CONVERSATION = "bench-h-0000"
# v2: a fifth of the messages in Chinese, Japanese or Korean (an earlier seed is replaced).
MARKER_PREFIX = "teamchat bench seed v2: messages="


def seeded_messages() -> int | None:
    """How many messages the finished history seed holds; None when there is none."""
    try:
        with psycopg.connect(environment.BENCH_DSN, connect_timeout=5) as conn:
            row = conn.execute("SELECT purpose FROM messaging_conversation WHERE name = %s",
                               [MARKER_CONVERSATION]).fetchone()
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return None
    if row is None or not row[0].startswith(MARKER_PREFIX):
        return None
    return int(row[0].removeprefix(MARKER_PREFIX))


def recreate() -> None:
    """Drop the bench database (ours alone) and create it empty."""
    name = sql.Identifier(environment.DATABASE_NAME)
    with psycopg.connect(environment.ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def ensure_exists() -> None:
    """Create the bench database, empty, when there is none (a run that reads no seed
    still asks PostgreSQL its version there)."""
    with psycopg.connect(environment.ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                             [environment.DATABASE_NAME]).fetchone()
        if found is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(environment.DATABASE_NAME)))


def marker_text(messages: int) -> str:
    return f"{MARKER_PREFIX}{messages}"


def checkpoint() -> None:
    """Write out what the seed and earlier benchmarks left in PostgreSQL's buffers, so
    that the next benchmark does not share the disk with their spread-out checkpoint
    (PostgreSQL's log showed one writing 3,400 buffers across the realtime and load
    benchmarks of a full run)."""
    with psycopg.connect(environment.ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute("CHECKPOINT")
