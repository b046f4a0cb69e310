"""The formats archives ingest (issue 30): Actiance (Smarsh) XML, valid against the layout
in compliance/schemas/actiance.xsd, and Global Relay EML, read back by Python's email
parser with every part. Both cut the record into conversation-days, with who was present,
who came and went, messages with their edits and deletions, and files."""

from __future__ import annotations

import email
import hashlib
import io
import zipfile
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone
from lxml import etree

from compliance import services
from compliance.archive_formats import ActianceWriter, Day, Event, Person
from compliance.models import ExportJob
from core.models import AuditEvent
from files import services as files
from messaging import services as messaging
from tests.factories import make_channel, make_direct, make_user, post

pytestmark = pytest.mark.django_db

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).resolve().parents[2]
                                         / "compliance" / "schemas" / "actiance.xsd")))


@pytest.fixture
def desk(compliance_officer):
    """A trading desk's channel over one stretch of time: Ana and Ben in it from the start,
    Cleo added, a message edited, Ben leaving, a file, a reply, a deletion; and a direct
    conversation beside it."""
    ana, ben = make_user(name="Ana Lopez"), make_user(name="Ben Okafor")
    cleo, bot = make_user(name="Cleo Li"), make_user(name="Price Bot", is_bot=True)
    deals = make_channel(ana, "deals", members=[ben])
    opening = post(ana, deals, "opening the book")
    messaging.membership_add(actor=ana, conversation_id=deals.pk, user_id=cleo.pk)
    hello = post(cleo, deals, "hello")
    messaging.message_edit(actor=cleo, message_id=hello.pk, text="hello all")
    messaging.conversation_leave(actor=ben, conversation_id=deals.pk)
    upload = files.attachment_upload(uploader=ana, upload=SimpleUploadedFile(
        "terms.txt", b"the term sheet", content_type="text/plain"))
    with_file = messaging.message_create(author=ana, conversation_id=deals.pk, text="terms attached",
                                         file_ids=[upload.pk]).message
    reply = post(cleo, deals, "looks right", thread_root_id=opening.pk)
    oops = post(ana, deals, "wrong <desk> & price")
    messaging.message_delete(actor=ana, message_id=oops.pk)
    messaging.membership_add_bot(actor=ana, conversation_id=deals.pk, bot=bot)
    quote = post(bot, deals, "EURUSD 1.0842")
    direct = make_direct(ana, ben)
    whisper = post(ben, direct, "call me\x07 later")  # a control character XML cannot hold
    return {"ana": ana, "ben": ben, "cleo": cleo, "bot": bot, "deals": deals, "direct": direct,
            "opening": opening, "hello": hello, "with_file": with_file, "reply": reply,
            "oops": oops, "quote": quote, "whisper": whisper, "upload": upload,
            "officer": compliance_officer}


def run(desk, format: str, **kwargs) -> tuple[ExportJob, zipfile.ZipFile]:
    now = timezone.now()
    job = services.export_start(actor=desk["officer"], format=format, start=now - timedelta(hours=1),
                                end=now + timedelta(hours=1), in_background=False, **kwargs)
    job = services.export_run(job_id=job.pk)
    with job.archive.open("rb") as stream:
        data = stream.read()
    assert hashlib.sha256(data).hexdigest() == job.sha256
    return job, zipfile.ZipFile(io.BytesIO(data))


def conversations(root, conversation) -> list:
    return [c for c in root.iter("Conversation")
            if c.findtext("RoomID").endswith(f" - {conversation.pk}")]


def events(conversation_elements) -> list[tuple[str, str, str]]:
    """(element, who, content or file name) for everything between start and end."""
    found = []
    for element in conversation_elements:
        for child in element:
            if child.tag in ("RoomID", "StartTimeUTC", "EndTimeUTC"):
                continue
            found.append((child.tag, child.findtext("LoginName"),
                          child.findtext("Content") or child.findtext("UserFileName") or ""))
    return found


