"""The Django admin is for looking, never for changing: every model it shows has a
service (roles, deactivation, the organisation's policies, invitations, tokens, groups,
memberships), and only the service records the audit row, closes sockets and validates.
Changes go through the console (/console/), the web client or the API."""

from __future__ import annotations

from typing import Any

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse and search; no add, change or delete, no bulk actions."""

    actions = None

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
