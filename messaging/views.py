"""The page that hosts the web client."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie

from accounts.api.serializers import MeSerializer
from accounts.models import Organisation
from core.client import module_graph
from messaging import selectors
from messaging.services import notifications


@login_required
@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    organisation = Organisation.get()
    bootstrap = {
        "me": MeSerializer(request.user).data,
        "organisation": {
            "name": organisation.name,
            "message_edit_window_seconds": organisation.message_edit_window_seconds,
            "e2ee_policy": organisation.e2ee_policy,
            "read_receipts_enabled": organisation.read_receipts_enabled,
        },
        # Where to open when this browser remembers nothing (boot.js asks for its messages
        # before the client has loaded).
        "open": selectors.last_read_conversation(user=request.user),
        # Whose presence the sidebar shows first: asked for by boot.js too.
        "presence_of": [request.user.pk, *selectors.direct_partner_ids(user=request.user)[:499]],
        "limits": {"upload_max_bytes": settings.FILE_UPLOAD_MAX_BYTES,
                   "heartbeat_seconds": settings.REALTIME_HEARTBEAT_SECONDS},
    }
    return render(request, "messaging/app.html",
                  {"bootstrap": bootstrap, "modules": module_graph("js/app.js")})


@csrf_exempt  # the signed token in the link is the credential; mail clients POST it bare
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The link in every notification email: confirm, then turn email off, no sign-in."""
    person = notifications.unsubscribe_user(token=token)
    if request.method == "POST":
        notifications.email_unsubscribe(token=token, ip_address=request.META.get("REMOTE_ADDR"))
        return render(request, "messaging/unsubscribed.html", {"person": person})
    return render(request, "messaging/unsubscribe.html", {"person": person})
