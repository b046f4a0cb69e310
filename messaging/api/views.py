"""REST doors of the messaging app: validate, call one service or selector, shape output."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import UserSerializer
from core.errors import InvalidInput
from core.pagination import paginate_queryset
from messaging import selectors, services
from messaging.api.serializers import (
    ConversationCreateSerializer,
    ConversationOutSerializer,
    ConversationSchemaSerializer,
    ConversationUpdateSerializer,
    DraftSerializer,
    MemberAddSerializer,
    MemberOutSerializer,
    MemberRoleSerializer,
    MessageCreateSerializer,
    MessageEditSerializer,
    MessageSchemaSerializer,
    NotificationPreferencesSerializer,
    PreferencesSerializer,
    PreviewSerializer,
    ReactionSerializer,
    ReadSerializer,
    ReminderCreateSerializer,
    ReminderSchemaSerializer,
    RevisionOutSerializer,
    SavedDoneSerializer,
    SavedMessageSchemaSerializer,
    ScheduledCreateSerializer,
    ScheduledEditSerializer,
    ScheduledSchemaSerializer,
    UserGroupSerializer,
)
from messaging.models import ConversationKind
from messaging.payloads import (
    conversation_payload,
    iso,
    message_payload,
    reminder_payload,
    scheduled_payload,
)
from messaging.services import notifications
from messaging.services.messages import ReadPosition


def _results(items: list, **paging: object) -> Response:
    return Response({"results": items, **paging})


def _conversation_out(conversation, membership=None, members=None) -> dict:
    return conversation_payload(conversation, membership, member_ids=members)


class ConversationListView(APIView):
    @extend_schema(summary="My conversations, with unread and mention counts",
                   responses=ConversationSchemaSerializer(many=True))
    def get(self, request: Request) -> Response:
        memberships = list(selectors.membership_list(user=request.user))
        direct_ids = [m.conversation_id for m in memberships
                      if m.conversation.kind == ConversationKind.DIRECT]
        members = selectors.direct_member_ids(conversation_ids=direct_ids)
        results = []
        for membership in memberships:
            data = _conversation_out(membership.conversation, membership,
                                     members.get(membership.conversation_id))
            data["unread_count"] = membership.unread_count
            data["mention_count"] = membership.mention_count
            results.append(data)
        return _results(results)

    @extend_schema(summary="Create a channel, or open a direct conversation",
                   request=ConversationCreateSerializer,
                   responses={201: ConversationSchemaSerializer, 200: ConversationSchemaSerializer})
    def post(self, request: Request) -> Response:
        serializer = ConversationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["kind"] == ConversationKind.DIRECT:
            conversation, created = services.conversation_direct_open(
                actor=request.user, member_ids=data["members"], encrypted=data.get("encrypted"))
        else:
            conversation = services.conversation_create(
                actor=request.user, kind=data["kind"], name=data["name"],
                topic=data.get("topic", ""), purpose=data.get("purpose", ""),
                member_ids=data.get("members", []), encrypted=data.get("encrypted"))
            created = True
        conversation, membership = selectors.conversation_get_for_user(
            user=request.user, conversation_id=conversation.pk)
        members = selectors.direct_member_ids(conversation_ids=[conversation.pk])
        return Response(_conversation_out(conversation, membership, members[conversation.pk]),
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ChannelDirectoryView(APIView):
    @extend_schema(summary="Browse and search channels by name",
                   parameters=[OpenApiParameter("q", str), OpenApiParameter("archived", bool)],
                   responses=ConversationSchemaSerializer(many=True))
    def get(self, request: Request) -> Response:
        channels = selectors.channel_directory(
            user=request.user, query=request.query_params.get("q", ""),
            include_archived=request.query_params.get("archived") in ("1", "true"))
        return paginate_queryset(request, channels, ConversationOutSerializer,
                                 ordering=("name",))


class ConversationDetailView(APIView):
    @extend_schema(summary="One conversation", responses=ConversationSchemaSerializer)
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation, membership = selectors.conversation_get_for_user(
            user=request.user, conversation_id=conversation_id)
        members = selectors.direct_member_ids(conversation_ids=[conversation.pk])
        return Response(_conversation_out(conversation, membership, members[conversation.pk]))

    @extend_schema(summary="Rename, set topic or purpose, archive or unarchive",
                   request=ConversationUpdateSerializer, responses=ConversationSchemaSerializer)
    def patch(self, request: Request, conversation_id: int) -> Response:
        serializer = ConversationUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        selectors.conversation_get_for_user(user=request.user, conversation_id=conversation_id)
        services.conversation_update(actor=request.user, conversation_id=conversation_id,
                                     **serializer.validated_data)
        return self.get(request, conversation_id)


class ConversationJoinView(APIView):
    @extend_schema(summary="Join a public channel", request=None,
                   responses=ConversationSchemaSerializer)
    def post(self, request: Request, conversation_id: int) -> Response:
        selectors.conversation_get_for_user(user=request.user, conversation_id=conversation_id)
        services.conversation_join(actor=request.user, conversation_id=conversation_id)
        return ConversationDetailView().get(request, conversation_id)


class ConversationLeaveView(APIView):
    @extend_schema(summary="Leave a channel", request=None, responses={204: None})
    def post(self, request: Request, conversation_id: int) -> Response:
        selectors.conversation_get_for_user(user=request.user, conversation_id=conversation_id)
        services.conversation_leave(actor=request.user, conversation_id=conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PreferencesView(APIView):
    @extend_schema(summary="My notification level, mute and star for a conversation",
                   request=PreferencesSerializer, responses=ConversationSchemaSerializer)
    def patch(self, request: Request, conversation_id: int) -> Response:
        serializer = PreferencesSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        selectors.conversation_get_for_user(user=request.user, conversation_id=conversation_id)
        services.membership_preferences_update(actor=request.user,
                                               conversation_id=conversation_id,
                                               **serializer.validated_data)
        return ConversationDetailView().get(request, conversation_id)


class MemberListView(APIView):
    @extend_schema(summary="Members of a conversation", responses=MemberOutSerializer(many=True))
    def get(self, request: Request, conversation_id: int) -> Response:
        members = selectors.member_list(user=request.user, conversation_id=conversation_id)
        return paginate_queryset(request, members, MemberOutSerializer, ordering=("user_id",))

    @extend_schema(summary="Add a person to a channel", request=MemberAddSerializer,
                   responses={201: MemberOutSerializer})
    def post(self, request: Request, conversation_id: int) -> Response:
        serializer = MemberAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_add(actor=request.user, conversation_id=conversation_id,
                                             user_id=serializer.validated_data["user"])
        return Response(MemberOutSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    @extend_schema(summary="Remove a person (or yourself) from a channel", responses={204: None})
    def delete(self, request: Request, conversation_id: int, user_id: int) -> Response:
        services.membership_remove(actor=request.user, conversation_id=conversation_id,
                                   user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Change a member's channel role", request=MemberRoleSerializer,
                   responses=MemberOutSerializer)
    def patch(self, request: Request, conversation_id: int, user_id: int) -> Response:
        serializer = MemberRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_role_change(
            actor=request.user, conversation_id=conversation_id, user_id=user_id,
            role=serializer.validated_data["role"])
        return Response(MemberOutSerializer(membership).data)


def _page_url(request: Request, **params: object) -> str:
    query = {k: v for k, v in request.query_params.items() if k not in ("before", "after",
                                                                        "around")}
    query.update(params)
    return request.build_absolute_uri(request.path) + "?" + urlencode(query)


class MessageListView(APIView):
    @extend_schema(
        summary="History, oldest first, paged by message id",
        parameters=[OpenApiParameter("before", int), OpenApiParameter("after", int),
                    OpenApiParameter("around", int), OpenApiParameter("limit", int)],
        responses=inline_serializer("MessagePage", {
            "results": MessageSchemaSerializer(many=True),
            "has_older": serializers.BooleanField(),
            "has_newer": serializers.BooleanField(),
            "older": serializers.URLField(allow_null=True),
            "newer": serializers.URLField(allow_null=True),
        }),
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        params = request.query_params
        page = selectors.message_history(
            user=request.user, conversation_id=conversation_id, before=params.get("before"),
            after=params.get("after"), around=params.get("around"), limit=params.get("limit"))
        messages = page.messages
        older = (_page_url(request, before=messages[0].pk)
                 if page.has_older and messages else None)
        newer = (_page_url(request, after=messages[-1].pk)
                 if page.has_newer and messages else None)
        return _results([message_payload(m) for m in messages], has_older=page.has_older,
                        has_newer=page.has_newer, older=older, newer=newer)

    @extend_schema(summary="Send a message (idempotent by client_msg_id)",
                   request=MessageCreateSerializer,
                   responses={201: MessageSchemaSerializer, 200: MessageSchemaSerializer})
    def post(self, request: Request, conversation_id: int) -> Response:
        serializer = MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        selectors.conversation_get_for_user(user=request.user, conversation_id=conversation_id)
        result = services.message_create(
            author=request.user, conversation_id=conversation_id, text=data["text"],
            client_msg_id=data.get("client_msg_id", ""), thread_root_id=data.get("thread_root"),
            also_in_channel=data.get("also_in_channel", False), file_ids=data.get("files", []),
            encrypted=serializer.encrypted())
        message = selectors.message_get_for_user(user=request.user, message_id=result.message.pk)
        return Response(message_payload(message),
                        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class ReadView(APIView):
    @extend_schema(summary="Mark read up to a message (moves forward only)",
                   request=ReadSerializer, responses=ConversationSchemaSerializer)
    def post(self, request: Request, conversation_id: int) -> Response:
        serializer = ReadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _read_out(services.read_mark(actor=request.user, conversation_id=conversation_id,
                                            message_id=serializer.validated_data["message"]))


class UnreadView(APIView):
    @extend_schema(summary="Mark a message unread (the read position moves back to just before it)",
                   request=None, responses=ConversationSchemaSerializer)
    def post(self, request: Request, message_id: int) -> Response:
        return _read_out(services.read_mark_unread(actor=request.user, message_id=message_id))


def _read_out(read: ReadPosition) -> Response:
    """The conversation as the person now stands in it, with what is unread."""
    data = _conversation_out(read.membership.conversation, read.membership)
    data.update(unread_count=read.unread_count, mention_count=read.mention_count)
    return Response(data)


class PinListView(APIView):
    @extend_schema(summary="Pinned messages of a conversation",
                   responses=MessageSchemaSerializer(many=True))
    def get(self, request: Request, conversation_id: int) -> Response:
        pins = selectors.pin_list(user=request.user, conversation_id=conversation_id)
        return _results([message_payload(m) for m in pins])


class MessageDetailView(APIView):
    @extend_schema(summary="One message", responses=MessageSchemaSerializer)
    def get(self, request: Request, message_id: int) -> Response:
        message = selectors.message_get_for_user(user=request.user, message_id=message_id)
        return Response(message_payload(message))

    @extend_schema(summary="Edit a message (author only)", request=MessageEditSerializer,
                   responses=MessageSchemaSerializer)
    def patch(self, request: Request, message_id: int) -> Response:
        serializer = MessageEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        selectors.message_get_for_user(user=request.user, message_id=message_id)
        services.message_edit(actor=request.user, message_id=message_id,
                              text=serializer.validated_data["text"], encrypted=serializer.encrypted())
        return self.get(request, message_id)

    @extend_schema(summary="Delete a message (leaves a tombstone)", responses={204: None})
    def delete(self, request: Request, message_id: int) -> Response:
        selectors.message_get_for_user(user=request.user, message_id=message_id)
        services.message_delete(actor=request.user, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RevisionListView(APIView):
    @extend_schema(summary="Earlier bodies of a message", responses=RevisionOutSerializer(many=True))
    def get(self, request: Request, message_id: int) -> Response:
        revisions = selectors.message_revisions(user=request.user, message_id=message_id)
        return _results([RevisionOutSerializer(r).data for r in revisions])


class ReplyListView(APIView):
    @extend_schema(summary="A thread's root and replies",
                   parameters=[OpenApiParameter("after", int), OpenApiParameter("limit", int)],
                   responses=inline_serializer("ThreadPage", {
                       "root": MessageSchemaSerializer(),
                       "results": MessageSchemaSerializer(many=True),
                       "has_more": serializers.BooleanField(),
                   }))
    def get(self, request: Request, message_id: int) -> Response:
        root, replies, has_more = selectors.message_replies(
            user=request.user, message_id=message_id, after=request.query_params.get("after"),
            limit=request.query_params.get("limit"))
        return _results([message_payload(m) for m in replies], root=message_payload(root),
                        has_more=has_more)


class ReactionListView(APIView):
    @extend_schema(summary="React to a message", request=ReactionSerializer,
                   responses={201: MessageSchemaSerializer})
    def post(self, request: Request, message_id: int) -> Response:
        serializer = ReactionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        selectors.message_get_for_user(user=request.user, message_id=message_id)
        services.reaction_add(actor=request.user, message_id=message_id,
                              emoji_value=serializer.validated_data["emoji"])
        message = selectors.message_get_for_user(user=request.user, message_id=message_id)
        return Response(message_payload(message), status=status.HTTP_201_CREATED)


class ReactionDetailView(APIView):
    @extend_schema(summary="Remove my reaction", responses={204: None})
    def delete(self, request: Request, message_id: int, emoji: str) -> Response:
        selectors.message_get_for_user(user=request.user, message_id=message_id)
        services.reaction_remove(actor=request.user, message_id=message_id, emoji_value=emoji)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PinView(APIView):
    @extend_schema(summary="Pin a message", request=None, responses={201: MessageSchemaSerializer})
    def post(self, request: Request, message_id: int) -> Response:
        selectors.message_get_for_user(user=request.user, message_id=message_id)
        services.pin_add(actor=request.user, message_id=message_id)
        message = selectors.message_get_for_user(user=request.user, message_id=message_id)
        return Response(message_payload(message), status=status.HTTP_201_CREATED)

    @extend_schema(summary="Unpin a message", responses={204: None})
    def delete(self, request: Request, message_id: int) -> Response:
        selectors.message_get_for_user(user=request.user, message_id=message_id)
        services.pin_remove(actor=request.user, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SaveView(APIView):
    @extend_schema(summary="Save a message for later (in progress again if it was done)",
                   request=None, responses={201: None})
    def post(self, request: Request, message_id: int) -> Response:
        services.message_save(actor=request.user, message_id=message_id)
        return Response(status=status.HTTP_201_CREATED)

    @extend_schema(summary="Mark a saved message done, or in progress again",
                   request=SavedDoneSerializer, responses=SavedMessageSchemaSerializer)
    def patch(self, request: Request, message_id: int) -> Response:
        serializer = SavedDoneSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        saved = services.message_save_done(actor=request.user, message_id=message_id,
                                           done=serializer.validated_data["done"])
        message = selectors.message_get_for_user(user=request.user, message_id=saved.message_id)
        return Response(_saved_out(message, saved))

    @extend_schema(summary="Remove a message from my saved items", responses={204: None})
    def delete(self, request: Request, message_id: int) -> Response:
        services.message_unsave(actor=request.user, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SavedListView(APIView):
    @extend_schema(summary="My saved messages, most recently saved first",
                   parameters=[OpenApiParameter("state", str, enum=["open", "done"], required=False,
                                                description="only those in progress, or only those done")],
                   responses=SavedMessageSchemaSerializer(many=True))
    def get(self, request: Request) -> Response:
        state = request.query_params.get("state")
        if state not in (None, "open", "done"):
            raise InvalidInput.for_field("state", "Must be open or done.")
        done = None if state is None else state == "done"
        return _results([_saved_out(m, s) for m, s in selectors.saved_list(user=request.user, done=done)])


def _saved_out(message, saved) -> dict:
    return {**message_payload(message), "saved_at": iso(saved.saved_at), "done_at": iso(saved.done_at)}


class DraftListView(APIView):
    @extend_schema(summary="My drafts, in the conversations I am in, newest first",
                   responses=DraftSerializer(many=True))
    def get(self, request: Request) -> Response:
        return _results([DraftSerializer(d).data for d in selectors.draft_list(user=request.user)])


class DraftView(APIView):
    @extend_schema(summary="Keep my draft in a conversation or one of its threads (empty text clears it)",
                   request=DraftSerializer, responses={200: DraftSerializer, 204: None})
    def put(self, request: Request, conversation_id: int) -> Response:
        serializer = DraftSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        draft = services.draft_save(actor=request.user, conversation_id=conversation_id,
                                    thread_root_id=serializer.validated_data.get("thread_root"),
                                    text=serializer.validated_data["text"],
                                    origin=serializer.validated_data.get("origin"))
        if draft is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(DraftSerializer(draft).data)

    @extend_schema(summary="Clear my draft in a conversation or one of its threads",
                   parameters=[OpenApiParameter("thread_root", int, required=False),
                               OpenApiParameter("origin", str, required=False)],
                   responses={204: None})
    def delete(self, request: Request, conversation_id: int) -> Response:
        services.draft_clear(actor=request.user, conversation_id=conversation_id,
                             thread_root_id=request.query_params.get("thread_root"),
                             origin=request.query_params.get("origin"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserGroupListView(APIView):
    @extend_schema(summary="User groups", responses=UserGroupSerializer(many=True))
    def get(self, request: Request) -> Response:
        groups = selectors.usergroup_list(user=request.user)
        return _results([UserGroupSerializer(g).data for g in groups])

    @extend_schema(summary="Create a user group (admins)", request=UserGroupSerializer,
                   responses={201: UserGroupSerializer})
    def post(self, request: Request) -> Response:
        serializer = UserGroupSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        group = services.usergroup_create(actor=request.user, handle=data["handle"],
                                          name=data["name"],
                                          description=data.get("description", ""),
                                          member_ids=data.get("members", []))
        return Response(UserGroupSerializer(group).data, status=status.HTTP_201_CREATED)


class UserGroupDetailView(APIView):
    @extend_schema(summary="Change a user group (admins)", request=UserGroupSerializer,
                   responses=UserGroupSerializer)
    def patch(self, request: Request, group_id: int) -> Response:
        serializer = UserGroupSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "members" in changes:
            changes["members"] = list(changes["members"])
        group = services.usergroup_update(actor=request.user, group_id=group_id, **changes)
        return Response(UserGroupSerializer(group).data)

    @extend_schema(summary="Delete a user group (admins)", responses={204: None})
    def delete(self, request: Request, group_id: int) -> Response:
        services.usergroup_delete(actor=request.user, group_id=group_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PreviewView(APIView):
    @extend_schema(summary="Render message Markdown as it would be sent (nothing is stored)",
                   request=PreviewSerializer,
                   responses=inline_serializer("Preview", {"html": serializers.CharField()}))
    def post(self, request: Request) -> Response:
        serializer = PreviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        html = selectors.message_preview(user=request.user,
                                         text=serializer.validated_data["text"],
                                         conversation_id=serializer.validated_data.get(
                                             "conversation"))
        return Response({"html": html})


class EmojiListView(APIView):
    @extend_schema(summary="Emoji and their shortcodes, for pickers and autocomplete",
                   responses=inline_serializer("EmojiList", {
                       "results": serializers.ListField(child=serializers.ListField())}))
    def get(self, request: Request) -> Response:
        response = Response({"results": selectors.emoji_catalogue()})
        response["Cache-Control"] = "private, max-age=86400"
        return response


class MessageSearchView(APIView):
    @extend_schema(
        summary="Search messages you may see",
        description="Words, \"exact phrases\", OR, -excluded, and filters in:#channel, in:@person, "
                    "from:@person, from:\"Display Name\", has:file, has:link, is:thread, before:, "
                    "after:, during: (YYYY-MM-DD, YYYY-MM or YYYY). Ranked by relevance and recency. "
                    "Each result is a message with its conversation's name and kind, the words to "
                    "mark (`match_words`) and the messages just before and after it (`context`).",
        parameters=[OpenApiParameter("q", str, required=True), OpenApiParameter("page", int),
                    OpenApiParameter("limit", int)],
        responses=inline_serializer("SearchPage", {
            "results": inline_serializer("SearchResult", {
                **MessageSchemaSerializer().get_fields(),
                "highlight": serializers.CharField(),
                "match_words": serializers.ListField(child=serializers.CharField()),
                "conversation_name": serializers.CharField(),
                "conversation_kind": serializers.ChoiceField(["public", "private", "direct"]),
                "context": inline_serializer("SearchContext", {
                    "before": MessageSchemaSerializer(allow_null=True),
                    "after": MessageSchemaSerializer(allow_null=True)}),
            }, many=True),
            "page": serializers.IntegerField(), "has_more": serializers.BooleanField()}))
    def get(self, request: Request) -> Response:
        from messaging.search import message_search

        params = request.query_params
        result = message_search(user=request.user, query=params.get("q", ""),
                                page=params.get("page", 1), limit=params.get("limit", 20))
        names = selectors.conversation_labels(user=request.user, conversation_ids={
            hit.message.conversation_id for hit in result.hits})

        def context(message: Any) -> dict[str, Any] | None:
            return message_payload(message) if message is not None else None

        results = [{**message_payload(hit.message), "highlight": hit.highlight,
                    "match_words": hit.match_words,
                    "conversation_name": names.get(hit.message.conversation_id, ""),
                    "conversation_kind": hit.conversation_kind,
                    "context": {"before": context(hit.before), "after": context(hit.after)}}
                   for hit in result.hits]
        return _results(results, page=result.page, has_more=result.has_more)


class PeopleSearchView(APIView):
    @extend_schema(summary="Find people by name or email",
                   parameters=[OpenApiParameter("q", str, required=True)],
                   responses=UserSerializer(many=True))
    def get(self, request: Request) -> Response:
        from accounts.selectors import user_list

        query = request.query_params.get("q", "").strip()
        if not query:
            raise InvalidInput.for_field("q", "Type a name to look for.")
        people = user_list(viewer=request.user, query=query)[:50]
        return _results(UserSerializer(people, many=True).data)


class ChannelSearchView(APIView):
    @extend_schema(summary="Find channels by name, topic or purpose",
                   parameters=[OpenApiParameter("q", str, required=True)],
                   responses=ConversationSchemaSerializer(many=True))
    def get(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        if not query:
            raise InvalidInput.for_field("q", "Type a name to look for.")
        channels = selectors.channel_directory(user=request.user, query=query,
                                               include_archived=True)[:50]
        return _results(ConversationOutSerializer(channels, many=True).data)


class MyNotificationsView(APIView):
    @extend_schema(responses=NotificationPreferencesSerializer,
                   summary="My notification preferences")
    def get(self, request: Request) -> Response:
        return Response(NotificationPreferencesSerializer(request.user).data)

    @extend_schema(request=NotificationPreferencesSerializer,
                   responses=NotificationPreferencesSerializer,
                   summary="Change my notification preferences")
    def patch(self, request: Request) -> Response:
        serializer = NotificationPreferencesSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = notifications.notification_preferences_update(user=request.user, **serializer.validated_data)
        return Response(NotificationPreferencesSerializer(user).data)


class ScheduledListView(APIView):
    @extend_schema(summary="My scheduled messages: waiting (soonest first), then not sent and sent",
                   parameters=[OpenApiParameter(
                       "state", str, enum=["pending", "sent", "failed", "cancelled"], required=False,
                       description="only those in this state (cancelled ones only so)")],
                   responses=ScheduledSchemaSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = selectors.scheduled_list(user=request.user, state=request.query_params.get("state"))
        return _results([scheduled_payload(s) for s in rows])

    @extend_schema(summary="Schedule a message to be sent at a minute of my choosing",
                   request=ScheduledCreateSerializer, responses={201: ScheduledSchemaSerializer})
    def post(self, request: Request) -> Response:
        serializer = ScheduledCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        scheduled = services.scheduled_create(
            actor=request.user, conversation_id=data["conversation"], text=data["text"],
            send_at=data["send_at"], thread_root_id=data.get("thread_root"))
        return Response(scheduled_payload(scheduled), status=status.HTTP_201_CREATED)


class ScheduledDetailView(APIView):
    @extend_schema(summary="One of my scheduled messages", responses=ScheduledSchemaSerializer)
    def get(self, request: Request, scheduled_id: int) -> Response:
        scheduled = selectors.scheduled_get_for_user(user=request.user, scheduled_id=scheduled_id)
        return Response(scheduled_payload(scheduled))

    @extend_schema(summary="Change the text or time of a scheduled message before it is sent",
                   request=ScheduledEditSerializer, responses=ScheduledSchemaSerializer)
    def patch(self, request: Request, scheduled_id: int) -> Response:
        serializer = ScheduledEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        scheduled = services.scheduled_edit(actor=request.user, scheduled_id=scheduled_id,
                                            text=serializer.validated_data.get("text"),
                                            send_at=serializer.validated_data.get("send_at"))
        return Response(scheduled_payload(scheduled))

    @extend_schema(summary="Cancel a scheduled message before it is sent", responses={204: None})
    def delete(self, request: Request, scheduled_id: int) -> Response:
        services.scheduled_cancel(actor=request.user, scheduled_id=scheduled_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReminderListView(APIView):
    @extend_schema(summary="My reminders: waiting (soonest first), or delivered (newest first)",
                   parameters=[OpenApiParameter("state", str, enum=["pending", "delivered"], required=False)],
                   responses=ReminderSchemaSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = selectors.reminder_list(user=request.user, state=request.query_params.get("state"))
        return _results([reminder_payload(r, m) for r, m in rows])

    @extend_schema(summary="Remind me about a message (again: moves the reminder waiting)",
                   request=ReminderCreateSerializer,
                   responses={201: ReminderSchemaSerializer, 200: ReminderSchemaSerializer})
    def post(self, request: Request) -> Response:
        serializer = ReminderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reminder, created = services.reminder_set(
            actor=request.user, message_id=data["message"], in_minutes=data.get("in_minutes"),
            remind_at=data.get("remind_at"))
        message = selectors.message_get_for_user(user=request.user, message_id=reminder.message_id)
        return Response(reminder_payload(reminder, message),
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ReminderDetailView(APIView):
    @extend_schema(summary="Cancel a reminder", responses={204: None})
    def delete(self, request: Request, reminder_id: int) -> Response:
        services.reminder_cancel(actor=request.user, reminder_id=reminder_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
