"""The realtime benchmark's people and channels, made once through the real services and
kept between runs; API tokens are made fresh each run (only their hashes are stored).

Person i (0-based) belongs to the 10-member team channel i // 10, to the 500-member
channel when i < 500, and to the 100-member channel when i < 100.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from accounts import services as account_services
from accounts.models import User
from bench.seed_history import broadcasts_off
from messaging import services as messaging_services
from messaging.models import Conversation, ConversationKind, Membership

CHANNEL_PREFIX = "bench-rt-"

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
        fanout = {size: _channel(f"{CHANNEL_PREFIX}fanout-{size}", people[:size]) for size in FANOUT_SIZES}
        teams = [_channel(f"{CHANNEL_PREFIX}team-{team:03d}", people[team * TEAM_SIZE:(team + 1) * TEAM_SIZE])
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


def clear_messages() -> int:
    """Remove what earlier runs posted in the realtime channels (the write, realtime and
    load benchmarks: about 55,000 messages a full run), with every row that refers to
    those messages, and set the channels back to seq 0; how many messages went. Search
    walks the newest messages first, and a run's worth of "Benchmark message" rows at the
    head of the table changed what the next run's search measured (common words: 10 ms
    became 55 ms)."""
    conversations = list(Conversation.objects.filter(name__startswith=CHANNEL_PREFIX)
                         .values_list("pk", flat=True))
    if not conversations:
        return 0
    posted = "SELECT id FROM messaging_message WHERE conversation_id = ANY(%s)"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
            "WHERE c.confrelid = 'messaging_message'::regclass AND c.contype = 'f' "
            "AND c.conrelid <> 'messaging_message'::regclass")
        # Names read from the catalogue, quoted; the ids are a parameter.
        for table, column in cursor.fetchall():
            cursor.execute(f'DELETE FROM {table} WHERE "{column}" IN ({posted})',  # noqa: S608  # nosec B608
                           [conversations])
        cursor.execute("DELETE FROM messaging_conversationevent WHERE conversation_id = ANY(%s)",
                       [conversations])
        cursor.execute("DELETE FROM messaging_message WHERE conversation_id = ANY(%s)", [conversations])
        removed = cursor.rowcount
    Conversation.objects.filter(pk__in=conversations).update(last_seq=0, last_message_at=None)
    Membership.objects.filter(conversation_id__in=conversations).update(last_read_seq=0,
                                                                       last_read_message_id=0)
    return removed
