"""Every write of the messaging app, one function per action."""

from messaging.services.activity import activity_seen
from messaging.services.conversations import (
    conversation_create,
    conversation_direct_open,
    conversation_join,
    conversation_leave,
    conversation_update,
    membership_add,
    membership_add_bot,
    membership_preferences_update,
    membership_remove,
    membership_role_change,
)
from messaging.services.drafts import draft_clear, draft_save
from messaging.services.groups import usergroup_create, usergroup_delete, usergroup_update
from messaging.services.messages import (
    SendResult,
    message_create,
    message_delete,
    message_edit,
    message_save,
    message_save_done,
    message_unsave,
    pin_add,
    pin_remove,
    reaction_add,
    reaction_remove,
    read_mark,
    read_mark_unread,
)
from messaging.services.reminders import (
    reminder_cancel,
    reminder_deliver,
    reminder_set,
    reminders_deliver_due,
)
from messaging.services.scheduled import (
    scheduled_cancel,
    scheduled_create,
    scheduled_edit,
    scheduled_send,
    scheduled_send_due,
)
from messaging.services.threads import thread_follow, thread_read

__all__ = [
    "SendResult",
    "activity_seen",
    "conversation_create",
    "conversation_direct_open",
    "conversation_join",
    "conversation_leave",
    "conversation_update",
    "draft_clear",
    "draft_save",
    "membership_add",
    "membership_add_bot",
    "membership_preferences_update",
    "membership_remove",
    "membership_role_change",
    "message_create",
    "message_delete",
    "message_edit",
    "message_save",
    "message_save_done",
    "message_unsave",
    "pin_add",
    "pin_remove",
    "reaction_add",
    "reaction_remove",
    "read_mark",
    "read_mark_unread",
    "reminder_cancel",
    "reminder_deliver",
    "reminder_set",
    "reminders_deliver_due",
    "scheduled_cancel",
    "scheduled_create",
    "scheduled_edit",
    "scheduled_send",
    "scheduled_send_due",
    "thread_follow",
    "thread_read",
    "usergroup_create",
    "usergroup_delete",
    "usergroup_update",
]
