"""Reading a Slack workspace export (the zip an admin downloads from Slack), checked
whole before anything is imported.

An export holds `users.json`, `channels.json` and, where the export includes them,
`groups.json` (private channels), `dms.json` and `mpims.json` (group direct messages),
then one folder per conversation of daily `YYYY-MM-DD.json` message lists. Channels,
private channels and group DMs are foldered by name, DMs by id. File bytes are not in a
standard export: they are read from `__uploads/<file id>/<name>` inside the zip (as
Slack export tools lay them out) or from a folder given beside it.

`read_export` refuses (ExportRefused, with every problem it found) an archive that is
not a zip, lacks users.json, holds malformed JSON, refers to people it does not list,
decompresses past the limits (a zip bomb) or names a path outside the archive.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings

# A whole export of many years is a few GB; past SLACK_IMPORT_MAX_BYTES uncompressed in
# all, or this in one file, the archive is refused.
MAX_MEMBER_BYTES = 2 * 1024**3
# JSON compresses about 10:1; a member past this ratio (and past RATIO_FLOOR bytes, so
# that tiny files of repeated text pass) is a decompression bomb.
MAX_RATIO = 200
RATIO_FLOOR = 1024 * 1024
UPLOADS_FOLDERS = ("__uploads/", "files/")
# Slackbot writes into exports without being listed in users.json.
SLACKBOT = "USLACKBOT"
DAY_FILE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
CONVERSATION_LISTS = (
    ("channels.json", "public"),
    ("groups.json", "private"),
    ("mpims.json", "group"),
    ("dms.json", "direct"),
)


class ExportRefused(Exception):
    """The export cannot be imported; `problems` says every reason found, one a line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class SlackConversation:
    slack_id: str
    kind: str  # public, private, group (a group DM) or direct
    name: str
    folder: str
    members: list[str]
    topic: str = ""
    purpose: str = ""
    created: float = 0.0
    creator: str = ""
    archived: bool = False
    # Slack's #general, which everyone joins: teamchat's default channel.
    general: bool = False
    # Slack message timestamps of the pinned messages, from the conversation list.
    pins: list[str] = field(default_factory=list)
    day_files: list[str] = field(default_factory=list)


@dataclass
class SlackExport:
    path: Path
    users: dict[str, dict[str, Any]]
    conversations: list[SlackConversation]
    # Bots seen writing (bot_id -> the name they wrote under).
    bots: dict[str, str]
    # Slack file id -> its name inside the zip.
    uploads: dict[str, str]
    warnings: list[str]
    message_count: int = 0

    def day_messages(self, conversation: SlackConversation) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Each day file of the conversation, oldest first, with its messages sorted by ts."""
        with zipfile.ZipFile(self.path) as archive:
            for name in conversation.day_files:
                messages = json.loads(archive.read(name).decode("utf-8"))
                yield name, sorted((m for m in messages if _is_message(m)),
                                   key=lambda m: float(m["ts"]))

    def upload_size(self, file_id: str) -> tuple[str, int] | None:
        """The name and size of a file's bytes in the zip, if the zip holds them."""
        name = self.uploads.get(file_id)
        if name is None:
            return None
        with zipfile.ZipFile(self.path) as archive:
            return PurePosixPath(name).name, archive.getinfo(name).file_size

    def upload_bytes(self, file_id: str) -> bytes:
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(self.uploads[file_id])


def _is_message(item: Any) -> bool:
    return (isinstance(item, dict) and isinstance(item.get("ts"), str)
            and item.get("type", "message") == "message")


def _unsafe_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return True
    return any(part == ".." for part in name.split("/"))


