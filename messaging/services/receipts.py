"""Read receipts, live (issue 28): when a person reads further, the authors of what they
read hear of it (`receipt.updated`), where receipts are on for both of them."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from core.live import users_event_on_commit
from messaging.models import Conversation


def receipts_tell(*, reader: User, conversation: Conversation, after: int, upto: int,
                  thread_root_id: int | None = None) -> None:
    """`reader` read `conversation` from seq `after` to `upto` (or, in the thread of
    `thread_root_id`, from reply id `after` to `upto`): tell the authors of those
    messages once the move commits. Call inside the move's transaction."""
    from messaging.selectors import receipt_recipients

    if upto <= after:
        return
    if thread_root_id is None:
        recipients = receipt_recipients(reader=reader, conversation=conversation,
                                        after_seq=after, upto_seq=upto)
        frame: dict[str, Any] = {"type": "receipt.updated", "conversation": conversation.pk,
                                 "user": reader.pk, "thread_root": None, "last_read_seq": upto}
    else:
        recipients = receipt_recipients(reader=reader, conversation=conversation,
                                        thread_root_id=thread_root_id, after_reply=after,
                                        upto_reply=upto)
        frame = {"type": "receipt.updated", "conversation": conversation.pk, "user": reader.pk,
                 "thread_root": thread_root_id, "last_read_reply": upto}
    users_event_on_commit(recipients, frame)
