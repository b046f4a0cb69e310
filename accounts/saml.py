"""SAML 2.0 service provider (pysaml2): our metadata, requests to the identity provider,
and the checks on what it sends back. Who an accepted assertion signs in is decided by
accounts.services.saml_sign_in; this module only speaks the protocol.

pysaml2 checks signatures (through the xmlsec1 binary), audience, recipient, the time
window (with SAML_CLOCK_SKEW_SECONDS of slack) and decrypts encrypted assertions; this
module adds the replay check (assertion ids are remembered in the cache until they
expire) and turns each failure into a SamlRefused with a reason a person can read.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, SAMLError
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.response import (
    IncorrectlySigned,
    StatusError,
    UnsolicitedResponse,
    VerificationError,
)
from saml2.s_utils import UnknownPrincipal, UnsupportedBinding
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED
from saml2.sigver import SignatureError
from saml2.validate import ResponseLifetimeExceed, ToEarly

# An AuthnRequest we sent is answered within this long, or not at all.
REQUEST_SECONDS = 600
# Assertions that name no end of life are remembered (against replay) this long.
DEFAULT_ASSERTION_SECONDS = 3600
IDP_INITIATED_OFF = ("Sign-ins started at the identity provider are turned off; "
                     "start at teamchat's sign-in page.")


class SamlRefused(Exception):
    """An answer from the identity provider that signs nobody in; `reason` is short and
    fixed (it goes in the audit log), `detail` is for the person."""

    def __init__(self, reason: str, detail: str, **data: Any) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.data = reason, detail, data


@dataclass(frozen=True)
class Assertion:
    """What an accepted assertion says about the person."""

    issuer: str
    assertion_id: str
    name_id: str
    name_id_format: str
    session_index: str
    email: str
    name: str
    groups: list[str] = field(default_factory=list)
    next_url: str = "/"
    idp_initiated: bool = False


def sp_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


ACS_PATH, SLS_PATH, METADATA_PATH = "/saml/acs/", "/saml/sls/", "/saml/metadata/"


def _config_dict() -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if settings.SAML_IDP_METADATA_FILE:
        metadata["local"] = [settings.SAML_IDP_METADATA_FILE]
    if settings.SAML_IDP_METADATA_URL:
        metadata["remote"] = [{"url": settings.SAML_IDP_METADATA_URL}]
    has_key = bool(settings.SAML_SP_KEY_FILE and settings.SAML_SP_CERT_FILE)
    config: dict[str, Any] = {
        "entityid": settings.SAML_SP_ENTITY_ID,
        "xmlsec_binary": shutil.which("xmlsec1") or "/usr/bin/xmlsec1",
        "metadata": metadata,
        "accepted_time_diff": settings.SAML_CLOCK_SKEW_SECONDS,
        "allow_unknown_attributes": True,
        "service": {"sp": {
            "name": "teamchat",
            "endpoints": {
                "assertion_consumer_service": [(sp_url(ACS_PATH), BINDING_HTTP_POST)],
                "single_logout_service": [(sp_url(SLS_PATH), BINDING_HTTP_REDIRECT),
                                          (sp_url(SLS_PATH), BINDING_HTTP_POST)],
            },
            # Signed assertions, always: a signed Response around an unsigned assertion
            # is not enough (the assertion is what is kept and trusted).
            "want_assertions_signed": True,
            "want_response_signed": False,
            "want_assertions_or_response_signed": False,
            "authn_requests_signed": has_key,
            "logout_requests_signed": has_key,
            "allow_unsolicited": settings.SAML_IDP_INITIATED,
            "name_id_format": [NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED],
        }},
    }
    if has_key:
        config["key_file"] = settings.SAML_SP_KEY_FILE
        config["cert_file"] = settings.SAML_SP_CERT_FILE
        config["encryption_keypairs"] = [{"key_file": settings.SAML_SP_KEY_FILE,
                                          "cert_file": settings.SAML_SP_CERT_FILE}]
    return config


_lock = threading.Lock()
_client: tuple[tuple, float, Saml2Client] | None = None


def client() -> Saml2Client:
    """The process's SP, rebuilt when the settings change or the metadata is due again
    (a metadata URL is fetched here, not on every request)."""
    global _client
    key = tuple(sorted((k, repr(v)) for k, v in _config_dict().items()))
    with _lock:
        if (_client is None or _client[0] != key
                or time.monotonic() - _client[1] > settings.SAML_IDP_METADATA_REFRESH_SECONDS):
            config = SPConfig()
            try:
                config.load(_config_dict())
                built = Saml2Client(config=config)
            except (SAMLError, OSError, ValueError) as error:
                # Unreachable or unreadable: nobody signs in by SAML until it is fixed,
                # and the next request tries again.
                raise SamlRefused("metadata", "The identity provider's metadata could not "
                                              "be loaded; try again later or tell an admin.",
                                  error=str(error)[:200]) from error
            _client = (key, time.monotonic(), built)
        return _client[2]


def sp_metadata() -> str:
    """Our SP metadata (entity id, ACS and SLS endpoints, certificate when there is one).
    It does not depend on the provider's, so it is served even while that is unreachable."""
    config = SPConfig()
    config.load({**_config_dict(), "metadata": {}})
    return create_metadata_string(None, config=config, valid=None).decode()


