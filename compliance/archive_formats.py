"""The formats archives ingest: Actiance (Smarsh) XML and Global Relay EML.

Both cut the record into *conversation-days*: one conversation between two UTC midnights
(narrowed to the export's period), with who took part (when each entered and left), the
messages, their edits and deletions, and files, each at its own time. Actiance gets one
`<Conversation>` element per conversation-day in one `actiance/export.xml` (layout:
compliance/schemas/actiance.xsd, docs/compliance.md); Global Relay gets one email per
conversation-day under `globalrelay/`, with the transcript as text and HTML and the files
as attachments.

This module only writes: services/exports.py walks the messages and the membership
history and hands over `Day`s.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import IO, Any
from xml.sax.saxutils import XMLGenerator  # nosec B406: writes XML, never parses any

ENCRYPTED = "(end-to-end encrypted: the ciphertext and its wrapped key are in the JSON Lines export)"
# XML 1.0 allows neither these control characters nor lone surrogates: dropped from text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    name: str
    is_bot: bool

    @property
    def kind(self) -> str:
        return "bot" if self.is_bot else "user"


@dataclass(frozen=True)
class Event:
    """One thing that happened in a conversation, at its time. `kind` is one of
    entered, left, message, edited, deleted, file."""

    at: datetime
    kind: str
    person: Person
    message_id: int | None = None
    parent_id: int | None = None
    text: str = ""
    file_name: str = ""
    file_path: str = ""
    file_size: int = 0
    content_type: str = ""
    attachment_id: int | None = None

    @property
    def order(self) -> tuple:
        # Entering comes before anything at the same instant, leaving after.
        return (self.at, {"entered": 0, "left": 2}.get(self.kind, 1), self.message_id or 0)


@dataclass
class Day:
    """A conversation-day: the people present, and the events in time order."""

    conversation_id: int
    label: str  # "#launch", "direct: Ana Lopez, Ben Okafor"
    kind: str
    start: datetime
    end: datetime
    present: list[tuple[Person, datetime, datetime]] = field(default_factory=list)  # entered, left
    events: list[Event] = field(default_factory=list)

    @property
    def messages(self) -> list[Event]:
        return [e for e in self.events if e.kind == "message"]


def clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def millis(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def message_events(message: Any, author: Person, file_paths: dict[int, str]) -> list[Event]:
    """A message, each later version of it, its deletion and its files, as events."""
    sealed = message.key_id is not None
    revisions = list(message.revisions.all())
    versions = [r.text for r in revisions] + [message.text]
    times = [message.created_at] + [r.replaced_at for r in revisions]
    base = {"person": author, "message_id": message.pk, "parent_id": message.thread_root_id}
    # A version is an edit where its text changed (a deletion keeps the last one too).
    events = [Event(at=at, kind="message" if index == 0 else "edited",
                    text=ENCRYPTED if sealed else text, **base)
              for index, (at, text) in enumerate(zip(times, versions, strict=True))
              if at and (index == 0 or text != versions[index - 1])]
    if message.deleted_at:
        events.append(Event(at=message.deleted_at, kind="deleted",
                            text=ENCRYPTED if sealed else message.text, **base))
    for attachment in message.attachments.all():
        events.append(Event(at=message.created_at, kind="file", attachment_id=attachment.pk,
                            file_name=attachment.name, file_path=file_paths.get(attachment.pk, ""),
                            file_size=attachment.size, content_type=attachment.content_type, **base))
    return events


# --- Actiance (Smarsh) XML -----------------------------------------------------------

class ActianceWriter:
    """Streams `<FileDump>` with one `<Conversation>` per conversation-day."""

    def __init__(self, out: IO[bytes]) -> None:
        self.xml = XMLGenerator(out, encoding="utf-8", short_empty_elements=True)
        self.xml.startDocument()
        self.xml.startElement("FileDump", {"xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"})
        self._newline()

    def _newline(self, depth: int = 0) -> None:
        self.xml.ignorableWhitespace("\n" + "  " * depth)

    def _leaf(self, name: str, value: str, depth: int) -> None:
        self._newline(depth)
        self.xml.startElement(name, {})
        self.xml.characters(clean(value))
        self.xml.endElement(name)

    def _element(self, name: str, children: list[tuple[str, str]], depth: int = 2) -> None:
        self._newline(depth)
        self.xml.startElement(name, {})
        for child, value in children:
            self._leaf(child, value, depth + 1)
        self._newline(depth)
        self.xml.endElement(name)

    def _who(self, person: Person, at: datetime) -> list[tuple[str, str]]:
        return [("LoginName", person.email), ("UserType", person.kind), ("DateTimeUTC", millis(at))]

    def conversation(self, day: Day) -> None:
        self._newline(1)
        self.xml.startElement("Conversation", {"Perspective": clean(day.label)})
        self._leaf("RoomID", f"{day.kind} - {day.label} - {day.conversation_id}", 2)
        self._leaf("StartTimeUTC", millis(day.start), 2)
        # Who was there as the day began; who came and went during it is among the events.
        for person, entered, _ in day.present:
            if entered <= day.start:
                self._element("ParticipantEntered", [*self._who(person, day.start),
                                                     ("CorporateEmailID", person.email)])
        for event in day.events:
            self._event(event)
        for person, _, left in day.present:
            if left >= day.end:
                self._element("ParticipantLeft", [*self._who(person, day.end),
                                                  ("CorporateEmailID", person.email)])
        self._leaf("EndTimeUTC", millis(day.end), 2)
        self._newline(1)
        self.xml.endElement("Conversation")

    def _event(self, event: Event) -> None:
        who = self._who(event.person, event.at)
        if event.kind in ("entered", "left"):
            name = "ParticipantEntered" if event.kind == "entered" else "ParticipantLeft"
            self._element(name, [*who, ("CorporateEmailID", event.person.email)])
        elif event.kind == "file":
            about = [("UserFileName", event.file_name), ("FileName", event.file_path or event.file_name)]
            self._element("FileTransferStarted", [*who, *about])
            status = "Completed" if event.file_path else "NotIncluded"
            self._element("FileTransferEnded", [*who, *about, ("Status", status)])
        else:
            update = {"edited": "EditedNewMsg", "deleted": "Deleted"}.get(event.kind)
            children = [*who, ("Content", event.text), ("MessageId", str(event.message_id))]
            if event.parent_id:
                children.append(("ParentMessageId", str(event.parent_id)))
            if update:
                children += [("UpdateType", update), ("UpdatedDateTimeUTC", millis(event.at))]
            self._element("Message", children)

    def close(self) -> None:
        self._newline()
        self.xml.endElement("FileDump")
        self.xml.ignorableWhitespace("\n")
        self.xml.endDocument()


# --- Global Relay EML ----------------------------------------------------------------

def _clock(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _line(event: Event) -> str:
    what = {"entered": "joined", "left": "left", "message": "", "edited": "(edited)",
            "deleted": "(deleted)", "file": "(file)"}[event.kind]
    if event.kind == "file":
        body = f"{event.file_name} ({event.file_size} bytes)"
    elif event.kind in ("entered", "left"):
        body = ""
    else:
        body = event.text
    reply = f" (reply to {event.parent_id})" if event.parent_id else ""
    return " ".join(part for part in (f"[{_clock(event.at)}]", f"{event.person.name} <{event.person.email}>",
                                      what + reply, body) if part)


def globalrelay_eml(day: Day, host: str, files: Iterable[tuple[Event, bytes]]) -> bytes:
    """One conversation-day as the email Global Relay takes in: every participant on To,
    a summary of who took part, the transcript (text and HTML), the files attached."""
    counts: dict[int, int] = {}
    for event in day.messages:
        counts[event.person.id] = counts.get(event.person.id, 0) + 1
    senders = [p for p, _, _ in day.present if counts.get(p.id)]
    sender = senders[0] if senders else day.present[0][0]
    mail = EmailMessage(policy=SMTP)
    mail["From"] = f'"{sender.name}" <{sender.email}>'
    mail["To"] = ", ".join(f'"{p.name}" <{p.email}>' for p, _, _ in day.present)
    mail["Subject"] = (f"teamchat: {day.label}, {day.start:%Y-%m-%d}, "
                       f"{len(day.messages)} message{'s' if len(day.messages) != 1 else ''}")
    mail["Date"] = format_datetime(day.end)
    mail["Message-ID"] = f"<teamchat-{day.conversation_id}-{day.start:%Y%m%d%H%M%S}@{host}>"
    mail["X-GlobalRelay-MsgType"] = "teamchat"
    mail["X-Teamchat-Conversation"] = f"{day.conversation_id} {day.kind} {day.label}"
    mail["X-Teamchat-Period"] = f"{day.start.isoformat()} {day.end.isoformat()}"

    people = [(p, entered, left, counts.get(p.id, 0)) for p, entered, left in day.present]
    text = [f"Conversation: {day.label} ({day.kind}, id {day.conversation_id})",
            f"Period: {_clock(day.start)} to {_clock(day.end)}", "", "Participants:"]
    text += [f"  {p.name} <{p.email}> ({p.kind}), from {_clock(max(entered, day.start))} "
             f"to {_clock(min(left, day.end))}, {n} message{'s' if n != 1 else ''}"
             for p, entered, left, n in people]
    text += ["", "Transcript:"] + [f"  {_line(event)}" for event in day.events]
    mail.set_content("\n".join(text) + "\n", subtype="plain", charset="utf-8")

    e = html.escape
    rows = "".join(f"<tr><td>{e(p.name)}</td><td>{e(p.email)}</td><td>{p.kind}</td>"
                   f"<td>{_clock(max(entered, day.start))}</td><td>{_clock(min(left, day.end))}</td>"
                   f"<td>{n}</td></tr>" for p, entered, left, n in people)
    lines = "".join(f"<li>{e(_line(event))}</li>" for event in day.events)
    mail.add_alternative(
        f"<!DOCTYPE html><html><body><h1>{e(day.label)}</h1>"
        f"<p>{e(day.kind)} conversation {day.conversation_id}, {_clock(day.start)} to {_clock(day.end)}</p>"
        "<table><thead><tr><th>Name</th><th>Email</th><th>Type</th><th>From</th><th>To</th>"
        f"<th>Messages</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<ol>{lines}</ol></body></html>", subtype="html", charset="utf-8")
    for event, data in files:
        maintype, _, subtype = (event.content_type or "application/octet-stream").partition("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream",
                            filename=event.file_name)
    return mail.as_bytes()

