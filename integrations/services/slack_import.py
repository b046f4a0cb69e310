"""Importing a Slack workspace export: people, conversations and their whole history.

One action, `slack_import`, whichever door it came in by (the `import_slack` command,
the console). It runs in steps that each commit on their own: every person, every
conversation with its members, then each conversation's history one day file at a time.
Every object made is recorded in SlackImportMapping in the same transaction, so a second
import finds everything and changes nothing, and an import stopped midway (a crash, a
deploy) continues from the first day file it had not finished.

Messages are written in bulk (one INSERT per day file for messages, their events,
reactions, mentions and pins), yet as the send path leaves them: each message holds the
conversation's next seq with its `message.created` event, the database's search triggers
index its text, and the conversation's last_seq and last message time move on. A day asks
the database nothing an earlier day of the same run told it: each conversation's thread
roots and their replies are kept as it goes, and a conversation this run created has no
message imported before to look up. Nobody is notified of history: no pushes, emails or
webhooks.
"""

from __future__ import annotations

import functools
import mimetypes
import re
import unicodedata
import zoneinfo
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import user_create, user_deactivate
from core.audit import audit_record
from core.errors import Forbidden, InvalidInput
from files.models import Attachment
from files.services import attachment_upload
from integrations import slack
from integrations.models import SlackImportMapping
from integrations.slack_export import SLACKBOT, SlackConversation, SlackExport
from integrations.slack_markup import (
    MarkupContext,
    blocks_markdown,
    emoji_name_to_unicode,
    slack_to_markdown,
)
from messaging import markdown
from messaging.events import event_record
from messaging.models import (
    Conversation,
    ConversationEvent,
    ConversationKind,
    Membership,
    MembershipRole,
    Mention,
    MentionKind,
    Message,
    Pin,
    Reaction,
    ThreadFollow,
)
from messaging.payloads import conversation_payload
from messaging.services.conversations import DIRECT_MAX_PEOPLE, lock_conversation

JOIN_SUBTYPES = {"channel_join": "member.joined", "group_join": "member.joined",
                 "channel_leave": "member.left", "group_leave": "member.left"}
FILE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CHANNEL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
THREAD_PARTICIPANTS_KEPT = 50

Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    """What an import did (or, dry, would do), for the command's and the console's report."""

    dry_run: bool = False
    people_created: int = 0
    people_matched: int = 0
    people_deactivated: int = 0
    guests: int = 0
    bots_created: int = 0
    people_already_imported: int = 0
    conversations_created: int = 0
    conversations_already_imported: int = 0
    messages: int = 0
    messages_already_imported: int = 0
    threads: int = 0
    replies: int = 0
    reactions: int = 0
    pins: int = 0
    joins_and_leaves: int = 0
    files: int = 0
    placeholders: int = 0
    warnings: list[str] = field(default_factory=list)
    # Each person, bot and conversation made, in words (the dry run lists them).
    created: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if isinstance(v, int) and k != "dry_run"}

    def lines(self, *, listing: bool | None = None) -> list[str]:
        """The report; `listing` (by default, in a dry run) names everything created."""
        head = "Slack import (dry run: nothing was changed)" if self.dry_run else "Slack import"
        lines = [head]
        if self.dry_run if listing is None else listing:
            lines.append("  would create:" if self.dry_run else "  created:")
            lines += [f"    - {item}" for item in self.created]
        lines += [f"  {name.replace('_', ' ')}: {value}" for name, value in self.counts().items()]
        lines.append(f"  warnings: {len(self.warnings)}")
        lines += [f"    - {warning}" for warning in self.warnings]
        return lines


class _DryRun(Exception):
    pass


@dataclass
class _State:
    actor: User
    export: SlackExport
    files_dir: Path | None
    dry_run: bool
    report: ImportReport
    progress: Progress | None
    people: dict[str, User] = field(default_factory=dict)
    bots: dict[str, User] = field(default_factory=dict)
    context: MarkupContext = field(default_factory=MarkupContext)
    targets: dict[int, markdown.MentionTarget] = field(default_factory=dict)
    done: int = 0
    unknown_emoji: set[str] = field(default_factory=set)
    # Files stored in the running day's transaction: their bytes go if it rolls back.
    stored_files: list[Attachment] = field(default_factory=list)
    # Conversations mapped by this run: none of their messages can be mapped yet.
    fresh_conversations: set[int] = field(default_factory=set)

    def warn(self, text: str) -> None:
        self.report.warnings.append(text)


