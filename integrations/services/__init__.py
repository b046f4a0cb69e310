"""Every write of the integrations app, one function per action."""

from integrations.services.bots import bot_token_create
from integrations.services.commands import command_list, command_run, slash_command_create
from integrations.services.incoming import (
    incoming_webhook_create,
    incoming_webhook_post,
    incoming_webhook_revoke,
)
from integrations.services.ldap import ldap_sign_in, ldap_sign_in_unavailable, ldap_sync
from integrations.services.outgoing import (
    deliveries_create,
    delivery_attempt,
    delivery_give_up,
    outgoing_webhook_create,
    outgoing_webhook_revoke,
)
from integrations.services.previews import message_previews_make
from integrations.services.slack_import import ImportReport, slack_import
from integrations.services.slack_import_runs import (
    slack_import_execute,
    slack_import_resume,
    slack_import_start,
)

__all__ = [
    "ImportReport", "bot_token_create", "command_list", "command_run", "deliveries_create",
    "delivery_attempt",
    "delivery_give_up",
    "incoming_webhook_create", "incoming_webhook_post", "incoming_webhook_revoke",
    "ldap_sign_in", "ldap_sign_in_unavailable", "ldap_sync",
    "message_previews_make", "outgoing_webhook_create", "outgoing_webhook_revoke",
    "slack_import", "slack_import_execute", "slack_import_resume", "slack_import_start",
    "slash_command_create",
]
