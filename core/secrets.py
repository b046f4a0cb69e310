"""Secrets teamchat must use again (webhook signing keys, slash-command tokens) are kept
encrypted with a key derived from SECRET_KEY; secrets it only checks (API tokens,
incoming webhook URLs) are kept as hashes instead. Rotating SECRET_KEY: put the old one in
SECRET_KEY_FALLBACKS until the integrations are re-created."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"teamchat integration secrets").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _keys() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(key) for key in keys])


def encrypt(plain: str) -> str:
    return _keys().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _keys().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("this secret was encrypted with a SECRET_KEY no longer configured") from None
