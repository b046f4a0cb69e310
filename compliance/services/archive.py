"""Cutting an export's messages into conversation-days for the archive formats
(compliance/archive_formats.py): who was present (from memberships and the audit log's
joins and leaves), and every message, edit, deletion and file at its own time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from compliance.archive_formats import Day, Event, Person, message_events
from compliance.models import ExportJob
from core.models import AuditEvent

ENTERED = ("membership.joined", "membership.added")
LEFT = ("membership.left", "membership.removed")
NEVER = datetime.max.replace(tzinfo=UTC)

Interval = tuple[Person, datetime, datetime]


class People:
    """Each person once, however many messages and days they appear in."""

    def __init__(self) -> None:
        self.known: dict[int, Person] = {}

    def of(self, user: User) -> Person:
        if user.pk not in self.known:
            self.known[user.pk] = Person(user.pk, user.email, user.display_name, user.is_bot)
        return self.known[user.pk]

    def load(self, ids: set[int]) -> None:
        for user in User.objects.filter(pk__in=ids - self.known.keys()):
            self.of(user)


def presence(conversation: Any, people: People) -> list[Interval]:
    """Every stretch of time each person was a member: current memberships, and the joins
    and leaves the audit log recorded (someone who left without a recorded join was a
    member from the conversation's start)."""
    from messaging.models import Membership

    points: list[tuple[datetime, int, int, bool]] = []  # at, seq, user, entering
    for user_id, joined_at in Membership.objects.filter(conversation=conversation).values_list(
            "user_id", "joined_at"):
        points.append((joined_at, 0, user_id, True))
    for event in AuditEvent.objects.filter(conversation_id=conversation.pk,
                                           action__in=ENTERED + LEFT).order_by("seq"):
        user_id = (event.data or {}).get("user")
        if isinstance(user_id, int):
            points.append((event.created_at, event.seq, user_id, event.action in ENTERED))
    people.load({user_id for _, _, user_id, _ in points})
    intervals: list[Interval] = []
    opened: dict[int, datetime] = {}
    closed: set[int] = set()
    for at, _, user_id, entering in sorted(points):
        if user_id not in people.known:
            continue
        if entering:
            opened.setdefault(user_id, at)
        elif user_id in opened:
            intervals.append((people.known[user_id], opened.pop(user_id), at))
        elif user_id not in closed:
            intervals.append((people.known[user_id], conversation.created_at, at))
        closed.add(user_id)
    intervals += [(people.known[user_id], at, NEVER) for user_id, at in opened.items()]
    return intervals


def _label(conversation: Any, present: list[Interval]) -> str:
    if conversation.name:
        return f"#{conversation.name}"
    names = sorted({person.name for person, _, _ in present})
    return "direct: " + ", ".join(names)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _day(conversation: Any, when: date, events: list[Event], history: list[Interval],
         job: ExportJob) -> Day:
    """One conversation-day: its window (the UTC day, narrowed to the export's period but
    never past its own events), who was present, and the comings and goings within it."""
    events.sort(key=lambda event: event.order)
    start, end = _midnight(when), _midnight(when + timedelta(days=1))
    if job.start:
        start = max(start, job.start)
    if job.end:
        end = min(end, job.end)
    start, end = min(start, events[0].at), max(end, events[-1].at)
    present = [(person, entered, left) for person, entered, left in history
               if entered < end and left > start]
    moves = [Event(at=entered, kind="entered", person=person)
             for person, entered, _ in present if start < entered]
    moves += [Event(at=left, kind="left", person=person) for person, _, left in present if left < end]
    # An author with no membership at the time (one who left before the audit log began
    # recording joins): present from their first event of the day.
    for event in events:
        if not any(p == event.person and entered <= event.at < left for p, entered, left in present):
            present.append((event.person, event.at, end))
            moves.append(Event(at=event.at, kind="entered", person=event.person))
    day = Day(conversation_id=conversation.pk, label=_label(conversation, present),
              kind=conversation.kind, start=start, end=end, present=present,
              events=sorted(events + moves, key=lambda event: event.order))
    return day


def conversation_days(job: ExportJob, messages: QuerySet, batches: Callable[[QuerySet], Iterator[Any]],
                      file_paths: dict[int, str], progress: Callable[[], None]) -> Iterator[Day]:
    """The export's messages as conversation-days, conversation by conversation and day
    by day. Memory holds one day of one conversation (and later edits waiting for
    their own day), whatever the export's size."""
    from messaging.models import Conversation

    people = People()
    conversation_ids = set(messages.order_by().values_list("conversation_id", flat=True).distinct())
    for conversation in Conversation.objects.filter(pk__in=conversation_ids).order_by("pk"):
        history = presence(conversation, people)
        waiting: dict[date, list[Event]] = {}
        for message in batches(messages.filter(conversation_id=conversation.pk)):
            progress()
            for event in message_events(message, people.of(message.author), file_paths):
                waiting.setdefault(event.at.astimezone(UTC).date(), []).append(event)
            today = message.created_at.astimezone(UTC).date()
            for when in sorted(d for d in waiting if d < today):
                yield _day(conversation, when, waiting.pop(when), history, job)
        for when in sorted(waiting):
            yield _day(conversation, when, waiting.pop(when), history, job)
