"""Writing an export: one zip holding the messages in the chosen format, optionally the
files, a manifest and a SHA-256 for every entry. Entries are streamed into the zip as
they are produced, so memory stays bounded whatever the size of the export."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import IO, Any

from django.conf import settings

from compliance.models import ExportFormat

CHUNK = 1024 * 1024


class HashingWriter(io.RawIOBase):
    """Passes bytes to a zip entry while counting and hashing them."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.digest.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


class ExportZip:
    """A zip being written, remembering each entry's checksum for the manifest."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self.checksums: dict[str, dict[str, Any]] = {}

    def entry(self, name: str) -> _Entry:
        return _Entry(self, name)

    def write_bytes(self, name: str, data: bytes) -> None:
        with self.entry(name) as out:
            out.write(data)

    def copy(self, name: str, source: IO[bytes]) -> None:
        with self.entry(name) as out:
            while chunk := source.read(CHUNK):
                out.write(chunk)

    def close(self, manifest: dict[str, Any]) -> None:
        manifest = {**manifest, "files": self.checksums}
        self.zip.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        sums = "".join(f"{v['sha256']}  {k}\n" for k, v in sorted(self.checksums.items()))
        self.zip.writestr("SHA256SUMS", sums)
        self.zip.close()


class _Entry:
    def __init__(self, archive: ExportZip, name: str) -> None:
        self.archive, self.name = archive, name

    def __enter__(self) -> HashingWriter:
        self.raw = self.archive.zip.open(self.name, "w", force_zip64=True)
        self.writer = HashingWriter(self.raw)
        return self.writer

    def __exit__(self, *exc: object) -> None:
        self.raw.close()
        self.archive.checksums[self.name] = {"sha256": self.writer.digest.hexdigest(),
                                             "size": self.writer.size}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def message_record(message: Any, file_paths: dict[int, str]) -> dict[str, Any]:
    """Everything the record holds about one message (JSON Lines and the data-subject
    export). Deleted messages keep their last text and say when they were deleted."""
    conversation = message.conversation
    return {
        "id": message.pk,
        "conversation": {"id": conversation.pk, "kind": conversation.kind,
                         "name": conversation.name or None},
        "seq": message.seq,
        "author": {"id": message.author_id, "email": message.author.email,
                   "display_name": message.author.display_name},
        "created_at": _iso(message.created_at),
        "edited_at": _iso(message.edited_at),
        "deleted_at": _iso(message.deleted_at),
        "deleted_by": message.deleted_by_id,
        "text": message.text,
        "html": message.html,
        "thread_root": message.thread_root_id,
        "also_in_channel": message.also_in_channel,
        "client_msg_id": message.client_msg_id or None,
        "revisions": [{"text": r.text, "written_at": _iso(r.written_at),
                       "replaced_at": _iso(r.replaced_at), "replaced_by": r.replaced_by_id,
                       **_sealed(r)}
                      for r in message.revisions.all()],
        "reactions": [{"emoji": r.emoji, "user": r.user_id, "at": _iso(r.created_at)}
                      for r in message.reactions.all()],
        "mentions": sorted(m.user_id for m in message.mentions.all()),
        "attachments": [{"id": a.pk, "name": a.name, "size": a.size,
                         "content_type": a.content_type, "sha256": a.sha256,
                         "path": file_paths.get(a.pk)} for a in message.attachments.all()],
        **_sealed(message),
    }


def _sealed(body: Any) -> dict[str, Any]:
    """End-to-end encrypted bodies: marked, with their ciphertext (text and html are
    empty); e2ee_keys.json holds the wrapped keys, `manage.py decrypt_export` opens them."""
    if body.key_id is None:
        return {}
    return {"encrypted": True, "ciphertext": body.ciphertext, "nonce": body.nonce, "key_id": body.key_id}


CSV_COLUMNS = ["id", "conversation_id", "conversation_kind", "conversation_name", "seq",
               "author_id", "author_email", "author_name", "created_at", "edited_at",
               "deleted_at", "thread_root", "text", "revisions", "reactions", "attachments", "encryption"]


def write_jsonl(archive: ExportZip, messages: Iterable[Any], file_paths: dict[int, str],
                progress: Any) -> None:
    with archive.entry("messages.jsonl") as out:
        for message in messages:
            out.write(json.dumps(message_record(message, file_paths), ensure_ascii=False).encode())
            out.write(b"\n")
            progress()


def write_csv(archive: ExportZip, messages: Iterable[Any], file_paths: dict[int, str],
              progress: Any) -> None:
    with archive.entry("messages.csv") as out:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text)
        writer.writerow(CSV_COLUMNS)
        for message in messages:
            record = message_record(message, file_paths)
            writer.writerow([
                record["id"], record["conversation"]["id"], record["conversation"]["kind"],
                record["conversation"]["name"] or "", record["seq"], record["author"]["id"],
                record["author"]["email"], record["author"]["display_name"], record["created_at"],
                record["edited_at"] or "", record["deleted_at"] or "", record["thread_root"] or "",
                record["text"], json.dumps(record["revisions"], ensure_ascii=False),
                json.dumps(record["reactions"], ensure_ascii=False),
                json.dumps(record["attachments"], ensure_ascii=False),
                json.dumps(_sealed(message)) if message.key_id is not None else "",
            ])
            progress()
        text.detach()


def _host() -> str:
    return settings.SITE_URL.split("://")[-1].split("/")[0].split(":")[0] or "teamchat.local"


def message_eml(message: Any, members: list[str], files: Iterator[tuple[Any, bytes]]) -> bytes:
    """One chat message as an RFC 5322 email, the form archiving tools take in."""
    conversation = message.conversation
    label = f"#{conversation.name}" if conversation.name else "direct conversation"
    first_line = (message.text.strip().splitlines() or ["(no text)"])[0][:80]
    mail = EmailMessage(policy=SMTP)
    mail["From"] = f'"{message.author.display_name}" <{message.author.email}>'
    mail["To"] = ", ".join(members) or "undisclosed-recipients:;"
    mail["Subject"] = f"[{label}] {first_line}"
    mail["Date"] = format_datetime(message.created_at)
    mail["Message-ID"] = f"<teamchat-message-{message.pk}@{_host()}>"
    if message.thread_root_id:
        mail["In-Reply-To"] = f"<teamchat-message-{message.thread_root_id}@{_host()}>"
        mail["References"] = mail["In-Reply-To"]
    mail["X-Teamchat-Conversation"] = f"{conversation.pk} {label}"
    mail["X-Teamchat-Message-Id"] = str(message.pk)
    if message.edited_at:
        mail["X-Teamchat-Edited"] = format_datetime(message.edited_at)
    if message.deleted_at:
        mail["X-Teamchat-Deleted"] = format_datetime(message.deleted_at)
    if message.key_id is not None:
        mail["X-Teamchat-Encrypted"] = f"end-to-end; key {message.key_id}; see teamchat-encrypted.json"
    body = message.text
    revisions = list(message.revisions.all())
    if message.key_id is not None:
        body = "(end-to-end encrypted)"  # it and its earlier versions: teamchat-encrypted.json
    elif revisions:
        body += "\n\n-- Earlier versions --\n" + "\n".join(
            f"[{r.written_at.isoformat()}] {r.text}" for r in revisions)
    mail.set_content(body or "(no text)", subtype="plain", charset="utf-8")
    if message.key_id is not None:
        sealed = {**_sealed(message), "revisions": [_sealed(r) for r in revisions]}
        mail.add_attachment(json.dumps(sealed).encode(), maintype="application", subtype="json",
                            filename="teamchat-encrypted.json")
    for attachment, data in files:
        maintype, _, subtype = (attachment.content_type or "application/octet-stream").partition("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream",
                            filename=attachment.name)
    return mail.as_bytes()


def _read(attachment: Any) -> bytes:
    with attachment.blob.open("rb") as blob:
        return blob.read()


def write_eml(archive: ExportZip, messages: Iterable[Any], members_of: Any, with_files: bool,
              progress: Any) -> None:
    for message in messages:
        files = ((a, _read(a)) for a in message.attachments.all()) if with_files else iter(())
        data = message_eml(message, members_of(message.conversation_id), files)
        archive.write_bytes(f"messages/{message.conversation_id}/{message.pk}.eml", data)
        progress()


def write_actiance(archive: ExportZip, days: Iterable[Any]) -> None:
    """Every conversation-day as a `<Conversation>` of one Actiance `<FileDump>`."""
    from compliance.archive_formats import ActianceWriter

    with archive.entry("actiance/export.xml") as out:
        writer = ActianceWriter(out)
        for day in days:
            writer.conversation(day)
        writer.close()


def write_globalrelay(archive: ExportZip, days: Iterable[Any], with_files: bool) -> None:
    """Every conversation-day as one email for Global Relay, files attached."""
    from compliance.archive_formats import globalrelay_eml
    from files.models import Attachment

    for day in days:
        files = ((event, _read(Attachment.objects.get(pk=event.attachment_id)))
                 for event in day.events if event.kind == "file") if with_files else iter(())
        archive.write_bytes(f"globalrelay/{day.conversation_id}/{day.start:%Y-%m-%d}.eml",
                            globalrelay_eml(day, _host(), files))


WRITERS = {ExportFormat.JSONL: write_jsonl, ExportFormat.CSV: write_csv}
