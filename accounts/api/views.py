"""REST doors of the accounts app."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import presence, selectors, services
from accounts.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    InvitationCreatedSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    MeSerializer,
    PresenceSerializer,
    PresenceSetSerializer,
    ProfileUpdateSerializer,
    UserSerializer,
)
from core.errors import Forbidden, InvalidInput, NotFound
from core.pagination import paginate_queryset


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


DIRECTORY_PAGE_MAX = 1000


class UserListView(APIView):
    @extend_schema(responses=UserSerializer(many=True), summary="The people directory")
    def get(self, request: Request) -> Response:
        users = selectors.user_list(viewer=request.user, query=request.query_params.get("q", ""))
        # The web client holds the whole directory: in one page up to this size.
        return paginate_queryset(request, users, UserSerializer, max_page_size=DIRECTORY_PAGE_MAX)


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


class MyPresenceView(APIView):
    @extend_schema(request=PresenceSetSerializer, responses=PresenceSerializer,
                   summary="Set my presence: auto, away, or do-not-disturb until a time")
    def put(self, request: Request) -> Response:
        serializer = PresenceSetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = services.presence_set(user=request.user, status=data["status"],
                                     status_text=data.get("status_text"),
                                     status_emoji=data.get("status_emoji"),
                                     dnd_until=data.get("dnd_until"),
                                     status_expires_at=data.get("status_expires_at"))
        (current,) = presence.presence_many([user.pk])
        return Response(PresenceSerializer(current).data)


class PresenceListView(APIView):
    @extend_schema(parameters=[OpenApiParameter("users", str, description="ids, comma-separated")],
                   responses=PresenceSerializer(many=True),
                   summary="Presence of many people in one call")
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("users", "")
        try:
            wanted = [int(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            raise InvalidInput.for_field("users", "Comma-separated person ids.") from None
        if not wanted:
            raise InvalidInput.for_field("users", "Name at least one person.")
        if len(wanted) > 500:
            raise InvalidInput.for_field("users", "At most 500 people per call.")
        visible = selectors.user_ids_visible(viewer=request.user, user_ids=wanted)
        return Response({"results": PresenceSerializer(presence.presence_many(visible),
                                                       many=True).data})


class InvitationListView(APIView):
    @extend_schema(responses=InvitationSerializer(many=True), summary="Invitations (admins)")
    def get(self, request: Request) -> Response:
        if not request.user.is_org_admin:
            raise Forbidden("Only owners and admins see invitations.")
        invitations = selectors.invitation_list(viewer=request.user)[:500]
        return Response({"results": InvitationSerializer(invitations, many=True).data})

    @extend_schema(request=InvitationCreateSerializer, responses={201: InvitationCreatedSerializer},
                   summary="Invite someone by email (admins); the link is emailed and shown once")
    def post(self, request: Request) -> Response:
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, raw = services.user_invite(actor=request.user, **serializer.validated_data)
        invitation.url = services.invitation_url(raw)
        return Response(InvitationCreatedSerializer(invitation).data,
                        status=status.HTTP_201_CREATED)


class InvitationDetailView(APIView):
    @extend_schema(responses={204: None}, summary="Revoke an invitation (admins)")
    def delete(self, request: Request, invitation_id: int) -> Response:
        invitation = selectors.invitation_list(viewer=request.user).filter(pk=invitation_id).first()
        if invitation is None:
            raise NotFound("No such invitation.")
        services.invitation_revoke(actor=request.user, invitation=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyAvatarView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": inline_serializer(
        "AvatarUpload", {"avatar": serializers.ImageField()})}, responses=MeSerializer,
        summary="Upload my avatar (PNG, JPEG, GIF or WebP, up to 5 MB)")
    def put(self, request: Request) -> Response:
        upload = request.FILES.get("avatar")
        if upload is None:
            raise InvalidInput.for_field("avatar", "Attach an image as the 'avatar' field.")
        user = services.user_avatar_set(user=request.user, avatar=upload)
        return Response(MeSerializer(user).data)

    @extend_schema(responses={200: MeSerializer}, summary="Remove my avatar")
    def delete(self, request: Request) -> Response:
        user = services.user_avatar_clear(user=request.user)
        return Response(MeSerializer(user).data)
