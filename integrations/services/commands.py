"""Slash commands: the built-in ones (/me, /topic, /invite, /leave, /mute, /away, /dnd)
and custom ones an admin points at an external URL, Slack-style."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import User
from core.audit import audit_record
from core.errors import InvalidInput, NotFound
from core.parsers import json_loads
from core.secrets import decrypt, encrypt
from core.text import clean_name
from integrations import fetch
from integrations.models import SlashCommand
from integrations.services.common import require_admin
from messaging import selectors
from messaging import services as messaging
from messaging.models import Message

BUILT_IN = {
    "me": ("text", "Say something in the third person: /me waves"),
    "topic": ("text", "Set the channel's topic"),
    "invite": ("@person", "Add someone to this channel"),
    "leave": ("", "Leave this channel"),
    "mute": ("", "Mute or unmute this conversation"),
    "away": ("", "Toggle away"),
    "dnd": ("[minutes]", "Do not disturb, for 60 minutes unless you say how long"),
}
COMMAND_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass
class CommandResult:
    response_type: str  # "ephemeral" (only the caller sees it) or "in_channel"
    text: str
    message: Message | None = None


def command_list() -> list[dict[str, str]]:
    custom = [{"command": c.command, "usage": c.usage_hint, "description": c.description}
              for c in SlashCommand.objects.order_by("command")]
    return [{"command": name, "usage": usage, "description": text}
            for name, (usage, text) in BUILT_IN.items()] + custom


def slash_command_create(*, actor: User, command: str, url: str, description: str = "",
                         usage_hint: str = "") -> tuple[SlashCommand, str]:
    """A custom command; returns it and its verification token, shown only now."""
    require_admin(actor, "create slash commands")
    command = (command or "").strip().lstrip("/").lower()
    if not COMMAND_RE.match(command):
        raise InvalidInput.for_field("command", "Lowercase letters, digits, - and _ (up to 32).")
    if command in BUILT_IN or SlashCommand.objects.filter(command=command).exists():
        raise InvalidInput.for_field("command", f"/{command} already exists.")
    if not (url or "").startswith(("http://", "https://")):
        raise InvalidInput.for_field("url", "An http or https address.")
    description = clean_name("description", description)
    usage_hint = clean_name("usage_hint", usage_hint)
    token = secrets.token_urlsafe(24)
    with transaction.atomic():
        bot = accounts.bot_create(actor=actor, display_name=f"/{command}",
                                  username=f"command-{command}")
        slash = SlashCommand.objects.create(command=command, url=url, bot=bot,
                                            description=description[:200],
                                            usage_hint=usage_hint[:100],
                                            token_encrypted=encrypt(token), created_by=actor)
        audit_record(action="slash_command.created", actor=actor, target=slash,
                     data={"command": command, "url": url})
    return slash, token


def _person(text: str, viewer: User) -> User:
    from accounts.selectors import user_list

    name = text.strip().lstrip("@").strip("*").strip()
    if not name:
        raise InvalidInput.for_field("text", "Name someone: /invite @Ana Lopez")
    match = re.match(r"^<@(\d+)>$", text.strip())
    people = user_list(viewer=viewer)
    person = (people.filter(pk=int(match.group(1))).first() if match else
              people.filter(display_name__iexact=name).first()
              or people.filter(email__iexact=name).first())
    if person is None:
        raise InvalidInput.for_field("text", f"No one called {name}.")
    return person


def command_run(*, actor: User, conversation_id: Any, command: str, text: str = "",
                thread_root_id: Any = None) -> CommandResult:
    """Run a slash command typed in a conversation."""
    command = (command or "").strip().lstrip("/").lower()
    text = text or ""
    conversation, membership = selectors.conversation_get_for_user(
        user=actor, conversation_id=conversation_id)
    if command == "me":
        if not text.strip():
            raise InvalidInput.for_field("text", "Say what you do: /me waves")
        message = messaging.message_create(author=actor, conversation_id=conversation.pk,
                                           text=f"_{actor.display_name} {text.strip()}_",
                                           thread_root_id=thread_root_id).message
        return CommandResult("in_channel", "", message)
    if command == "topic":
        messaging.conversation_update(actor=actor, conversation_id=conversation.pk, topic=text)
        return CommandResult("ephemeral", f"Topic set to: {text.strip() or '(none)'}")
    if command == "invite":
        person = _person(text, actor)
        messaging.membership_add(actor=actor, conversation_id=conversation.pk, user_id=person.pk)
        return CommandResult("ephemeral", f"{person.display_name} is in the channel.")
    if command == "leave":
        messaging.conversation_leave(actor=actor, conversation_id=conversation.pk)
        return CommandResult("ephemeral", "You left the channel.")
    if command == "mute":
        if membership is None:
            raise NotFound("You are not a member of this conversation.")
        updated = messaging.membership_preferences_update(actor=actor, conversation_id=conversation.pk,
                                                          muted=not membership.muted)
        return CommandResult("ephemeral", "Muted." if updated.muted else "Unmuted.")
    if command == "away":
        status = "auto" if actor.presence_manual == "away" else "away"
        accounts.presence_set(user=actor, status=status)
        return CommandResult("ephemeral", "You are away." if status == "away" else "Welcome back.")
    if command == "dnd":
        minutes = int(text.strip()) if text.strip().isdigit() else 60
        if not 1 <= minutes <= 24 * 60 * 7:
            raise InvalidInput.for_field("text", "Between 1 minute and a week.")
        accounts.presence_set(user=actor, status="dnd",
                              dnd_until=timezone.now() + timedelta(minutes=minutes))
        return CommandResult("ephemeral", f"Do not disturb for {minutes} minutes.")
    custom = SlashCommand.objects.select_related("bot").filter(command=command).first()
    if custom is None:
        raise InvalidInput.for_field("command", f"/{command} is not a command here.",
                                     code="unknown_command")
    return _run_custom(custom, actor, conversation, text, thread_root_id)


def _run_custom(custom: SlashCommand, actor: User, conversation: Any, text: str,
                thread_root_id: Any) -> CommandResult:
    form = urlencode({
        "token": decrypt(custom.token_encrypted), "command": f"/{custom.command}", "text": text,
        "channel_id": conversation.pk, "channel_name": conversation.name or "directmessage",
        "user_id": actor.pk, "user_name": actor.display_name, "user_email": actor.email,
        "trigger_id": secrets.token_hex(8),
    }).encode()
    try:
        answer = fetch.request("POST", custom.url, body=form, timeout=5.0, max_bytes=64 * 1024,
                               follow_redirects=False,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    except fetch.FetchRefused as error:
        return CommandResult("ephemeral", f"/{custom.command} did not answer: {error}.")
    if not 200 <= answer.status < 300:
        return CommandResult("ephemeral", f"/{custom.command} failed (HTTP {answer.status}).")
    body = answer.body.decode("utf-8", "replace")
    response_type, reply = "ephemeral", body.strip()
    if "json" in answer.headers.get("content-type", ""):
        try:
            data = json_loads(body)  # bounded: an answer of deep brackets is no answer
        except ValueError:
            data = {}
        reply = str(data.get("text") or "") if isinstance(data, dict) else ""
        if isinstance(data, dict) and data.get("response_type") == "in_channel":
            response_type = "in_channel"
    if not reply:
        return CommandResult("ephemeral", "")
    if response_type == "in_channel" and conversation.is_channel:
        # The command's bot joins the channel it was invoked in, brought by the invoker
        # through the membership service, with the invoker's right to add people there.
        if not conversation.memberships.filter(user=custom.bot).exists():
            messaging.membership_add_bot(actor=actor, conversation_id=conversation.pk,
                                         bot=custom.bot, field="command")
        message = messaging.message_create(author=custom.bot, conversation_id=conversation.pk,
                                           text=reply[:40_000], thread_root_id=thread_root_id).message
        return CommandResult("in_channel", reply, message)
    return CommandResult("ephemeral", reply[:4000])