def test_the_actiance_export_validates_and_holds_the_conversation_as_it_happened(desk):
    job, bundle = run(desk, "actiance", with_files=True)
    data = bundle.read("actiance/export.xml")
    root = etree.fromstring(data)
    SCHEMA.assertValid(root)

    ana, ben, cleo, bot = (desk[k].email for k in ("ana", "ben", "cleo", "bot"))
    found = events(conversations(root, desk["deals"]))
    # Everything in time order; the participants' comings and goings among it (Ana and
    # Ben were there from the start: which of the two the log has first does not matter).
    assert set(found[:2]) == {("ParticipantEntered", ana, ""), ("ParticipantEntered", ben, "")}
    assert found[2:] == [
        ("Message", ana, "opening the book"),
        ("ParticipantEntered", cleo, ""),
        ("Message", cleo, "hello"), ("Message", cleo, "hello all"),
        ("ParticipantLeft", ben, ""),
        ("Message", ana, "terms attached"),
        ("FileTransferStarted", ana, "terms.txt"), ("FileTransferEnded", ana, "terms.txt"),
        ("Message", cleo, "looks right"),
        ("Message", ana, "wrong <desk> & price"), ("Message", ana, "wrong <desk> & price"),
        ("ParticipantEntered", bot, ""), ("Message", bot, "EURUSD 1.0842"),
        ("ParticipantLeft", ana, ""), ("ParticipantLeft", cleo, ""), ("ParticipantLeft", bot, ""),
    ]
    (deals,) = conversations(root, desk["deals"])
    assert deals.get("Perspective") == "#deals"
    messages = {(m.findtext("Content"), m.findtext("UpdateType")): m for m in deals.iter("Message")}
    edit = messages[("hello all", "EditedNewMsg")]
    assert edit.findtext("MessageId") == str(desk["hello"].pk)
    assert int(edit.findtext("UpdatedDateTimeUTC")) >= int(messages[("hello", None)].findtext("DateTimeUTC"))
    assert messages[("wrong <desk> & price", "Deleted")].findtext("MessageId") == str(desk["oops"].pk)
    assert messages[("looks right", None)].findtext("ParentMessageId") == str(desk["opening"].pk)
    assert messages[("EURUSD 1.0842", None)].findtext("UserType") == "bot"
    # The file's entry names where it is in the zip, and it is there.
    ended = deals.find("FileTransferEnded")
    assert ended.findtext("Status") == "Completed"
    assert bundle.read(ended.findtext("FileName")) == b"the term sheet"
    # Times are milliseconds and the window holds every event.
    start, end = int(deals.findtext("StartTimeUTC")), int(deals.findtext("EndTimeUTC"))
    assert all(start <= int(t.text) <= end for t in deals.iter("DateTimeUTC"))

    (direct,) = conversations(root, desk["direct"])
    assert direct.get("Perspective") == "direct: Ana Lopez, Ben Okafor"
    assert direct.find("Message").findtext("Content") == "call me later"
    assert job.done == 7 and job.status == "done"
    assert AuditEvent.objects.filter(action="export.completed", target_id=str(job.pk)).exists()


def test_a_participant_present_before_the_day_enters_at_its_start_and_leaves_at_its_end():
    """The writer on its own: who was there all day is entered at the day's start and
    left at its end; the rest come and go at their own times."""
    now = timezone.now().replace(microsecond=0)
    ana, ben = Person(1, "ana@example.com", "Ana", False), Person(2, "ben@example.com", "Ben", False)
    start, end = now - timedelta(hours=2), now + timedelta(hours=2)
    day = Day(conversation_id=9, label="#desk", kind="public", start=start, end=end,
              present=[(ana, now - timedelta(days=3), now + timedelta(days=9)),
                       (ben, now, now + timedelta(hours=1))],
              events=[Event(at=now, kind="entered", person=ben),
                      Event(at=now, kind="message", person=ben, message_id=5, text="hi"),
                      Event(at=now + timedelta(hours=1), kind="left", person=ben)])
    out = io.BytesIO()
    writer = ActianceWriter(out)
    writer.conversation(day)
    writer.close()
    root = etree.fromstring(out.getvalue())
    SCHEMA.assertValid(root)
    tags = [(c.tag, c.findtext("LoginName"), c.findtext("DateTimeUTC")) for c in root.find("Conversation")
            if c.tag.startswith(("Participant", "Message"))]
    ms = lambda at: str(int(at.timestamp() * 1000))  # noqa: E731
    assert tags == [("ParticipantEntered", ana.email, ms(start)),
                    ("ParticipantEntered", ben.email, ms(now)), ("Message", ben.email, ms(now)),
                    ("ParticipantLeft", ben.email, ms(now + timedelta(hours=1))),
                    ("ParticipantLeft", ana.email, ms(end))]


