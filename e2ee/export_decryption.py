"""Opening an export's end-to-end encrypted messages with the compliance escrow private
key, offline: what `manage.py decrypt_export` runs. Touches no database."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from e2ee import scheme


def load_private_key(data: bytes, password: bytes | None = None) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as error:
        raise scheme.SchemeError(f"Not a PEM private key this command can open: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise scheme.SchemeError("The escrow key must be an RSA private key.")
    return key


class ExportDecryptor:
    """Unwraps each conversation key once (with the escrow key) and opens messages."""

    def __init__(self, archive: zipfile.ZipFile, private_key: rsa.RSAPrivateKey) -> None:
        self.archive = archive
        self.private_key = private_key
        names = set(archive.namelist())
        if "messages.jsonl" not in names:
            raise scheme.SchemeError("This export has no messages.jsonl (export with --format jsonl).")
        wrapped = json.loads(archive.read("e2ee_keys.json")) if "e2ee_keys.json" in names else {}
        self.wrapped: dict[tuple[int, int], str | None] = {
            (int(conversation), entry["key_id"]): entry.get("escrow_wrapped_key")
            for conversation, entries in wrapped.get("conversations", {}).items() for entry in entries
        }
        self.keys: dict[tuple[int, int], bytes] = {}
        self.stats = {"messages": 0, "decrypted": 0, "failed": 0, "files": 0}

    def _key(self, conversation_id: int, key_id: int) -> bytes:
        if (conversation_id, key_id) not in self.keys:
            wrapped = self.wrapped.get((conversation_id, key_id))
            if not wrapped:
                raise scheme.SchemeError(f"Key {key_id} of conversation {conversation_id} was not "
                                         "wrapped for the escrow key.")
            self.keys[(conversation_id, key_id)] = scheme.unwrap_key(self.private_key, wrapped)
        return self.keys[(conversation_id, key_id)]

    def _open(self, conversation_id: int, body: dict[str, Any]) -> dict[str, Any]:
        key = self._key(conversation_id, body["key_id"])
        return scheme.decrypt_message(key, conversation_id, body["key_id"], body["ciphertext"], body["nonce"])

    def records(self) -> Iterator[dict[str, Any]]:
        with self.archive.open("messages.jsonl") as stream:
            for line in stream:
                if line.strip():
                    self.stats["messages"] += 1
                    yield self.record(json.loads(line))

    def record(self, record: dict[str, Any]) -> dict[str, Any]:
        if not record.get("encrypted"):
            return record
        conversation_id = record["conversation"]["id"]
        try:
            plain = self._open(conversation_id, record)
            for revision in record.get("revisions", []):
                if revision.get("encrypted"):
                    revision["text"] = self._open(conversation_id, revision).get("text", "")
                    revision["decrypted"] = True
                    for field in ("ciphertext", "nonce"):
                        revision.pop(field, None)
        except scheme.SchemeError as error:
            self.stats["failed"] += 1
            return {**record, "decrypted": False, "decryption_error": str(error)}
        self.stats["decrypted"] += 1
        record = {key: value for key, value in record.items() if key not in ("ciphertext", "nonce")}
        record["text"] = plain.get("text", "")
        record["decrypted"] = True
        record["files"] = [{k: v for k, v in f.items() if k not in ("key", "nonce")}
                           for f in plain.get("files", [])]
        record["_file_keys"] = {f["id"]: f for f in plain.get("files", []) if "id" in f}
        return record

    def write_files(self, record: dict[str, Any], directory: Path) -> None:
        """Decrypt the record's files that the export holds into `directory/<id>/<name>`."""
        keys = record.get("_file_keys", {})
        for attachment in record.get("attachments", []):
            entry = keys.get(attachment["id"])
            if entry is None or not attachment.get("path"):
                continue
            data = scheme.decrypt_file(self.archive.read(attachment["path"]), entry["key"], entry["nonce"])
            name = Path(str(entry.get("name") or "file")).name or "file"
            target = directory / str(attachment["id"]) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            self.stats["files"] += 1
