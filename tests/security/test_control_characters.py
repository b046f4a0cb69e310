"""Finding 6: control characters in names. Every field a person, channel, group, bot,
webhook or token is known by refuses C0 controls (line breaks and tabs included), DEL,
C1 controls, Unicode line separators and lone surrogates, with a 400 naming the field;
and an invitation's email goes out whatever name was stored before the check."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail

from accounts import services as accounts
from accounts.models import User
from compliance import services as compliance
from core.errors import InvalidInput
from messaging import services as messaging
from tests.factories import client_for, make_channel, make_user

pytestmark = pytest.mark.django_db

CONTROLS = {
    "CR LF": "Eve\r\nBcc: all@example.com",
    "LF": "Eve\nSmith",
    "TAB": "Eve\tSmith",
    "DEL": "Eve\x7f",
    "C1 NEL": "Eve\x85Smith",
    "line separator": "Eve\u2028Smith",
    "lone surrogate": "Eve\ud800",
}


def api_cases(owner: User, member: User) -> list[tuple[str, str, str, Callable[[str], Any]]]:
    """(field, method, path, body for a value) of every API door that takes a name."""
    channel = make_channel(owner, "general", members=[member])
    group = messaging.usergroup_create(actor=owner, handle="oncall", name="Oncall")
    bot = accounts.bot_create(actor=owner, display_name="Robot", username="robot")
    return [
        ("display_name", "patch", "/api/v1/me/", lambda v: {"display_name": v}),
        ("full_name", "patch", "/api/v1/me/", lambda v: {"full_name": v}),
        ("title", "patch", "/api/v1/me/", lambda v: {"title": v}),
        ("status_text", "patch", "/api/v1/me/", lambda v: {"status_text": v}),
        ("status_text", "put", "/api/v1/me/presence/",
         lambda v: {"status": "online", "status_text": v}),
        ("name", "post", "/api/v1/me/tokens/", lambda v: {"name": v}),
        ("name", "post", "/api/v1/conversations/", lambda v: {"kind": "public", "name": v}),
        ("name", "patch", f"/api/v1/conversations/{channel.pk}/", lambda v: {"name": v}),
        ("topic", "patch", f"/api/v1/conversations/{channel.pk}/", lambda v: {"topic": v}),
        ("purpose", "patch", f"/api/v1/conversations/{channel.pk}/", lambda v: {"purpose": v}),
        ("name", "post", "/api/v1/usergroups/", lambda v: {"handle": "ops", "name": v}),
        ("description", "post", "/api/v1/usergroups/",
         lambda v: {"handle": "ops", "name": "Ops", "description": v}),
        ("name", "patch", f"/api/v1/usergroups/{group.pk}/", lambda v: {"name": v}),
        ("description", "patch", f"/api/v1/usergroups/{group.pk}/",
         lambda v: {"description": v}),
        ("display_name", "post", "/api/v1/bots/", lambda v: {"display_name": v, "username": "r2"}),
        ("name", "post", f"/api/v1/bots/{bot.pk}/tokens/", lambda v: {"name": v}),
        ("name", "post", "/api/v1/integrations/incoming/",
         lambda v: {"name": v, "conversation": channel.pk}),
        ("name", "post", "/api/v1/integrations/outgoing/",
         lambda v: {"name": v, "url": "https://example.com/hook",
                    "conversations": [channel.pk]}),
        ("description", "post", "/api/v1/commands/",
         lambda v: {"command": "deploy", "url": "https://example.com/c", "description": v}),
        ("usage_hint", "post", "/api/v1/commands/",
         lambda v: {"command": "deploy", "url": "https://example.com/c", "usage_hint": v}),
    ]


@pytest.mark.parametrize("what", sorted(CONTROLS))
def test_every_api_name_field_refuses_control_characters(owner, member, what):
    client = client_for(owner)
    value = CONTROLS[what]
    wrong = []
    for field, method, path, body in api_cases(owner, member):
        # json.dumps escapes a lone surrogate as \ud800, as a client would send it.
        response = client.generic(method.upper(), path, json.dumps(body(value)),
                                  content_type="application/json")
        error = response.json().get("error", {}) if response.status_code < 500 else {}
        if response.status_code != 400 or error.get("code") != "invalid" \
                or list(error.get("fields", {})) != [field]:
            wrong.append(f"{method.upper()} {path} {field}: {response.status_code} {error}")
    assert wrong == []
    assert not User.objects.filter(display_name__contains="Eve").exists()


@pytest.mark.parametrize("what", sorted(CONTROLS))
def test_names_taken_outside_the_api_refuse_control_characters(owner, member, what):
    value = CONTROLS[what]
    _, raw = accounts.user_invite(actor=owner, email="new@example.com")
    channel = make_channel(owner, "legal")
    doors = {
        "display_name": lambda: accounts.invitation_accept(
            token=raw, display_name=value, password="a long enough password 1"),
        "name": lambda: accounts.organisation_update(actor=owner, name=value),
        "hold name": lambda: compliance.legal_hold_create(
            actor=owner, name=value, reason="matter", conversation_ids=[channel.pk]),
    }
    for door, call in doors.items():
        with pytest.raises(InvalidInput) as refused:
            call()
        assert list(refused.value.fields) == [door.removeprefix("hold ")], door


def test_names_with_ordinary_text_are_still_taken(owner):
    client = client_for(owner)
    response = client.patch("/api/v1/me/", {"display_name": "Zoë O'Brien-Łukasz 😀",
                                            "title": "Head of Ops (EMEA)"}, format="json")
    assert response.status_code == 200
    assert response.json()["display_name"] == "Zoë O'Brien-Łukasz 😀"


def test_an_invitation_email_goes_out_whatever_name_the_inviter_has(
        admin, django_capture_on_commit_callbacks):
    # given an admin whose name was stored with a line break before names were checked
    User.objects.filter(pk=admin.pk).update(display_name="Adam\r\nBcc: all@example.com")
    admin.refresh_from_db()

    # when they invite someone (the email is sent by the background task)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).post("/api/v1/invitations/", {"email": "new@example.com"},
                                          format="json")

    # then the invitation was made and its email sent, with the name on one line
    assert response.status_code == 201
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Adam Bcc: all@example.com invited you to teamchat"
    assert mail.outbox[0].to == ["new@example.com"]


def test_a_new_person_cannot_take_a_name_with_a_line_break(owner):
    with pytest.raises(InvalidInput) as refused:
        make_user(name="Mallory\nAdmin")
    assert refused.value.fields == {
        "display_name": ["Must not contain control characters (such as line breaks or tabs)."]}
