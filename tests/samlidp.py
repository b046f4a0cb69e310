"""A SAML 2.0 identity provider on loopback for the tests: pysaml2's Server behind a small
HTTP server, with a key and certificate of its own made here (cryptography).

    GET  /metadata          its metadata (teamchat's SAML_IDP_METADATA_URL)
    GET  /sso               an AuthnRequest (HTTP-Redirect): a page asking whom to sign in
    POST /sso               signs that person in: an auto-posting form to teamchat's ACS
    GET  /slo               a LogoutRequest from teamchat: answered with a LogoutResponse

Tests that need bad answers build them with `IdentityProvider.response(...)`.
"""

from __future__ import annotations

import datetime
import html
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server

AUTHN = {"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"}


def key_and_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A fresh RSA key and a self-signed certificate for it, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .sign(key, hashes.SHA256()))
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@dataclass
class IdentityProvider:
    folder: Path
    sp_metadata: str
    port: int
    people: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    logged_out: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key, self.cert = key_and_certificate(self.folder, "idp")
        (self.folder / "sp.xml").write_text(self.sp_metadata)
        self.server = self._server(self.key, self.cert)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def entity_id(self) -> str:
        return f"{self.url}/metadata"

    def _server(self, key: Path, cert: Path) -> Server:
        config = IdPConfig()
        config.load({
            "entityid": self.entity_id,
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "key_file": str(key), "cert_file": str(cert),
            "encryption_keypairs": [{"key_file": str(key), "cert_file": str(cert)}],
            "metadata": {"local": [str(self.folder / "sp.xml")]},
            "service": {"idp": {
                "name": "Test IdP",
                "endpoints": {
                    "single_sign_on_service": [(f"{self.url}/sso", BINDING_HTTP_REDIRECT)],
                    "single_logout_service": [(f"{self.url}/slo", BINDING_HTTP_REDIRECT)],
                },
                "policy": {"default": {
                    "lifetime": {"minutes": 5},
                    "attribute_restrictions": None, "name_form":
                        "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}},
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            }},
        })
        return Server(config=config)

    def metadata(self) -> str:
        return create_metadata_string(None, config=self.server.config, valid=None).decode()

    def response(self, email: str, *, in_response_to: str | None = None,
                 acs: str, sp_entity_id: str, audience: str | None = None,
                 destination: str | None = None, sign_assertion: bool = True,
                 recipient: str | None = None, encrypt: bool = False,
                 wrong_key: bool = False) -> str:
        """A base64 SAMLResponse for the ACS, good unless told otherwise: `audience`
        (another service), `destination` (the Response sent elsewhere), `recipient` (the
        assertion's subject confirmed for another ACS), unsigned, signed with a key
        teamchat does not know. Assertions live five minutes."""
        server = self.server
        if wrong_key:
            server = self._server(*key_and_certificate(self.folder, "intruder"))
        identity = self.people.get(email, {"email": [email]})
        kwargs: dict[str, Any] = {}
        if encrypt:
            kwargs = {"encrypt_assertion": True, "encrypt_assertion_self_contained": True,
                      "encrypt_cert_assertion": None}
        response = server.create_authn_response(
            identity, in_response_to, destination or acs, audience or sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email), authn=AUTHN,
            sign_assertion=sign_assertion, sign_response=encrypt, session_not_on_or_after=None,
            **kwargs)
        if recipient:
            response = self._resign_with_recipient(server, str(response), recipient)
        info = server.apply_binding(BINDING_HTTP_POST, str(response), destination or acs,
                                    response=True)
        return html.unescape(re.search(r'name="SAMLResponse" value="([^"]+)"',
                                       info["data"]).group(1))

    @staticmethod
    def _resign_with_recipient(server: Server, xml: str, recipient: str) -> str:
        """The same answer with the assertion's Recipient changed, signed again properly."""
        from saml2.samlp import response_from_string
        from saml2.sigver import pre_signature_part

        response = response_from_string(xml)
        assertion = response.assertion[0]
        for confirmation in assertion.subject.subject_confirmation:
            confirmation.subject_confirmation_data.recipient = recipient
        assertion.signature = pre_signature_part(assertion.id, server.sec.my_cert, 1)
        return server.sec.sign_statement(str(response), "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                                         node_id=assertion.id)

    def logout_request(self, email: str, sls: str) -> str:
        """A signed LogoutRequest URL (HTTP-Redirect) for teamchat's SLS."""
        _, request = self.server.create_logout_request(
            sls, self.server.metadata.service_providers()[0],
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email), sign=False)
        info = self.server.apply_binding(BINDING_HTTP_REDIRECT, str(request), sls,
                                         relay_state="", sign=True)
        return dict(info["headers"])["Location"]


def serve(idp: IdentityProvider) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: str, content_type: str = "text/html",
                  location: str | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if location:
                self.send_header("Location", location)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/metadata":
                self._send(200, idp.metadata(), "application/samlmetadata+xml")
            elif url.path == "/sso":
                request = idp.server.parse_authn_request(query["SAMLRequest"],
                                                         BINDING_HTTP_REDIRECT)
                message = request.message
                self._send(200, f"""<!doctype html><title>Test IdP</title>
<form method="post" action="/sso">
<input type="hidden" name="id" value="{html.escape(message.id)}">
<input type="hidden" name="acs" value="{html.escape(message.assertion_consumer_service_url or '')}">
<input type="hidden" name="relay" value="{html.escape(query.get('RelayState', ''))}">
<label>Email <input name="email" id="idp-email"></label>
<button type="submit" id="idp-continue">Continue</button></form>""")
            elif url.path == "/slo":
                request = idp.server.parse_logout_request(query["SAMLRequest"],
                                                          BINDING_HTTP_REDIRECT)
                idp.logged_out.append(request.message.name_id.text)
                response = idp.server.create_logout_response(request.message,
                                                             [BINDING_HTTP_REDIRECT])
                sp = request.message.issuer.text
                sls = idp.server.metadata.single_logout_service(sp, BINDING_HTTP_REDIRECT,
                                                                "spsso")[0]["location"]
                info = idp.server.apply_binding(BINDING_HTTP_REDIRECT, str(response), sls,
                                                query.get("RelayState", ""), response=True,
                                                sign=True)
                self._send(302, "", location=dict(info["headers"])["Location"])
            else:
                self._send(404, "not found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            sp = idp.server.metadata.service_providers()[0]
            acs = form["acs"]
            saml_response = idp.response(form["email"], in_response_to=form["id"], acs=acs,
                                         sp_entity_id=sp)
            self._send(200, f"""<!doctype html><title>Signing in</title>
<body onload="document.forms[0].submit()"><form method="post" action="{html.escape(acs)}">
<input type="hidden" name="SAMLResponse" value="{html.escape(saml_response)}">
<input type="hidden" name="RelayState" value="{html.escape(form.get('relay', ''))}">
<noscript><button type="submit">Continue</button></noscript></form></body>""")

    httpd = ThreadingHTTPServer(("127.0.0.1", idp.port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
