"""Small factories that build data through the real services."""

from __future__ import annotations

import itertools

from accounts import services as account_services
from accounts.models import Role, User

_counter = itertools.count(1)

PASSWORD = "correct horse battery staple"


def make_user(role: str = Role.MEMBER, *, name: str | None = None, email: str | None = None,
              password: str = PASSWORD, **fields: object) -> User:
    number = next(_counter)
    return account_services.user_create(
        email=email or f"{role}{number}@example.com",
        display_name=name or f"{role.title()} {number}",
        password=password,
        role=role,
        **fields,
    )



def client_for(user: User):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user=user)
    return client
