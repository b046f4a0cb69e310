"""Receivers that record sign-ins, failures and sign-outs in the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts import services


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


@receiver(user_logged_in)
def _on_sign_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    services.sign_in_record(user=user, ip_address=client_ip(request))
    services.sign_in_succeeded(email=user.email)
    if request is not None and hasattr(request, "session"):
        if request.session.session_key is None:
            request.session.save()
        services.session_started(user=user, session_key=request.session.session_key,
                                 ip_address=client_ip(request),
                                 user_agent=request.META.get("HTTP_USER_AGENT", ""))


@receiver(user_login_failed)
def _on_sign_in_failed(sender: Any, credentials: dict, request: HttpRequest | None = None,
                       **kwargs: Any) -> None:
    email = credentials.get("username") or credentials.get("email") or ""
    # The lock-out counted this attempt before the password was checked
    # (accounts/backends.py).
    services.sign_in_failure_record(email=email, ip_address=client_ip(request))


@receiver(user_logged_out)
def _on_sign_out(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None and user.is_authenticated:
        services.sign_out_record(user=user, ip_address=client_ip(request))
        key = getattr(getattr(request, "session", None), "session_key", None)
        if key:
            services.session_forget(user_id=user.pk, session_key=key)
