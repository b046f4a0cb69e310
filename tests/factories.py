"""Small factories that build data through the real services."""

from __future__ import annotations

import itertools
import time

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


def make_channel(creator: User, name: str | None = None, *, kind: str = "public",
                 members: list[User] = ()):
    from messaging import services

    return services.conversation_create(
        actor=creator, kind=kind, name=name or f"channel-{next(_counter)}",
        member_ids=[m.pk for m in members])


def make_direct(creator: User, *others: User):
    from messaging import services

    conversation, _ = services.conversation_direct_open(actor=creator,
                                                        member_ids=[u.pk for u in others])
    return conversation


# Every kind of conversation, for tests that walk each role against each kind.
CONVERSATION_KINDS = ["public", "private", "direct", "group"]
ROLES = ["owner", "admin", "compliance", "member", "guest"]


def make_conversation(kind: str, creator: User, member: User):
    """A conversation of this kind (CONVERSATION_KINDS) that `member` is in; a group
    direct conversation has a third person."""
    if kind == "direct":
        return make_direct(creator, member)
    if kind == "group":
        return make_direct(creator, member, make_user())
    return make_channel(creator, kind=kind, members=[member])


def post(author: User, conversation, text: str = "hello", **kwargs):
    from messaging import services

    return services.message_create(author=author, conversation_id=conversation.pk, text=text,
                                   **kwargs).message


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
