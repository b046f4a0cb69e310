"""Migration tests: the database taken to some migrations, and the models as they were."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_to(targets: list[tuple[str, str]]) -> Apps:
    """Migrate to `targets` (unapplying whatever depends on what they leave out, in any
    app), and answer the models of exactly what is applied then: another app's newest
    state may need a later migration of these apps than the targets."""
    MigrationExecutor(connection).migrate(targets)
    applied = MigrationExecutor(connection)  # reads the applied migrations afresh
    return applied._create_project_state(with_applied_migrations=True).apps