class _Checker:
    def __init__(self, archive: zipfile.ZipFile, max_total_bytes: int, max_ratio: int) -> None:
        self.archive = archive
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.max_total_bytes = max_total_bytes
        self.max_ratio = max_ratio

    def check_members(self) -> None:
        total = 0
        for info in self.archive.infolist():
            if _unsafe_name(info.filename):
                self.problems.append(f"{info.filename!r}: a path outside the export (refused as "
                                     f"a path traversal)")
                continue
            total += info.file_size
            if info.file_size > MAX_MEMBER_BYTES:
                self.problems.append(f"{info.filename}: {info.file_size} bytes uncompressed, past "
                                     f"the limit of {MAX_MEMBER_BYTES} per file (a zip bomb?)")
            elif (info.file_size > RATIO_FLOOR and info.compress_size
                  and info.file_size / info.compress_size > self.max_ratio):
                self.problems.append(
                    f"{info.filename}: compressed {info.file_size // info.compress_size}:1, past "
                    f"{self.max_ratio}:1 (a zip bomb?)")
        if total > self.max_total_bytes:
            self.problems.append(f"the export holds {total} bytes uncompressed, past the limit of "
                                 f"{self.max_total_bytes} (a zip bomb?)")

    def load(self, name: str) -> Any:
        """The JSON of one member, or None with the problem (file, line, column) noted."""
        info = self.archive.getinfo(name)
        # Read no more than the header promised: a member lying about its size is cut off
        # (and then fails its CRC check) instead of filling the memory.
        with self.archive.open(info) as stream:
            raw = stream.read(info.file_size + 1)
        if len(raw) > info.file_size:
            self.problems.append(f"{name}: larger than its header says (a zip bomb?)")
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            self.problems.append(f"{name}: not UTF-8 text ({error.reason} at byte {error.start})")
        except json.JSONDecodeError as error:
            self.problems.append(f"{name} line {error.lineno} column {error.colno}: malformed "
                                 f"JSON ({error.msg})")
        return None


def read_export(path: Path | str, *, only: list[str] | tuple[str, ...] = (),
                max_total_bytes: int | None = None, max_ratio: int = MAX_RATIO) -> SlackExport:
    """Check the whole export and return what it holds; raise ExportRefused with every
    problem found otherwise. `only` keeps the conversations of those names or ids."""
    if max_total_bytes is None:
        max_total_bytes = settings.SLACK_IMPORT_MAX_BYTES
    path = Path(path)
    if not path.is_file():
        raise ExportRefused([f"{path}: no such file"])
    if not zipfile.is_zipfile(path):
        raise ExportRefused([f"{path.name}: not a zip archive (export the workspace from Slack's "
                             f"admin settings and give the .zip as downloaded)"])
    try:
        with zipfile.ZipFile(path) as archive:
            return _read(path, archive, list(only), max_total_bytes, max_ratio)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError,
            EOFError, RuntimeError, zlib.error) as error:
        # RuntimeError: a member encrypted with a password; zlib.error: damaged data.
        raise ExportRefused([f"{path.name}: a damaged zip archive ({error})"]) from None