def require_importer(actor: User) -> None:
    """Owners and admins import: an import creates people and reads every conversation."""
    if not (actor.is_active and actor.is_org_admin):
        raise Forbidden("Only owners and admins may import a Slack export.")


def slack_import(*, actor: User, export: SlackExport, files_dir: Path | str | None = None,
                 dry_run: bool = False, progress: Progress | None = None) -> ImportReport:
    """Import a checked export (integrations.slack_export.read_export) as `actor`, an
    owner or admin. Dry, everything is done inside one transaction that is then rolled
    back (file bytes are not stored), so the report counts exactly what would be made."""
    require_importer(actor)
    if files_dir is not None:
        files_dir = Path(files_dir)
        if not files_dir.is_dir():
            raise InvalidInput.for_field("files", f"{files_dir} is not a folder.")
    state = _State(actor=actor, export=export, files_dir=files_dir, dry_run=dry_run,
                   report=ImportReport(dry_run=dry_run, warnings=list(export.warnings)),
                   progress=progress)
    if not dry_run:
        _run(state)
        return state.report
    try:
        with transaction.atomic():
            _run(state)
            raise _DryRun
    except _DryRun:
        pass
    return state.report


def _run(state: _State) -> None:
    _import_people(state)
    conversations = _import_conversations(state)
    for slack_conversation, conversation in conversations:
        _import_history(state, slack_conversation, conversation,
                        fresh=conversation.pk in state.fresh_conversations)
    unknown = sorted(state.context.unknown)
    if unknown:
        state.warn(f"mentions of people or channels not in the export, kept as text: "
                   f"{', '.join(unknown)}")
    with transaction.atomic():
        audit_record(action="slack.imported", actor=state.actor,
                     data={"export": state.export.path.name, **state.report.counts(),
                           "warnings": len(state.report.warnings)})


def _mapped(kind: str) -> dict[str, int]:
    return dict(SlackImportMapping.objects.filter(kind=kind).values_list("slack_id", "object_id"))


def _map(kind: str, slack_id: str, object_id: int) -> None:
    SlackImportMapping.objects.create(kind=kind, slack_id=slack_id, object_id=object_id)


# People ---------------------------------------------------------------------------------

def _display_name(data: dict[str, Any]) -> str:
    profile = data.get("profile") or {}
    for candidate in (profile.get("display_name"), profile.get("real_name"), data.get("real_name"),
                      data.get("name"), data.get("id")):
        if isinstance(candidate, str) and candidate.strip():
            return re.sub(r"[\x00-\x1f\x7f]+", " ", candidate).strip()[:80]
    return "Slack user"


def _import_people(state: _State) -> None:
    mapped = _mapped("user")
    mapped_bots = _mapped("bot")
    known = User.objects.in_bulk([*mapped.values(), *mapped_bots.values()])
    users = dict(state.export.users)
    if SLACKBOT not in users:
        users[SLACKBOT] = {"id": SLACKBOT, "name": "slackbot", "is_bot": True,
                           "profile": {"real_name": "Slackbot"}}
    for slack_id, data in users.items():
        if slack_id in mapped and mapped[slack_id] in known:
            state.people[slack_id] = known[mapped[slack_id]]
            state.report.people_already_imported += 1
            continue
        with transaction.atomic():
            state.people[slack_id] = _person(state, slack_id, data)
            _map("user", slack_id, state.people[slack_id].pk)
    for bot_id, name in state.export.bots.items():
        if bot_id in mapped_bots and mapped_bots[bot_id] in known:
            state.bots[bot_id] = known[mapped_bots[bot_id]]
            continue
        with transaction.atomic():
            state.bots[bot_id] = user_create(
                email=f"slack-{bot_id.lower()}@bots.teamchat.invalid",
                display_name=name[:80] or bot_id, password=None, actor=state.actor, is_bot=True)
            state.report.bots_created += 1
            state.report.created.append(f"bot {name} ({state.bots[bot_id].email})")
            _map("bot", bot_id, state.bots[bot_id].pk)
    for slack_id, user in state.people.items():
        state.context.user_ids[slack_id] = user.pk
        state.targets[user.pk] = markdown.MentionTarget(user.pk, user.display_name)
    for slack_id, data in state.export.users.items():
        state.context.user_names.setdefault(slack_id, _display_name(data))


