"""Drafts that follow a person from one browser to the next (issue 28)."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import Conflict, InvalidInput
from core.ids import row_id
from core.live import user_event_on_commit
from messaging import markdown, permissions
from messaging.models import Draft, Message
from messaging.payloads import iso


def draft_save(*, actor: User, conversation_id: Any, thread_root_id: Any = None,
               text: Any, origin: Any = None) -> Draft | None:
    """Keep the person's unsent text for a conversation (or one of its threads) and show
    it in their other browsers (`draft.updated`, carrying `origin`: the browser tab that
    made the change knows its own news). Empty text clears the draft: returns None then."""
    from messaging.selectors import conversation_get_for_user

    conversation, membership = conversation_get_for_user(user=actor, conversation_id=conversation_id)
    permissions.require_participate(actor, conversation, membership)
    if conversation.encrypted:
        raise Conflict("Drafts of an end-to-end encrypted conversation stay in the browser: "
                       "the server never holds their text.", code="encrypted")
    root = _thread_root(conversation.pk, thread_root_id)
    if not isinstance(text, str):
        raise InvalidInput.for_field("text", "Must be text.")
    if len(text) > markdown.MAX_TEXT_LENGTH:
        raise InvalidInput.for_field("text", f"At most {markdown.MAX_TEXT_LENGTH} characters.")
    if "\x00" in text:
        raise InvalidInput.for_field("text", "Contains a NUL character.")
    origin = _origin(origin)
    if not text.strip():
        draft_clear(actor=actor, conversation_id=conversation.pk, thread_root_id=root, origin=origin)
        return None
    with transaction.atomic():
        draft, _ = Draft.objects.update_or_create(
            user=actor, conversation=conversation, thread_root_id=root,
            defaults={"text": text, "updated_at": timezone.now()})
        _tell(actor, conversation.pk, root, text, draft.updated_at, origin)
    return draft


def draft_clear(*, actor: User, conversation_id: Any, thread_root_id: Any = None,
                origin: Any = None) -> bool:
    """Remove the person's draft there (sent, or emptied), from every browser. Whether
    there was one. Anyone may clear their own, also after leaving the conversation."""
    conversation_id = _id(conversation_id, "conversation", "Must be a conversation id.")
    root = _thread_id(thread_root_id)
    origin = _origin(origin)
    with transaction.atomic():
        deleted, _ = Draft.objects.filter(user=actor, conversation_id=conversation_id,
                                          thread_root_id=root).delete()
        if deleted:
            _tell(actor, conversation_id, root, "", timezone.now(), origin)
    return bool(deleted)


def _id(value: Any, field: str, problem: str) -> int:
    return row_id(value, InvalidInput.for_field(field, problem))


def _thread_id(value: Any) -> int:
    if value in (None, "", 0, "0"):
        return 0
    return _id(value, "thread_root", "Must be a message id.")


def _thread_root(conversation_id: int, value: Any) -> int:
    """0 for the conversation itself, or a thread's first message in it."""
    root = _thread_id(value)
    if root and not Message.objects.filter(pk=root, conversation_id=conversation_id,
                                           thread_root__isnull=True).exists():
        raise InvalidInput.for_field("thread_root", "No such thread in this conversation.")
    return root


def _origin(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _ORIGIN_RE.fullmatch(value):
        raise InvalidInput.for_field("origin", "Up to 64 letters, digits, dots, dashes or underscores.")
    return value


_ORIGIN_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _tell(actor: User, conversation_id: int, root: int, text: str, when: Any,
          origin: str | None) -> None:
    user_event_on_commit(actor.pk, {
        "type": "draft.updated", "conversation": conversation_id, "thread_root": root or None,
        "text": text, "updated_at": iso(when), "origin": origin})