def _read(path: Path, archive: zipfile.ZipFile, only: list[str], max_total_bytes: int,
          max_ratio: int) -> SlackExport:
    checker = _Checker(archive, max_total_bytes, max_ratio)
    checker.check_members()
    if checker.problems:
        raise ExportRefused(checker.problems)
    names = set(archive.namelist())
    # An export zipped with its folder keeps everything one level down.
    prefix = ""
    if "users.json" not in names:
        nested = sorted(n for n in names if n.endswith("/users.json") and n.count("/") == 1)
        if not nested:
            raise ExportRefused(["users.json is missing: this is not a Slack workspace export"])
        prefix = nested[0][: -len("users.json")]

    users_raw = checker.load(prefix + "users.json")
    users: dict[str, dict[str, Any]] = {}
    if users_raw is not None:
        if not isinstance(users_raw, list):
            checker.problems.append("users.json: must be a list of people")
        else:
            for index, user in enumerate(users_raw):
                if not isinstance(user, dict) or not isinstance(user.get("id"), str):
                    checker.problems.append(f"users.json: entry {index} has no id")
                else:
                    users[user["id"]] = user

    conversations: list[SlackConversation] = []
    for list_name, kind in CONVERSATION_LISTS:
        if prefix + list_name not in names:
            if list_name == "channels.json":
                checker.warnings.append("channels.json is missing: no public channels")
            continue
        loaded = checker.load(prefix + list_name)
        if loaded is None:
            continue
        if not isinstance(loaded, list):
            checker.problems.append(f"{list_name}: must be a list of conversations")
            continue
        for index, item in enumerate(loaded):
            conversation = _conversation(item, kind, f"{list_name} entry {index}", checker)
            if conversation is not None:
                conversations.append(conversation)
    if only:
        wanted = {name.lstrip("#").lower() for name in only}
        conversations = [c for c in conversations
                         if c.name.lower() in wanted or c.slack_id.lower() in wanted]
        found = {c.name.lower() for c in conversations} | {c.slack_id.lower() for c in conversations}
        for name in sorted(wanted - found):
            checker.problems.append(f"--only {name}: no such conversation in the export")

    def known(user_id: Any, where: str) -> None:
        if user_id not in users and user_id != SLACKBOT:
            checker.problems.append(f"{where}: unknown user id {user_id!r} (not in users.json)")

    for conversation in conversations:
        for member in conversation.members:
            known(member, f"conversation {conversation.name or conversation.slack_id} members")
        if conversation.creator:
            known(conversation.creator, f"conversation {conversation.name or conversation.slack_id} creator")

    export = SlackExport(path=path, users=users, conversations=conversations, bots={}, uploads={},
                         warnings=checker.warnings)
    for name in sorted(names):
        for folder in UPLOADS_FOLDERS:
            if name.startswith(prefix + folder) and not name.endswith("/"):
                parts = name[len(prefix + folder):].split("/")
                if len(parts) == 2 and parts[0]:
                    export.uploads.setdefault(parts[0], name)
    for conversation in conversations:
        folder = prefix + conversation.folder + "/"
        in_folder = sorted(n for n in names if n.startswith(folder) and not n.endswith("/"))
        for name in in_folder:
            if not DAY_FILE_RE.match(name[len(folder):]):
                checker.warnings.append(f"{name}: not a day file (YYYY-MM-DD.json), skipped")
                continue
            conversation.day_files.append(name)
            messages = checker.load(name)
            if messages is None:
                continue
            if not isinstance(messages, list):
                checker.problems.append(f"{name}: must be a list of messages")
                continue
            for index, message in enumerate(messages):
                _check_message(message, f"{name} message {index}", known, export)
    if checker.problems:
        raise ExportRefused(checker.problems)
    return export


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("value", "")
    return value if isinstance(value, str) else ""


def _conversation(item: Any, kind: str, where: str, checker: _Checker) -> SlackConversation | None:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        checker.problems.append(f"{where}: has no id")
        return None
    members = item.get("members") or []
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        checker.problems.append(f"{where}: members must be a list of user ids")
        return None
    if kind == "direct":
        name, folder = "", item["id"]
    else:
        name = item.get("name")
        if not isinstance(name, str) or not name or _unsafe_name(name) or "/" in name:
            checker.problems.append(f"{where}: has no usable name")
            return None
        folder = name
    pins = [pin["id"] for pin in item.get("pins") or []
            if isinstance(pin, dict) and isinstance(pin.get("id"), str)]
    try:
        created = float(item.get("created") or 0)
    except (TypeError, ValueError):
        created = 0.0
    return SlackConversation(
        slack_id=item["id"], kind=kind, name=name, folder=folder, members=list(members),
        topic=_text(item.get("topic")), purpose=_text(item.get("purpose")), created=created,
        creator=item.get("creator") if isinstance(item.get("creator"), str) else "",
        archived=bool(item.get("is_archived")), pins=pins,
        general=kind == "public" and bool(item.get("is_general")),
    )


def _check_message(message: Any, where: str, known: Any, export: SlackExport) -> None:
    if not isinstance(message, dict):
        export.warnings.append(f"{where}: not a message object, skipped")
        return
    if message.get("type", "message") != "message":
        return
    ts = message.get("ts")
    try:
        float(ts)
    except (TypeError, ValueError):
        export.warnings.append(f"{where}: no usable ts, skipped")
        return
    export.message_count += 1
    bot_id = message.get("bot_id")
    user = message.get("user")
    if isinstance(bot_id, str) and (user is None or message.get("subtype") == "bot_message"):
        profile = message.get("bot_profile") or {}
        export.bots.setdefault(bot_id, str(message.get("username") or profile.get("name") or bot_id))
    elif user is None:
        export.warnings.append(f"{where}: no author, skipped")
    else:
        known(user, where)
    for reaction in message.get("reactions") or []:
        if isinstance(reaction, dict):
            for reactor in reaction.get("users") or []:
                known(reactor, f"{where} reaction {reaction.get('name')}")
