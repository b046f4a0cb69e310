"""Project-level pages: error handlers shared by the site and the API."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.errors import InvalidInput, NotFound, TeamchatError, as_teamchat_error


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    error = NotFound()
    if request.path.startswith("/api/"):
        return JsonResponse({"error": error.as_dict()}, status=404)
    return render(request, "error.html", {"error": error}, status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """What Django answers itself with 400: a body it refused to read (past
    DATA_UPLOAD_MAX_MEMORY_SIZE: `too_large`; too many fields), a request it found
    suspicious. Our error shape, not Django's bare page, whichever part raised it."""
    error = as_teamchat_error(exception) if exception is not None else None
    if not isinstance(error, TeamchatError) or error.status_code != 400:
        error = InvalidInput("The request could not be read.", code="bad_request")
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"error": error.as_dict()}, status=400)
    return render(request, "error.html", {"error": error}, status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = {"code": "server_error", "detail": "Something went wrong on our side.", "fields": {}}
        return JsonResponse({"error": body}, status=500)
    return render(request, "500.html", status=500)
