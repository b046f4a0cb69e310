"""REST doors of calls: what a browser needs before it calls, and the calls' record."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calls import selectors
from messaging import selectors as messaging_selectors


class IceServerSerializer(serializers.Serializer):
    urls = serializers.ListField(child=serializers.CharField())
    username = serializers.CharField(required=False)
    credential = serializers.CharField(required=False)


class CallParticipantSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user_id")
    state = serializers.CharField()
    joined_at = serializers.DateTimeField(allow_null=True)
    left_at = serializers.DateTimeField(allow_null=True)


class CallSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation = serializers.IntegerField(source="conversation_id")
    started_by = serializers.IntegerField(source="started_by_id", allow_null=True)
    media = serializers.CharField()
    state = serializers.CharField()
    started_at = serializers.DateTimeField()
    connected_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField()
    duration_seconds = serializers.IntegerField(allow_null=True)
    message = serializers.IntegerField(source="message_id", allow_null=True)
    participants = CallParticipantSerializer(many=True)


class IceServersView(APIView):
    @extend_schema(summary="STUN and TURN servers for calls, with short-lived TURN credentials",
                   responses=inline_serializer("IceServers", {
                       "ice_servers": IceServerSerializer(many=True),
                       "ttl_seconds": serializers.IntegerField(),
                       "max_participants": serializers.IntegerField(),
                       "ring_seconds": serializers.FloatField()}))
    def get(self, request: Request) -> Response:
        response = Response(selectors.ice_servers(user=request.user))
        response["Cache-Control"] = "private, no-store"
        return response


class ConversationCallListView(APIView):
    @extend_schema(summary="The calls of a conversation, newest first (the last 50)",
                   responses=inline_serializer("CallList", {
                       "results": CallSerializer(many=True)}))
    def get(self, request: Request, conversation_id: int) -> Response:
        messaging_selectors.conversation_get_for_user(user=request.user,
                                                      conversation_id=conversation_id)
        calls = selectors.call_list(user=request.user, conversation_id=conversation_id)
        calls = calls.prefetch_related("participants")[:50]
        return Response({"results": CallSerializer(calls, many=True).data})
