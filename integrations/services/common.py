"""Shared by the integration services."""

from __future__ import annotations

from accounts.models import User
from core.errors import Forbidden


def require_admin(actor: User, what: str) -> None:
    if not (actor.is_active and actor.is_org_admin):
        raise Forbidden(f"Only owners and admins may {what}.")
