"""SAML 2.0 sign-in against a real identity provider on loopback (tests/samlidp.py):
metadata, SP- and IdP-initiated sign-in, encrypted assertions, just-in-time accounts and
group roles, every bad answer refused and audited, single logout both ways."""

from __future__ import annotations

import re
import urllib.request
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from accounts import saml
from accounts.models import Role, User
from core.models import AuditEvent
from tests.factories import PASSWORD
from tests.samlidp import IdentityProvider, key_and_certificate, serve
from tests.servers import free_port

pytestmark = pytest.mark.django_db

SITE = "http://testserver"
ACS = f"{SITE}/saml/acs/"
SP_ENTITY = f"{SITE}/saml/metadata/"


@pytest.fixture
def idp(settings, tmp_path):
    """The provider on its own port; teamchat reads its metadata from a file here (the
    browser test reads it from the URL)."""
    settings.SITE_URL = SITE
    settings.SAML_ENABLED = True
    settings.SAML_SP_ENTITY_ID = SP_ENTITY
    settings.SAML_IDP_METADATA_URL = ""
    settings.SAML_IDP_METADATA_FILE = str(tmp_path / "idp.xml")
    settings.SAML_SP_KEY_FILE, settings.SAML_SP_CERT_FILE = map(
        str, key_and_certificate(tmp_path, "sp"))
    provider = IdentityProvider(tmp_path, saml.sp_metadata(), free_port())
    (tmp_path / "idp.xml").write_text(provider.metadata())
    httpd = serve(provider)
    yield provider
    httpd.shutdown()


@pytest.fixture
def clock(monkeypatch):
    """Move teamchat's clock (as pysaml2 reads it) some minutes ahead of the provider's."""
    from saml2 import time_util

    real = time_util.utc_now

    def ahead(minutes: float) -> None:
        monkeypatch.setattr(time_util, "utc_now", lambda: real() + int(minutes * 60))

    return ahead


def answer(idp: IdentityProvider, email: str, **kwargs) -> str:
    return idp.response(email, acs=ACS, sp_entity_id=SP_ENTITY, **kwargs)


def post_to_acs(client: Client, saml_response: str, relay_state: str = ""):
    return client.post("/saml/acs/", {"SAMLResponse": saml_response, "RelayState": relay_state})


def signed_in_as(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value else None


def refusals() -> list[dict]:
    return [event.data for event in AuditEvent.objects.filter(action="auth.saml_refused")
            .order_by("seq")]


def test_sp_metadata_is_served_at_a_documented_url(idp):
    response = Client().get("/saml/metadata/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/samlmetadata+xml"
    body = response.content.decode()
    assert f'entityID="{SP_ENTITY}"' in body
    assert f'Location="{ACS}"' in body and "/saml/sls/" in body
    assert 'WantAssertionsSigned="true"' in body
    assert "X509Certificate" in body  # for signed requests and encrypted assertions


def test_saml_is_not_there_unless_configured(settings):
    settings.SAML_ENABLED = False
    assert Client().get("/saml/metadata/").status_code == 404
    assert Client().post("/saml/acs/", {"SAMLResponse": "x"}).status_code == 404


def test_unreachable_provider_metadata_is_a_clear_refusal(idp, settings):
    settings.SAML_IDP_METADATA_FILE = ""
    settings.SAML_IDP_METADATA_URL = f"http://127.0.0.1:{free_port()}/metadata"

    response = Client().get("/saml/login/")

    assert response.status_code == 403
    assert "metadata could not be loaded" in response.content.decode()
    assert refusals()[-1]["reason"] == "metadata"
    assert Client().get("/saml/metadata/").status_code == 200  # ours does not depend on it


def test_a_person_signs_in_from_teamchat_and_lands_where_they_were_going(idp, member):
    client = Client()

    start = client.get("/saml/login/", {"next": "/#/c/7"})
    assert start.status_code == 302 and start["Location"].startswith(f"{idp.url}/sso?")
    # At the provider: its page names the request, the person says who they are.
    with urllib.request.urlopen(start["Location"], timeout=5) as page:
        form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.read().decode()))
    posted = urlencode({**{k: unescape(v) for k, v in form.items()},
                        "email": member.email}).encode()
    with urllib.request.urlopen(f"{idp.url}/sso", data=posted, timeout=5) as page:
        back = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.read().decode()))
    response = post_to_acs(client, unescape(back["SAMLResponse"]), unescape(back["RelayState"]))

    assert response.status_code == 302 and response["Location"] == "/#/c/7"
    assert signed_in_as(client) == member.pk
    assert client.session["auth_method"] == "saml"
    assert client.get("/").status_code == 200
    event = AuditEvent.objects.filter(action="auth.saml_sign_in").last()
    assert event.actor_id == member.pk and event.data["idp_initiated"] is False
    assert event.data["issuer"] == idp.entity_id
    assert AuditEvent.objects.filter(action="auth.sign_in", actor=member).exists()
    # The request was answered: the same answer cannot come again.
    again = post_to_acs(Client(), unescape(back["SAMLResponse"]))
    assert again.status_code == 403 and signed_in_as(Client()) is None


