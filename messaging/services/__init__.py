"""Every write of the messaging app, one function per action."""

from messaging.services.conversations import (
    conversation_create,
    conversation_direct_open,
    conversation_join,
    conversation_leave,
    conversation_update,
    membership_add,
    membership_preferences_update,
    membership_remove,
    membership_role_change,
)
from messaging.services.groups import usergroup_create, usergroup_delete, usergroup_update
from messaging.services.messages import (
    SendResult,
    message_create,
    message_delete,
    message_edit,
    message_save,
    message_unsave,
    pin_add,
    pin_remove,
    reaction_add,
    reaction_remove,
    read_mark,
)

__all__ = [
    "SendResult",
    "conversation_create",
    "conversation_direct_open",
    "conversation_join",
    "conversation_leave",
    "conversation_update",
    "membership_add",
    "membership_preferences_update",
    "membership_remove",
    "membership_role_change",
    "message_create",
    "message_delete",
    "message_edit",
    "message_save",
    "message_unsave",
    "pin_add",
    "pin_remove",
    "reaction_add",
    "reaction_remove",
    "read_mark",
    "usergroup_create",
    "usergroup_delete",
    "usergroup_update",
]
