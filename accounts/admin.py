"""Django's admin, for owners and admins: browse only (core.admin.ReadOnlyAdmin). People,
tokens, invitations and settings change through the product (the console, the API), where
the rules are checked and the audit log records who did what: changing a person's email
here would let an admin reset their password and read their conversations, handing an
admin's own token to someone else would let it read theirs."""

from django.contrib import admin
from django.contrib.auth.models import Group

from accounts.models import ApiToken, Invitation, Organisation, User
from core.admin import ReadOnlyAdmin

# Roles are teamchat's own (accounts.models.Role); Django's permission groups grant nothing.
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(ReadOnlyAdmin):
    list_display = ["email", "display_name", "role", "is_bot", "is_active", "date_joined"]
    list_filter = ["role", "is_bot", "is_active"]
    search_fields = ["email", "display_name", "full_name"]
    exclude = ["password", "groups", "user_permissions", "is_superuser"]


@admin.register(Organisation)
class OrganisationAdmin(ReadOnlyAdmin):
    list_display = ["name", "message_edit_window_seconds"]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ["email", "role", "invited_by", "created_at", "expires_at", "accepted_at"]
    exclude = ["token_hash"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["token_hash"]
