"""SAML sign-in in a real browser (issue 32): a person opens teamchat's sign-in page, where
password sign-in is turned off, goes to the identity provider (pysaml2 on loopback, whose
metadata teamchat fetches from its URL), and lands in the app."""

from __future__ import annotations

import pytest
from django.conf import settings
from playwright.sync_api import expect

from accounts import saml
from core.models import AuditEvent
from tests.e2e.conftest import close_context
from tests.factories import make_user
from tests.samlidp import IdentityProvider, serve
from tests.servers import DaphneServer, free_port, wait_until_servers_idle

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def saml_server(django_db_setup, tmp_path, off_loop):
    """One daphne process configured for SAML, and its identity provider."""
    if not (settings.TEST_USES_POSTGRES and settings.TEST_USES_REDIS):
        pytest.skip("browser tests against daphne need PostgreSQL and Redis (CI requires them)")
    server = DaphneServer(tmp_path / "daphne")
    owner = off_loop(make_user, "owner", name="Glass Owner")
    env = {"SITE_URL": server.url, "SAML_SP_ENTITY_ID": f"{server.url}/saml/metadata/",
           "SAML_CREATE_USERS": "0", "PASSWORD_SIGN_IN": "0",
           "PASSWORD_SIGN_IN_BREAK_GLASS": owner.email}
    # Our SP metadata as that server will describe itself, for the provider.
    original = (settings.SITE_URL, settings.SAML_SP_ENTITY_ID)
    settings.SITE_URL, settings.SAML_SP_ENTITY_ID = server.url, env["SAML_SP_ENTITY_ID"]
    try:
        sp_metadata = saml.sp_metadata()
    finally:
        settings.SITE_URL, settings.SAML_SP_ENTITY_ID = original
    idp = IdentityProvider(tmp_path, sp_metadata, free_port())
    httpd = serve(idp)
    server.start(SAML_IDP_METADATA_URL=f"{idp.url}/metadata", **env)
    yield server, idp
    wait_until_servers_idle()
    server.stop()
    httpd.shutdown()


def test_a_person_signs_in_by_saml_from_the_login_page_and_lands_in_the_app(
        browser, saml_server, off_loop, artifacts):
    server, idp = saml_server
    person = off_loop(make_user, name="Sam Lee")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{server.url}/accounts/login/")
        expect(page.locator("#password-off")).to_contain_text("Password sign-in is turned off")

        page.locator("#saml-sign-in").click()
        page.wait_for_url(f"{idp.url}/sso?*")
        page.locator("#idp-email").fill(person.email)
        page.locator("#idp-continue").click()

        page.wait_for_selector("#app[data-state=ready]", timeout=15000)
        assert page.url == f"{server.url}/"
        page.screenshot(path=str(artifacts / "saml-signed-in.png"))
        assert errors == []
    finally:
        close_context(context)
    signed_in = off_loop(lambda: list(AuditEvent.objects.filter(
        action="auth.saml_sign_in").values_list("actor_id", "data")))
    assert [(actor, data["idp_initiated"]) for actor, data in signed_in] == [(person.pk, False)]
