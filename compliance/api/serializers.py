"""The audit-log API's query and answer."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from rest_framework import serializers

from compliance.selectors import AUDIT_PAGE, AUDIT_PAGE_MAX, AuditEventFilters

_ACTION = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")
MAX_ACTIONS = 50


def encode_cursor(seq: int, *, descending: bool) -> str:
    """Opaque to clients: where the next page goes on from, and in which direction."""
    return base64.urlsafe_b64encode(f"{'d' if descending else 'a'}{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, bool]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw[:1] not in ("a", "d") or not raw[1:].isdigit():
            raise ValueError(raw)
        return int(raw[1:]), raw[0] == "d"
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise serializers.ValidationError("Give the next_cursor of the page before.") from None


class AuditEventQuerySerializer(serializers.Serializer):
    """Every filter of `GET audit/events/`; an empty one counts as not given."""

    actor = serializers.CharField(required=False, allow_blank=True, max_length=254,
                                  help_text="a person's id, or their email at the time")
    action = serializers.CharField(
        required=False, allow_blank=True, max_length=2000,
        help_text="actions (`message.deleted`) or subjects (`message`: all of its actions), "
                  "comma-separated")
    target_type = serializers.CharField(required=False, allow_blank=True, max_length=64,
                                        help_text="e.g. `messaging.message`")
    target_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    conversation = serializers.IntegerField(required=False, min_value=1)
    after_seq = serializers.IntegerField(required=False, min_value=0,
                                         help_text="only events numbered after this one")
    order = serializers.ChoiceField(choices=["asc", "desc"], required=False,
                                    help_text="asc (oldest first, the default) or desc")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=AUDIT_PAGE_MAX,
                                     help_text=f"events a page, at most {AUDIT_PAGE_MAX} "
                                               f"({AUDIT_PAGE} when left out)")
    cursor = serializers.CharField(required=False, allow_blank=True, max_length=64,
                                   help_text="next_cursor of the page before")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Python keywords, so not declared as attributes.
        fields["from"] = serializers.DateTimeField(
            required=False, help_text="events at or after this time (ISO 8601; UTC without an offset)")
        fields["to"] = serializers.DateTimeField(
            required=False, help_text="events before this time")
        return fields

    def validate_actor(self, value: str) -> int | str:
        value = value.strip()
        if value.isdigit():
            return int(value)
        if value and "@" not in value:
            raise serializers.ValidationError("Give a person's id or email.")
        return value

    def validate_action(self, value: str) -> tuple[str, ...]:
        actions = tuple(part.strip() for part in value.split(",") if part.strip())
        if len(actions) > MAX_ACTIONS:
            raise serializers.ValidationError(f"At most {MAX_ACTIONS} actions.")
        for action in actions:
            if not _ACTION.fullmatch(action) or len(action) > 64:
                raise serializers.ValidationError(
                    f"“{action[:64]}” is not an action or subject (such as message.deleted or "
                    f"message).")
        return actions

    def validate_cursor(self, value: str) -> tuple[int, bool] | None:
        return decode_cursor(value) if value else None

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        since, until = data.get("from"), data.get("to")
        if since and until and until <= since:
            raise serializers.ValidationError({"to": ["Must come after from."]})
        cursor = data.get("cursor")
        if cursor and "order" in data and cursor[1] != (data["order"] == "desc"):
            raise serializers.ValidationError(
                {"cursor": ["This cursor belongs to the other order; leave order out."]})
        return data

    def filters(self) -> AuditEventFilters:
        data = self.validated_data
        actor = data.get("actor")
        return AuditEventFilters(
            actor_id=actor if isinstance(actor, int) else None,
            actor_email=actor if isinstance(actor, str) else "",
            actions=data.get("action") or (), target_type=data.get("target_type", ""),
            target_id=data.get("target_id", ""), conversation=data.get("conversation"),
            since=data.get("from"), until=data.get("to"), after_seq=data.get("after_seq"))

    def given(self) -> dict[str, Any]:
        """The filters as asked for, for the record of the read."""
        return {name: self.initial_data[name] for name in self.fields
                if name not in ("cursor", "limit") and self.initial_data.get(name) not in (None, "")}


class AuditEventSerializer(serializers.Serializer):
    """An audit event as recorded: the fields its hash covers, its number and its hashes
    (for the schema; the answer is compliance.payloads.audit_event_payload)."""

    seq = serializers.IntegerField(help_text="its number in the chain: 1, 2, 3, … without gaps")
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor_id = serializers.IntegerField(allow_null=True)
    actor_label = serializers.CharField(help_text="the actor's email at the time")
    action = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    conversation_id = serializers.IntegerField(allow_null=True)
    ip_address = serializers.IPAddressField(allow_null=True)
    data = serializers.DictField(help_text="the action's details")
    prev_hash = serializers.CharField(help_text="the hash of the event before it")
    hash = serializers.CharField(
        help_text="SHA-256 of prev_hash, a newline and the canonical JSON of the fields above "
                  "from created_at to data (docs/compliance.md)")
