"""API shapes of people and tokens."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import ApiToken, User


@extend_schema_field({"type": "string", "pattern": r"^\d{2}:\d{2}$", "example": "22:00",
                      "nullable": True})
class ClockField(serializers.TimeField):
    """A time of day in the person's own time zone, to the minute: "22:00"."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(format="%H:%M", **kwargs)

    def to_internal_value(self, value: object):
        parsed = super().to_internal_value(value)
        return parsed.replace(second=0, microsecond=0, tzinfo=None)


class UserSerializer(serializers.ModelSerializer):
    avatar_url = serializers.SerializerMethodField()
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = [
            "id", "email", "display_name", "full_name", "title", "avatar_url", "timezone",
            "role", "is_bot", "is_active", "status_text", "status_emoji",
        ]
        read_only_fields = fields

    def get_avatar_url(self, user: User) -> str | None:
        # The stored name changes with each upload, so it doubles as a cache buster.
        if not user.avatar:
            return None
        return f"/avatars/{user.pk}?v={user.avatar.name.rsplit('/', 1)[-1].split('.')[0][-8:]}"


class MeSerializer(UserSerializer):
    quiet_hours_start = ClockField(read_only=True, allow_null=True)
    quiet_hours_end = ClockField(read_only=True, allow_null=True)

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "date_joined", "notify_default",
                  "email_notifications", "daily_digest", "quiet_hours_start", "quiet_hours_end",
                  "notification_preview", "dnd_until", "share_read_receipts", "status_expires_at"]
        read_only_fields = fields


class ProfileUpdateSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=80, required=False)
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    title = serializers.CharField(max_length=100, required=False, allow_blank=True)
    timezone = serializers.CharField(max_length=64, required=False)
    status_text = serializers.CharField(max_length=100, required=False, allow_blank=True)
    status_emoji = serializers.CharField(max_length=32, required=False, allow_blank=True)
    share_read_receipts = serializers.BooleanField(
        required=False, help_text="let others see when you have read their messages (off: you see no one's)")


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at"]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class PresenceSetSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["auto", "online", "away", "dnd"])
    status_text = serializers.CharField(max_length=100, required=False, allow_blank=True)
    status_emoji = serializers.CharField(max_length=32, required=False, allow_blank=True)
    dnd_until = serializers.DateTimeField(required=False, allow_null=True)
    status_expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="clear the status text and emoji then (null: keep them)")


class PresenceSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user_id")
    status = serializers.ChoiceField(choices=["online", "away", "dnd", "offline"])
    status_text = serializers.CharField()
    status_emoji = serializers.CharField()
    dnd_until = serializers.CharField(allow_null=True)


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=["admin", "compliance", "member", "guest", "owner"],
                                   default="member")


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.CharField()
    invited_by = serializers.IntegerField(source="invited_by_id")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    accepted_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class InvitationCreatedSerializer(InvitationSerializer):
    url = serializers.CharField(help_text="The one-time link, shown only now.")