def _idp_entity_id(saml: Saml2Client) -> str:
    idps = list(saml.metadata.identity_providers())
    if len(idps) != 1:
        raise SamlRefused("metadata", f"The identity provider's metadata names {len(idps)} "
                                      "providers; teamchat needs exactly one.")
    return idps[0]


def login_redirect(next_url: str) -> str:
    """Where to send the browser to sign in at the provider (HTTP-Redirect binding).
    The request's id is remembered in the cache, not the session: the answer comes back
    by a cross-site POST, which a SameSite=Lax session cookie does not accompany."""
    saml = client()
    request_id, info = saml.prepare_for_authenticate(
        entityid=_idp_entity_id(saml), relay_state=next_url, binding=BINDING_HTTP_REDIRECT)
    cache.set(f"saml:request:{request_id}", next_url, timeout=REQUEST_SECONDS)
    return dict(info["headers"])["Location"]


def _first(ava: dict[str, list[str]], names: list[str]) -> list[str]:
    lowered = {key.lower(): values for key, values in ava.items()}
    for name in names:
        values = lowered.get(name.lower())
        if values:
            return [str(value) for value in values]
    return []


def _parse(saml_response: str) -> Any:
    saml = client()
    try:
        # Every answer is parsed as unsolicited first: its InResponseTo is checked against
        # the requests we remember right after, so nobody's request is consumed by a
        # response that then fails its checks.
        response = saml.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding=_OutstandingRequests(),
            conv_info={"remote_addr": "0.0.0.0"})  # noqa: S104  # nosec B104: an address to accept, not bind
    except SignatureError as error:
        text = str(error).lower()
        if "missing" in text:
            raise SamlRefused("unsigned", "The identity provider's assertion was not signed.") \
                from error
        raise SamlRefused("bad_signature", "The assertion's signature did not verify against "
                                           "the identity provider's certificate.") from error
    except IncorrectlySigned as error:
        raise SamlRefused("bad_signature", "The answer's signature did not verify against "
                                           "the identity provider's certificate.") from error
    except (ToEarly, ResponseLifetimeExceed) as error:
        raise SamlRefused("expired", "The assertion is outside its validity period "
                                     "(check both clocks).") from error
    except UnsolicitedResponse as error:
        if not settings.SAML_IDP_INITIATED and str(error).endswith(": None"):
            raise SamlRefused("unsolicited", IDP_INITIATED_OFF) from error
        raise SamlRefused("unsolicited", "The answer does not match a sign-in teamchat "
                                         "started (or it was used already).") from error
    except StatusError as error:
        raise SamlRefused("status", f"The identity provider did not sign you in: {error}") \
            from error
    except VerificationError as error:
        text = str(error).lower()
        if "recipient" in text or "subject confirmation" in text:
            raise SamlRefused("recipient", "The assertion was made for another recipient.") \
                from error
        # Audience failures raise elsewhere; what is left here is the validity period.
        raise SamlRefused("expired", "The assertion is outside its validity period "
                                     "(check both clocks).") from error
    except (UnknownPrincipal, UnsupportedBinding) as error:
        raise SamlRefused("invalid", f"The answer could not be used: {error}") from error
    except Exception as error:
        text = str(error)
        if "AudienceRestrictions" in text:
            raise SamlRefused("audience", "The assertion was made for another service "
                                          "(its audience is not teamchat).") from error
        if "destination" in text.lower():
            raise SamlRefused("recipient", "The answer was sent to another address.") \
                from error
        raise SamlRefused("invalid", "The answer from the identity provider could not be "
                                     "read or checked.", error=text[:200]) from error
    if response is None:
        raise SamlRefused("invalid", "The answer from the identity provider could not be read.")
    if getattr(response, "assertion", None) is None:
        # pysaml2 leaves the assertion out (rather than raising) for a Destination that is
        # not our ACS and for an IssueInstant outside the allowed window.
        destination = getattr(response.response, "destination", None)
        if destination and destination != sp_url(ACS_PATH):
            raise SamlRefused("recipient", "The answer was sent to another address "
                                           f"({destination}), not teamchat's.")
        raise SamlRefused("expired", "The answer is outside its validity period "
                                     "(check both clocks).")
    return response