@functools.cache
def _time_zones() -> frozenset[str]:
    # Read from the system's zone files: slow enough to matter once per person.
    return frozenset(zoneinfo.available_timezones())


def _person(state: _State, slack_id: str, data: dict[str, Any]) -> User:
    """The teamchat person of a Slack user: matched by email, else created without a
    password (they sign in through an invitation or SSO)."""
    profile = data.get("profile") or {}
    email = str(profile.get("email") or "").strip().lower()
    if email:
        existing = User.objects.filter(email__iexact=email).first()
        if existing is not None:
            state.report.people_matched += 1
            return existing
    is_bot = bool(data.get("is_bot")) or slack_id == SLACKBOT
    if not email:
        email = f"slack-{slack_id.lower()}@{'bots.' if is_bot else ''}teamchat.invalid"
    guest = bool(data.get("is_restricted") or data.get("is_ultra_restricted"))
    extra: dict[str, Any] = {}
    if isinstance(profile.get("real_name"), str):
        extra["full_name"] = profile["real_name"][:150]
    if isinstance(profile.get("title"), str):
        extra["title"] = profile["title"][:100]
    if data.get("tz") in _time_zones():
        extra["timezone"] = data["tz"]
    try:
        user = user_create(email=email, display_name=_display_name(data), password=None,
                           role=Role.GUEST if guest else Role.MEMBER, actor=state.actor,
                           is_bot=is_bot, **extra)
    except InvalidInput:
        state.warn(f"user {slack_id}: the email {email!r} is not valid; imported without it")
        user = user_create(email=f"slack-{slack_id.lower()}@teamchat.invalid",
                           display_name=_display_name(data), password=None,
                           role=Role.GUEST if guest else Role.MEMBER, actor=state.actor,
                           is_bot=is_bot, **extra)
    if is_bot:
        state.report.bots_created += 1
    else:
        state.report.people_created += 1
        state.report.guests += guest
    if data.get("deleted"):
        user = user_deactivate(actor=state.actor, user=user)
        state.report.people_deactivated += 1
    what = "bot" if is_bot else "guest" if guest else "person"
    state.report.created.append(f"{what} {user.display_name} <{user.email}>"
                                f"{' (deactivated)' if data.get('deleted') else ''}")
    return user


# Conversations --------------------------------------------------------------------------

def _channel_name(state: _State, slack_conversation: SlackConversation) -> str:
    # Slack allows letters of any script; teamchat's names are ASCII: "général" -> "general".
    ascii_name = unicodedata.normalize("NFKD", slack_conversation.name.lower()).encode(
        "ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9_-]+", "-", ascii_name).strip("-_")[:72]
    if not base or not CHANNEL_NAME_RE.match(base):
        base = f"slack-{slack_conversation.slack_id.lower()}"
    taken = set(Conversation.objects.annotate(lower_name=Lower("name"))
                .filter(lower_name__startswith=base).exclude(kind=ConversationKind.DIRECT)
                .values_list("lower_name", flat=True))
    name, number = base, 1
    while name in taken:
        name = f"{base}-slack" if number == 1 else f"{base}-slack-{number}"
        number += 1
    if name != slack_conversation.name:
        state.warn(f"#{slack_conversation.name} is imported as #{name} (the name was taken "
                   f"or not a teamchat channel name)")
    return name


def _import_conversations(state: _State) -> list[tuple[SlackConversation, Conversation]]:
    mapped = _mapped("conversation")
    existing = Conversation.objects.in_bulk(list(mapped.values()))
    result = []
    for slack_conversation in state.export.conversations:
        conversation = existing.get(mapped.get(slack_conversation.slack_id, 0))
        if conversation is not None:
            state.report.conversations_already_imported += 1
        else:
            with transaction.atomic():
                conversation = _conversation(state, slack_conversation)
                _map("conversation", slack_conversation.slack_id, conversation.pk)
            state.fresh_conversations.add(conversation.pk)
        if conversation.name:
            state.context.channel_names[slack_conversation.slack_id] = conversation.name
        result.append((slack_conversation, conversation))
    return result


