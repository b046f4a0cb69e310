from django.contrib import admin

from core.admin import ReadOnlyAdmin
from messaging.models import Conversation, Membership, UserGroup


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "name", "created_at", "archived_at", "last_seq"]
    list_filter = ["kind"]
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "conversation", "role", "joined_at"]


@admin.register(UserGroup)
class UserGroupAdmin(ReadOnlyAdmin):
    list_display = ["handle", "name"]
