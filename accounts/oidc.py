"""Single sign-on with OpenID Connect (mozilla-django-oidc), matching people by email.

A verified email from the provider signs in the active person with that email; when none
exists and OIDC_CREATE_USERS is on (and the domain is allowed), a member is created.
"""

from __future__ import annotations

from typing import Any

import jwt
import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db.models import QuerySet
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts import services
from accounts.models import User
from core.audit import audit_record


class TeamchatOIDCBackend(OIDCAuthenticationBackend):
    def verify_claims(self, claims: dict[str, Any]) -> bool:
        email = (claims.get("email") or "").strip().lower()
        if not email or claims.get("email_verified") is False:
            audit_record(action="auth.sso_refused", data={"email": email,
                                                          "reason": "no verified email"})
            return False
        domains = settings.OIDC_ALLOWED_DOMAINS
        if domains and email.rsplit("@", 1)[-1] not in domains:
            audit_record(action="auth.sso_refused", data={"email": email, "reason": "domain"})
            return False
        return True

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[User]:
        return User.objects.filter(email__iexact=(claims.get("email") or "").strip(),
                                   is_active=True, is_bot=False)

    def create_user(self, claims: dict[str, Any]) -> User | None:
        if not settings.OIDC_CREATE_USERS:
            audit_record(action="auth.sso_refused", data={"email": claims.get("email"),
                                                          "reason": "no such person"})
            return None
        email = claims["email"].strip().lower()
        name = (claims.get("name") or claims.get("preferred_username")
                or email.split("@", 1)[0]).strip()[:80]
        return services.user_create(email=email, display_name=name, password=None,
                                    full_name=(claims.get("name") or "")[:150])

    def retrieve_matching_jwk(self, token: Any) -> Any:
        """Providers with a single signing key may leave `kid` out of their tokens; then the
        one key that fits the algorithm is used (and with any other count, none is)."""
        header = jwt.get_unverified_header(token)
        if "kid" in header:
            return super().retrieve_matching_jwk(token)
        answer = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=10,
                              verify=self.get_settings("OIDC_VERIFY_SSL", True))
        answer.raise_for_status()
        keys = [key for key in answer.json().get("keys", [])
                if key.get("alg", header.get("alg")) == header.get("alg")
                and key.get("use", "sig") == "sig"]
        if len(keys) != 1:
            raise SuspiciousOperation("The token names no key and the provider has several.")
        return jwt.PyJWK(keys[0])

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        return user

    def authenticate(self, request: Any, **kwargs: Any) -> User | None:
        user = super().authenticate(request, **kwargs)
        if user is not None and request is not None:
            # The identity provider checked the second factor (teamchat's own is skipped).
            request.session["auth_method"] = "oidc"
        return user