def _when(ts: Any) -> datetime:
    return datetime.fromtimestamp(float(ts), tz=UTC)


def _conversation(state: _State, slack_conversation: SlackConversation) -> Conversation:
    members = sorted({state.people[m].pk for m in slack_conversation.members})
    creator = state.people.get(slack_conversation.creator)
    created_at = _when(slack_conversation.created) if slack_conversation.created else timezone.now()
    kind = {"public": ConversationKind.PUBLIC, "private": ConversationKind.PRIVATE}.get(
        slack_conversation.kind, ConversationKind.DIRECT)
    direct_key = None
    name = ""
    if kind == ConversationKind.DIRECT:
        if not 1 <= len(members) <= DIRECT_MAX_PEOPLE:
            state.warn(f"{slack_conversation.name or slack_conversation.slack_id}: a group "
                       f"conversation of {len(members)} people, imported as a private channel")
            kind = ConversationKind.PRIVATE
        else:
            direct_key = ",".join(str(pk) for pk in members)
            found = Conversation.objects.filter(direct_key=direct_key).first()
            if found is not None:
                # These people already talk in teamchat: the history goes before it there.
                state.report.conversations_already_imported += 1
                return found
    if kind != ConversationKind.DIRECT:
        name = _channel_name(state, slack_conversation)
    conversation = Conversation.objects.create(
        kind=kind, name=name, topic=slack_conversation.topic[:250],
        purpose=slack_conversation.purpose[:250], created_by=creator, created_at=created_at,
        direct_key=direct_key, archived_at=timezone.now() if slack_conversation.archived else None,
        is_default=slack_conversation.general and kind == ConversationKind.PUBLIC,
    )
    Membership.objects.bulk_create([
        Membership(user_id=pk, conversation=conversation, joined_at=created_at,
                   role=MembershipRole.ADMIN if creator and pk == creator.pk and name
                   else MembershipRole.MEMBER)
        for pk in members
    ])
    conversation = lock_conversation(conversation.pk)
    event_record(conversation=conversation, event_type="conversation.created",
                 payload={"data": conversation_payload(conversation, member_ids=members)},
                 subscribe_users=members)
    Membership.objects.filter(conversation=conversation).update(last_read_seq=conversation.last_seq)
    audit_record(action="conversation.created", actor=state.actor, target=conversation,
                 conversation_id=conversation.pk,
                 data={"kind": kind, "name": name, "members": members,
                       "imported_from": "slack", "slack_id": slack_conversation.slack_id})
    state.report.conversations_created += 1
    label = f"#{name}" if name else slack_conversation.slack_id
    state.report.created.append(f"{conversation.get_kind_display().lower()} {label} "
                                f"({len(members)} members)")
    return conversation


# History --------------------------------------------------------------------------------

@dataclass
class _Pending:
    """One Slack message on its way to the database."""

    key: str
    data: dict[str, Any]
    message: Message
    thread_ts: str | None
    rendered: markdown.Rendered
    attachment_ids: list[int]


class _Root(NamedTuple):
    """A message a reply of a later day may name as its thread's first message."""

    pk: int
    author_id: int
    created_at: datetime
    is_reply: bool


@dataclass
class _History:
    """What one conversation's day files share as they are imported one by one, so that
    a day asks the database only for what it writes: the roots by ts (a reply finds its
    root from an earlier day here) and the threads' replies. Roots and replies of an
    earlier run are read from the database when first needed (none if `fresh`)."""

    fresh: bool
    roots: dict[str, _Root] = field(default_factory=dict)
    # Each thread touched by this run: its replies (id, author, time), oldest first.
    threads: dict[int, list[tuple[int, int, datetime]]] = field(default_factory=dict)


