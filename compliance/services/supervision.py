"""Supervision (FINRA 3110; docs/compliance.md, "Supervision"): compliance officers set
policies; each new message and each edit is matched against them in Celery after commit
(never in the send); what matches goes to the policy's queue, where its reviewers mark
each item reviewed, escalated or closed with a comment. Every step is audited."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from compliance.models import ReviewStatus, SupervisionAction, SupervisionItem, SupervisionPolicy
from compliance.services.holds import require_archive_reader
from core.audit import audit_record
from core.errors import InvalidInput, NotFound

MAX_LINES = 500
MAX_PATTERN = 300
# A text longer than this is matched on its first part only (patterns are the officers'
# own, but a long message must not hold a worker).
MAX_MATCHED_TEXT = 40_000


@dataclass(frozen=True)
class Rules:
    """A policy's words and patterns, compiled."""

    words: list[tuple[str, re.Pattern]]
    patterns: list[tuple[str, re.Pattern]]

    def reasons(self, text: str) -> list[str]:
        text = text[:MAX_MATCHED_TEXT]
        found = [f"word: {word}" for word, rule in self.words if rule.search(text)]
        return found + [f"pattern: {source}" for source, rule in self.patterns if rule.search(text)]


def _lines(value: Any, field: str) -> list[str]:
    if not isinstance(value, str):
        raise InvalidInput.for_field(field, "Must be text, one entry a line.")
    lines = [" ".join(line.split()) for line in value.splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > MAX_LINES:
        raise InvalidInput.for_field(field, f"At most {MAX_LINES} lines.")
    return lines


def _word_rule(word: str) -> re.Pattern:
    # Whole words, any case, any run of spaces between the words of a phrase.
    body = r"\s+".join(re.escape(part) for part in word.split(" "))
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def compile_rules(words: Any, patterns: Any) -> Rules:
    """The rules, or InvalidInput naming the first bad pattern and its line."""
    compiled = []
    for number, source in enumerate(_lines(patterns, "patterns"), start=1):
        if len(source) > MAX_PATTERN:
            raise InvalidInput.for_field("patterns",
                                         f"Line {number} is longer than {MAX_PATTERN} characters.")
        try:
            compiled.append((source, re.compile(source, re.IGNORECASE)))
        except re.error as error:
            raise InvalidInput.for_field(
                "patterns", f"Line {number} ({source}) is not a regular expression: {error}.") from None
    return Rules(words=[(w, _word_rule(w)) for w in _lines(words, "words")], patterns=compiled)


@lru_cache(maxsize=256)
def _compiled(words: str, patterns: str) -> Rules:
    return compile_rules(words, patterns)


def _rules(policy: SupervisionPolicy) -> Rules:
    return _compiled(policy.words, policy.patterns)


def _require_officer(actor: User, what: str) -> None:
    require_archive_reader(actor, what)


def supervision_policy_save(*, actor: User, name: Any, words: Any = "", patterns: Any = "",
                            people: list[User] = (), groups: list[Any] = (), sample_percent: Any = 0,
                            reviewers: list[User] = (), active: bool = True,
                            policy_id: Any = None) -> SupervisionPolicy:
    """Create a policy (policy_id None) or replace one's settings."""
    _require_officer(actor, "set supervision policies")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput.for_field("name", "A policy needs a name.")
    rules = compile_rules(words, patterns)
    try:
        sample = int(sample_percent)
    except (TypeError, ValueError):
        sample = -1
    if not 0 <= sample <= 100:
        raise InvalidInput.for_field("sample_percent", "Must be a whole number from 0 to 100.")
    if not (rules.words or rules.patterns or sample):
        raise InvalidInput.for_field("words",
                                     "Give words, patterns or a sample: this policy would catch nothing.")
    reviewers = list(reviewers)
    if not reviewers:
        raise InvalidInput.for_field("reviewers", "A policy needs at least one reviewer.")
    wrong = [r.email for r in reviewers if not (r.is_active and r.is_compliance_officer)]
    if wrong:
        raise InvalidInput.for_field("reviewers",
                                     f"Reviewers must be active compliance officers: {', '.join(wrong)}.")
    with transaction.atomic():
        if policy_id is None:
            policy = SupervisionPolicy(created_by=actor)
        else:
            policy = SupervisionPolicy.objects.select_for_update().filter(pk=policy_id).first()
            if policy is None:
                raise NotFound("No such supervision policy.")
        policy.name, policy.sample_percent, policy.active = name.strip()[:120], sample, bool(active)
        policy.words = "\n".join(w for w, _ in rules.words)
        policy.patterns = "\n".join(p for p, _ in rules.patterns)
        try:
            with transaction.atomic():
                policy.save()
        except IntegrityError:
            raise InvalidInput.for_field("name", f"A policy named “{policy.name}” exists.") from None
        policy.people.set(people)
        policy.groups.set(groups)
        policy.reviewers.set(reviewers)
        audit_record(action="supervision.policy_saved", actor=actor, target=policy, data={
            "name": policy.name, "created": policy_id is None, "active": policy.active,
            "words": len(rules.words), "patterns": len(rules.patterns), "sample_percent": sample,
            "people": sorted(u.pk for u in people), "groups": sorted(g.pk for g in groups),
            "reviewers": sorted(u.pk for u in reviewers)})
    return policy


def _in_scope(policy: SupervisionPolicy, author_id: int) -> bool:
    """Everyone when the policy names no one; else the people named and their groups'."""
    people = {u.pk for u in policy.people.all()}
    groups = list(policy.groups.all())
    if not people and not groups:
        return True
    return author_id in people or any(author_id in {m.pk for m in g.members.all()} for g in groups)


def _sampled(policy: SupervisionPolicy, message_id: int, version: int) -> bool:
    """The same answer every time for one version of one message (a rerun adds nothing)."""
    if not policy.sample_percent:
        return False
    digest = hashlib.sha256(f"{policy.pk}:{message_id}:{version}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < policy.sample_percent


def supervision_match(*, message_id: int, version: int = 0) -> list[SupervisionItem]:
    """Put one version of a message in the queue of each active policy it falls under.
    Idempotent (one item per policy and version). End-to-end encrypted messages are not
    readable here and are not matched."""
    from messaging.models import Message

    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None or message.key_id is not None or message.deleted_at:
        return []
    created = []
    policies = SupervisionPolicy.objects.filter(active=True).prefetch_related(
        "people", "groups__members")
    for policy in policies:
        if not _in_scope(policy, message.author_id):
            continue
        reasons = _rules(policy).reasons(message.text)
        if not reasons and _sampled(policy, message.pk, version):
            reasons = [f"sample: {policy.sample_percent}%"]
        if not reasons:
            continue
        with transaction.atomic():
            item, made = SupervisionItem.objects.get_or_create(
                policy=policy, message=message, version=version, defaults={
                    "text": message.text, "reasons": reasons, "conversation": message.conversation,
                    "author_id": message.author_id, "sent_at": message.created_at})
            if made:
                audit_record(action="supervision.item_queued", target=item,
                             conversation_id=message.conversation_id,
                             data={"policy": policy.pk, "message": message.pk, "version": version,
                                   "reasons": reasons})
                created.append(item)
    return created


def _item_for(actor: User, item_id: Any) -> SupervisionItem:
    """The item, if the actor reviews its policy; NotFound otherwise (as if absent)."""
    _require_officer(actor, "review supervised messages")
    try:
        item_id = int(item_id)
    except (TypeError, ValueError):
        raise NotFound("No such item.") from None
    item = (SupervisionItem.objects.select_for_update().filter(pk=item_id, policy__reviewers=actor)
            .first())
    if item is None:
        raise NotFound("No such item.")
    return item


def supervision_item_act(*, actor: User, item_id: Any, status: Any, comment: Any = "") -> SupervisionItem:
    """A reviewer's decision: reviewed, escalated or closed (or reopened), with a comment
    (required to escalate or close)."""
    if status not in ReviewStatus.values:
        raise InvalidInput.for_field("status", f"Must be one of: {', '.join(ReviewStatus.values)}.")
    comment = comment.strip() if isinstance(comment, str) else ""
    if status in (ReviewStatus.ESCALATED, ReviewStatus.CLOSED) and not comment:
        raise InvalidInput.for_field("comment", "Say why: escalating or closing needs a comment.")
    with transaction.atomic():
        item = _item_for(actor, item_id)
        before = item.status
        item.status, item.updated_at = status, timezone.now()
        item.save(update_fields=["status", "updated_at"])
        SupervisionAction.objects.create(item=item, actor=actor, status=status, comment=comment[:4000])
        audit_record(action="supervision.item_acted", actor=actor, target=item,
                     conversation_id=item.conversation_id,
                     data={"policy": item.policy_id, "message": item.message_id, "from": before,
                           "to": status, "comment": comment[:500]})
    return item


def supervision_queue_csv(*, actor: User, policy_id: Any) -> tuple[str, bytes]:
    """A policy's whole queue, with every decision, as CSV (a file name and its bytes),
    for a reviewer of that policy. Audited."""
    _require_officer(actor, "export review queues")
    policy = SupervisionPolicy.objects.filter(pk=policy_id, reviewers=actor).first() if str(
        policy_id).isdigit() else None
    if policy is None:
        raise NotFound("No such supervision policy.")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["item", "policy", "message", "version", "conversation", "author", "sent_at",
                     "queued_at", "reasons", "text", "status", "decisions"])
    items = (policy.items.select_related("author", "conversation").prefetch_related("actions__actor")
             .order_by("pk"))
    for item in items.iterator(chunk_size=500):
        decisions = "; ".join(f"{a.created_at.isoformat()} {a.actor.email} {a.status}: {a.comment}"
                              for a in item.actions.all())
        writer.writerow([item.pk, policy.name, item.message_id or "", item.version,
                         f"#{item.conversation.name}" if item.conversation and item.conversation.name
                         else (item.conversation_id or ""),
                         item.author.email if item.author else "", item.sent_at.isoformat(),
                         item.created_at.isoformat(), " | ".join(item.reasons), item.text,
                         item.status, decisions])
    audit_record(action="supervision.queue_exported", actor=actor, target=policy,
                 data={"policy": policy.pk, "items": policy.items.count()})
    name = f"supervision-{policy.pk}-{timezone.now():%Y%m%d-%H%M%S}.csv"
    return name, out.getvalue().encode()
