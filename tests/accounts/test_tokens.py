"""API tokens: shown once, stored hashed, revocable, sent as a Bearer header."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiToken
from core.errors import Forbidden
from core.models import AuditEvent
from tests.factories import client_for

pytestmark = pytest.mark.django_db


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_token_created_over_the_api_is_shown_once_and_stored_hashed(member):
    response = client_for(member).post("/api/v1/me/tokens/", {"name": "ci bot"}, format="json")

    assert response.status_code == 201
    raw = response.json()["token"]
    assert raw.startswith("tc_")
    stored = ApiToken.objects.get(pk=response.json()["id"])
    assert raw not in (stored.token_hash, stored.prefix)
    assert stored.prefix == raw[:10]
    listing = client_for(member).get("/api/v1/me/tokens/").json()["results"]
    assert listing == [{"id": stored.pk, "name": "ci bot", "prefix": raw[:10],
                        "created_at": listing[0]["created_at"], "last_used_at": None}]
    assert AuditEvent.objects.filter(action="token.created", actor=member).count() == 1


def test_a_valid_token_authenticates_and_records_its_use(member):
    token, raw = services.api_token_create(actor=member, user=member, name="script")

    response = bearer(raw).get("/api/v1/me/")

    assert response.status_code == 200
    assert response.json()["email"] == member.email
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_revoked_token_is_refused(member):
    token, raw = services.api_token_create(actor=member, user=member, name="script")
    response = client_for(member).delete(f"/api/v1/me/tokens/{token.pk}/")
    assert response.status_code == 204

    response = bearer(raw).get("/api/v1/me/")

    assert response.status_code == 401
    assert response.json() == {"error": {"code": "authentication_failed",
                                         "detail": "Invalid or revoked token.", "fields": {}}}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer tc_ä"])
def test_a_malformed_authorization_header_is_refused_clearly(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/me/")

    assert response.status_code == 401
    assert "Malformed Authorization header" in response.json()["error"]["detail"]


def test_an_unknown_token_and_another_scheme_are_refused():
    assert bearer("tc_not-a-real-token").get("/api/v1/me/").status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]["detail"]


def test_no_credentials_get_401_not_a_page():
    response = APIClient().get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_deactivated_persons_token_stops_working(member, admin):
    _, raw = services.api_token_create(actor=member, user=member, name="script")
    services.user_deactivate(actor=admin, user=member)

    assert bearer(raw).get("/api/v1/me/").status_code == 401


def test_someone_elses_token_cannot_be_revoked_or_seen(member, other_member):
    token, raw = services.api_token_create(actor=member, user=member, name="mine")

    response = client_for(other_member).delete(f"/api/v1/me/tokens/{token.pk}/")

    assert response.status_code == 404
    assert bearer(raw).get("/api/v1/me/").status_code == 200
    assert client_for(other_member).get("/api/v1/me/tokens/").json()["results"] == []


def test_admins_create_tokens_for_bots_but_not_for_people(admin, member):
    bot = services.bot_create(actor=admin, display_name="Deploy bot", username="deploy")
    _, raw = services.api_token_create(actor=admin, user=bot, name="deploys")
    assert bearer(raw).get("/api/v1/me/").json()["is_bot"] is True

    with pytest.raises(Forbidden):
        services.api_token_create(actor=admin, user=member, name="sneaky")


def test_the_command_prints_a_working_token(member):
    out = io.StringIO()

    call_command("create_api_token", member.email, "--name", "cli", stdout=out)

    raw = out.getvalue().strip()
    assert bearer(raw).get("/api/v1/me/").json()["id"] == member.pk
    assert ApiToken.objects.get(user=member).name == "cli"


def test_the_command_names_an_unknown_email():
    with pytest.raises(CommandError, match=r"No person with the email ghost@example\.com"):
        call_command("create_api_token", "ghost@example.com")
