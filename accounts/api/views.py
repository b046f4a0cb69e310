"""REST doors of the accounts app."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    MeSerializer,
    ProfileUpdateSerializer,
    UserSerializer,
)
from teamchat.pagination import paginate_queryset


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The signed-in person")
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=ProfileUpdateSerializer, responses=MeSerializer, summary="Edit my profile")
    def patch(self, request: Request) -> Response:
        serializer = ProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_profile_update(user=request.user, **serializer.validated_data)
        return Response(MeSerializer(user).data)


class UserListView(APIView):
    @extend_schema(responses=UserSerializer(many=True), summary="The people directory")
    def get(self, request: Request) -> Response:
        users = selectors.user_list(viewer=request.user, query=request.query_params.get("q", ""))
        return paginate_queryset(request, users, UserSerializer)


class UserDetailView(APIView):
    @extend_schema(responses=UserSerializer, summary="One person")
    def get(self, request: Request, user_id: int) -> Response:
        user = selectors.user_get_for_user(viewer=request.user, user_id=user_id)
        return Response(UserSerializer(user).data)


class TokenListView(APIView):
    @extend_schema(responses=ApiTokenSerializer(many=True), summary="My active API tokens")
    def get(self, request: Request) -> Response:
        tokens = selectors.api_token_list(user=request.user)
        return Response({"results": ApiTokenSerializer(tokens, many=True).data})

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer},
                   summary="Create an API token (shown once)")
    def post(self, request: Request) -> Response:
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, raw = services.api_token_create(
            actor=request.user, user=request.user, name=serializer.validated_data["name"]
        )
        token.token = raw
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    @extend_schema(responses={204: None}, summary="Revoke an API token")
    def delete(self, request: Request, token_id: int) -> Response:
        token = selectors.api_token_get_for_user(user=request.user, token_id=token_id)
        services.api_token_revoke(actor=request.user, token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