def _import_history(state: _State, slack_conversation: SlackConversation,
                    conversation: Conversation, *, fresh: bool = False) -> None:
    """The conversation's day files, one transaction each. `fresh`: the conversation was
    mapped by this run, so none of its messages was imported before."""
    members = set(Membership.objects.filter(conversation=conversation)
                  .values_list("user_id", flat=True))
    history = _History(fresh=fresh)
    for day, messages in state.export.day_messages(slack_conversation):
        keys = [f"{slack_conversation.slack_id}:{m['ts']}" for m in messages]
        done = set() if fresh else set(
            SlackImportMapping.objects.filter(kind__in=("message", "event"), slack_id__in=keys)
            .values_list("slack_id", flat=True))
        todo = []
        for key, message in zip(keys, messages, strict=True):
            if key in done:
                continue
            if todo and todo[-1][0] == key:
                state.warn(f"{day}: two messages with the ts {message['ts']}; the second skipped")
                continue
            todo.append((key, message))
        state.report.messages_already_imported += len(done)
        if todo:
            state.stored_files = []
            try:
                with transaction.atomic():
                    _commit_without_waiting_for_disk()
                    _import_day(state, slack_conversation, conversation.pk, members, todo,
                                history)
            except BaseException:
                # The import stops here, and `history` with it: a rerun reads it afresh.
                for attachment in state.stored_files:
                    for blob in (attachment.blob, attachment.display, attachment.thumbnail):
                        if blob:
                            blob.delete(save=False)
                raise
        state.done += len(messages)
        if state.progress is not None:
            state.progress(state.done, state.export.message_count)


def _commit_without_waiting_for_disk() -> None:
    """On PostgreSQL, let this transaction's COMMIT return before its WAL reaches the disk
    (synchronous_commit off, for it alone). A crash of the database server can then lose
    the last few days committed, never part of one: each day's rows and their mappings
    commit together, so a rerun imports those days again. It saves a disk flush per day
    file, which took more than the day's rows on a small machine."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _author(state: _State, data: dict[str, Any]) -> User | None:
    bot_id = data.get("bot_id")
    user = data.get("user")
    if isinstance(bot_id, str) and bot_id in state.bots and (
            user is None or data.get("subtype") == "bot_message"):
        return state.bots[bot_id]
    return state.people.get(user) if isinstance(user, str) else None


def _resolver(state: _State) -> markdown.Resolver:
    def resolve(refs: markdown.MentionRefs) -> markdown.Resolved:
        return markdown.Resolved(users_by_id={pk: state.targets[pk] for pk in refs.ids
                                              if pk in state.targets})
    return resolve


def _text(state: _State, data: dict[str, Any], where: str) -> str:
    parts = [slack_to_markdown(data.get("text") or "", state.context)]
    # A person's message holds its text twice, as text and as rich_text blocks; an app's
    # may hold blocks alone.
    if not parts[0].strip() and isinstance(data.get("blocks"), list):
        text, skipped = blocks_markdown(data["blocks"], state.context)
        parts = [text]
        if skipped:
            state.warn(f"{where}: blocks of type {', '.join(skipped)} not shown")
    # A link's unfurled preview is Slack's view of the link, not the message: teamchat
    # makes its own previews. Shared messages and integrations' attachments are content.
    attachments = [a for a in data.get("attachments") or []
                   if not (isinstance(a, dict) and a.get("from_url")
                           and not (a.get("is_share") or a.get("is_msg_unfurl")))]
    if attachments:
        try:
            parts.append(slack.attachments_markdown(
                attachments, lambda text: slack_to_markdown(text, state.context)))
        except slack.PayloadError as error:
            state.warn(f"{where}: attachments not shown ({error})")
    return "\n\n".join(p for p in parts if p.strip())


def _file_source(state: _State, file_id: str) -> tuple[str, int, Callable[[], bytes]] | None:
    """Where a file's bytes are: its name there, its size, and how to read them."""
    if state.files_dir is not None:
        folder = state.files_dir / file_id
        candidates = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        candidates += [p for p in sorted(state.files_dir.glob(f"{file_id}*"))
                       if p.is_file() and p.name.split(".", 1)[0] == file_id]
        if candidates:
            path = candidates[0]
            return path.name, path.stat().st_size, path.read_bytes
    found = state.export.upload_size(file_id)
    if found is not None:
        return found[0], found[1], lambda: state.export.upload_bytes(file_id)
    return None


