"""Reads of the files app, filtered by who may see each file."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from core.errors import NotFound
from core.hooks import Hook
from files.models import Attachment

# Whether a person may see a posted message is messaging's rule, provided by it in
# MessagingConfig.ready(); without an answer no posted file is shown.
message_visible = Hook("files.message_visible", default=lambda user, message: False)


def attachment_get_for_user(*, user: User, attachment_id: Any) -> Attachment:
    """A file the person may see: one on a message they may see (and not deleted), or
    their own upload before it is posted. Anything else is NotFound, never Forbidden."""
    try:
        attachment_id = int(attachment_id)
    except (TypeError, ValueError):
        raise NotFound("No such file.") from None
    attachment = (Attachment.objects.select_related("message__conversation")
                  .filter(pk=attachment_id).first())
    if attachment is None:
        raise NotFound("No such file.")
    message = attachment.message
    if message is None:
        if attachment.uploader_id != user.pk:
            raise NotFound("No such file.")
        return attachment
    if message.deleted_at is not None:
        raise NotFound("No such file.")
    if not message_visible(user, message):
        raise NotFound("No such file.")
    return attachment
