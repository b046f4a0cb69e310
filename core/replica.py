"""An optional PostgreSQL read replica (DATABASE_REPLICA_URL; docs/deploy.md).

Only reads that tolerate a replica's lag of a moment go there, and they say so
explicitly with `.using(replica_alias())`: full-text search and compliance exports, the
heavy scans. Everything else, and every write, stays on the primary, so a person always
reads back what they just wrote.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

REPLICA = "replica"


def replica_alias() -> str:
    """The alias for lag-tolerant reads: the replica when one is configured."""
    if settings.DATABASE_REPLICA_URL and REPLICA in settings.DATABASES:
        return REPLICA
    return DEFAULT_DB_ALIAS


class PrimaryReplicaRouter:
    """Writes and migrations never go to the replica (it follows the primary by
    streaming replication); reads go where the code asks, the primary by default."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return None

    def db_for_write(self, model: type, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, two ways to reach it

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == REPLICA else None
