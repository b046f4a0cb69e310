"""A Web Push service on loopback, with the browsers subscribed to it: it checks each
push's VAPID signature (RFC 8292) as a push service does and decrypts its aes128gcm body
(RFC 8291) with the subscription's private keys as the browser does."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.httpserver import LoopbackServer, Recorded, Reply


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One subscribed browser: its push endpoint and the keys only it holds."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    def subscription_json(self, device_name: str = "") -> dict[str, Any]:
        """What the page posts: PushSubscription.toJSON(), and a name."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)},
                "device_name": device_name}


@dataclass
class Push:
    """A push the service accepted, decrypted as its browser reads it."""

    browser: Browser
    payload: dict[str, Any]
    headers: dict[str, str]  # names in lower case
    claims: dict[str, Any]


class PushService:
    """Browsers subscribe here (`subscribe()`); what teamchat pushes is checked and kept in
    `pushes`. `answers` queues the status codes of the next replies (then 201)."""

    def __init__(self, vapid_public_key: str | None = None) -> None:
        self.vapid_public_key = vapid_public_key
        self.browsers: dict[str, Browser] = {}
        self.pushes: list[Push] = []
        self.refused: list[str] = []  # why a push was not accepted
        self.answers: list[int] = []
        self.lock = threading.Lock()
        self.server = LoopbackServer().start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def subscribe(self) -> Browser:
        token = b64url(os.urandom(12))
        browser = Browser(endpoint=f"{self.origin}/push/{token}")
        self.browsers[browser.endpoint] = browser
        self.server.routes[f"/push/{token}"] = self._receive
        return browser

    def pushes_to(self, browser: Browser) -> list[Push]:
        return [p for p in self.pushes if p.browser is browser]

    def wait(self, count: int, seconds: float = 15) -> list[Push]:
        deadline = time.monotonic() + seconds
        while len(self.pushes) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.pushes

    def stop(self) -> None:
        self.server.stop()

    # --- what a push service and a browser check ----------------------------------------

    def _verify_vapid(self, headers: dict[str, str]) -> dict[str, Any]:
        authorization = headers.get("authorization", "")
        scheme, _, params = authorization.partition(" ")
        assert scheme.lower() == "vapid", f"not a VAPID authorization: {authorization!r}"
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        token, key = fields["t"], fields["k"]
        if self.vapid_public_key is not None:
            assert key == self.vapid_public_key, "signed with another key than the installation's"
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        header, claims, signature = token.split(".")
        raw = unb64url(signature)
        assert len(raw) == 64, "an ES256 JWT signature is r and s, 32 bytes each"
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise AssertionError("the VAPID JWT's signature does not verify") from None
        assert json.loads(unb64url(header)) == {"typ": "JWT", "alg": "ES256"}
        decoded = json.loads(unb64url(claims))
        assert decoded["aud"] == self.origin, f"aud {decoded['aud']} is not the push service's origin"
        assert time.time() < decoded["exp"] <= time.time() + 24 * 3600, "exp must be within 24 h"
        assert decoded.get("sub"), "a VAPID claim names a contact"
        return decoded

    def _receive(self, request: Recorded) -> Reply:
        request.headers = {name.lower(): value for name, value in request.headers.items()}
        with self.lock:
            if self.answers:
                status = self.answers.pop(0)
                if status != 201:
                    return status, {"Retry-After": "0"} if status == 429 else {}, b"not now"
        try:
            browser = self.browsers[f"{self.origin}{request.path}"]
            claims = self._verify_vapid(request.headers)
            assert request.headers.get("content-encoding") == "aes128gcm", "not aes128gcm"
            assert int(request.headers.get("ttl", "-1")) >= 0, "a push needs a TTL"
            plain = http_ece.decrypt(request.body, private_key=browser.private_key,
                                     auth_secret=browser.auth, version="aes128gcm")
        except (AssertionError, KeyError, ValueError) as error:
            self.refused.append(f"{type(error).__name__}: {error}")
            return 400, {}, str(error).encode()
        with self.lock:
            self.pushes.append(Push(browser, json.loads(plain), request.headers, claims))
        return 201, {"Location": f"{self.origin}/message/{len(self.pushes)}"}, b""
