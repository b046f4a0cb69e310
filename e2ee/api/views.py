"""REST doors of end-to-end encryption: validate, call one service or selector, answer."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from e2ee import selectors, services
from e2ee.api.serializers import (
    ConversationKeyInSerializer,
    ConversationKeyShareSerializer,
    ConversationKeysOutSerializer,
    IdentityKeyInSerializer,
    IdentityKeyOutSerializer,
)


class MyKeysView(APIView):
    @extend_schema(summary="My public key and the passphrase-wrapped backup of my private key",
                   responses=IdentityKeyOutSerializer)
    def get(self, request: Request) -> Response:
        return Response(selectors.identity_key_mine(user=request.user))

    @extend_schema(summary="Publish my public key with its wrapped backup (a new key replaces the old)",
                   request=IdentityKeyInSerializer, responses=IdentityKeyOutSerializer)
    def put(self, request: Request) -> Response:
        serializer = IdentityKeyInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.identity_key_set(user=request.user, public_key=serializer.validated_data["public_key"],
                                  backup=dict(serializer.validated_data["backup"]))
        return Response(selectors.identity_key_mine(user=request.user))


class UserKeysView(APIView):
    @extend_schema(summary="A person's public key and key history", responses=IdentityKeyOutSerializer)
    def get(self, request: Request, user_id: int) -> Response:
        return Response(selectors.identity_key_get_for_user(viewer=request.user, user_id=user_id))


class ConversationKeysView(APIView):
    @extend_schema(summary="Conversation keys wrapped for me, and the members' public keys",
                   responses=ConversationKeysOutSerializer)
    def get(self, request: Request, conversation_id: int) -> Response:
        return Response(selectors.conversation_keys_get_for_user(user=request.user,
                                                                 conversation_id=conversation_id))

    @extend_schema(summary="Start a new key version (the first one, or a rotation)",
                   request=ConversationKeyInSerializer, responses={201: ConversationKeysOutSerializer})
    def post(self, request: Request, conversation_id: int) -> Response:
        serializer = ConversationKeyInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.conversation_key_create(
            actor=request.user, conversation_id=conversation_id, key_id=data["key_id"],
            wrapped=[dict(entry) for entry in data["wrapped"]],
            escrow=dict(data["escrow"]) if data["escrow"] else None)
        return Response(selectors.conversation_keys_get_for_user(user=request.user,
                                                                 conversation_id=conversation_id),
                        status=status.HTTP_201_CREATED)


class ConversationKeyShareView(APIView):
    @extend_schema(summary="Share the current key with members who lack it (or the escrow key)",
                   request=ConversationKeyShareSerializer, responses=ConversationKeysOutSerializer)
    def put(self, request: Request, conversation_id: int, key_id: int) -> Response:
        serializer = ConversationKeyShareSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.conversation_key_share(
            actor=request.user, conversation_id=conversation_id, key_id=key_id,
            wrapped=[dict(entry) for entry in data["wrapped"]],
            escrow=dict(data["escrow"]) if data["escrow"] else None)
        return Response(selectors.conversation_keys_get_for_user(user=request.user,
                                                                 conversation_id=conversation_id))


class ConversationKeyRequestView(APIView):
    @extend_schema(summary="Ask the other members' clients to share the current key with me",
                   request=None, responses={202: None})
    def post(self, request: Request, conversation_id: int) -> Response:
        services.conversation_key_request(actor=request.user, conversation_id=conversation_id)
        return Response(status=status.HTTP_202_ACCEPTED)