def _files(state: _State, data: dict[str, Any], author: User, where: str) -> tuple[list[int], list[str]]:
    """The message's files stored through the files service (their ids), and a line for
    each one whose bytes are not at hand."""
    ids: list[int] = []
    placeholders: list[str] = []
    mapped = _mapped_files(data)
    for item in data.get("files") or []:
        if not isinstance(item, dict):
            continue
        file_id = str(item.get("id") or "")
        name = str(item.get("name") or item.get("title") or file_id or "file")
        if file_id in mapped:
            ids.append(mapped[file_id])
            continue
        source = (_file_source(state, file_id)
                  if FILE_ID_RE.match(file_id) and item.get("mode") != "tombstone" else None)
        if source is None:
            placeholders.append(f"📎 {name} (file not included in the import)")
            state.report.placeholders += 1
            continue
        if source[1] > settings.FILE_UPLOAD_MAX_BYTES:
            # Checked before reading: the bytes are never held for nothing.
            state.report.placeholders += 1
            state.warn(f"{where}: file {name} is larger than FILE_UPLOAD_MAX_BYTES; "
                       f"a placeholder instead")
            placeholders.append(f"📎 {name} (file too large to import)")
            continue
        state.report.files += 1
        if state.dry_run:
            continue
        content_type = item.get("mimetype") or mimetypes.guess_type(name)[0] or "application/octet-stream"
        upload = SimpleUploadedFile(name or source[0], source[2](), content_type=content_type)
        try:
            attachment = attachment_upload(uploader=author, upload=upload, imported=True)
        except InvalidInput as error:
            state.report.files -= 1
            state.report.placeholders += 1
            state.warn(f"{where}: file {name} not stored ({error}); a placeholder instead")
            placeholders.append(f"📎 {name} (file not stored: {error})")
            continue
        state.stored_files.append(attachment)
        _map("file", file_id, attachment.pk)
        ids.append(attachment.pk)
    return ids, placeholders


def _mapped_files(data: dict[str, Any]) -> dict[str, int]:
    file_ids = [str(f.get("id")) for f in data.get("files") or [] if isinstance(f, dict)]
    if not file_ids:
        return {}
    return dict(SlackImportMapping.objects.filter(kind="file", slack_id__in=file_ids)
                .values_list("slack_id", "object_id"))


def _import_day(state: _State, slack_conversation: SlackConversation, conversation_id: int,
                members: set[int], todo: list[tuple[str, dict[str, Any]]],
                history: _History) -> None:
    """One day file's new messages, in one transaction holding the conversation's lock."""
    conversation = lock_conversation(conversation_id)
    old_seq = seq = conversation.last_seq
    pending: list[_Pending] = []
    events: list[tuple[str, ConversationEvent]] = []
    resolver = _resolver(state)
    for key, data in todo:
        where = f"{slack_conversation.name or slack_conversation.slack_id} message {data['ts']}"
        author = _author(state, data)
        if author is None:
            state.warn(f"{where}: no author, skipped")
            continue
        created_at = _when(data["ts"])
        subtype = data.get("subtype")
        if subtype in JOIN_SUBTYPES:
            seq += 1
            events.append((key, ConversationEvent(
                conversation=conversation, seq=seq, type=JOIN_SUBTYPES[subtype],
                payload={"user": author.pk, "imported": True}, created_at=created_at)))
            continue
        attachment_ids, placeholders = _files(state, data, author, where)
        text = "\n".join(filter(None, [_text(state, data, where), *placeholders]))
        if len(text) > markdown.MAX_TEXT_LENGTH:
            state.warn(f"{where}: longer than {markdown.MAX_TEXT_LENGTH} characters, cut")
            text = text[:markdown.MAX_TEXT_LENGTH]
        deleted = subtype == "tombstone"
        rendered = markdown.render("" if deleted else text, resolver)
        edited = data.get("edited") if isinstance(data.get("edited"), dict) else None
        thread_ts = data.get("thread_ts")
        is_reply = isinstance(thread_ts, str) and thread_ts != data["ts"]
        seq += 1
        message = Message(
            conversation=conversation, author=author, seq=seq, created_at=created_at,
            text="" if deleted else text, html=rendered.html, has_link=rendered.has_link,
            edited_at=_when(edited["ts"]) if edited and edited.get("ts") else None,
            deleted_at=created_at if deleted else None,
            also_in_channel=is_reply and subtype == "thread_broadcast",
        )
        pending.append(_Pending(key, data, message, thread_ts if is_reply else None, rendered,
                                attachment_ids))
    if not pending and not events:
        return
    _store(state, slack_conversation, conversation, members, pending, events, history)
    last_in_channel = max((p.message.created_at for p in pending if p.message.in_channel),
                          default=None)
    updates: dict[str, Any] = {"last_seq": seq}
    if last_in_channel and (conversation.last_message_at is None
                            or last_in_channel > conversation.last_message_at):
        updates["last_message_at"] = last_in_channel
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    # History is not news: whoever had read everything before has read it too.
    newest = max((p.message.pk for p in pending), default=0)
    if newest:
        Membership.objects.filter(conversation=conversation, last_read_seq__gte=old_seq).update(
            last_read_seq=seq, last_read_message_id=newest)
    else:
        Membership.objects.filter(conversation=conversation, last_read_seq__gte=old_seq).update(
            last_read_seq=seq)


