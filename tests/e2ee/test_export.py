"""Exports of encrypted conversations, and opening them offline with the escrow key."""

from __future__ import annotations

import csv
import email
import io
import json
import zipfile

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from compliance import services as compliance
from e2ee import scheme
from files import services as files
from messaging import services as messaging
from messaging.models import Message
from tests.e2ee.helpers import publish, sealed, set_policy, start_key
from tests.factories import client_for, make_channel, post

pytestmark = pytest.mark.django_db

SECRET = "acquisition of Northwind at 41 per share"
EDITED = "acquisition of Northwind at 43 per share"
FILE_BYTES = b"%PDF-1.4 term sheet: Northwind, 43 per share\n"


@pytest.fixture
def escrow():
    return scheme.generate_rsa_key(2048)


@pytest.fixture
def exported(escrow, ana, ben, compliance_officer, tmp_path):
    """An encrypted conversation with an edited message and a file, exported as jsonl."""
    set_policy("allowed", escrow.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    publish(ana), publish(ben)
    conversation, _ = messaging.conversation_direct_open(actor=ana, member_ids=[ben.pk], encrypted=True)
    raw = start_key(ana, conversation, [ana, ben])
    client = client_for(ana)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    first = client.post(url, sealed(raw, conversation, 1, SECRET), format="json").json()
    client.patch(f"/api/v1/messages/{first['id']}/", sealed(raw, conversation, 1, EDITED), format="json")
    blob, file_key = scheme.encrypt_file(FILE_BYTES)
    upload = files.attachment_upload(uploader=ana, upload=SimpleUploadedFile("encrypted.bin", blob))
    with_file = client.post(url, {**sealed(raw, conversation, 1, "the term sheet", files=[
        {"id": upload.pk, "name": "term-sheet.pdf", "type": "application/pdf", "size": len(FILE_BYTES),
         **file_key}]), "files": [upload.pk]}, format="json").json()
    plain_channel = make_channel(ana, "general", members=[ben])
    post(ana, plain_channel, "lunch at noon")
    job = compliance.export_start(actor=compliance_officer, format="jsonl", with_files=True,
                                  in_background=False)
    job = compliance.export_run(job_id=job.pk)
    path = tmp_path / "export.zip"
    with job.archive.open("rb") as stream:
        path.write_bytes(stream.read())
    return {"path": path, "conversation": conversation, "first": first, "with_file": with_file,
            "upload": upload}


def test_an_export_holds_ciphertext_and_wrapped_keys_marked_encrypted(exported, escrow):
    bundle = zipfile.ZipFile(exported["path"])
    everything = b"".join(bundle.read(name) for name in bundle.namelist())
    for secret in (SECRET, EDITED, "Northwind", "term-sheet.pdf"):
        assert secret.encode() not in everything
    manifest = json.loads(bundle.read("manifest.json"))
    assert manifest["encrypted_conversations"] is True
    assert manifest["encryption"]["conversations"] == [exported["conversation"].pk]
    assert "e2ee_keys.json" in manifest["files"]
    records = {r["id"]: r for r in map(json.loads, bundle.read("messages.jsonl").splitlines())}
    first = records[exported["first"]["id"]]
    assert first["encrypted"] is True and first["text"] == "" and first["key_id"] == 1
    assert first["ciphertext"] and first["nonce"]
    assert first["revisions"][0]["encrypted"] is True and first["revisions"][0]["ciphertext"]
    plain = [r for r in records.values() if not r.get("encrypted")]
    assert [r["text"] for r in plain] == ["lunch at noon"]
    keys = json.loads(bundle.read("e2ee_keys.json"))
    (entry,) = keys["conversations"][str(exported["conversation"].pk)]
    assert entry["key_id"] == 1 and len(entry["wrapped"]) == 2
    raw = scheme.unwrap_key(escrow, entry["escrow_wrapped_key"])
    assert scheme.decrypt_message(raw, exported["conversation"].pk, 1, first["ciphertext"],
                                  first["nonce"])["text"] == EDITED


def test_decrypt_export_with_the_escrow_key_writes_plain_json_lines(exported, escrow, tmp_path):
    key_file = tmp_path / "escrow.pem"
    key_file.write_bytes(escrow.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    out, files_dir = tmp_path / "plain.jsonl", tmp_path / "files"
    call_command("decrypt_export", str(exported["path"]), "--key", str(key_file), "--out", str(out),
                 "--files-dir", str(files_dir), stderr=io.StringIO())
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    first = records[exported["first"]["id"]]
    assert first["text"] == EDITED and first["decrypted"] is True and "ciphertext" not in first
    assert [r["text"] for r in first["revisions"]] == [SECRET]
    attached = records[exported["with_file"]["id"]]
    assert attached["text"] == "the term sheet"
    assert attached["files"] == [{"id": exported["upload"].pk, "name": "term-sheet.pdf",
                                  "type": "application/pdf", "size": len(FILE_BYTES)}]
    assert (files_dir / str(exported["upload"].pk) / "term-sheet.pdf").read_bytes() == FILE_BYTES
    assert any(r["text"] == "lunch at noon" for r in records.values())


def test_decrypt_export_with_another_key_fails_clearly(exported, tmp_path):
    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(scheme.generate_rsa_key(2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    out = tmp_path / "plain.jsonl"
    with pytest.raises(CommandError, match="could not be decrypted"):
        call_command("decrypt_export", str(exported["path"]), "--key", str(wrong), "--out", str(out),
                     stderr=io.StringIO())
    assert EDITED not in out.read_text()
    not_a_key = tmp_path / "nonsense.pem"
    not_a_key.write_text("nonsense")
    with pytest.raises(CommandError, match="PEM private key"):
        call_command("decrypt_export", str(exported["path"]), "--key", str(not_a_key))


def test_the_safety_number_is_the_same_from_both_sides_and_changes_with_a_key():
    a, b, c = (scheme.public_spki_b64(scheme.generate_rsa_key(2048)) for _ in range(3))
    number = scheme.safety_number(1, a, 2, b)
    assert number == scheme.safety_number(2, b, 1, a)
    assert len(number.replace(" ", "")) == 30 and number.replace(" ", "").isdigit()
    assert scheme.safety_number(1, a, 2, c) != number


def test_csv_and_eml_exports_mark_encrypted_messages_and_carry_their_ciphertext(exported,
                                                                              compliance_officer):
    first = Message.objects.get(pk=exported["first"]["id"])
    for format in ("csv", "eml"):
        job = compliance.export_run(job_id=compliance.export_start(
            actor=compliance_officer, format=format, in_background=False).pk)
        with job.archive.open("rb") as stream:
            bundle = zipfile.ZipFile(io.BytesIO(stream.read()))
        everything = b"".join(bundle.read(name) for name in bundle.namelist())
        assert SECRET.encode() not in everything and EDITED.encode() not in everything
        assert "e2ee_keys.json" in bundle.namelist()
        if format == "csv":
            reader = csv.DictReader(io.StringIO(bundle.read("messages.csv").decode()))
            rows = {int(r["id"]): r for r in reader}
            sealed_row = json.loads(rows[first.pk]["encryption"])
            assert sealed_row == {"encrypted": True, "ciphertext": first.ciphertext, "nonce": first.nonce,
                                  "key_id": 1}
            assert rows[first.pk]["text"] == ""
        else:
            mail = email.message_from_bytes(bundle.read(f"messages/{first.conversation_id}/{first.pk}.eml"))
            assert mail["X-Teamchat-Encrypted"].startswith("end-to-end; key 1")
            body = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
            assert body.get_payload(decode=True).decode().strip() == "(end-to-end encrypted)"
            (part,) = [p for p in mail.walk() if p.get_filename() == "teamchat-encrypted.json"]
            attached = json.loads(part.get_payload(decode=True))
            assert attached["ciphertext"] == first.ciphertext and len(attached["revisions"]) == 1
