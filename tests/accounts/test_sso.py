"""Single sign-on against a real OpenID provider on loopback (oidc-provider-mock)."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlencode, urlsplit

import pytest
from django.test import Client
from oidc_provider_mock import run_server_in_thread

from accounts.models import User
from core.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(settings):
    with run_server_in_thread() as server:
        base = f"http://localhost:{server.server_port}"
        with urllib.request.urlopen(f"{base}/.well-known/openid-configuration", timeout=5) as answer:
            config = json.load(answer)
        settings.OIDC_ENABLED = True
        settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = "teamchat", "secret"
        settings.OIDC_OP_AUTHORIZATION_ENDPOINT = config["authorization_endpoint"]
        settings.OIDC_OP_TOKEN_ENDPOINT = config["token_endpoint"]
        settings.OIDC_OP_USER_ENDPOINT = config["userinfo_endpoint"]
        settings.OIDC_OP_JWKS_ENDPOINT = config["jwks_uri"]
        settings.AUTHENTICATION_BACKENDS = ["accounts.oidc.TeamchatOIDCBackend",
                                            "accounts.backends.LockoutModelBackend"]
        yield base


def set_claims(base: str, sub: str, claims: dict) -> None:
    request = urllib.request.Request(f"{base}/users/{sub}", data=json.dumps(claims).encode(),
                                     method="PUT", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def sso(browser: Client, base: str, sub: str):
    """Start at teamchat, sign in at the provider as `sub`, come back to the callback."""
    start = browser.get("/oidc/authenticate/")
    assert start.status_code == 302 and start["Location"].startswith(base)
    form = urlencode({"sub": sub}).encode()
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(start["Location"], data=form, method="POST"), timeout=5)
        raise AssertionError("the provider did not redirect back")
    except urllib.error.HTTPError as redirect:
        back = urlsplit(redirect.headers["Location"])
    return browser.get(f"{back.path}?{back.query}")


def test_an_existing_person_is_matched_by_verified_email(provider, member):
    set_claims(provider, "ana-sub", {"email": member.email.upper(), "email_verified": True})
    browser = Client()

    response = sso(browser, provider, "ana-sub")

    assert response.status_code == 302 and response["Location"] == "/"
    assert int(browser.session["_auth_user_id"]) == member.pk
    assert browser.get("/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.sign_in", actor=member).exists()


def test_unknown_people_are_refused_unless_the_organisation_creates_them(provider, settings):
    set_claims(provider, "new-sub", {"email": "newcomer@corp.example", "email_verified": True,
                                     "name": "New Comer"})
    refused = sso(Client(), provider, "new-sub")
    assert refused["Location"].endswith("?sso=failed")
    assert not User.objects.filter(email="newcomer@corp.example").exists()

    settings.OIDC_CREATE_USERS = True
    settings.OIDC_ALLOWED_DOMAINS = ["corp.example"]
    browser = Client()
    assert sso(browser, provider, "new-sub")["Location"] == "/"
    created = User.objects.get(email="newcomer@corp.example")
    assert (created.display_name, created.role, created.has_usable_password()) == (
        "New Comer", "member", False)


def test_unverified_emails_and_other_domains_are_refused(provider, settings, member):
    settings.OIDC_CREATE_USERS = True
    settings.OIDC_ALLOWED_DOMAINS = ["corp.example"]
    set_claims(provider, "sneaky", {"email": member.email, "email_verified": False})
    set_claims(provider, "outsider", {"email": "someone@elsewhere.example", "email_verified": True})
    for sub in ("sneaky", "outsider"):
        browser = Client()
        assert sso(browser, provider, sub)["Location"].endswith("?sso=failed")
        assert "_auth_user_id" not in browser.session
    assert not User.objects.filter(email="someone@elsewhere.example").exists()


def test_without_configuration_the_sso_door_is_closed(settings):
    settings.OIDC_ENABLED = False
    assert Client().get("/oidc/authenticate/").status_code == 404
