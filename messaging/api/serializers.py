"""API shapes of the messaging app. Output goes through messaging.payloads so REST and
live events describe a message or conversation the same way."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import ClockField
from messaging.models import (
    ConversationKind,
    MembershipRole,
    NotificationLevel,
    ReminderState,
    ScheduledState,
)
from messaging.payloads import conversation_payload


class ReactionOutSerializer(serializers.Serializer):
    emoji = serializers.CharField()
    count = serializers.IntegerField()
    users = serializers.ListField(child=serializers.IntegerField())


class ThreadSummarySerializer(serializers.Serializer):
    reply_count = serializers.IntegerField()
    last_reply_at = serializers.DateTimeField(allow_null=True)
    participants = serializers.ListField(child=serializers.IntegerField())


class LinkPreviewSchemaSerializer(serializers.Serializer):
    url = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    site_name = serializers.CharField()
    image_url = serializers.CharField(allow_null=True)


class MessageSchemaSerializer(serializers.Serializer):
    """The message shape, for the OpenAPI schema (the payload function builds it)."""

    id = serializers.IntegerField()
    conversation = serializers.IntegerField()
    author = serializers.IntegerField()
    text = serializers.CharField()
    html = serializers.CharField()
    seq = serializers.IntegerField()
    thread_root = serializers.IntegerField(allow_null=True)
    also_in_channel = serializers.BooleanField()
    client_msg_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted = serializers.BooleanField()
    reactions = ReactionOutSerializer(many=True)
    files = serializers.ListField(child=serializers.DictField())
    thread = ThreadSummarySerializer(allow_null=True)
    pinned = serializers.BooleanField()
    previews = LinkPreviewSchemaSerializer(many=True)
    encrypted = serializers.BooleanField()
    ciphertext = serializers.CharField(allow_null=True)
    nonce = serializers.CharField(allow_null=True)
    key_id = serializers.IntegerField(allow_null=True)


class SavedMessageSchemaSerializer(MessageSchemaSerializer):
    """A saved message: the message, with when it was saved and marked done."""

    saved_at = serializers.DateTimeField()
    done_at = serializers.DateTimeField(allow_null=True)


class SavedDoneSerializer(serializers.Serializer):
    done = serializers.BooleanField()


class MembershipStateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=MembershipRole.choices)
    last_read_message = serializers.IntegerField(allow_null=True)
    last_read_seq = serializers.IntegerField()
    notification_level = serializers.ChoiceField(choices=NotificationLevel.choices)
    muted = serializers.BooleanField()
    starred = serializers.BooleanField()


class ConversationSchemaSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ConversationKind.choices)
    name = serializers.CharField()
    topic = serializers.CharField()
    purpose = serializers.CharField()
    created_by = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    archived = serializers.BooleanField()
    archived_at = serializers.DateTimeField(allow_null=True)
    last_seq = serializers.IntegerField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    is_member = serializers.BooleanField()
    encrypted = serializers.BooleanField()
    default = serializers.BooleanField(help_text="new people join this public channel")
    members = serializers.ListField(child=serializers.IntegerField(), required=False)
    membership = MembershipStateSerializer(required=False)
    unread_count = serializers.IntegerField(required=False)
    mention_count = serializers.IntegerField(required=False)
    member_count = serializers.IntegerField(required=False)


@extend_schema_field(ConversationSchemaSerializer)
class ConversationOutSerializer(serializers.BaseSerializer):
    def to_representation(self, instance: Any) -> dict:
        membership = self.context.get("memberships", {}).get(instance.pk)
        members = self.context.get("members", {}).get(instance.pk)
        data = conversation_payload(instance, membership, member_ids=members)
        if hasattr(instance, "member_count"):
            data["member_count"] = instance.member_count
        if hasattr(instance, "is_member") and membership is None:
            data["is_member"] = bool(instance.is_member)
        return data


class ConversationCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ConversationKind.choices)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    topic = serializers.CharField(max_length=250, required=False, allow_blank=True)
    purpose = serializers.CharField(max_length=250, required=False, allow_blank=True)
    members = serializers.ListField(child=serializers.IntegerField(), required=False,
                                    max_length=1000)
    encrypted = serializers.BooleanField(required=False, allow_null=True, default=None)

    def validate(self, data: dict) -> dict:
        if data["kind"] == ConversationKind.DIRECT:
            if not data.get("members"):
                raise serializers.ValidationError({"members": ["Name the people to talk with."]})
            extra = {"name", "topic", "purpose"} & {k for k, v in data.items() if v}
            if extra:
                raise serializers.ValidationError(
                    {field: ["A direct conversation has no name, topic or purpose."]
                     for field in extra})
        elif not data.get("name"):
            raise serializers.ValidationError({"name": ["A channel needs a name."]})
        return data


class ConversationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    topic = serializers.CharField(max_length=250, required=False, allow_blank=True)
    purpose = serializers.CharField(max_length=250, required=False, allow_blank=True)
    archived = serializers.BooleanField(required=False)
    default = serializers.BooleanField(required=False,
                                       help_text="new people join this public channel (owners and admins)")


class PreferencesSerializer(serializers.Serializer):
    notification_level = serializers.ChoiceField(choices=NotificationLevel.choices, required=False)
    muted = serializers.BooleanField(required=False)
    starred = serializers.BooleanField(required=False)


class MemberAddSerializer(serializers.Serializer):
    user = serializers.IntegerField()


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=MembershipRole.choices)


class MemberOutSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user_id")
    display_name = serializers.CharField(source="user.display_name")
    role = serializers.ChoiceField(choices=MembershipRole.choices)
    joined_at = serializers.DateTimeField()
    is_bot = serializers.BooleanField(source="user.is_bot")
    is_guest = serializers.BooleanField(source="user.is_guest")


class EncryptedFieldsMixin(serializers.Serializer):
    """End-to-end encrypted messages carry these instead of text (docs/api.md)."""

    ciphertext = serializers.CharField(required=False, trim_whitespace=False)
    nonce = serializers.CharField(required=False, max_length=32)
    key_id = serializers.IntegerField(required=False, min_value=1)

    def encrypted(self) -> dict | None:
        data = self.validated_data
        if not {"ciphertext", "nonce", "key_id"} & set(data):
            return None
        return {"ciphertext": data.get("ciphertext"), "nonce": data.get("nonce"),
                "key_id": data.get("key_id")}


class MessageCreateSerializer(EncryptedFieldsMixin):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, required=False, default="")
    client_msg_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    thread_root = serializers.IntegerField(required=False, allow_null=True)
    also_in_channel = serializers.BooleanField(required=False, default=False)
    files = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=10)


class MessageEditSerializer(EncryptedFieldsMixin):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, required=False, default="")


class ReadSerializer(serializers.Serializer):
    message = serializers.IntegerField()


class DraftSerializer(serializers.Serializer):
    conversation = serializers.IntegerField(source="conversation_id", read_only=True)
    thread_root = serializers.IntegerField(allow_null=True, required=False,
                                           help_text="the thread's first message; null for the conversation")
    text = serializers.CharField(allow_blank=True, trim_whitespace=False,
                                 help_text="empty clears the draft")
    origin = serializers.CharField(write_only=True, required=False, max_length=64,
                                   help_text="the browser tab making the change, told back in draft.updated")
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["thread_root"] = instance.thread_root_id or None
        return data


class ReactionSerializer(serializers.Serializer):
    emoji = serializers.CharField(max_length=64)


class RevisionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    html = serializers.CharField()
    written_at = serializers.DateTimeField()
    replaced_at = serializers.DateTimeField()
    replaced_by = serializers.IntegerField(source="replaced_by_id", allow_null=True)
    # An end-to-end encrypted earlier body: the client decrypts it (key_id null otherwise).
    ciphertext = serializers.CharField(allow_blank=True)
    nonce = serializers.CharField(allow_blank=True)
    key_id = serializers.IntegerField(allow_null=True)


class UserGroupSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    handle = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=80)
    description = serializers.CharField(max_length=250, required=False, allow_blank=True)
    members = serializers.ListField(child=serializers.IntegerField(), required=False)

    def to_representation(self, group: Any) -> dict:
        return {
            "id": group.pk,
            "handle": group.handle,
            "name": group.name,
            "description": group.description,
            "members": sorted(u.pk for u in group.members.all()),
        }


class PreviewSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=40_000)
    conversation = serializers.IntegerField(required=False)


class NotificationPreferencesSerializer(serializers.Serializer):
    notify_default = serializers.ChoiceField(choices=["all", "mentions", "nothing"], required=False)
    email_notifications = serializers.BooleanField(required=False)
    daily_digest = serializers.BooleanField(required=False)
    quiet_hours_start = ClockField(required=False, allow_null=True)
    quiet_hours_end = ClockField(required=False, allow_null=True)
    notification_preview = serializers.ChoiceField(choices=["full", "sender", "none"], required=False)


class ScheduledSchemaSerializer(serializers.Serializer):
    """A scheduled message, as messaging.payloads.scheduled_payload builds it."""

    id = serializers.IntegerField()
    conversation = serializers.IntegerField()
    thread_root = serializers.IntegerField(allow_null=True)
    text = serializers.CharField()
    send_at = serializers.DateTimeField()
    state = serializers.ChoiceField(choices=ScheduledState.choices)
    failure_code = serializers.CharField(allow_null=True)
    failure_reason = serializers.CharField(allow_null=True)
    message = serializers.IntegerField(allow_null=True, help_text="the message sent, once sent")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ScheduledCreateSerializer(serializers.Serializer):
    conversation = serializers.IntegerField()
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)
    send_at = serializers.CharField(
        max_length=64, help_text="ISO 8601; with an offset as given, without one in your own time zone "
                                 "(profile `timezone`); seconds are dropped")
    thread_root = serializers.IntegerField(required=False, allow_null=True)


class ScheduledEditSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    send_at = serializers.CharField(required=False, max_length=64)


class ReminderSchemaSerializer(serializers.Serializer):
    """A reminder, as messaging.payloads.reminder_payload builds it."""

    id = serializers.IntegerField()
    message_id = serializers.IntegerField()
    conversation = serializers.IntegerField(allow_null=True)
    remind_at = serializers.DateTimeField()
    state = serializers.ChoiceField(choices=ReminderState.choices)
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    message = MessageSchemaSerializer(allow_null=True)


class ReminderCreateSerializer(serializers.Serializer):
    message = serializers.IntegerField()
    in_minutes = serializers.IntegerField(required=False, help_text="from now; or give remind_at")
    remind_at = serializers.CharField(
        required=False, max_length=64,
        help_text="ISO 8601; with an offset as given, without one in your own time zone; seconds are dropped")
