"""End-to-end encrypted conversations in real browsers, each person on a different daphne
process: nothing the server, its logs, Redis or an export holds carries the plaintext."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path

import pytest
import redis
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import expect

from compliance import services as compliance
from e2ee import scheme
from e2ee.models import IdentityKey, WrappedKey
from files.models import Attachment
from messaging import services as messaging
from messaging.models import ConversationEvent, Message, MessageRevision
from tests.e2e import message_item
from tests.e2ee.helpers import publish, set_policy
from tests.factories import make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSPHRASE = "correct horse battery staple 42"
SECRET = "Northwind offer: 43 per share, announce Friday"
REPLY = "Agreed, keep it quiet until then"
EDITED = "Agreed, keep it secret until Thursday"
FILE_TEXT = b"Term sheet for Northwind: 43 per share, break fee 2 percent\n"
FILE_NAME = "northwind-term-sheet.txt"
PLAINTEXTS = [SECRET, REPLY, EDITED, "Northwind", "term sheet", "43 per share", FILE_NAME]


def unlock(person, passphrase: str = PASSPHRASE, *, create: bool = True) -> None:
    """Answer the encryption dialog: choose a passphrase, or restore with one."""
    page = person.page
    page.wait_for_selector("#e2ee-dialog[open]", timeout=15000)
    page.fill("#e2ee-passphrase", passphrase)
    if create:
        page.fill("#e2ee-passphrase-confirm", passphrase)
    page.click("#e2ee-submit")
    page.wait_for_selector("#e2ee-dialog", state="hidden", timeout=30000)


def keys_shared(page, conversation, users, seconds: float = 30) -> None:
    """Until the conversation's newest key (if it has one yet) is wrapped for each of
    these people: a key made before someone unlocked reaches them when a member's browser
    shares it, a moment later; a message sent before that is one they cannot read."""
    import time

    from e2ee.models import ConversationKey

    deadline = time.monotonic() + seconds
    while True:
        newest = ConversationKey.objects.filter(conversation=conversation).order_by("-key_id").first()
        if newest is None or set(WrappedKey.objects.filter(conversation_key=newest).values_list(
                "user_id", flat=True)) >= {u.pk for u in users}:
            return
        assert time.monotonic() < deadline, "the conversation key was never shared with everyone"
        page.wait_for_timeout(100)


def encrypted_direct(people, off_loop, escrow_pem: str = ""):
    """Ana and Ben in an encrypted direct conversation, each unlocked in their browser."""
    off_loop(set_policy, "allowed", escrow_pem)
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    conversation = off_loop(lambda: messaging.conversation_direct_open(
        actor=ana, member_ids=[ben.pk], encrypted=True)[0])
    a, b = people(ana), people(ben)
    for person in (a, b):
        person.go(conversation.pk)
        unlock(person)
    keys_shared(a.page, conversation, [ana, ben])
    return ana, ben, conversation, a, b


class RedisWatcher:
    """Everything that crosses Redis while it runs: pub/sub messages (psubscribe '*') and
    every command (MONITOR), as channels_redis mostly uses lists, not pub/sub."""

    def __init__(self) -> None:
        self.client = redis.Redis.from_url(settings.REDIS_URL)
        self.seen: list[bytes] = []
        self.running = True
        self.pubsub = self.client.pubsub()
        self.pubsub.psubscribe("*")
        self.threads = [threading.Thread(target=self._listen, daemon=True),
                        threading.Thread(target=self._monitor, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _listen(self) -> None:
        while self.running:
            message = self.pubsub.get_message(timeout=0.2)
            if message and isinstance(message.get("data"), bytes):
                self.seen.append(message["data"])

    def _monitor(self) -> None:
        with self.client.monitor() as monitor:
            for command in monitor.listen():
                self.seen.append(str(command.get("command", "")).encode())
                if not self.running:
                    return

    def stop(self) -> bytes:
        self.running = False
        self.client.ping()  # wakes MONITOR so its thread ends
        for thread in self.threads:
            thread.join(timeout=5)
        self.pubsub.close()
        return b"\n".join(self.seen)


def escrow_key():
    key = scheme.generate_rsa_key(2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, pem


def database_text() -> str:
    """Every column of messages, revisions, attachments and conversation events."""
    rows = [*Message.objects.values(), *MessageRevision.objects.values(), *Attachment.objects.values(),
            *ConversationEvent.objects.values()]
    return json.dumps(rows, default=str)


def files_on_disk(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in folder.rglob("*") if path.is_file())


def test_two_people_exchange_encrypted_messages_and_a_file_the_server_cannot_read(
        people, off_loop, daphne_pair, tmp_path, settings):
    settings.MEDIA_ROOT = daphne_pair[0].data_dir.parent / "media"  # the servers' file storage
    escrow, escrow_pem = escrow_key()
    off_loop(set_policy, "allowed", escrow_pem)
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    officer = off_loop(make_user, "compliance", name="Cora Compliance")
    conversation = off_loop(lambda: messaging.conversation_direct_open(
        actor=ana, member_ids=[ben.pk], encrypted=True)[0])
    watcher = RedisWatcher()
    a, b = people(ana), people(ben)
    a.go(conversation.pk)
    unlock(a)
    b.go(conversation.pk)
    unlock(b)
    keys_shared(a.page, conversation, [ana, ben])
    expect(a.page.locator("#e2ee-bar")).to_contain_text("The server cannot search it")

    a.send(SECRET)
    expect(message_item(b.page, SECRET)).to_be_visible(timeout=20000)
    b.send(REPLY)
    expect(message_item(a.page, REPLY)).to_be_visible(timeout=20000)
    # Ben edits it (Up arrow): the edit is sealed too, and the earlier version kept sealed.
    b.page.click("#composer-input")
    b.page.press("#composer-input", "ArrowUp")
    expect(b.page.locator("#composer-input")).to_have_value(REPLY)
    b.page.fill("#composer-input", EDITED)
    b.page.press("#composer-input", "Enter")
    expect(message_item(a.page, EDITED)).to_contain_text("(edited)", timeout=20000)

    # A file, encrypted before upload, decrypted by the other person's browser.
    a.page.set_input_files("#file-input", files=[{"name": FILE_NAME, "mimeType": "text/plain",
                                                  "buffer": FILE_TEXT}])
    expect(a.page.locator("#upload-list progress")).to_have_count(0, timeout=20000)
    a.send("the term sheet is attached")
    card = message_item(b.page, "the term sheet is attached").get_by_role(
        "button", name=f"Download {FILE_NAME}")
    expect(card).to_be_visible(timeout=20000)
    with b.page.expect_download() as download:
        card.click()
    assert Path(download.value.path()).read_bytes() == FILE_TEXT
    assert download.value.suggested_filename == FILE_NAME

    # Client-side search finds what the server cannot.
    b.page.fill("#search-input", "Thursday")
    b.page.press("#search-input", "Enter")
    expect(b.page.locator(".e2ee-search")).to_contain_text(EDITED)

    captured = watcher.stop()
    stored = Message.objects.filter(conversation=conversation).order_by("id")
    assert stored.count() == 3 and all(m.text == "" and m.html == "" and m.ciphertext for m in stored)
    # The watcher did see the traffic: the ciphertext went through Redis, the text never did.
    assert stored[0].ciphertext[:40].encode() in captured
    server_logs = b"".join(path.read_bytes() for server in daphne_pair
                           for path in server.data_dir.glob("*.log"))
    media = files_on_disk(daphne_pair[0].data_dir.parent / "media")
    assert Attachment.objects.filter(message__conversation=conversation).count() == 1
    assert len(media) > 0
    database = database_text()
    for plaintext in PLAINTEXTS:
        assert plaintext not in database, plaintext
        assert plaintext.encode() not in captured, plaintext
        assert plaintext.encode() not in server_logs, plaintext
        assert plaintext.encode() not in media, plaintext

    # The export holds ciphertext and wrapped keys; the escrow key opens it offline.
    job = off_loop(lambda: compliance.export_run(job_id=compliance.export_start(
        actor=officer, format="jsonl", with_files=True, in_background=False).pk))
    export = tmp_path / "export.zip"
    with job.archive.open("rb") as stream:
        export.write_bytes(stream.read())
    bundle = zipfile.ZipFile(export)
    everything = b"".join(bundle.read(name) for name in bundle.namelist())
    for plaintext in PLAINTEXTS:
        assert plaintext.encode() not in everything, plaintext
    assert json.loads(bundle.read("manifest.json"))["encrypted_conversations"] is True
    key_file = tmp_path / "escrow.pem"
    key_file.write_bytes(escrow.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    out = tmp_path / "plain.jsonl"
    call_command("decrypt_export", str(export), "--key", str(key_file), "--out", str(out),
                 "--files-dir", str(tmp_path / "files"), stderr=io.StringIO())
    texts = [json.loads(line)["text"] for line in out.read_text().splitlines()]
    assert texts == [SECRET, EDITED, "the term sheet is attached"]
    revisions = [json.loads(line)["revisions"] for line in out.read_text().splitlines()]
    assert [r["text"] for r in revisions[1]] == [REPLY]
    (decrypted,) = (tmp_path / "files").rglob(FILE_NAME)
    assert decrypted.read_bytes() == FILE_TEXT


def test_a_removed_member_cannot_read_what_is_sent_after_removal(people, off_loop):
    off_loop(set_policy, "allowed")
    ana, ben, carl = (off_loop(make_user, name=name) for name in ("Ana Lopez", "Ben Okafor", "Carl Cole"))
    channel = off_loop(lambda: messaging.conversation_create(
        actor=ana, kind="private", name="board", encrypted=True, member_ids=[ben.pk, carl.pk]))
    a, b, c = people(ana), people(ben), people(carl)
    for person in (a, b, c):
        person.go(channel.pk)
        unlock(person)
    a.send("before the vote")
    expect(message_item(c.page, "before the vote")).to_be_visible(timeout=20000)
    expect(message_item(b.page, "before the vote")).to_be_visible(timeout=20000)

    off_loop(messaging.membership_remove, actor=ana, conversation_id=channel.pk, user_id=carl.pk)
    expect(c.page.locator(f'a[data-conversation="{channel.pk}"]')).to_have_count(0, timeout=10000)
    a.send("after carl left")
    expect(message_item(b.page, "after carl left")).to_be_visible(timeout=20000)

    after = Message.objects.get(conversation=channel, seq__gt=0, key_id=2)
    assert after.text == "" and after.key_id == 2
    assert not WrappedKey.objects.filter(conversation_key__conversation=channel,
                                         conversation_key__key_id=2, user=carl).exists()
    assert WrappedKey.objects.filter(conversation_key__key_id=2, user=ben).exists()
    # Carl's browser asks the server anyway: neither the keys nor the messages.
    status = c.page.evaluate("""async (id) => [
        (await fetch(`/api/v1/conversations/${id}/keys/`)).status,
        (await fetch(`/api/v1/conversations/${id}/messages/`)).status]""", channel.pk)
    assert status == [404, 404]


def test_a_new_device_restores_the_key_only_with_the_passphrase(people, off_loop):
    ana, ben, conversation, a, b = encrypted_direct(people, off_loop)
    a.send("written on my laptop")
    expect(message_item(b.page, "written on my laptop")).to_be_visible(timeout=20000)

    # Safety numbers: the same on both screens, and what the scheme computes from both keys.
    keys = {k.user_id: k.public_key for k in IdentityKey.objects.filter(replaced_at__isnull=True)}
    expected = scheme.safety_number(ana.pk, keys[ana.pk], ben.pk, keys[ben.pk])
    for person in (a, b):
        person.page.click("#e2ee-safety-button")
        expect(person.page.locator(".e2ee-safety-number")).to_have_text(expected)
        person.page.get_by_role("button", name="Close").click()

    # A fresh browser (a new device): the wrong passphrase fails, the right one restores.
    phone = people(ana)
    phone.go(conversation.pk)
    phone.page.wait_for_selector("#e2ee-dialog[open]")
    expect(phone.page.locator("#e2ee-dialog-title")).to_have_text("Unlock end-to-end encryption")
    phone.page.fill("#e2ee-passphrase", "not my passphrase at all")
    phone.page.click("#e2ee-submit")
    expect(phone.page.locator("#e2ee-error")).to_have_text("That passphrase does not unlock your key.",
                                                           timeout=20000)
    expect(message_item(phone.page, "written on my laptop")).to_have_count(0)
    unlock(phone, create=False)
    expect(message_item(phone.page, "written on my laptop")).to_be_visible(timeout=20000)
    assert IdentityKey.objects.filter(user=ana).count() == 1  # restored, not replaced
    # The browser's backup is the documented scheme: Python opens it with the passphrase only.
    identity = IdentityKey.objects.get(user=ana)
    assert identity.backup["iterations"] == 600_000
    private = scheme.restore_private_key(identity.backup, PASSPHRASE, ana.pk)
    assert private.key_size == 3072 and scheme.public_spki_b64(private) == identity.public_key
    with pytest.raises(scheme.SchemeError):
        scheme.restore_private_key(identity.backup, "not my passphrase at all", ana.pk)

    # Ben's key is replaced (a lost passphrase, or an attack): Ana is warned.
    off_loop(publish, ben)
    expect(a.page.locator(".e2ee-warning")).to_contain_text("Ben Okafor's encryption key changed",
                                                            timeout=20000)


def test_an_encrypted_message_sent_offline_arrives_once_and_its_text_never_touches_storage(
        people, off_loop):
    ana, _, conversation, a, b = encrypted_direct(people, off_loop)
    a.send("a first word, online")
    expect(message_item(b.page, "a first word, online")).to_be_visible(timeout=20000)

    a.context.set_offline(True)
    expect(a.page.locator("#connection-banner")).to_contain_text("You are offline")
    a.send(SECRET)
    expect(message_item(a.page, SECRET)).to_contain_text("Sending…")
    kept = a.page.evaluate("id => localStorage.getItem(`teamchat.outbox.${id}`)", ana.pk)
    assert SECRET not in (kept or "")

    a.context.set_offline(False)
    expect(message_item(b.page, SECRET)).to_be_visible(timeout=20000)
    expect(message_item(a.page, SECRET)).not_to_contain_text("Sending…", timeout=20000)
    stored = list(Message.objects.filter(conversation=conversation).values_list("text", flat=True))
    assert stored == ["", ""]  # two messages, each sealed: the second sent once


MARKDOWN = ("**Board** vote on _Friday_, ~~Thursday~~ :rocket:\n"
            "ask @**Ben Okafor**, see https://example.com/deck and `git tag v2`\n\n"
            "- first\n- second\n\n<img src=x onerror=alert(1)> [bad](javascript:alert(1))")


def test_encrypted_messages_render_markdown_and_the_header_says_encrypted(people, off_loop):
    """Markdown is rendered in the browser (the server never reads the text) like any other
    message: emphasis, strikethrough, emoji shortcodes, a mention chip, links that open
    apart, code and lists; raw HTML and script links stay text. The header says the
    conversation is encrypted; an ordinary one says nothing of the kind."""
    off_loop(set_policy, "allowed")
    ana, ben = (off_loop(make_user, name=name) for name in ("Ana Lopez", "Ben Okafor"))
    sealed = off_loop(lambda: messaging.conversation_create(
        actor=ana, kind="private", name="board", encrypted=True, member_ids=[ben.pk]))
    plain = off_loop(lambda: messaging.conversation_create(
        actor=ana, kind="private", name="lunch", member_ids=[ben.pk]))
    a, b = people(ana), people(ben)
    for person in (a, b):
        person.go(sealed.pk)
        unlock(person)
    expect(a.page.locator("#conversation-encryption")).to_be_visible()
    a.send(MARKDOWN)
    item = message_item(b.page, "Board")
    expect(item).to_be_visible(timeout=20000)
    body = item.locator(".message-body")
    expect(body.locator("strong")).to_have_text("Board")
    expect(body.locator("em")).to_have_text("Friday")
    expect(body.locator("s, del")).to_have_text("Thursday")
    expect(body).to_contain_text("🚀")
    expect(body.locator(f'.mention[data-user-id="{ben.pk}"]')).to_have_text("@Ben Okafor")
    link = body.locator('a[href="https://example.com/deck"]')
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(body.locator("code")).to_have_text("git tag v2")
    expect(body.locator("li")).to_have_count(2)
    # What would be markup stays text; nothing ran.
    expect(body.locator("img")).to_have_count(0)
    expect(body).to_contain_text("<img src=x onerror=alert(1)>")
    expect(body.locator('a[href^="javascript"]')).to_have_count(0)
    assert Message.objects.filter(conversation=sealed, seq__gt=0).get().text == ""

    b.go(plain.pk)
    expect(b.page.locator("#conversation-title")).to_contain_text("lunch")
    expect(b.page.locator("#conversation-encryption")).to_be_hidden()
    assert not a.errors and not b.errors


@pytest.mark.parametrize(("policy", "role", "hint"), [
    ("off", "member", "An admin can turn it on in the console."),
    ("off", "admin", "Turn it on in the console"),
    ("required", "member", "your organisation requires it"),
])
def test_the_new_conversation_dialog_says_when_encryption_is_available(people, off_loop, policy,
                                                                         role, hint):
    off_loop(set_policy, policy)
    ana = off_loop(make_user, name="Ana Lopez", role=role)
    off_loop(make_user, name="Ben Okafor")
    a = people(ana)
    a.page.click("#new-direct")
    dialog = a.page.locator("dialog[open]")
    expect(dialog.locator(".encryption-hint")).to_contain_text(hint)
    expect(dialog.locator("#direct-encrypted")).to_have_count(0)
    if role == "admin":
        expect(dialog.locator('.encryption-hint a[href="/console/settings/"]')).to_be_visible()
    assert not a.errors
