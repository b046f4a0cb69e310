"""The registry of audit describers and the names they use.

One describer per action, registered with `@describes(action, label)`: it turns an event
into a sentence such as "Ana Lopez deleted a message by Ben Okafor in #design", linking
the people (the console's People page), conversations and messages (their history in the
audit log itself, an audited read) it names. Describers read only what `Names` loaded for
the page in a few queries; they never read message content. An action without a describer
reads as a generic sentence, never as a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.models import AuditEvent

# The subjects actions are grouped under, in the order the filter lists them.
GROUPS: dict[str, str] = {
    "auth": "Signing in",
    "2fa": "Two-factor authentication",
    "user": "People",
    "token": "API tokens",  # nosec B105: a heading, not a secret
    "organisation": "Organisation",
    "conversation": "Conversations",
    "membership": "Membership",
    "message": "Messages",
    "scheduled_message": "Scheduled messages",
    "usergroup": "User groups",
    "notifications": "Notifications",
    "slash_command": "Slash commands",
    "webhook": "Webhooks",
    "slack": "Imports from Slack",
    "e2ee": "End-to-end encryption",
    "retention": "Retention",
    "legal_hold": "Legal holds",
    "export": "Exports",
    "data_subject": "Data-subject requests",
    "supervision": "Supervision",
    "scim": "Provisioning (SCIM)",
    "ldap": "Directory (LDAP)",
    "audit": "Audit log",
}

Describer = Callable[[AuditEvent, "Names"], SafeString]


@dataclass(frozen=True)
class ActionInfo:
    action: str
    label: str
    describe: Describer


REGISTRY: dict[str, ActionInfo] = {}


def describes(action: str, label: str) -> Callable[[Describer], Describer]:
    def register(describer: Describer) -> Describer:
        if action in REGISTRY:
            raise ValueError(f"{action} is described twice")
        REGISTRY[action] = ActionInfo(action, label, describer)
        return describer

    return register


def group_of(action: str) -> str:
    return action.split(".", 1)[0]


def action_choices() -> list[tuple[str, Any]]:
    """The filter's options: each subject, then its actions, in words."""
    choices: list[tuple[str, Any]] = [("", "Any action")]
    for group, title in GROUPS.items():
        actions = sorted((info for info in REGISTRY.values() if group_of(info.action) == group),
                         key=lambda info: info.label)
        if actions:
            choices.append((title, [(group, f"Any: {title.lower()}")]
                            + [(info.action, info.label) for info in actions]))
    return choices


def action_label(action: str) -> str:
    info = REGISTRY.get(action)
    return info.label if info else action


def _plural(count: Any, one: str, many: str | None = None) -> str:
    try:
        number = int(count)
    except (TypeError, ValueError):
        number = 0
    return f"{number} {one if number == 1 else (many or one + 's')}"


def _ids(value: Any) -> list[int]:
    values = value if isinstance(value, list | tuple) else [value]
    found = []
    for item in values:
        try:
            found.append(int(item))
        except (TypeError, ValueError):
            continue
    return found