class _OutstandingRequests(dict):
    """pysaml2's table of requests we sent, looked up in the cache (shared by every
    process) and consumed on use, so one request is answered once."""

    def __contains__(self, request_id: object) -> bool:
        return cache.get(f"saml:request:{request_id}") is not None

    def __getitem__(self, request_id: str) -> str:
        next_url = cache.get(f"saml:request:{request_id}")
        if next_url is None:
            raise KeyError(request_id)
        return next_url

    def get(self, request_id: str, default: Any = None) -> Any:
        try:
            return self[request_id]
        except KeyError:
            return default

    def __bool__(self) -> bool:
        return True


def assertion_accept(saml_response: str, relay_state: str = "") -> Assertion:
    """Check an answer posted to the ACS and return what its assertion says; raises
    SamlRefused. An assertion is accepted once: its id is remembered until it expires."""
    response = _parse(saml_response)
    in_response_to = response.in_response_to
    if in_response_to:
        next_url = cache.get(f"saml:request:{in_response_to}")
        if next_url is None or not cache.delete(f"saml:request:{in_response_to}"):
            raise SamlRefused("unsolicited", "The answer does not match a sign-in teamchat "
                                             "started (or it was used already).")
    elif not settings.SAML_IDP_INITIATED:
        raise SamlRefused("unsolicited", IDP_INITIATED_OFF)
    else:
        next_url = relay_state or "/"
    assertion = response.assertion
    issuer = response.issuer() or ""
    lifetime = (response.not_on_or_after - time.time() if response.not_on_or_after
                else DEFAULT_ASSERTION_SECONDS)
    if not cache.add(f"saml:assertion:{issuer}:{assertion.id}", 1,
                     timeout=max(int(lifetime) + settings.SAML_CLOCK_SKEW_SECONDS, 60)):
        raise SamlRefused("replayed", "This assertion was used already; sign in again.",
                          assertion_id=assertion.id)
    ava = response.ava or {}
    name_id = response.name_id
    email = next(iter(_first(ava, settings.SAML_ATTRIBUTE_EMAIL)), "")
    if not email and name_id is not None and "@" in (name_id.text or ""):
        email = name_id.text
    session_index = ""
    if assertion.authn_statement:
        session_index = assertion.authn_statement[0].session_index or ""
    return Assertion(
        issuer=issuer, assertion_id=assertion.id,
        name_id=(name_id.text or "") if name_id is not None else "",
        name_id_format=(name_id.format or "") if name_id is not None else "",
        session_index=session_index, email=email.strip().lower(),
        name=next(iter(_first(ava, settings.SAML_ATTRIBUTE_NAME)), "").strip(),
        groups=_first(ava, settings.SAML_ATTRIBUTE_GROUPS),
        next_url=next_url, idp_initiated=not in_response_to)