def _store(state: _State, slack_conversation: SlackConversation, conversation: Conversation,
           members: set[int], pending: list[_Pending],
           events: list[tuple[str, ConversationEvent]], history: _History) -> None:
    roots = history.roots
    same_day = {p.data["ts"] for p in pending if p.thread_ts is None}
    missing = {p.thread_ts for p in pending if p.thread_ts is not None
               and p.thread_ts not in roots and p.thread_ts not in same_day}
    if missing:
        # Roots an earlier run imported.
        keys = {f"{slack_conversation.slack_id}:{ts}": ts for ts in missing}
        earlier = {object_id: keys[key] for key, object_id in SlackImportMapping.objects.filter(
            kind="message", slack_id__in=keys).values_list("slack_id", "object_id")}
        for pk, author_id, created_at, thread_root_id in Message.objects.filter(
                pk__in=list(earlier)).values_list("pk", "author_id", "created_at", "thread_root_id"):
            roots[earlier[pk]] = _Root(pk, author_id, created_at, thread_root_id is not None)
    # One INSERT in seq order when every reply's root is known; a reply to a message of
    # the same day waits for its root's id.
    first = [p for p in pending if p.thread_ts is None or p.thread_ts not in same_day
             or p.thread_ts in roots]
    later = [p for p in pending if p.thread_ts is not None and p.thread_ts in same_day
             and p.thread_ts not in roots]
    touched: dict[int, _Root] = {}
    for batch in (first, later):
        for reply in batch:
            if reply.thread_ts is None:
                continue
            root = roots.get(reply.thread_ts)
            if root is None or root.is_reply:
                state.warn(f"{slack_conversation.name or slack_conversation.slack_id} message "
                           f"{reply.data['ts']}: its thread's first message is not in the export; "
                           f"imported as a message of its own")
                reply.message.also_in_channel = False
                reply.thread_ts = None
                continue
            reply.message.thread_root_id = root.pk
            reply.message.thread_root_author_id = root.author_id
            touched[root.pk] = root
        Message.objects.bulk_create([p.message for p in batch])
        for p in batch:
            if p.message.thread_root_id is None:
                roots[p.data["ts"]] = _Root(p.message.pk, p.message.author_id,
                                            p.message.created_at, False)
    replies = [p for p in pending if p.message.thread_root_id is not None]
    report = state.report
    report.messages += len(pending)
    report.replies += sum(1 for p in replies if p.message.thread_root_id is not None)
    report.joins_and_leaves += len(events)

    ConversationEvent.objects.bulk_create(
        [ConversationEvent(conversation=conversation, seq=p.message.seq, type="message.created",
                           message=p.message, created_at=p.message.created_at,
                           payload={"thread_root": p.message.thread_root_id}
                           if p.message.thread_root_id else {})
         for p in pending] + [event for _key, event in events])
    SlackImportMapping.objects.bulk_create(
        [SlackImportMapping(kind="message", slack_id=p.key, object_id=p.message.pk) for p in pending]
        + [SlackImportMapping(kind="event", slack_id=key, object_id=event.seq)
           for key, event in events])
    for p in pending:
        if p.attachment_ids:
            Attachment.objects.filter(pk__in=p.attachment_ids, message__isnull=True).update(
                message=p.message)
    Mention.objects.bulk_create(
        [Mention(message=p.message, user_id=user_id, kind=MentionKind.USER,
                 conversation=conversation, seq=p.message.seq)
         for p in pending for user_id in sorted(p.rendered.user_ids & members - {p.message.author_id})],
        ignore_conflicts=True)
    reactions = []
    for p in pending:
        for item in p.data.get("reactions") or []:
            if not isinstance(item, dict):
                continue
            value = emoji_name_to_unicode(str(item.get("name") or ""))
            if value is None:
                if item.get("name") not in state.unknown_emoji:
                    state.unknown_emoji.add(str(item.get("name")))
                    state.warn(f"reaction :{item.get('name')}: is a custom Slack emoji; "
                               f"its reactions are not imported")
                continue
            for user in item.get("users") or []:
                if user in state.people:
                    reactions.append(Reaction(message=p.message, user=state.people[user], emoji=value,
                                              message_author_id=p.message.author_id,
                                              created_at=p.message.created_at))
    Reaction.objects.bulk_create(reactions, ignore_conflicts=True)
    report.reactions += len(reactions)
    pinned = set(slack_conversation.pins)
    pins = [Pin(message=p.message, conversation=conversation, pinned_at=p.message.created_at)
            for p in pending
            if p.data["ts"] in pinned or slack_conversation.slack_id in (p.data.get("pinned_to") or [])]
    Pin.objects.bulk_create(pins, ignore_conflicts=True)
    report.pins += len(pins)
    if touched:
        _thread_summaries(touched, replies, conversation.pk, state, history)


