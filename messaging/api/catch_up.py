"""REST doors for catching up (issue 28): the threads a person follows."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import selectors, services
from messaging.api.serializers import MessageSchemaSerializer
from messaging.payloads import message_payload


class ThreadStateSerializer(serializers.Serializer):
    """A followed thread's counts, as `thread.updated` carries them."""

    root = serializers.IntegerField(help_text="the thread's first message")
    conversation = serializers.IntegerField()
    following = serializers.BooleanField()
    reply_count = serializers.IntegerField()
    last_reply_at = serializers.DateTimeField(allow_null=True)
    last_read_reply = serializers.IntegerField(help_text="replies after this id are unread (0: none read)")
    unread_replies = serializers.IntegerField(help_text="replies by others after last_read_reply")


class ThreadItemSerializer(ThreadStateSerializer):
    message = MessageSchemaSerializer(help_text="the thread's first message")
    latest_reply = MessageSchemaSerializer(allow_null=True)


class FollowSerializer(serializers.Serializer):
    following = serializers.BooleanField()


class ThreadReadSerializer(serializers.Serializer):
    reply = serializers.IntegerField(required=False, allow_null=True,
                                     help_text="read to this reply; the newest when left out")


class ThreadListView(APIView):
    @extend_schema(summary="Threads I follow, newest activity first",
                   parameters=[OpenApiParameter("cursor", str, description="next_cursor of the page before"),
                               OpenApiParameter("limit", int, description="at most 100 (20 when left out)")],
                   responses=inline_serializer("ThreadsPage", {
                       "results": ThreadItemSerializer(many=True),
                       "next_cursor": serializers.CharField(allow_null=True),
                       "unread_threads": serializers.IntegerField(),
                   }))
    def get(self, request: Request) -> Response:
        page = selectors.thread_list(user=request.user, cursor=request.query_params.get("cursor"),
                                     limit=request.query_params.get("limit"))
        items = [{**selectors.thread_fields(follow.root, follow, follow.unread),
                  "message": message_payload(follow.root),
                  "latest_reply": message_payload(latest) if latest else None}
                 for follow, latest in page.threads]
        return Response({"results": items, "next_cursor": page.next_cursor,
                         "unread_threads": page.unread_threads})


class FollowView(APIView):
    @extend_schema(summary="Follow a thread, or stop following it",
                   request=FollowSerializer, responses=ThreadStateSerializer)
    def put(self, request: Request, message_id: int) -> Response:
        serializer = FollowSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        follow = services.thread_follow(actor=request.user, message_id=message_id,
                                        following=serializer.validated_data["following"])
        return Response(selectors.thread_state(user=request.user, root=follow.root, follow=follow))


class ThreadReadView(APIView):
    @extend_schema(summary="Mark a thread I follow read (to its newest reply, or to `reply`)",
                   request=ThreadReadSerializer, responses=ThreadStateSerializer)
    def post(self, request: Request, message_id: int) -> Response:
        serializer = ThreadReadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        root = selectors.message_get_for_user(user=request.user, message_id=message_id)
        follow = services.thread_read(actor=request.user, message_id=root.pk,
                                      reply_id=serializer.validated_data.get("reply"))
        return Response(selectors.thread_state(user=request.user, root=root, follow=follow))
