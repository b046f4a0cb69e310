"""Per-request account upkeep: the organisation's two-factor policy and session activity."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from accounts import services
from accounts.services.security import TWO_FACTOR_OWED_DETAIL

# Pages a person who still has to set up two factors may reach.
SETUP_PATHS = ("/accounts/2fa/", "/accounts/logout/", "/static/", "/healthz")
SEEN_EVERY_SECONDS = 300


class AccountSecurityMiddleware:
    """Sends people the policy requires to use two factors to set them up before anything
    else (API calls on their session get 403), and notes when each session was last seen."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            self._seen(request)
            if (not request.path.startswith(SETUP_PATHS)
                    and services.two_factor_owed(user,
                                                 auth_method=request.session.get("auth_method"))):
                if request.path.startswith("/api/"):
                    return JsonResponse({"error": {
                        "code": "two_factor_required", "fields": {},
                        "detail": TWO_FACTOR_OWED_DETAIL}}, status=403)
                return redirect("accounts:two_factor_setup")
        return self.get_response(request)

    @staticmethod
    def _seen(request: HttpRequest) -> None:
        session = request.session
        if session.session_key and time.time() - session.get("seen", 0) > SEEN_EVERY_SECONDS:
            session["seen"] = time.time()
            services.session_seen(session_key=session.session_key)
