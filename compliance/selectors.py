"""Reads of the compliance app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from compliance.models import GENESIS_HASH, AuditEvent


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def audit_chain_verify(*, batch_size: int = 2000) -> tuple[int, ChainBreak | None]:
    """Walk the audit chain in id order; return rows checked and the first break, if any."""
    expected_prev = GENESIS_HASH
    checked = 0
    for event in _iterate(batch_size):
        if event.prev_hash != expected_prev:
            return checked, ChainBreak(event.id, "its prev_hash does not match the row before it")
        if event.compute_hash() != event.hash:
            return checked, ChainBreak(event.id, "its contents do not match its hash")
        expected_prev = event.hash
        checked += 1
    return checked, None


def _iterate(batch_size: int) -> Iterator[AuditEvent]:
    last_id = 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id
