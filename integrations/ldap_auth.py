"""Sign-in with a directory password (django-auth-ldap; docs/identity.md), on the usual
sign-in form. django-auth-ldap binds (after a search, or directly) and finds the entry;
teamchat then links the person and applies the directory through its services
(integrations/services/ldap.py). When the directory cannot be reached the form says so,
instead of calling the password wrong."""

from __future__ import annotations

from typing import Any

import ldap
from django.dispatch import receiver
from django_auth_ldap.backend import LDAPBackend, ldap_error

from accounts.models import User
from integrations import directory, services

UNAVAILABLE = ("The company directory (LDAP) cannot be reached right now, so your password "
               "could not be checked. Try again in a few minutes; if it goes on, tell your admin.")


class TeamchatLDAPBackend(LDAPBackend):
    def get_user(self, user_id: Any) -> User | None:
        # Like Django's own backend: a deactivated person's session no longer finds them.
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
        try:
            members, _missing = directory.group_members(ldap_user.connection)
        except directory.DirectoryUnavailable as error:
            # django-auth-ldap reports LDAP errors (the receiver below) and refuses the sign-in.
            cause = error.__cause__
            raise (cause if isinstance(cause, ldap.LDAPError) else ldap.SERVER_DOWN(str(error))) from error
        person = directory.person_from(ldap_user.dn, ldap_user.attrs or {}, members)
        user = services.ldap_sign_in(person=person) if person is not None else None
        if user is None:
            raise ldap_user.AuthenticationFailed("the directory's entry may not sign in here")
        return user, False


@receiver(ldap_error, sender=TeamchatLDAPBackend)
def _directory_unavailable(sender: Any, context: str, user: Any, request: Any, exception: Any,
                           **kwargs: Any) -> None:
    """Marks the request so that the sign-in form tells the person (accounts/forms.py)."""
    if request is None:
        return
    request.sign_in_unavailable = UNAVAILABLE
    services.ldap_sign_in_unavailable(email=request.POST.get("username", ""),
                                      error=directory.describe(exception))


__all__ = ["UNAVAILABLE", "TeamchatLDAPBackend"]