def test_the_schema_refuses_what_the_layout_does_not_allow():
    """The schema is a real check: a message without its author, or an unknown update, fails."""
    broken = etree.fromstring(
        b"<FileDump><Conversation Perspective='#x'><RoomID>r</RoomID><StartTimeUTC>1</StartTimeUTC>"
        b"<Message><UserType>user</UserType><DateTimeUTC>1</DateTimeUTC><Content>x</Content>"
        b"<MessageId>1</MessageId></Message><EndTimeUTC>2</EndTimeUTC></Conversation></FileDump>")
    assert not SCHEMA.validate(broken)
    unknown = etree.fromstring(
        b"<FileDump><Conversation Perspective='#x'><RoomID>r</RoomID><StartTimeUTC>1</StartTimeUTC>"
        b"<Message><LoginName>a</LoginName><UserType>user</UserType><DateTimeUTC>1</DateTimeUTC>"
        b"<Content>x</Content><MessageId>1</MessageId><UpdateType>Shredded</UpdateType>"
        b"<UpdatedDateTimeUTC>1</UpdatedDateTimeUTC></Message><EndTimeUTC>2</EndTimeUTC>"
        b"</Conversation></FileDump>")
    assert not SCHEMA.validate(unknown)


def test_the_global_relay_export_is_one_email_a_conversation_day_with_every_part(desk):
    job, bundle = run(desk, "globalrelay", with_files=True)
    names = sorted(n for n in bundle.namelist() if n.startswith("globalrelay/"))
    assert {n.split("/")[1] for n in names} == {str(desk["deals"].pk), str(desk["direct"].pk)}
    # One email a UTC day: a test that runs across midnight has two for the channel.
    mails = [email.message_from_bytes(bundle.read(n), policy=policy.default)
             for n in names if n.split("/")[1] == str(desk["deals"].pk)]
    mail = mails[0]
    assert mail["X-GlobalRelay-MsgType"] == "teamchat"
    assert mail["Subject"].startswith("teamchat: #deals, ")
    if len(mails) == 1:
        assert mail["Subject"].endswith(", 6 messages")
        recipients = {address.addr_spec for address in mail["To"].addresses}
        assert recipients == {desk[k].email for k in ("ana", "ben", "cleo", "bot")}
    assert mail["From"].addresses[0].addr_spec == desk["ana"].email

    parts = [part for mail in mails for part in mail.walk() if not part.is_multipart()]
    assert {p.get_content_type() for p in parts} == {"text/plain", "text/html"}
    text = "".join(p.get_content() for p in parts if p.get_content_type() == "text/plain")
    assert f"Ben Okafor <{desk['ben'].email}> left" in text
    for line in ("opening the book", "(edited) hello all", "(deleted) wrong <desk> & price",
                 "(file) terms.txt (14 bytes)", f"(reply to {desk['opening'].pk}) looks right",
                 f"Cleo Li <{desk['cleo'].email}> joined", "(bot), from "):
        assert line in text, line
    html = "".join(p.get_content() for p in parts if p.get_content_type() == "text/html")
    assert "wrong &lt;desk&gt; &amp; price" in html and "<desk>" not in html
    (attachment,) = [a for mail in mails for a in mail.iter_attachments()]
    assert attachment.get_filename() == "terms.txt"
    assert attachment.get_content() == "the term sheet"
    assert job.status == "done"


def test_the_command_line_writes_the_archive_formats(desk, tmp_path):
    day = timezone.now().date()
    out = tmp_path / "actiance.zip"
    call_command("compliance_export", "--format", "actiance", "--start", str(day - timedelta(days=1)),
                 "--end", str(day + timedelta(days=2)), "--out", str(out), stdout=io.StringIO())
    root = etree.fromstring(zipfile.ZipFile(out).read("actiance/export.xml"))
    SCHEMA.assertValid(root)
    assert {m.findtext("Content") for m in root.iter("Message")} >= {"opening the book", "call me later"}
