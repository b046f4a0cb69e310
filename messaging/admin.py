from django.contrib import admin

from messaging.models import Conversation, Membership, UserGroup


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Browse only; conversations change through the product so events and audit follow."""

    list_display = ["id", "kind", "name", "created_at", "archived_at", "last_seq"]
    list_filter = ["kind"]
    search_fields = ["name"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "conversation", "role", "joined_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(UserGroup)
class UserGroupAdmin(admin.ModelAdmin):
    list_display = ["handle", "name"]
    filter_horizontal = ["members"]