def _thread_summaries(roots: dict[int, _Root], replies: list[_Pending], conversation_id: int,
                      state: _State, history: _History) -> None:
    """Each root's reply count, last reply time and participants, from its replies; its
    participants follow it (the Threads view lists it), having read it all. Two
    statements for all the day's threads (three when a thread began in an earlier run)."""
    unknown = [pk for pk in roots if pk not in history.threads]
    earlier: dict[int, list[tuple[int, int, datetime]]] = {pk: [] for pk in unknown}
    if unknown and not history.fresh:
        new_ids = {p.message.pk for p in replies}
        for root_id, reply_id, author_id, created_at in (
                Message.objects.filter(thread_root_id__in=unknown, deleted_at__isnull=True)
                .exclude(pk__in=new_ids).order_by("created_at", "id")
                .values_list("thread_root_id", "id", "author_id", "created_at")):
            earlier[root_id].append((reply_id, author_id, created_at))
    history.threads.update(earlier)
    had_replies = {pk: bool(history.threads[pk]) for pk in roots}
    for p in replies:
        if p.message.deleted_at is None:
            history.threads[p.message.thread_root_id].append(
                (p.message.pk, p.message.author_id, p.message.created_at))
    updated = []
    follows = []
    for root_id, root in sorted(roots.items()):
        thread = history.threads[root_id]
        if not had_replies[root_id] and thread:
            state.report.threads += 1
        participants = [root.author_id]
        for _id, author_id, _created_at in thread:
            if author_id in participants and author_id != root.author_id:
                participants.remove(author_id)
            if author_id not in participants:
                participants.append(author_id)
        last_reply_at = max((created_at for _i, _a, created_at in thread), default=None)
        participants = participants[-THREAD_PARTICIPANTS_KEPT:]
        updated.append(Message(pk=root_id, reply_count=len(thread), last_reply_at=last_reply_at,
                               thread_participants=participants))
        newest = max((reply_id for reply_id, _a, _c in thread), default=0)
        follows += [ThreadFollow(user_id=user_id, root_id=root_id,
                                 conversation_id=conversation_id,
                                 last_read_reply_id=newest,
                                 last_activity_at=last_reply_at or root.created_at,
                                 last_other_reply_id=max((i for i, a, _c in thread if a != user_id),
                                                         default=0))
                    for user_id in participants]
    Message.objects.bulk_update(updated, ["reply_count", "last_reply_at", "thread_participants"])
    ThreadFollow.objects.bulk_create(
        follows, update_conflicts=True, unique_fields=["user", "root"],
        update_fields=["last_read_reply_id", "last_activity_at", "last_other_reply_id"])
