"""The password check, behind the sign-in lock-out."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from accounts import services
from accounts.models import User
from core.errors import Forbidden

SSO_ONLY_MESSAGE = ("Password sign-in is turned off for this organisation: "
                    "sign in with single sign-on.")


class LockoutModelBackend(ModelBackend):
    """Django's email and password check, for every door that calls `authenticate` (the
    sign-in page, the admin site). Each attempt is counted before the password is
    checked, so concurrent guesses cannot pass the lock-out; while the account is locked
    the password is not checked at all and authentication stops here."""

    def authenticate(self, request: Any, username: str | None = None,
                     password: str | None = None, **kwargs: Any) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        if not services.password_sign_in_allowed(email=username):
            # Turned off for all but the break-glass owner (the sign-in page says so).
            raise PermissionDenied(SSO_ONLY_MESSAGE)
        try:
            attempt = services.sign_in_attempt_begin(email=username)
        except Forbidden as error:
            raise PermissionDenied(error.detail) from error
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            services.sign_in_attempt_passed(email=username, attempt=attempt)
            if not services.password_sign_in_allowed(user=user):
                raise PermissionDenied(SSO_ONLY_MESSAGE)  # named, but no longer an owner
        return user
