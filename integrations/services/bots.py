"""API tokens for bots, minted by admins."""

from __future__ import annotations

from typing import Any

from accounts import services as accounts
from accounts.models import ApiToken, User
from core.errors import Forbidden, NotFound
from integrations.selectors import is_integration_bot
from integrations.services.common import require_admin


def bot_token_create(*, actor: User, bot_id: Any, name: str) -> tuple[ApiToken, str]:
    """A token for a bot the admin may manage. Returns it and the token, shown only now.

    A bot token reads and writes what the bot is a member of, so an admin gets one only
    for a bot whose every conversation they may see themselves (accounts.api_token_create
    asks messaging); a webhook's or slash command's bot gets none: it acts only through its
    integration, whose bot may have been brought into channels by other people.
    """
    require_admin(actor, "create bot tokens")
    try:
        bot = User.objects.filter(pk=int(bot_id), is_bot=True).first()
    except (TypeError, ValueError, OverflowError):
        bot = None
    if bot is None:
        raise NotFound("No such bot.")
    if is_integration_bot(bot):
        raise Forbidden("This bot belongs to a webhook or slash command and acts only "
                        "through it; create a bot of its own for the API.",
                        code="integration_bot")
    return accounts.api_token_create(actor=actor, user=bot, name=name)
