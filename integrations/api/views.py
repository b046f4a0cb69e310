"""REST doors of the integrations app."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services as accounts
from accounts.api.serializers import UserSerializer
from accounts.models import User
from core.errors import NotFound, RateLimited
from files.delivery import serve
from integrations import selectors, services, slack
from integrations.models import MessageLinkPreview, OutgoingWebhook
from integrations.services.common import require_admin
from integrations.services.incoming import hook_url
from messaging.payloads import message_payload
from messaging.search import visible_conversations


class BotCreateSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=80)
    username = serializers.CharField(max_length=40)


class BotListView(APIView):
    @extend_schema(summary="Bots (admins)", responses=UserSerializer(many=True))
    def get(self, request: Request) -> Response:
        require_admin(request.user, "see bots")
        bots = User.objects.filter(is_bot=True).order_by("display_name")
        return Response({"results": UserSerializer(bots, many=True).data})

    @extend_schema(summary="Create a bot (admins); give it tokens with bots/{id}/tokens/",
                   request=BotCreateSerializer, responses={201: UserSerializer})
    def post(self, request: Request) -> Response:
        serializer = BotCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bot = accounts.bot_create(actor=request.user, **serializer.validated_data)
        return Response(UserSerializer(bot).data, status=status.HTTP_201_CREATED)


class BotTokenSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class BotTokenView(APIView):
    @extend_schema(summary="Create an API token for a bot (admins who may see every "
                           "conversation the bot is in; not a webhook's or slash command's "
                           "bot; shown once)",
                   request=BotTokenSerializer,
                   responses={201: inline_serializer("BotTokenCreated", {
                       "id": serializers.IntegerField(), "token": serializers.CharField()})})
    def post(self, request: Request, bot_id: int) -> Response:
        serializer = BotTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, raw = services.bot_token_create(actor=request.user, bot_id=bot_id,
                                               name=serializer.validated_data["name"])
        return Response({"id": token.pk, "token": raw}, status=status.HTTP_201_CREATED)


class IncomingSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    conversation = serializers.IntegerField(source="conversation_id")
    bot = serializers.IntegerField(source="bot_id", read_only=True)
    prefix = serializers.CharField(source="secret_prefix", read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    last_used_at = serializers.DateTimeField(read_only=True, allow_null=True)
    revoked_at = serializers.DateTimeField(read_only=True, allow_null=True)


class IncomingListView(APIView):
    @extend_schema(summary="Incoming webhooks (admins)", responses=IncomingSerializer(many=True))
    def get(self, request: Request) -> Response:
        require_admin(request.user, "see webhooks")
        hooks = selectors.incoming_webhook_list(viewer=request.user)
        return Response({"results": IncomingSerializer(hooks, many=True).data})

    @extend_schema(summary="Create an incoming webhook; its URL is shown only now",
                   request=IncomingSerializer,
                   responses={201: inline_serializer("IncomingCreated", {
                       "id": serializers.IntegerField(), "url": serializers.URLField()})},
                   examples=[OpenApiExample("Create", value={"name": "CI", "conversation": 3},
                                            request_only=True)])
    def post(self, request: Request) -> Response:
        serializer = IncomingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hook, raw = services.incoming_webhook_create(
            actor=request.user, conversation_id=serializer.validated_data["conversation_id"],
            name=serializer.validated_data["name"])
        return Response({**IncomingSerializer(hook).data, "url": hook_url(raw)},
                        status=status.HTTP_201_CREATED)


class IncomingDetailView(APIView):
    @extend_schema(summary="Revoke an incoming webhook (admins)", responses={204: None})
    def delete(self, request: Request, hook_id: int) -> Response:
        services.incoming_webhook_revoke(actor=request.user, hook_id=hook_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OutgoingSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    url = serializers.URLField(max_length=500)
    conversations = serializers.ListField(child=serializers.IntegerField(), min_length=1)
    trigger_words = serializers.ListField(child=serializers.CharField(max_length=40), required=False)
    bot = serializers.IntegerField(source="bot_id", read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    revoked_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def to_representation(self, hook: OutgoingWebhook) -> dict:
        # Listed: only the conversations the viewer may see (selectors.outgoing_webhook_list).
        conversations = ([c.pk for c in hook.visible_conversations]
                         if hasattr(hook, "visible_conversations")
                         else hook.conversations.values_list("pk", flat=True))
        return {"id": hook.pk, "name": hook.name, "url": hook.url, "bot": hook.bot_id,
                "conversations": sorted(conversations),
                "trigger_words": hook.trigger_words, "created_at": hook.created_at,
                "revoked_at": hook.revoked_at}


class OutgoingListView(APIView):
    @extend_schema(summary="Outgoing webhooks (admins)", responses=OutgoingSerializer(many=True))
    def get(self, request: Request) -> Response:
        require_admin(request.user, "see webhooks")
        hooks = selectors.outgoing_webhook_list(viewer=request.user)
        return Response({"results": [OutgoingSerializer(h).to_representation(h) for h in hooks]})

    @extend_schema(summary="Create an outgoing webhook; its signing secret is shown only now",
                   request=OutgoingSerializer,
                   responses={201: inline_serializer("OutgoingCreated", {
                       "id": serializers.IntegerField(), "secret": serializers.CharField()})},
                   examples=[OpenApiExample("Create", request_only=True, value={
                       "name": "Deploy bot", "url": "https://ci.example.com/teamchat",
                       "conversations": [3], "trigger_words": ["deploy"]})])
    def post(self, request: Request) -> Response:
        serializer = OutgoingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        hook, secret = services.outgoing_webhook_create(
            actor=request.user, name=data["name"], url=data["url"],
            conversation_ids=data["conversations"], trigger_words=data.get("trigger_words", []))
        return Response({**OutgoingSerializer(hook).to_representation(hook), "secret": secret},
                        status=status.HTTP_201_CREATED)


class OutgoingDetailView(APIView):
    @extend_schema(summary="Revoke an outgoing webhook (admins)", responses={204: None})
    def delete(self, request: Request, hook_id: int) -> Response:
        services.outgoing_webhook_revoke(actor=request.user, hook_id=hook_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryLogView(APIView):
    @extend_schema(summary="An outgoing webhook's delivery log (admins)",
                   responses=inline_serializer("Delivery", {
                       "id": serializers.IntegerField(), "message": serializers.IntegerField(),
                       "status": serializers.CharField(), "attempts": serializers.IntegerField(),
                       "response_status": serializers.IntegerField(allow_null=True),
                       "error": serializers.CharField(),
                       "created_at": serializers.DateTimeField(),
                       "delivered_at": serializers.DateTimeField(allow_null=True)}, many=True))
    def get(self, request: Request, hook_id: int) -> Response:
        require_admin(request.user, "see deliveries")
        deliveries = selectors.delivery_list(viewer=request.user, hook_id=hook_id)[:200]
        return Response({"results": [{
            "id": d.pk, "message": d.message_id, "status": d.status, "attempts": d.attempts,
            "response_status": d.response_status, "response_excerpt": d.response_excerpt,
            "error": d.error, "created_at": d.created_at, "delivered_at": d.delivered_at,
        } for d in deliveries]})


class CommandSerializer(serializers.Serializer):
    command = serializers.CharField(max_length=33)
    text = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    thread_root = serializers.IntegerField(required=False, allow_null=True)


class CommandRunView(APIView):
    @extend_schema(summary="Run a slash command in a conversation",
                   request=CommandSerializer,
                   responses=inline_serializer("CommandResult", {
                       "response_type": serializers.ChoiceField(choices=["ephemeral", "in_channel"]),
                       "text": serializers.CharField(),
                       "message": serializers.DictField(allow_null=True)}),
                   examples=[OpenApiExample("Topic", request_only=True,
                                            value={"command": "topic", "text": "Launch week"})])
    def post(self, request: Request, conversation_id: int) -> Response:
        serializer = CommandSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.command_run(actor=request.user, conversation_id=conversation_id,
                                      command=data["command"], text=data.get("text", ""),
                                      thread_root_id=data.get("thread_root"))
        return Response({"response_type": result.response_type, "text": result.text,
                         "message": message_payload(result.message) if result.message else None})


class SlashCommandCreateSerializer(serializers.Serializer):
    # The service checks the name and the address; this only makes sure they are strings.
    command = serializers.CharField(max_length=33)
    url = serializers.CharField(max_length=500)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    usage_hint = serializers.CharField(required=False, allow_blank=True, default="")


class CommandListView(APIView):
    @extend_schema(summary="Slash commands, built-in and custom",
                   responses=inline_serializer("Command", {
                       "command": serializers.CharField(), "usage": serializers.CharField(),
                       "description": serializers.CharField()}, many=True))
    def get(self, request: Request) -> Response:
        return Response({"results": services.command_list()})

    @extend_schema(summary="Create a custom slash command (admins); its token is shown once",
                   request=SlashCommandCreateSerializer,
                   responses={201: inline_serializer("CommandCreated", {
                       "command": serializers.CharField(), "token": serializers.CharField()})})
    def post(self, request: Request) -> Response:
        serializer = SlashCommandCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slash, token = services.slash_command_create(actor=request.user, **serializer.validated_data)
        return Response({"command": slash.command, "token": token}, status=status.HTTP_201_CREATED)


class PreviewImageView(APIView):
    @extend_schema(summary="A link preview's image", responses={(200, "image/jpeg"): bytes})
    def get(self, request: Request, preview_id: int):
        link = (MessageLinkPreview.objects.select_related("preview")
                .filter(preview_id=preview_id, message__deleted_at__isnull=True,
                        message__conversation__in=visible_conversations(request.user))
                .exclude(preview__image="").first())
        if link is None:
            raise NotFound("No such preview.")
        preview = link.preview
        return serve(preview.image, name="preview.jpg", content_type="image/jpeg", download=False)


@csrf_exempt  # the secret in the URL is the credential; senders are servers, not browsers
@require_POST
def incoming_hook(request: HttpRequest, secret: str) -> HttpResponse:
    """POST /api/v1/hooks/<secret>: Slack-compatible; answers plain `ok` or Slack's error."""
    def plain(text: str, code: int) -> HttpResponse:
        return HttpResponse(text, status=code, content_type="text/plain; charset=utf-8")

    try:
        # Read no further than a payload may be: past it, `invalid_payload` (where
        # request.body would stop at Django's own limit with its HTML page).
        body = request.read(slack.MAX_PAYLOAD_BYTES + 1)
        services.incoming_webhook_post(secret=secret, body=body,
                                       content_type=request.content_type or "")
    except NotFound:
        return plain("no_service", 404)
    except RateLimited as error:
        response = plain("rate_limited", 429)
        response["Retry-After"] = str(error.retry_after)
        return response
    except slack.PayloadError as error:
        return plain(error.code, 400)
    return plain("ok", 200)
