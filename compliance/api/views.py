"""REST doors of the compliance app: the audit log for compliance officers and owners."""

from __future__ import annotations

from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import selectors, services
from compliance.api.serializers import (
    AuditEventQuerySerializer,
    AuditEventSerializer,
    encode_cursor,
)
from compliance.payloads import audit_event_payload
from compliance.services.holds import require_audit_reader
from core.errors import InvalidInput


class AuditEventListView(APIView):
    @extend_schema(
        summary="The audit log (compliance officers and owners)",
        parameters=[AuditEventQuerySerializer],
        responses=inline_serializer("AuditEventPage", {
            "results": AuditEventSerializer(many=True),
            "next_cursor": serializers.CharField(allow_null=True),
            "next": serializers.URLField(allow_null=True),
        }),
        examples=[OpenApiExample("A page", response_only=True, value={
            "results": [{
                "seq": 1284, "id": 1290, "created_at": "2026-12-07T18:00:00.123456+00:00",
                "actor_id": 3, "actor_label": "ana@example.com", "action": "message.deleted",
                "target_type": "messaging.message", "target_id": "812", "conversation_id": 5,
                "ip_address": "192.0.2.10", "data": {"author": 4},
                "prev_hash": "9f2c…", "hash": "41d7…"}],
            "next_cursor": "YTEyODQ",
            "next": "https://chat.example.com/api/v1/audit/events/?action=message&cursor=YTEyODQ"})])
    def get(self, request: Request) -> Response:
        # Who may ask comes before what was asked: others learn nothing about the filters.
        require_audit_reader(request.user, "read the audit log through the API")
        query = AuditEventQuerySerializer(data=request.query_params.dict())
        unknown = sorted(set(request.query_params) - set(query.fields))
        if unknown:
            raise InvalidInput(f"Unknown parameters: {', '.join(unknown)}.",
                               fields={name: ["Not a filter of the audit log."] for name in unknown})
        query.is_valid(raise_exception=True)
        cursor = query.validated_data.get("cursor")
        descending = cursor[1] if cursor else query.validated_data.get("order") == "desc"
        page = selectors.audit_event_page(
            viewer=request.user, filters=query.filters(), from_seq=cursor[0] if cursor else None,
            descending=descending, limit=query.validated_data.get("limit", selectors.AUDIT_PAGE))
        services.audit_log_viewed(actor=request.user, filters=query.given(),
                                  page=cursor[0] if cursor else None, via="api",
                                  count=len(page.events),
                                  ip_address=request.META.get("REMOTE_ADDR") or None)
        next_cursor = (encode_cursor(page.next_seq, descending=page.descending)
                       if page.next_seq is not None else None)
        next_url = None
        if next_cursor:
            params = {k: v for k, v in request.query_params.items() if k not in ("cursor", "order")}
            next_url = request.build_absolute_uri(
                f"{request.path}?{urlencode({**params, 'cursor': next_cursor})}")
        return Response({"results": [audit_event_payload(event) for event in page.events],
                         "next_cursor": next_cursor, "next": next_url})
