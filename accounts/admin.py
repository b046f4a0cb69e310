from django.contrib import admin

from accounts.models import ApiToken, Invitation, Organisation, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["email", "display_name", "role", "is_bot", "is_active", "date_joined"]
    list_filter = ["role", "is_bot", "is_active"]
    search_fields = ["email", "display_name", "full_name"]
    readonly_fields = ["password", "last_login", "date_joined", "deactivated_at"]
    exclude = ["groups", "user_permissions", "is_superuser"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "message_edit_window_seconds"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "role", "invited_by", "created_at", "expires_at", "accepted_at"]
    readonly_fields = ["token_hash"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["token_hash", "prefix"]
