"""Importing a Slack workspace export: a generated export holding every kind of thing
real exports hold, checked message by message; a second import changes nothing; an
interrupted import completes on rerun; bad exports are refused with no rows. Run again
on SQLite by test_the_embedded_mode_imports_the_same_way."""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from PIL import Image

from accounts.models import Role, User
from core.models import AuditEvent
from files.models import Attachment
from integrations.models import SlackImportMapping
from integrations.slack_export import ExportRefused, read_export
from messaging.models import (
    Conversation,
    ConversationEvent,
    Membership,
    Mention,
    Message,
    Pin,
    ThreadFollow,
)
from messaging.search import message_search
from tests.embedded import rerun_on_sqlite
from tests.factories import make_user

pytestmark = pytest.mark.django_db
# The module, not the service of the same name that integrations.services exports.
slack_import_module = importlib.import_module("integrations.services.slack_import")


def ts(day: int, second: int) -> str:
    """A Slack timestamp on 2024-01-<day> at 09:00:<second> UTC."""
    return f"{datetime(2024, 1, day, 9, 0, second, tzinfo=UTC).timestamp():.6f}"


def when(stamp: str) -> datetime:
    return datetime.fromtimestamp(float(stamp), tz=UTC)


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SecretCamera"  # Make
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def person(slack_id: str, name: str, email: str | None, **extra: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {"real_name": name.title(), "display_name": name}
    if email:
        profile["email"] = email
    return {"id": slack_id, "name": name, "profile": profile, **extra}


USERS = [
    person("U1", "alice", "Alice@Example.com", tz="Europe/Paris"),
    person("U2", "bob", "bob@example.com", tz="America/New_York"),
    person("U3", "carol", "carol@guests.example", is_restricted=True),
    person("U4", "dave", "dave@example.com", deleted=True),
    person("U5", "buildbot", None, is_bot=True),
    person("U6", "erin", "erin@guests.example", is_ultra_restricted=True),
]
ROOT = ts(1, 0)
PINNED = ts(2, 0)


def general_day_1() -> list[dict[str, Any]]:
    return [
        {"type": "message", "user": "U1", "ts": ROOT, "thread_ts": ROOT, "reply_count": 2,
         "text": "Hello <@U2> and <!here>, see <#C2|random> and <https://example.com|docs> "
                 "*bold* _it_ ~gone~ `code *x*` R&amp;D :smile:",
         "reactions": [{"name": "+1", "users": ["U2", "U3"], "count": 2},
                       {"name": "partyparrot", "users": ["U2"], "count": 1}]},
        {"type": "message", "subtype": "channel_join", "user": "U3", "ts": ts(1, 1),
         "text": "<@U3> has joined the channel"},
        {"type": "message", "user": "U2", "ts": ts(1, 2), "thread_ts": ROOT,
         "parent_user_id": "U1", "text": "reply one"},
        {"type": "message", "subtype": "thread_broadcast", "user": "U3", "ts": ts(1, 3),
         "thread_ts": ROOT, "parent_user_id": "U1", "text": "reply shown in the channel <!channel>"},
        {"type": "message", "user": "U2", "ts": ts(1, 4), "text": "final text",
         "edited": {"user": "U2", "ts": ts(1, 30)}},
        {"type": "message", "subtype": "bot_message", "bot_id": "B1", "username": "deploy-bot",
         "ts": ts(1, 5), "text": "",
         "attachments": [{"fallback": "Build 42 passed", "title": "Build 42",
                          "title_link": "https://ci.example/42",
                          "text": "passed *green* for <@U2>"}]},
        {"type": "message", "subtype": "bot_message", "bot_id": "B1", "username": "deploy-bot",
         "ts": ts(1, 6), "text": "",
         "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Deploy* done"}},
                    {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
                        {"type": "text", "text": "by "}, {"type": "user", "user_id": "U2"}]}]},
                    {"type": "actions", "elements": []}]},
        {"type": "message", "user": "U5", "ts": ts(1, 7), "text": "nightly job ran"},
    ]


