"""Django's admin, for owners and admins, browse only (core.admin.ReadOnlyAdmin).
Conversations and memberships: only those of conversations the person may see in the chat
(a private channel or direct conversation they are not in does not exist here either);
they change through the product, so events and the audit log follow."""

from django.contrib import admin
from django.db.models import QuerySet

from core.admin import ReadOnlyAdmin
from messaging.models import Conversation, Membership, UserGroup
from messaging.search import visible_conversations


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "name", "created_at", "archived_at", "last_seq"]
    list_filter = ["kind"]
    search_fields = ["name"]
    exclude = ["direct_key"]

    def get_queryset(self, request) -> QuerySet[Conversation]:
        return super().get_queryset(request).filter(
            pk__in=visible_conversations(request.user).values("pk"))


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "conversation", "role", "joined_at"]

    def get_queryset(self, request) -> QuerySet[Membership]:
        return super().get_queryset(request).filter(
            conversation__in=visible_conversations(request.user).values("pk"))


@admin.register(UserGroup)
class UserGroupAdmin(ReadOnlyAdmin):
    list_display = ["handle", "name"]
