"""The encryption scheme, in Python: the same algorithms and byte layouts the browser
uses with WebCrypto (static/js/crypto.js). The server uses it only to check that public
keys are well formed; `manage.py decrypt_export` and the tests use the rest offline.

- Identity and escrow keys: RSA-OAEP with SHA-256 (3072-bit in the browser, at least
  2048 accepted), public keys as SPKI DER in base64 (escrow: PEM or JWK in the console).
- A conversation key: 256 random bits for AES-GCM, wrapped with RSA-OAEP for each member
  and for the escrow key.
- A message: UTF-8 JSON {"v": 1, "text", "files": [{id, name, type, size, key, nonce}]}
  under AES-GCM with a random 96-bit nonce and the associated data
  `teamchat:v1:conversation:<id>:key:<key_id>`, so ciphertext cannot be moved to
  another conversation or presented under another key.
- A file: its bytes under AES-GCM with their own random key and nonce (named in the
  message), associated data `teamchat:v1:file`.
- The private-key backup: PKCS#8 DER under AES-GCM with a key from
  PBKDF2-HMAC-SHA256 (600,000 iterations, 16-byte salt) of the passphrase, associated data
  `teamchat:v1:key-backup:<user id>`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

MIN_RSA_BITS = 2048
PBKDF2_ITERATIONS = 600_000
MAX_PBKDF2_ITERATIONS = 10_000_000  # what a restore may be made to compute
FILE_AAD = b"teamchat:v1:file"
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class SchemeError(ValueError):
    """A key or ciphertext that is not what the scheme expects."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: Any, *, what: str = "value") -> bytes:
    if not isinstance(text, str) or not text:
        raise SchemeError(f"The {what} must be base64 text.")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise SchemeError(f"The {what} is not valid base64.") from None


def message_aad(conversation_id: int, key_id: int) -> bytes:
    return f"teamchat:v1:conversation:{conversation_id}:key:{key_id}".encode()


def backup_aad(user_id: int) -> bytes:
    return f"teamchat:v1:key-backup:{user_id}".encode()


def _rsa_public(key: Any) -> rsa.RSAPublicKey:
    if not isinstance(key, rsa.RSAPublicKey):
        raise SchemeError("Must be an RSA public key (RSA-OAEP).")
    if key.key_size < MIN_RSA_BITS:
        raise SchemeError(f"The RSA key must have at least {MIN_RSA_BITS} bits.")
    return key


def spki_from_base64(text: Any) -> tuple[bytes, rsa.RSAPublicKey]:
    """A public key sent by a browser: SPKI DER in base64."""
    der = unb64(text, what="public key")
    try:
        key = serialization.load_der_public_key(der)
    except ValueError:
        raise SchemeError("Not an SPKI public key.") from None
    return der, _rsa_public(key)


def escrow_key_from_text(text: str) -> tuple[str, str]:
    """The escrow public key as pasted in the console (PEM, or an RSA JWK), normalised to
    PEM, with its fingerprint."""
    text = (text or "").strip()
    if text.startswith("{"):
        try:
            jwk = json.loads(text)
            if jwk.get("kty") != "RSA":
                raise SchemeError("The JWK must be an RSA key (kty RSA).")
            numbers = rsa.RSAPublicNumbers(
                int.from_bytes(_unb64url(jwk["e"]), "big"), int.from_bytes(_unb64url(jwk["n"]), "big"))
            key: Any = numbers.public_key()
        except (ValueError, KeyError, TypeError, AttributeError):
            raise SchemeError("Not a valid RSA JWK public key.") from None
    else:
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError:
            raise SchemeError("Not a PEM public key (-----BEGIN PUBLIC KEY-----).") from None
    key = _rsa_public(key)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode(), fingerprint(der)


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fingerprint(spki_der: bytes) -> str:
    return hashlib.sha256(spki_der).hexdigest()


def safety_number(user_a: int, spki_a: str, user_b: int, spki_b: str) -> str:
    """Thirty digits both people compute alike from both public keys (base64 SPKI)."""
    (first_id, first), (second_id, second) = sorted([(user_a, spki_a), (user_b, spki_b)])
    digest = hashlib.sha256(f"teamchat-safety-v1:{first_id}:{first}:{second_id}:{second}".encode()).digest()
    groups = [int.from_bytes(digest[i * 4:i * 4 + 4], "big") % 100000 for i in range(6)]
    return " ".join(f"{g:05d}" for g in groups)


# --- What the browser does, for tests and offline tools --------------------------------

def generate_rsa_key(bits: int = 3072) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_spki_b64(private_key: rsa.RSAPrivateKey) -> str:
    return b64(private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))


