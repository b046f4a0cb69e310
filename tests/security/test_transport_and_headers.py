"""HTTPS with daphne's own TLS endpoint, and the security headers every page carries."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest
from django.test import Client
from websockets.sync.client import connect

from tests.factories import make_user
from tests.realtime import token_for
from tests.servers import DaphneServer, self_signed_certificate

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_daphne_serves_https_and_wss_with_hsts(daphne_pair, tmp_path):
    cert, key = self_signed_certificate(tmp_path / "tls")
    server = DaphneServer(tmp_path / "tls-server", tls=(cert, key)).start(
        SECURE_SSL_REDIRECT="1", SESSION_COOKIE_SECURE="1", CSRF_COOKIE_SECURE="1",
        ALLOWED_HOSTS="localhost,127.0.0.1")
    context = ssl.create_default_context(cafile=str(cert))
    try:
        with urllib.request.urlopen(server.url + "/accounts/login/", context=context,
                                    timeout=10) as answer:
            headers = answer.headers
            assert answer.status == 200
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        assert "Secure" in headers["Set-Cookie"]  # the CSRF cookie travels over HTTPS only
        member = make_user()
        with connect(server.ws_url, ssl=context, additional_headers=[
                ("Authorization", f"Bearer {token_for(member)}")], open_timeout=10) as socket:
            assert json.loads(socket.recv(timeout=10))["type"] == "ready"
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(server.url + "/healthz", timeout=10,
                                   context=ssl.create_default_context()).close()
    finally:
        server.stop()


def test_every_page_carries_the_security_headers(member):
    browser = Client()
    browser.force_login(member)
    for path in ("/", "/accounts/login/", "/profile/", "/api/v1/me/", "/api/docs/"):
        response = browser.get(path)
        csp = response["Content-Security-Policy"]
        script_src = csp.split("script-src")[1].split(";")[0]
        assert "'self'" in script_src and "'unsafe-inline'" not in script_src
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "geolocation=()" in response["Permissions-Policy"]
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_session_cookies_are_httponly_and_samesite(member, settings):
    from tests.factories import PASSWORD

    response = Client().post("/accounts/login/", {"username": member.email, "password": PASSWORD})
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"


def test_production_defaults_are_secure(settings):
    from teamchat import settings as production

    assert production.SECURE_HSTS_SECONDS == 31536000 or production.DEBUG
    assert production.SESSION_COOKIE_HTTPONLY is True
    assert production.X_FRAME_OPTIONS == "DENY"
