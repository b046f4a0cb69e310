"""The realtime benchmark's people and channels, made once through the real services and
kept between runs; API tokens are made fresh each run (only their hashes are stored).

Person i (0-based) belongs to the 10-member team channel i // 10, to the 500-member
channel when i < 500, and to the 100-member channel when i < 100.
"""

from __future__ import annotations

from dataclasses import dataclass

from accounts import services as account_services
from accounts.models import User
from bench.seed_history import broadcasts_off
from messaging import services as messaging_services
from messaging.models import Conversation, ConversationKind

PEOPLE = 2000
TEAM_SIZE = 10
FANOUT_SIZES = (100, 500)


@dataclass(frozen=True)
class RealtimeSeed:
    user_ids: list[int]
    fanout: dict[int, int]  # channel size -> conversation id
    teams: list[int]  # conversation ids; team j holds people j*10 .. j*10+9

    def team_members(self, team: int) -> range:
        return range(team * TEAM_SIZE, (team + 1) * TEAM_SIZE)


def seed() -> RealtimeSeed:
    with broadcasts_off():
        people = _people()
        fanout = {size: _channel(f"bench-rt-fanout-{size}", people[:size]) for size in FANOUT_SIZES}
        teams = [_channel(f"bench-rt-team-{team:03d}", people[team * TEAM_SIZE:(team + 1) * TEAM_SIZE])
                 for team in range(PEOPLE // TEAM_SIZE)]
    return RealtimeSeed([person.pk for person in people], fanout, teams)


def _people() -> list[User]:
    emails = [f"rt{index:04d}@realtime.bench.example" for index in range(PEOPLE)]
    existing = {user.email: user for user in User.objects.filter(email__in=emails)}
    return [existing.get(email) or account_services.user_create(
        email=email, display_name=f"Realtime {index:04d}", password=None)
        for index, email in enumerate(emails)]


def _channel(name: str, members: list[User]) -> int:
    existing = Conversation.objects.filter(name=name).values_list("pk", flat=True).first()
    if existing is not None:
        return existing
    return messaging_services.conversation_create(
        actor=members[0], kind=ConversationKind.PUBLIC, name=name,
        member_ids=[person.pk for person in members[1:]]).pk


def tokens(seeded: RealtimeSeed, count: int) -> list[str]:
    """Bearer tokens of the first `count` people, in order."""
    people = User.objects.in_bulk(seeded.user_ids[:count])
    raw = []
    for user_id in seeded.user_ids[:count]:
        person = people[user_id]
        _, token = account_services.api_token_create(actor=person, user=person, name="bench")
        raw.append(token)
    return raw
