"""Paging for list endpoints: opaque cursors, never offsets a client must compute."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer


class ListCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = ("id",)


def paginate_queryset(
    request: Request,
    queryset: QuerySet,
    serializer_class: type[BaseSerializer],
    *,
    ordering: tuple[str, ...] | None = None,
    context: dict | None = None,
    max_page_size: int | None = None,
) -> Response:
    """One page of `queryset` as `{"results": [...], "next": url|null, "previous": url|null}`."""
    paginator = ListCursorPagination()
    if max_page_size:
        paginator.max_page_size = max_page_size
    if ordering:
        paginator.ordering = ordering
    elif queryset.query.order_by:
        paginator.ordering = tuple(queryset.query.order_by)
    page = paginator.paginate_queryset(queryset, request)
    data = serializer_class(page, many=True, context={"request": request, **(context or {})}).data
    return paginator.get_paginated_response(data)