def test_a_sign_in_started_at_the_provider_is_accepted_when_allowed(idp, member, settings):
    client = Client()

    response = post_to_acs(client, answer(idp, member.email), "/#/c/3")

    assert response.status_code == 302 and response["Location"] == "/#/c/3"
    assert signed_in_as(client) == member.pk
    assert AuditEvent.objects.filter(action="auth.saml_sign_in").last().data["idp_initiated"]

    settings.SAML_IDP_INITIATED = False
    refused = post_to_acs(Client(), answer(idp, member.email))
    assert refused.status_code == 403
    assert "start at teamchat" in refused.content.decode()
    assert refusals()[-1]["reason"] == "unsolicited"


def test_an_encrypted_assertion_is_read_with_our_key(idp, member):
    client = Client()

    response = post_to_acs(client, answer(idp, member.email, encrypt=True))

    assert response.status_code == 302
    assert signed_in_as(client) == member.pk


def test_an_answer_to_a_request_teamchat_never_made_is_refused(idp, member):
    response = post_to_acs(Client(), answer(idp, member.email, in_response_to="id-not-ours"))

    assert response.status_code == 403
    assert refusals()[-1]["reason"] == "unsolicited"


@pytest.mark.parametrize(("bad", "reason", "message"), [
    ({"sign_assertion": False}, "unsigned", "assertion was not signed"),
    ({"wrong_key": True}, "bad_signature", "signature did not verify"),
    ({"audience": "https://other.example/saml"}, "audience", "made for another service"),
    ({"destination": "https://evil.example/saml/acs/"}, "recipient", "sent to another address"),
    ({"recipient": "https://evil.example/saml/acs/"}, "recipient", "for another recipient"),
    ({"minutes_later": 10}, "expired", "outside its validity period"),
])
def test_bad_assertions_are_refused_with_a_clear_message_and_audited(idp, member, clock, bad,
                                                                      reason, message):
    client = Client()
    saml_response = answer(idp, member.email, **{k: v for k, v in bad.items()
                                                 if k != "minutes_later"})
    clock(bad.get("minutes_later", 0))

    response = post_to_acs(client, saml_response)

    assert response.status_code == 403
    assert message in response.content.decode()
    assert signed_in_as(client) is None
    assert refusals()[-1]["reason"] == reason
    assert not AuditEvent.objects.filter(action="auth.saml_sign_in").exists()


def test_a_replayed_assertion_is_refused(idp, member):
    assertion = answer(idp, member.email)
    assert post_to_acs(Client(), assertion).status_code == 302

    thief = Client()
    replayed = post_to_acs(thief, assertion)

    assert replayed.status_code == 403
    assert "used already" in replayed.content.decode()
    assert signed_in_as(thief) is None
    assert refusals()[-1]["reason"] == "replayed"


def test_clock_skew_within_the_tolerance_is_accepted(idp, member, settings, clock):
    # The assertions live five minutes; our clock runs six ahead of the provider's.
    late, too_late = answer(idp, member.email), answer(idp, member.email)
    clock(6)
    settings.SAML_CLOCK_SKEW_SECONDS = 120
    assert post_to_acs(Client(), late).status_code == 302
    settings.SAML_CLOCK_SKEW_SECONDS = 0
    assert post_to_acs(Client(), too_late).status_code == 403
    assert refusals()[-1]["reason"] == "expired"


def test_unknown_people_are_refused_unless_just_in_time_accounts_are_on(idp, settings):
    idp.people["new@corp.example"] = {"email": ["new@corp.example"],
                                      "displayName": ["New Comer"], "groups": ["staff"]}
    refused = post_to_acs(Client(), answer(idp, "new@corp.example"))
    assert refused.status_code == 403
    assert "no teamchat account" in refused.content.decode()
    assert refusals()[-1] | {"detail": ""} == {
        "reason": "no_such_person", "detail": "", "email": "new@corp.example",
        "issuer": idp.entity_id, "assertion_id": refusals()[-1]["assertion_id"]}

    settings.SAML_CREATE_USERS = True
    client = Client()
    assert post_to_acs(client, answer(idp, "new@corp.example")).status_code == 302
    person = User.objects.get(email="new@corp.example")
    assert (person.display_name, person.role, person.has_usable_password()) == (
        "New Comer", Role.MEMBER, False)
    assert signed_in_as(client) == person.pk


def test_a_mapped_group_gives_its_role_only_when_configured(idp, member, settings):
    idp.people[member.email] = {"email": [member.email], "groups": ["chat-admins"]}
    assert post_to_acs(Client(), answer(idp, member.email)).status_code == 302
    member.refresh_from_db()
    assert member.role == Role.MEMBER

    settings.SAML_ADMIN_GROUPS = ["Chat-Admins"]
    assert post_to_acs(Client(), answer(idp, member.email)).status_code == 302
    member.refresh_from_db()
    assert member.role == Role.ADMIN
    change = AuditEvent.objects.filter(action="user.role_changed", target_id=str(member.pk)).last()
    assert change.data["to"] == Role.ADMIN and change.data["source"] == "saml"


