"""REST doors for Web Push (docs/notifications.md): the devices a person is notified on,
and the key their browsers subscribe with."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import selectors
from messaging.models import PushSubscription
from messaging.payloads import iso
from messaging.services import push


class PushKeysSerializer(serializers.Serializer):
    p256dh = serializers.CharField(max_length=128, help_text="the browser's P-256 public key, base64url")
    auth = serializers.CharField(max_length=64, help_text="the 16-byte authentication secret, base64url")


class PushSubscribeSerializer(serializers.Serializer):
    """What `PushSubscription.toJSON()` gives in the browser, and a name for the device."""

    endpoint = serializers.URLField(max_length=1000)
    keys = PushKeysSerializer()
    device_name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class PushSubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    endpoint = serializers.CharField()
    device_name = serializers.CharField()
    user_agent = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


def subscription_payload(subscription: PushSubscription) -> dict[str, Any]:
    return {"id": subscription.pk, "endpoint": subscription.endpoint,
            "device_name": subscription.device_name, "user_agent": subscription.user_agent,
            "created_at": iso(subscription.created_at), "last_used_at": iso(subscription.last_used_at)}


class PushKeyView(APIView):
    @extend_schema(summary="The VAPID public key browsers subscribe to push notifications with",
                   responses=inline_serializer("PushKey", {"vapid_public_key": serializers.CharField()}))
    def get(self, request: Request) -> Response:
        return Response({"vapid_public_key": push.vapid_public_key()})


class PushSubscriptionListView(APIView):
    @extend_schema(summary="The devices I receive push notifications on, newest first",
                   responses=inline_serializer("PushSubscriptionList", {
                       "results": PushSubscriptionSerializer(many=True)}))
    def get(self, request: Request) -> Response:
        rows = selectors.push_subscription_list(user=request.user)
        return Response({"results": [subscription_payload(s) for s in rows]})

    @extend_schema(summary="Receive push notifications on this device (again: updates it)",
                   request=PushSubscribeSerializer,
                   responses={201: PushSubscriptionSerializer, 200: PushSubscriptionSerializer})
    def post(self, request: Request) -> Response:
        serializer = PushSubscribeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscription, created = push.push_subscription_save(
            actor=request.user, endpoint=data["endpoint"], p256dh=data["keys"]["p256dh"],
            auth=data["keys"]["auth"], device_name=data.get("device_name", ""),
            user_agent=request.headers.get("User-Agent", ""))
        return Response(subscription_payload(subscription),
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class PushSubscriptionDetailView(APIView):
    @extend_schema(summary="Stop push notifications on one of my devices", responses={204: None})
    def delete(self, request: Request, subscription_id: int) -> Response:
        push.push_subscription_delete(actor=request.user, subscription_id=subscription_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
