"""REST doors for catching up (issue 28): the threads a person follows, their Activity
view, and who has read a message."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import selectors, services
from messaging.api.serializers import MessageSchemaSerializer
from messaging.payloads import iso, message_payload


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


class ActivityItemSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="unique among your items, e.g. reaction-12")
    kind = serializers.ChoiceField(choices=["mention", "reply", "reaction"])
    at = serializers.DateTimeField()
    unread = serializers.BooleanField()
    conversation = serializers.IntegerField()
    user = serializers.IntegerField(help_text="who mentioned you, replied or reacted")
    emoji = serializers.CharField(allow_null=True, help_text="reactions only")
    mention_kind = serializers.ChoiceField(choices=["user", "group"], allow_null=True,
                                           help_text="mentions only: you, or a group of yours")
    message = MessageSchemaSerializer(help_text="the mention or reply; for a reaction, your message")


class ActivityListView(APIView):
    @extend_schema(summary="My activity: mentions of me and my groups, replies to my threads, "
                           "reactions to my messages, newest first",
                   parameters=[OpenApiParameter("kind", str, enum=["mention", "reply", "reaction"],
                                                required=False),
                               OpenApiParameter("before", str, description="next_before of the page before"),
                               OpenApiParameter("limit", int, description="at most 100 (30 when left out)")],
                   responses=inline_serializer("ActivityPage", {
                       "results": ActivityItemSerializer(many=True),
                       "next_before": serializers.CharField(allow_null=True),
                   }))
    def get(self, request: Request) -> Response:
        page = selectors.activity_list(user=request.user, kind=request.query_params.get("kind"),
                                       before=request.query_params.get("before"),
                                       limit=request.query_params.get("limit"))
        items = [{"id": item.key, "kind": item.kind, "at": iso(item.at), "unread": item.unread,
                  "conversation": item.message.conversation_id, "user": item.actor_id,
                  "emoji": item.emoji, "mention_kind": item.mention_kind,
                  "message": message_payload(item.message)} for item in page.items]
        return Response({"results": items, "next_before": page.next_before})


class ActivitySeenView(APIView):
    @extend_schema(summary="I looked at my Activity view: reactions until now are read",
                   request=None, responses=inline_serializer("ActivitySeen", {
                       "seen_at": serializers.DateTimeField()}))
    def post(self, request: Request) -> Response:
        state = services.activity_seen(actor=request.user)
        return Response({"seen_at": iso(state.reactions_seen_at)})


class ReceiptsView(APIView):
    @extend_schema(summary="Who has read a message (\"Seen by\")",
                   responses=inline_serializer("Receipts", {
                       "enabled": serializers.BooleanField(),
                       "reason": serializers.ChoiceField(
                           choices=["organisation_off", "not_sharing", "too_large"], allow_null=True,
                           help_text="why receipts are not shown to you here"),
                       "seen_by": serializers.ListField(child=serializers.IntegerField()),
                   }))
    def get(self, request: Request, message_id: int) -> Response:
        receipts = selectors.message_receipts(user=request.user, message_id=message_id)
        return Response({"enabled": receipts.enabled, "reason": receipts.reason,
                         "seen_by": receipts.seen_by})