def test_a_deactivated_person_is_refused(idp, member):
    member.is_active = False
    member.save(update_fields=["is_active"])

    response = post_to_acs(Client(), answer(idp, member.email))

    assert response.status_code == 403 and "deactivated" in response.content.decode()
    assert refusals()[-1]["reason"] == "deactivated"


def test_the_provider_signs_a_person_out_everywhere(idp, member):
    browsers = [Client(), Client()]
    for browser in browsers:
        assert post_to_acs(browser, answer(idp, member.email)).status_code == 302
    assert Session.objects.count() == 2

    response = Client().get(idp.logout_request(member.email, f"{SITE}/saml/sls/"))

    assert response.status_code == 302
    back = urlsplit(response["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == f"{idp.url}/slo"
    assert "SAMLResponse" in parse_qs(back.query)
    assert Session.objects.count() == 0
    assert all(browser.get("/").status_code == 302 for browser in browsers)
    event = AuditEvent.objects.filter(action="auth.saml_logout").last()
    assert event.actor_id == member.pk and event.data["sessions_ended"] == 2


def test_an_unsigned_logout_request_ends_nothing(idp, member):
    browser = Client()
    post_to_acs(browser, answer(idp, member.email))
    signed = urlsplit(idp.logout_request(member.email, f"{SITE}/saml/sls/"))
    query = {k: v[0] for k, v in parse_qs(signed.query).items()}
    query.pop("Signature"), query.pop("SigAlg")

    response = Client().get("/saml/sls/", query)

    assert response.status_code == 403
    assert browser.get("/").status_code == 200
    assert refusals()[-1]["reason"] == "bad_logout"


def test_signing_out_goes_on_to_the_provider_and_back(idp, member):
    browser = Client()
    post_to_acs(browser, answer(idp, member.email))

    response = browser.post("/accounts/logout/")

    assert response.status_code == 302 and response["Location"].startswith(f"{idp.url}/slo?")
    assert browser.get("/").status_code == 302  # signed out here already
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(response["Location"], timeout=5)
        raise AssertionError("the provider did not redirect back")
    except urllib.error.HTTPError as redirect:
        back = urlsplit(redirect.headers["Location"])
    assert idp.logged_out == [member.email]
    finished = browser.get(f"{back.path}?{back.query}")
    assert finished.status_code == 302 and finished["Location"] == "/accounts/login/"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# --- the password switch ----------------------------------------------------------------


def password_sign_in(email: str):
    return Client().post("/accounts/login/", {"username": email, "password": PASSWORD})


def test_password_sign_in_off_leaves_only_the_break_glass_owner(idp, settings, member, owner):
    settings.PASSWORD_SIGN_IN = False
    settings.PASSWORD_SIGN_IN_BREAK_GLASS = owner.email

    page = Client().get("/accounts/login/").content.decode()
    assert "Password sign-in is turned off" in page and 'id="saml-sign-in"' in page

    refused = password_sign_in(member.email)
    assert refused.status_code == 403
    assert "Password sign-in is turned off" in refused.content.decode()
    failed = AuditEvent.objects.filter(action="auth.sign_in_failed").last()
    assert failed.data["email"] == member.email

    assert password_sign_in(owner.email).status_code == 302


def test_the_break_glass_name_only_works_for_an_owner(idp, settings, member):
    settings.PASSWORD_SIGN_IN = False
    settings.PASSWORD_SIGN_IN_BREAK_GLASS = member.email

    client = Client()
    response = client.post("/accounts/login/", {"username": member.email, "password": PASSWORD})

    assert response.status_code == 200  # the form again
    assert signed_in_as(client) is None


def test_password_sign_in_stays_on_without_an_identity_provider(settings, member):
    settings.SAML_ENABLED = settings.OIDC_ENABLED = False
    settings.PASSWORD_SIGN_IN = False

    assert password_sign_in(member.email).status_code == 302


def test_with_password_sign_in_off_an_invitation_asks_a_name_and_sets_no_password(
        idp, settings, admin):
    from accounts import services as accounts

    settings.PASSWORD_SIGN_IN = False
    settings.PASSWORD_SIGN_IN_BREAK_GLASS = ""
    _, raw = accounts.user_invite(actor=admin, email="newcomer@example.com")
    browser = Client()
    page = browser.get(f"/invite/{raw}/").content.decode()
    assert 'name="display_name"' in page and 'name="password"' not in page

    joined = browser.post(f"/invite/{raw}/", {"display_name": "New Comer", "password": "sneaky-Pass-123",
                                               "password_again": "sneaky-Pass-123"})
    assert joined.status_code == 302 and joined["Location"] == "/accounts/login/"
    assert signed_in_as(browser) is None  # no session from the invitation itself
    person = User.objects.get(email="newcomer@example.com")
    assert person.display_name == "New Comer" and not person.has_usable_password()
    assert "single sign-on" in browser.get("/accounts/login/").content.decode()
