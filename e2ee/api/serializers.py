"""Input shapes of the encryption API; the services check the content."""

from __future__ import annotations

from rest_framework import serializers


class BackupSerializer(serializers.Serializer):
    kdf = serializers.CharField()
    hash = serializers.CharField()
    iterations = serializers.IntegerField()
    salt = serializers.CharField()
    cipher = serializers.CharField()
    iv = serializers.CharField()
    ciphertext = serializers.CharField()


class IdentityKeyInSerializer(serializers.Serializer):
    public_key = serializers.CharField(max_length=4096)
    backup = BackupSerializer()


class WrappedEntrySerializer(serializers.Serializer):
    user = serializers.IntegerField()
    fingerprint = serializers.CharField(max_length=64)
    wrapped_key = serializers.CharField(max_length=2048)


class EscrowEntrySerializer(serializers.Serializer):
    fingerprint = serializers.CharField(max_length=64)
    wrapped_key = serializers.CharField(max_length=2048)


class ConversationKeyInSerializer(serializers.Serializer):
    key_id = serializers.IntegerField(min_value=1)
    wrapped = WrappedEntrySerializer(many=True)
    escrow = EscrowEntrySerializer(required=False, allow_null=True, default=None)


class ConversationKeyShareSerializer(serializers.Serializer):
    wrapped = WrappedEntrySerializer(many=True, required=False, default=list)
    escrow = EscrowEntrySerializer(required=False, allow_null=True, default=None)


class EscrowKeySerializer(serializers.Serializer):
    public_key = serializers.CharField()
    fingerprint = serializers.CharField()


class KeyHistorySerializer(serializers.Serializer):
    fingerprint = serializers.CharField()
    created_at = serializers.DateTimeField()
    replaced_at = serializers.DateTimeField(allow_null=True)


class IdentityKeyOutSerializer(serializers.Serializer):
    """GET/PUT me/keys/ carry `backup`, `policy` and `escrow`; GET users/{id}/keys/ `history`."""

    user = serializers.IntegerField()
    public_key = serializers.CharField(allow_null=True)
    fingerprint = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    backup = serializers.DictField(allow_null=True, required=False)
    policy = serializers.ChoiceField(choices=["off", "allowed", "required"], required=False)
    escrow = EscrowKeySerializer(allow_null=True, required=False)
    history = KeyHistorySerializer(many=True, required=False)


class ConversationKeysOutSerializer(serializers.Serializer):
    conversation = serializers.IntegerField()
    encrypted = serializers.BooleanField()
    current_key_id = serializers.IntegerField(allow_null=True)
    rotation_required = serializers.BooleanField()
    missing = serializers.ListField(child=serializers.IntegerField())
    keys = serializers.ListField(child=serializers.DictField())
    members = serializers.ListField(child=serializers.DictField())
    escrow = serializers.DictField(allow_null=True)