def general_day_2() -> list[dict[str, Any]]:
    return [
        {"type": "message", "user": "U4", "ts": PINNED, "text": "an old post",
         "pinned_to": ["C1"]},
        {"type": "message", "user": "U1", "ts": ts(2, 1), "text": "a photo",
         "files": [{"id": "F1", "name": "photo.jpg", "mimetype": "image/jpeg", "size": 1000,
                    "url_private": "https://files.slack.com/F1/photo.jpg"}]},
        {"type": "message", "user": "U2", "ts": ts(2, 2), "text": "",
         "files": [{"id": "F2", "name": "report.pdf", "mimetype": "application/pdf",
                    "url_private": "https://files.slack.com/F2/report.pdf"}]},
        {"type": "message", "user": "U2", "ts": ts(2, 3), "text": "notes attached",
         "files": [{"id": "F3", "name": "notes.txt", "mimetype": "text/plain"}]},
        {"type": "message", "subtype": "channel_leave", "user": "U3", "ts": ts(2, 4),
         "text": "<@U3> has left the channel"},
        {"type": "message", "user": "U2", "ts": ts(2, 5),
         "text": "```SELECT * FROM t WHERE a &lt; 3```"},
        {"type": "message", "user": "U1", "ts": ts(2, 6), "text": "see <https://news.example/a>",
         "attachments": [{"from_url": "https://news.example/a", "title": "A headline",
                          "text": "An unfurled preview", "service_name": "News"},
                         {"from_url": "https://slack.example/archives/C1/p1", "is_share": True,
                          "is_msg_unfurl": True, "text": "a shared message",
                          "author_name": "bob"}]},
    ]


EXPECTED = [
    # conversation, author email, text, time, thread root ts, reactions, files
    ("general", "alice@example.com",
     "Hello <@{bob}> and @here, see #random and [docs](https://example.com) **bold** _it_ "
     "~~gone~~ `code *x*` R&D 😄", ROOT, None, {("👍", "bob@example.com"),
                                                  ("👍", "carol@guests.example")}, []),
    ("general", "bob@example.com", "reply one", ts(1, 2), ROOT, set(), []),
    ("general", "carol@guests.example", "reply shown in the channel @channel", ts(1, 3), ROOT,
     set(), []),
    ("general", "bob@example.com", "final text", ts(1, 4), None, set(), []),
    ("general", "slack-b1@bots.teamchat.invalid",
     "> **[Build 42](https://ci.example/42)**\n> passed **green** for <@{bob}>", ts(1, 5), None,
     set(), []),
    ("general", "slack-b1@bots.teamchat.invalid", "**Deploy** done\n\nby <@{bob}>", ts(1, 6), None,
     set(), []),
    ("general", "slack-u5@bots.teamchat.invalid", "nightly job ran", ts(1, 7), None, set(), []),
    ("general", "dave@example.com", "an old post", PINNED, None, set(), []),
    ("general", "alice@example.com", "a photo", ts(2, 1), None, set(), ["photo.jpg"]),
    ("general", "bob@example.com", "📎 report.pdf (file not included in the import)", ts(2, 2),
     None, set(), []),
    ("general", "bob@example.com", "notes attached", ts(2, 3), None, set(), ["notes.txt"]),
    ("general", "bob@example.com", "```\nSELECT * FROM t WHERE a < 3\n```", ts(2, 5), None,
     set(), []),
    ("general", "alice@example.com", "see <https://news.example/a>\n\n> a shared message",
     ts(2, 6), None, set(), []),
    ("random", "bob@example.com", "in random", ts(1, 0), None, set(), []),
    ("secret-plans", "alice@example.com", "the plan", ts(1, 0), None, set(), []),
    ("direct:Alice Existing,bob,carol", "carol@guests.example", "hi both", ts(1, 0), None, set(),
     []),
    ("direct:Alice Existing,bob", "bob@example.com", "hi alice", ts(1, 0), None, set(), []),
]


