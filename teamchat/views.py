"""Project-level pages: error handlers shared by the site and the API."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.errors import NotFound


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    error = NotFound()
    if request.path.startswith("/api/"):
        return JsonResponse({"error": error.as_dict()}, status=404)
    return render(request, "error.html", {"error": error}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = {"code": "server_error", "detail": "Something went wrong on our side.", "fields": {}}
        return JsonResponse({"error": body}, status=500)
    return render(request, "500.html", status=500)