def logout_redirect(*, name_id: str, name_id_format: str, session_index: str,
                    next_url: str) -> str | None:
    """Where to send the browser so the provider ends its session too (single logout);
    None when its metadata offers no logout endpoint."""
    from saml2.saml import NameID

    saml = client()
    idp = _idp_entity_id(saml)
    try:
        destinations = saml.metadata.single_logout_service(idp, BINDING_HTTP_REDIRECT, "idpsso")
    except (KeyError, AttributeError):  # no logout endpoint in its metadata
        return None
    if not destinations:
        return None
    destination = destinations[0]["location"]
    _request_id, request = saml.create_logout_request(
        destination, idp, name_id=NameID(text=name_id, format=name_id_format or None),
        session_indexes=[session_index] if session_index else None,
        sign=False)  # the Redirect binding signs the query string instead
    info = saml.apply_binding(BINDING_HTTP_REDIRECT, str(request), destination,
                              relay_state=next_url, sign=saml.config.logout_requests_signed)
    return dict(info["headers"])["Location"]


@dataclass(frozen=True)
class LogoutRequest:
    issuer: str
    name_id: str
    session_indexes: list[str]
    answer_url: str  # where to send the browser with our LogoutResponse


def logout_request_accept(saml_request: str, *, binding: str, relay_state: str | None,
                          sigalg: str | None, signature: str | None) -> LogoutRequest:
    """A LogoutRequest from the provider (it ends someone's session there): require its
    signature (in the XML for POST, of the query string for Redirect), and say whom it
    names, with the answer to send back."""
    from saml2.request import LogoutRequest as ParsedLogoutRequest

    saml = client()
    try:
        parsed = ParsedLogoutRequest(
            saml.sec, saml.config.endpoint("single_logout_service", binding, "sp"),
            saml.config.attribute_converters, timeslack=settings.SAML_CLOCK_SKEW_SECONDS)
        xml = saml.unravel(saml_request, binding, ParsedLogoutRequest.msgtype)
        # must=True: pysaml2 asks only identity providers for signed requests.
        parsed = parsed.loads(xml, binding, origdoc=saml_request, must=True,
                              relay_state=relay_state, sigalg=sigalg, signature=signature)
        if parsed is None or parsed.verify() is None:
            raise ValueError("not a valid LogoutRequest")
    except Exception as error:
        raise SamlRefused("bad_logout", "The logout request was not signed by the identity "
                                        "provider, or could not be read.") from error
    message = parsed.message
    response = saml.create_logout_response(message, [BINDING_HTTP_REDIRECT])
    destination = saml.metadata.single_logout_service(
        message.issuer.text, BINDING_HTTP_REDIRECT, "idpsso")[0]
    location = destination.get("response_location") or destination["location"]
    info = saml.apply_binding(BINDING_HTTP_REDIRECT, str(response), location,
                              relay_state=relay_state, response=True,
                              sign=saml.config.logout_requests_signed)
    return LogoutRequest(issuer=message.issuer.text, name_id=message.name_id.text if message.name_id else "",
                         session_indexes=[i.text for i in message.session_index or []],
                         answer_url=dict(info["headers"])["Location"])


def logout_response_accept(saml_response: str, binding: str) -> None:
    """The provider's answer to our LogoutRequest; nothing depends on it but a log line."""
    try:
        client().parse_logout_request_response(saml_response, binding)
    except Exception as error:
        raise SamlRefused("bad_logout", "The logout answer could not be checked.") from error