class Names:
    """The people, conversations and messages a page of events names, loaded at once."""

    USER_KEYS = ("user", "author", "user_id", "subject")
    USER_LIST_KEYS = ("custodians", "members", "people", "recipients")

    def __init__(self, events: Iterable[AuditEvent]) -> None:
        from accounts.models import User
        from messaging.models import Conversation, Message

        events = list(events)
        user_ids: set[int] = set()
        conversation_ids: set[int] = set()
        message_ids: set[int] = set()
        for event in events:
            data = event.data if isinstance(event.data, dict) else {}
            if event.actor_id:
                user_ids.add(event.actor_id)
            if event.target_type == "accounts.user":
                user_ids.update(_ids(event.target_id))
            if event.target_type == "messaging.conversation":
                conversation_ids.update(_ids(event.target_id))
            if event.target_type == "messaging.message":
                message_ids.update(_ids(event.target_id))
            if event.conversation_id:
                conversation_ids.add(event.conversation_id)
            for key in self.USER_KEYS:
                user_ids.update(_ids(data.get(key)))
            for key in self.USER_LIST_KEYS:
                user_ids.update(_ids(data.get(key)))
            conversation_ids.update(_ids(data.get("conversations")))
            message_ids.update(_ids(data.get("message")))
        # Only who wrote a message and where: describing an event never reads its text.
        self.messages = {row["pk"]: row for row in Message.objects.filter(pk__in=message_ids)
                         .values("pk", "author_id", "conversation_id")}
        for row in self.messages.values():
            user_ids.add(row["author_id"])
            conversation_ids.add(row["conversation_id"])
        self.users = {u.pk: u for u in User.objects.filter(pk__in=user_ids)
                      .only("pk", "email", "display_name")}
        self.conversations = {c.pk: c for c in Conversation.objects.filter(pk__in=conversation_ids)
                              .only("pk", "kind", "name")}

    # --- pieces of sentences -------------------------------------------------------

    def person(self, user_id: Any, fallback: str = "") -> SafeString:
        ids = _ids(user_id)
        user = self.users.get(ids[0]) if ids else None
        if user is None:
            label = fallback or (f"person {ids[0]}" if ids else "someone")
            return format_html("{}", label)
        url = reverse("console:people") + "?" + urlencode({"q": user.email})
        return format_html('<a href="{}">{}</a>', url, user.display_name or user.email)

    def people(self, user_ids: Any) -> SafeString:
        ids = _ids(user_ids)
        if not ids:
            return format_html("nobody")
        return format_html_join(", ", "{}", ((self.person(pk),) for pk in ids))

    def actor(self, event: AuditEvent, nobody: str = "The system") -> SafeString:
        if not event.actor_id and not event.actor_label:
            return format_html("{}", nobody)
        return self.person(event.actor_id, event.actor_label)

    def target_person(self, event: AuditEvent) -> SafeString:
        return self.person(event.target_id if event.target_type == "accounts.user" else None)

    def conversation(self, conversation_id: Any) -> SafeString:
        ids = _ids(conversation_id)
        conversation = self.conversations.get(ids[0]) if ids else None
        if conversation is None:
            return format_html("{}", f"conversation {ids[0]}" if ids else "a conversation")
        if conversation.kind == "direct":
            label = "a direct conversation"
        elif conversation.kind == "private":
            label = f"the private channel #{conversation.name}"
        else:
            label = f"#{conversation.name}"
        url = reverse("console:audit") + "?" + urlencode({"conversation": conversation.pk})
        return format_html('<a href="{}" title="Its history in the audit log">{}</a>', url, label)

    def conversations_list(self, ids: Any) -> SafeString:
        found = _ids(ids)
        if not found:
            return format_html("no conversation")
        return format_html_join(", ", "{}", ((self.conversation(pk),) for pk in found))

    def message(self, message_id: Any, label: str = "a message") -> SafeString:
        ids = _ids(message_id)
        if not ids:
            return format_html("{}", label)
        url = reverse("console:audit") + "?" + urlencode(
            {"target_type": "messaging.message", "target_id": ids[0]})
        return format_html('<a href="{}" title="Its history in the audit log">{}</a>', url, label)

    def message_author(self, message_id: Any, fallback: Any = None) -> SafeString:
        ids = _ids(message_id)
        row = self.messages.get(ids[0]) if ids else None
        return self.person(row["author_id"] if row else fallback)

    def export(self, export_id: Any) -> SafeString:
        ids = _ids(export_id)
        return format_html('<a href="{}">export #{}</a>', reverse("console:exports"),
                           ids[0] if ids else "?")


def describe(event: AuditEvent, names: Names) -> SafeString:
    info = REGISTRY.get(event.action)
    if info is not None:
        try:
            return info.describe(event, names)
        except (AttributeError, KeyError, TypeError, ValueError):
            pass  # an event older than its describer's idea of its details: say it plainly
    return generic(event, names)


def generic(event: AuditEvent, names: Names) -> SafeString:
    """Any action, in words: who did what, to which object."""
    words = event.action.replace("_", " ").replace(".", ": ", 1)
    target = ""
    if event.target_type == "accounts.user":
        target = format_html(" concerning {}", names.target_person(event))
    elif event.target_type == "messaging.message":
        target = format_html(" concerning {}", names.message(event.target_id))
    elif event.target_type:
        label = event.target_type.split(".", 1)[-1]
        target = format_html(" concerning {} {}", label, event.target_id)
    where = (format_html(" in {}", names.conversation(event.conversation_id))
             if event.conversation_id else "")
    return format_html("{} recorded “{}”{}{}", names.actor(event), words, target, where)


def detail_lines(data: Any) -> list[tuple[str, str]]:
    """The raw details as key: value lines, for the collapsible view."""
    if not isinstance(data, dict):
        return [("value", str(data))]
    lines = []
    for key, value in sorted(data.items()):
        if isinstance(value, dict):
            lines.extend((f"{key}.{k}", v) for k, v in detail_lines(value))
        elif isinstance(value, list):
            lines.append((key, ", ".join(str(v) for v in value) or "(none)"))
        else:
            lines.append((key, "—" if value is None else str(value)))
    return lines