def wrap_key(public_key: rsa.RSAPublicKey, raw_key: bytes) -> str:
    return b64(public_key.encrypt(raw_key, OAEP))


def unwrap_key(private_key: rsa.RSAPrivateKey, wrapped: str) -> bytes:
    try:
        return private_key.decrypt(unb64(wrapped, what="wrapped key"), OAEP)
    except ValueError:
        raise SchemeError("This key cannot unwrap that conversation key.") from None


def encrypt_message(key: bytes, conversation_id: int, key_id: int, body: dict[str, Any]) -> dict[str, Any]:
    nonce = os.urandom(12)
    data = AESGCM(key).encrypt(nonce, json.dumps(body).encode(), message_aad(conversation_id, key_id))
    return {"ciphertext": b64(data), "nonce": b64(nonce), "key_id": key_id}


def decrypt_message(key: bytes, conversation_id: int, key_id: int, ciphertext: str,
                    nonce: str) -> dict[str, Any]:
    try:
        data = AESGCM(key).decrypt(unb64(nonce, what="nonce"), unb64(ciphertext, what="ciphertext"),
                                   message_aad(conversation_id, key_id))
    except Exception as error:  # InvalidTag carries no message
        raise SchemeError("The ciphertext does not decrypt under this key.") from error
    return json.loads(data)


def encrypt_file(data: bytes) -> tuple[bytes, dict[str, str]]:
    key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
    return AESGCM(key).encrypt(nonce, data, FILE_AAD), {"key": b64(key), "nonce": b64(nonce)}


def decrypt_file(data: bytes, key: str, nonce: str) -> bytes:
    try:
        return AESGCM(unb64(key, what="file key")).decrypt(unb64(nonce, what="nonce"), data, FILE_AAD)
    except Exception as error:
        raise SchemeError("The file does not decrypt under its key.") from error


def backup_private_key(private_key: rsa.RSAPrivateKey, passphrase: str, user_id: int,
                       iterations: int = PBKDF2_ITERATIONS) -> dict[str, Any]:
    salt, iv = os.urandom(16), os.urandom(12)
    pkcs8 = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    aes = AESGCM(_passphrase_key(passphrase, salt, iterations))
    return {"kdf": "PBKDF2", "hash": "SHA-256", "iterations": iterations, "salt": b64(salt),
            "cipher": "AES-GCM", "iv": b64(iv),
            "ciphertext": b64(aes.encrypt(iv, pkcs8, backup_aad(user_id)))}


def restore_private_key(backup: dict[str, Any], passphrase: str, user_id: int) -> rsa.RSAPrivateKey:
    key = _passphrase_key(passphrase, unb64(backup["salt"]), int(backup["iterations"]))
    try:
        pkcs8 = AESGCM(key).decrypt(unb64(backup["iv"]), unb64(backup["ciphertext"]), backup_aad(user_id))
    except Exception as error:
        raise SchemeError("Wrong passphrase.") from error
    loaded = serialization.load_der_private_key(pkcs8, password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise SchemeError("The backup does not hold an RSA key.")
    return loaded


def _passphrase_key(passphrase: str, salt: bytes, iterations: int) -> bytes:
    return PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt,
                      iterations=iterations).derive(passphrase.encode())


BACKUP_FIELDS = {"kdf", "hash", "iterations", "salt", "cipher", "iv", "ciphertext"}


def clean_backup(backup: Any) -> dict[str, Any]:
    """Check the shape of a private-key backup (the server cannot check its content)."""
    if not isinstance(backup, dict) or set(backup) != BACKUP_FIELDS:
        raise SchemeError(f"Must be an object with exactly: {', '.join(sorted(BACKUP_FIELDS))}.")
    if backup["kdf"] != "PBKDF2" or backup["hash"] != "SHA-256" or backup["cipher"] != "AES-GCM":
        raise SchemeError("Only PBKDF2 with SHA-256 and AES-GCM are accepted.")
    iterations = backup["iterations"]
    if not isinstance(iterations, int) or not PBKDF2_ITERATIONS <= iterations <= MAX_PBKDF2_ITERATIONS:
        raise SchemeError(f"iterations must be {PBKDF2_ITERATIONS} to {MAX_PBKDF2_ITERATIONS}.")
    if len(unb64(backup["salt"], what="salt")) < 16:
        raise SchemeError("The salt must be at least 16 bytes.")
    if len(unb64(backup["iv"], what="iv")) != 12:
        raise SchemeError("The iv must be 12 bytes.")
    if len(unb64(backup["ciphertext"], what="ciphertext")) > 8192:
        raise SchemeError("The ciphertext is too long for a private key.")
    return backup