def build_export(path: Path, *, extra: dict[str, bytes | str] | None = None,
                 drop: tuple[str, ...] = ()) -> Path:
    members: dict[str, Any] = {
        "users.json": USERS,
        "channels.json": [
            {"id": "C1", "name": "general", "created": 1700000000, "creator": "U1", "is_general": True,
             "members": ["U1", "U2", "U3", "U4"],
             "topic": {"value": "Company-wide news", "creator": "U1", "last_set": 0},
             "purpose": {"value": "Everyone", "creator": "U1", "last_set": 0},
             "pins": [{"id": PINNED, "type": "C", "user": "U1", "created": 1704186000}]},
            {"id": "C2", "name": "random", "created": 1700000000, "creator": "U2",
             "members": ["U1", "U2"], "is_archived": True,
             "topic": {"value": ""}, "purpose": {"value": "Anything"}},
        ],
        "groups.json": [{"id": "G1", "name": "secret-plans", "created": 1700000000,
                         "creator": "U1", "members": ["U1", "U2"], "is_private": True}],
        "dms.json": [{"id": "D1", "created": 1700000000, "members": ["U1", "U2"]}],
        "mpims.json": [{"id": "G2", "name": "mpdm-alice--bob--carol-1", "created": 1700000000,
                        "creator": "U1", "members": ["U1", "U2", "U3"]}],
        "general/2024-01-01.json": general_day_1(),
        "general/2024-01-02.json": general_day_2(),
        "random/2024-01-01.json": [{"type": "message", "user": "U2", "ts": ts(1, 0),
                                    "text": "in random"}],
        "secret-plans/2024-01-01.json": [{"type": "message", "user": "U1", "ts": ts(1, 0),
                                          "text": "the plan"}],
        "D1/2024-01-01.json": [{"type": "message", "user": "U2", "ts": ts(1, 0),
                                "text": "hi alice"}],
        "mpdm-alice--bob--carol-1/2024-01-01.json": [{"type": "message", "user": "U3",
                                                      "ts": ts(1, 0), "text": "hi both"}],
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            if name not in drop:
                archive.writestr(name, json.dumps(content, indent=1))
        archive.writestr("__uploads/F1/photo.jpg", jpeg_with_exif())
        for name, raw in (extra or {}).items():
            archive.writestr(name, raw)
    return path


@pytest.fixture
def export(tmp_path) -> Path:
    return build_export(tmp_path / "slack.zip")


@pytest.fixture
def files_dir(tmp_path) -> Path:
    folder = tmp_path / "slack-files" / "F3"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("remember the milk\n")
    return folder.parent


@pytest.fixture
def importer(db) -> User:
    """The owner who imports, and Alice, already in teamchat under the same email."""
    make_user(Role.MEMBER, name="Alice Existing", email="alice@example.com")
    return make_user(Role.OWNER, name="Olive Owner", email="olive@example.com")


def run(export: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("import_slack", str(export), *args, stdout=out)
    return out.getvalue()


TABLES = ["accounts.User", "messaging.Conversation", "messaging.Membership", "messaging.Message",
          "messaging.ConversationEvent", "messaging.Reaction", "messaging.Mention", "messaging.Pin",
          "messaging.ThreadFollow", "files.Attachment", "integrations.SlackImportMapping"]


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table an import writes (the audit log apart)."""
    return {label: sorted(map(repr, apps.get_model(label).objects.values_list()))
            for label in TABLES}


def conversation_label(conversation: Conversation) -> str:
    if conversation.name:
        return conversation.name
    names = sorted(m.user.display_name for m in conversation.memberships.select_related("user"))
    return "direct:" + ",".join(names)


def imported_messages() -> list[tuple[Any, ...]]:
    result = []
    for message in (Message.objects.select_related("conversation", "author", "thread_root")
                    .order_by("conversation__created_at", "conversation_id", "seq")):
        root_ts = (f"{message.thread_root.created_at.timestamp():.6f}"
                   if message.thread_root else None)
        reactions = {(r.emoji, r.user.email) for r in message.reactions.select_related("user")}
        files = sorted(a.name for a in message.attachments.all())
        result.append((conversation_label(message.conversation), message.author.email,
                       message.text, f"{message.created_at.timestamp():.6f}", root_ts, reactions,
                       files))
    return result


def expected_messages() -> list[tuple[Any, ...]]:
    bob = User.objects.get(email="bob@example.com").pk
    return [(c, a, t.replace("{bob}", str(bob)), stamp, root, reactions, files)
            for c, a, t, stamp, root, reactions, files in EXPECTED]


def test_an_export_is_imported_message_by_message(importer, export, files_dir):
    output = run(export, "--files", str(files_dir))

    assert "people created: 4" in output and "people matched: 1" in output
    assert "conversations created: 5" in output
    assert "messages: 17" in output and "replies: 2" in output and "threads: 1" in output
    assert "reactions: 2" in output and "pins: 1" in output and "joins and leaves: 2" in output
    assert "files: 2" in output and "placeholders: 1" in output
    assert "partyparrot" in output  # a custom emoji's reactions are named in the warnings
    assert f"general message {ts(1, 6)}: blocks of type actions not shown" in output
    assert imported_messages() == expected_messages()

    # People: matched by email, or created without a password; guests, the deleted, bots.
    alice = User.objects.get(email="alice@example.com")
    assert alice.display_name == "Alice Existing"
    bob = User.objects.get(email="bob@example.com")
    assert not bob.has_usable_password() and bob.timezone == "America/New_York"
    assert bob.role == Role.MEMBER and bob.full_name == "Bob"
    assert User.objects.get(email="carol@guests.example").role == Role.GUEST
    assert User.objects.get(email="erin@guests.example").role == Role.GUEST
    dave = User.objects.get(email="dave@example.com")
    assert not dave.is_active and dave.deactivated_at is not None
    assert User.objects.get(email="slack-u5@bots.teamchat.invalid").is_bot
    deploy_bot = User.objects.get(email="slack-b1@bots.teamchat.invalid")
    assert deploy_bot.is_bot and deploy_bot.display_name == "deploy-bot"

    # Conversations with their members, topic, purpose, archive.
    general = Conversation.objects.get(name="general")
    assert (general.kind, general.topic, general.purpose) == ("public", "Company-wide news",
                                                              "Everyone")
    assert set(general.memberships.values_list("user__email", flat=True)) == {
        "alice@example.com", "bob@example.com", "carol@guests.example", "dave@example.com"}
    assert general.memberships.get(user=alice).role == "admin"
    assert general.is_default and not Conversation.objects.get(name="random").is_default
    assert Conversation.objects.get(name="random").archived_at is not None
    assert Conversation.objects.get(name="secret-plans").kind == "private"
    assert Conversation.objects.filter(kind="direct").count() == 2
    assert not Membership.objects.filter(user__email="olive@example.com").exists()

    # Sequence numbers: conversation.created is 1, then every message and join in order.
    events = list(general.events.order_by("seq").values_list("seq", "type"))
    assert [seq for seq, _type in events] == list(range(1, general.last_seq + 1))
    assert [t for _s, t in events].count("member.joined") == 1
    assert [t for _s, t in events].count("member.left") == 1
    for message in general.messages.all():
        assert ConversationEvent.objects.get(conversation=general, seq=message.seq).message_id \
            == message.pk
    general.refresh_from_db()
    assert general.last_message_at == when(ts(2, 6))
    # History arrives read: nobody has thirteen unread messages from years ago.
    assert set(general.memberships.values_list("last_read_seq", flat=True)) == {general.last_seq}

    # Threads, edits, broadcasts, mentions, pins.
    root = Message.objects.get(conversation=general, created_at=when(ROOT))
    assert root.reply_count == 2 and root.last_reply_at == when(ts(1, 3))
    assert root.thread_participants == [alice.pk, bob.pk,
                                        User.objects.get(email="carol@guests.example").pk]
    assert Message.objects.get(created_at=when(ts(1, 3))).also_in_channel
    follows = {f.user_id: f for f in ThreadFollow.objects.filter(root=root)}
    assert set(follows) == set(root.thread_participants)
    newest_reply = root.replies.order_by("-id").first()
    assert all(f.following and f.last_read_reply_id == newest_reply.pk for f in follows.values())
    assert follows[alice.pk].last_activity_at == when(ts(1, 3))
    assert follows[newest_reply.author_id].last_other_reply_id == root.replies.get(
        created_at=when(ts(1, 2))).pk
    assert Message.objects.get(created_at=when(ts(1, 2))).thread_root_author_id == alice.pk
    edited = Message.objects.get(conversation=general, created_at=when(ts(1, 4)))
    assert edited.edited_at == when(ts(1, 30))
    assert f'data-user-id="{bob.pk}"' in root.html and "<strong>bold</strong>" in root.html
    assert list(Mention.objects.filter(message=root).values_list("user_id", flat=True)) == [bob.pk]
    assert Pin.objects.get().message.created_at == when(PINNED)

    # Files through the files service: the photo has its clean display copy and thumbnail.
    photo = Attachment.objects.get(name="photo.jpg")
    assert photo.uploader == alice and photo.kind == "image" and photo.thumbnail
    with photo.display.open("rb") as stream:
        assert "SecretCamera" not in str(Image.open(stream).getexif())
    notes = Attachment.objects.get(name="notes.txt")
    assert notes.size == len("remember the milk\n")

    # Ordinary messages: search finds them, the audit log names the import.
    assert [hit.message.text for hit in message_search(user=bob, query="plan").hits] == [
        "the plan"]
    audit = AuditEvent.objects.get(action="slack.imported")
    assert audit.actor.email == "olive@example.com" and audit.data["messages"] == 17
    assert audit.data["export"] == "slack.zip"
    assert SlackImportMapping.objects.filter(kind="message").count() == 17


def test_a_second_import_changes_no_row(importer, export, files_dir):
    run(export, "--files", str(files_dir))
    before = snapshot()

    output = run(export, "--files", str(files_dir))

    assert snapshot() == before
    assert "people created: 0" in output and "messages: 0" in output
    assert "messages already imported: 19" in output
    assert AuditEvent.objects.filter(action="slack.imported").count() == 2


def test_an_interrupted_import_completes_on_rerun(importer, export, files_dir, monkeypatch):
    real_store = slack_import_module._store
    calls = []

    def failing_store(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        real_store(*args, **kwargs)
        if len(calls) == 2:
            raise RuntimeError("the server went down")

    monkeypatch.setattr(slack_import_module, "_store", failing_store)
    with pytest.raises(RuntimeError):
        run(export, "--files", str(files_dir))
    assert Message.objects.count() == 7  # general's first day stayed; its second did not
    monkeypatch.setattr(slack_import_module, "_store", real_store)

    output = run(export, "--files", str(files_dir))

    assert "messages already imported: 8" in output and "messages: 10" in output
    assert imported_messages() == expected_messages()
    general = Conversation.objects.get(name="general")
    seqs = list(general.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, general.last_seq + 1))
    assert AuditEvent.objects.filter(action="slack.imported").count() == 1


def stored_blobs(media_root: Path) -> set[str]:
    return {str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file()}


def test_an_interrupted_import_leaves_no_stray_file(importer, export, files_dir, monkeypatch,
                                                    settings):
    real_store = slack_import_module._store
    stored_before_failure = []

    def store_then_fail_on_the_second_day(*args: Any, **kwargs: Any) -> None:
        real_store(*args, **kwargs)
        if Attachment.objects.exists():  # the day with the files
            stored_before_failure.extend(stored_blobs(Path(settings.MEDIA_ROOT)))
            raise RuntimeError("stopped after the files were stored")

    monkeypatch.setattr(slack_import_module, "_store", store_then_fail_on_the_second_day)
    with pytest.raises(RuntimeError):
        run(export, "--files", str(files_dir), "--only", "general")

    assert len(stored_before_failure) >= 4  # two files, the photo's display copy and thumbnail
    assert Attachment.objects.count() == 0
    assert stored_blobs(Path(settings.MEDIA_ROOT)) == set()


def test_files_past_the_upload_limit_and_unknown_mentions_are_reported(importer, tmp_path,
                                                                       settings):
    settings.FILE_UPLOAD_MAX_BYTES = 100
    path = build_export(tmp_path / "slack.zip", extra={"random/2024-01-07.json": json.dumps(
        [{"type": "message", "user": "U1", "ts": ts(7, 0), "text": "cc <@U777>"}])})

    output = run(path, "--only", "general", "random")

    assert "file photo.jpg is larger than FILE_UPLOAD_MAX_BYTES; a placeholder instead" in output
    assert Message.objects.filter(text="a photo\n📎 photo.jpg (file too large to import)").exists()
    assert "mentions of people or channels not in the export, kept as text: U777" in output
    assert Message.objects.filter(text="cc @U777").exists()


def test_a_dry_run_reports_and_changes_nothing(importer, export, files_dir):
    before = snapshot()

    output = run(export, "--files", str(files_dir), "--dry-run")

    assert "dry run: nothing was changed" in output
    assert "    - person bob <bob@example.com>\n" in output
    assert "    - guest carol <carol@guests.example>\n" in output
    assert "    - person dave <dave@example.com> (deactivated)\n" in output
    assert "    - bot deploy-bot (slack-b1@bots.teamchat.invalid)\n" in output
    assert "    - public channel #general (4 members)\n" in output
    assert "    - private channel #secret-plans (2 members)\n" in output
    assert "    - direct conversation D1 (2 members)\n" in output
    assert "    - direct conversation G2 (3 members)\n" in output
    assert "people created: 4" in output and "messages: 17" in output and "files: 2" in output
    assert snapshot() == before
    assert not AuditEvent.objects.filter(action="slack.imported").exists()


def test_only_imports_the_chosen_conversations(importer, export):
    run(export, "--only", "random", "#secret-plans")

    assert set(Conversation.objects.values_list("name", flat=True)) == {"random", "secret-plans"}
    assert Message.objects.count() == 2


def test_a_taken_channel_name_gets_a_suffix(importer, export):
    from tests.factories import make_channel

    make_channel(importer, "general")

    output = run(export, "--only", "general")

    assert Conversation.objects.filter(name="general-slack").exists()
    assert "#general is imported as #general-slack" in output


def bomb() -> bytes:
    return b"[" + b" " * (8 * 1024 * 1024) + b"]"


BAD_EXPORTS = {
    "not a zip": ({}, (), "not a zip archive"),
    "no users.json": ({}, ("users.json",), "users.json is missing"),
    "malformed day file": ({"general/2024-01-03.json": '[\n {"type": "message",\n  "ts": }\n]'},
                           (), "general/2024-01-03.json line 3 column 9: malformed JSON"),
    "unknown author": ({"random/2024-01-05.json": json.dumps(
        [{"type": "message", "user": "U999", "ts": ts(5, 0), "text": "who?"}])}, (),
        "random/2024-01-05.json message 0: unknown user id 'U999'"),
    "unknown reactor": ({"random/2024-01-05.json": json.dumps(
        [{"type": "message", "user": "U1", "ts": ts(5, 0), "text": "x",
          "reactions": [{"name": "+1", "users": ["U404"]}]}])}, (), "unknown user id 'U404'"),
    "zip bomb": ({"random/2024-01-06.json": bomb()}, (), "(a zip bomb?)"),
    "path traversal": ({"../../etc/cron.d/evil.json": "[]"}, (),
                       "a path outside the export (refused as a path traversal)"),
}


@pytest.mark.parametrize("case", list(BAD_EXPORTS))
def test_a_bad_export_is_refused_with_its_message_and_no_rows(importer, tmp_path, case):
    extra, drop, message = BAD_EXPORTS[case]
    path = tmp_path / "slack.zip"
    if case == "not a zip":
        path.write_bytes(b"PK? not really a zip")
    else:
        build_export(path, extra=extra, drop=drop)
    before = snapshot()

    for args in ((), ("--dry-run",)):
        with pytest.raises(CommandError) as refused:
            run(path, *args)
        assert "nothing was changed" in str(refused.value)
        assert message in str(refused.value)

    assert snapshot() == before


def test_a_damaged_zip_is_refused(tmp_path):
    path = build_export(tmp_path / "slack.zip")
    raw = bytearray(path.read_bytes())
    start = raw.index(b"users.json") + len("users.json")  # users.json's compressed bytes
    raw[start + 20:start + 60] = bytes(40)
    path.write_bytes(bytes(raw))
    with pytest.raises(ExportRefused) as refused:
        read_export(path)
    assert refused.value.problems[0].startswith("slack.zip: a damaged zip archive")


def test_an_export_past_the_size_limit_is_refused(export):
    with pytest.raises(ExportRefused) as refused:
        read_export(export, max_total_bytes=1000)
    assert "past the limit of 1000 (a zip bomb?)" in refused.value.problems[0]


def test_every_problem_is_reported_at_once(tmp_path):
    path = build_export(tmp_path / "slack.zip", extra={
        "general/2024-01-03.json": "[oops",
        "random/2024-01-05.json": json.dumps([{"user": "U77", "ts": ts(5, 0), "text": "?"}]),
    })
    with pytest.raises(ExportRefused) as refused:
        read_export(path)
    assert len(refused.value.problems) == 2


def test_the_embedded_mode_imports_the_same_way():
    rerun_on_sqlite(__file__, deselect="embedded_mode")


def test_an_export_zipped_inside_its_folder_is_read_the_same(tmp_path):
    flat = build_export(tmp_path / "flat.zip")
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(flat) as source, zipfile.ZipFile(nested, "w") as target:
        for info in source.infolist():
            target.writestr(f"Acme Slack export/{info.filename}", source.read(info))
        target.writestr("Acme Slack export/general/notes.txt", "not a day file")

    read = read_export(nested)

    assert [c.name or c.slack_id for c in read.conversations] == [
        c.name or c.slack_id for c in read_export(flat).conversations]
    assert read.message_count == read_export(flat).message_count == 19
    assert read.uploads == {"F1": "Acme Slack export/__uploads/F1/photo.jpg"}
    assert read.warnings == ["Acme Slack export/general/notes.txt: not a day file "
                             "(YYYY-MM-DD.json), skipped"]


def test_only_a_conversation_the_export_lacks_is_refused(importer, export):
    with pytest.raises(CommandError, match="--only nowhere: no such conversation in the export"):
        run(export, "--only", "nowhere")
    assert not Conversation.objects.exists()


def test_deleted_thread_starters_and_names_of_other_scripts(importer, tmp_path):
    path = tmp_path / "slack.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("users.json", json.dumps(USERS))
        archive.writestr("channels.json", json.dumps([
            {"id": "C7", "name": "général", "members": ["U1", "U2"], "created": 1700000000}]))
        archive.writestr("général/2024-01-01.json", json.dumps([
            {"type": "message", "subtype": "tombstone", "user": "USLACKBOT", "ts": ts(1, 0),
             "thread_ts": ts(1, 0), "text": "This message was deleted."},
            {"type": "message", "user": "U2", "ts": ts(1, 1), "thread_ts": ts(1, 0),
             "text": "a reply to a deleted message"},
            {"type": "message", "user": "U2", "ts": ts(1, 2), "thread_ts": ts(1, 59),
             "text": "a reply whose thread is not in the export"},
        ]))

    output = run(path)

    channel = Conversation.objects.get(name="general")
    root, reply, orphan = channel.messages.order_by("seq")
    assert root.is_deleted and root.text == ""
    assert root.author.email == "slack-uslackbot@bots.teamchat.invalid"
    assert reply.thread_root == root
    assert orphan.thread_root is None and orphan.text == "a reply whose thread is not in the export"
    assert "#général is imported as #general" in output
    assert "its thread's first message is not in the export" in output



def thread_across_days(path: Path) -> Path:
    """#random: Bob's message of 1 January gets replies on the 2nd and the 3rd."""
    reply = {"type": "message", "thread_ts": ts(1, 0), "parent_user_id": "U2"}
    return build_export(path, extra={
        "random/2024-01-02.json": json.dumps([{**reply, "user": "U1", "ts": ts(2, 0),
                                               "text": "a reply the next day"}]),
        "random/2024-01-03.json": json.dumps([{**reply, "user": "U3", "ts": ts(3, 0),
                                               "text": "a reply two days on"}]),
    })


def thread_summary() -> tuple[Any, ...]:
    root = Message.objects.get(text="in random")
    texts = dict(Message.objects.values_list("pk", "text"))
    emails = dict(User.objects.values_list("pk", "email"))
    follows = sorted((emails[f.user_id], f.last_activity_at, texts.get(f.last_read_reply_id),
                      texts.get(f.last_other_reply_id))
                     for f in ThreadFollow.objects.filter(root=root))
    replies = [(r.text, emails[r.author_id]) for r in root.replies.order_by("created_at")]
    return (root.reply_count, root.last_reply_at, [emails[pk] for pk in root.thread_participants],
            replies, follows)


EXPECTED_THREAD = (
    2, when(ts(3, 0)), ["bob@example.com", "alice@example.com", "carol@guests.example"],
    [("a reply the next day", "alice@example.com"), ("a reply two days on", "carol@guests.example")],
    [("alice@example.com", when(ts(3, 0)), "a reply two days on", "a reply two days on"),
     ("bob@example.com", when(ts(3, 0)), "a reply two days on", "a reply two days on"),
     ("carol@guests.example", when(ts(3, 0)), "a reply two days on", "a reply the next day")],
)


def test_a_thread_across_days_is_summed_up(importer, tmp_path):
    run(thread_across_days(tmp_path / "slack.zip"))

    assert thread_summary() == EXPECTED_THREAD


def test_a_thread_across_days_is_summed_up_after_a_stop_between_them(importer, tmp_path,
                                                                    monkeypatch):
    export = thread_across_days(tmp_path / "slack.zip")
    real_store = slack_import_module._store

    def stop_on_the_third_day_of_random(*args: Any, **kwargs: Any) -> None:
        real_store(*args, **kwargs)
        if Message.objects.filter(text="a reply two days on").exists():
            raise RuntimeError("the server went down")

    monkeypatch.setattr(slack_import_module, "_store", stop_on_the_third_day_of_random)
    with pytest.raises(RuntimeError):
        run(export)
    assert Message.objects.get(text="in random").reply_count == 1
    monkeypatch.setattr(slack_import_module, "_store", real_store)

    output = run(export)

    assert "messages: 4" in output and "threads: 0" in output and "replies: 1" in output
    assert thread_summary() == EXPECTED_THREAD
