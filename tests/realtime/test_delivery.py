"""realtime.delivery, the one ordering rule of a socket, under every interleaving
hypothesis finds: live events in any order and repeated, gaps filled from the log,
resumes from any seq the client may hold, resyncs. Whatever happens, the socket writes
each conversation's seqs strictly increasing, and a client that applies what it gets
(reloading on resync) ends up holding every event."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.delivery import Delivery, Live, Resume

CONVERSATION = 12
REPLAY_LIMIT = 5  # selectors.RESUME_MAX_EVENTS, small enough to be reached here


class Socket:
    """The consumer's use of Delivery, with the event log as a list of committed seqs."""

    def __init__(self, reported: int) -> None:
        self.delivery = Delivery()
        self.delivery.follow(CONVERSATION, reported)
        self.written: list[int] = []
        self.resyncs: list[int] = []

    def live(self, seq: int, committed: int) -> None:
        verdict = self.delivery.live(CONVERSATION, seq)
        if verdict is Live.FILL:
            self.fill(committed)
            verdict = self.delivery.live(CONVERSATION, seq)
        if verdict is Live.WRITE:
            self.delivery.wrote(CONVERSATION, seq)
            self.written.append(seq)

    def fill(self, committed: int) -> None:
        position = self.delivery.position(CONVERSATION)
        if committed - position > REPLAY_LIMIT:  # too much missed: the client reloads
            self.delivery.skipped_to(CONVERSATION, committed)
            self.resyncs.append(committed)
            return
        for seq in range(position + 1, committed + 1):
            if self.delivery.live(CONVERSATION, seq) is Live.WRITE:
                self.delivery.wrote(CONVERSATION, seq)
                self.written.append(seq)

    def resume(self, held: int, committed: int) -> None:
        verdict = self.delivery.resume(CONVERSATION, held)
        if verdict is Resume.REPLAY:
            self.fill(committed)
        elif verdict is Resume.RESYNC:
            self.resyncs.append(self.delivery.position(CONVERSATION))


@st.composite
def histories(draw):
    """A socket opened when `at_ready` events were committed, a client that held `held`
    of them, and what happened next: commits, their broadcasts in any order (some twice,
    some never), and the client's resume at some point."""
    at_ready = draw(st.integers(0, 6))
    held = draw(st.integers(0, at_ready))
    later = draw(st.integers(0, 8))
    total = at_ready + later
    broadcasts = [seq for seq in range(at_ready + 1, total + 1)
                  for _ in range(draw(st.integers(0, 2)))]
    order = draw(st.permutations(broadcasts))
    steps: list[tuple[str, int]] = []
    committed = at_ready
    for seq in order:
        # A broadcast comes after its commit; commits may run ahead of broadcasts.
        while committed < seq:
            committed += 1
            steps.append(("commit", committed))
        steps.append(("live", seq))
    while committed < total:
        committed += 1
        steps.append(("commit", committed))
    resume_at = draw(st.integers(0, len(steps)))
    steps.insert(resume_at, ("resume", held))
    return at_ready, held, total, steps


@settings(max_examples=3000, deadline=None)
@given(histories())
def test_a_socket_never_repeats_or_reorders_and_its_client_misses_nothing(history):
    at_ready, held, total, steps = history
    socket = Socket(at_ready)
    committed = at_ready
    for kind, value in steps:
        if kind == "commit":
            committed = value
        elif kind == "live":
            socket.live(value, committed)
        else:
            socket.resume(value, committed)
    socket.fill(committed)  # the next event, or the next resume, fills what is left

    # The rule: strictly increasing, so no repeat and no step back.
    assert all(a < b for a, b in pairwise(socket.written))
    # The client: what it held, what it was sent, what it reloaded on resync.
    has = set(range(1, held + 1)) | set(socket.written)
    for seq in socket.resyncs:
        has |= set(range(1, seq + 1))
    assert has == set(range(1, total + 1))
    # Nothing written that the client already held.
    assert not set(socket.written) & set(range(1, held + 1))


def test_the_reproduction_of_issue_26_writes_4_alone_and_asks_for_a_resync():
    # Held 2; `ready` said 3; seq 4 was delivered live; then `resume {conv: 2}`.
    socket = Socket(3)
    socket.live(4, committed=4)
    socket.resume(2, committed=4)
    assert socket.written == [4]
    assert socket.resyncs == [4]


def test_a_resume_crossing_live_events_on_the_wire_needs_nothing_more():
    # Held 3; `ready` said 3; seq 4 and 5 went out before the resume {conv: 3} arrived.
    socket = Socket(3)
    socket.live(4, committed=4)
    socket.live(5, committed=5)
    socket.resume(3, committed=5)
    socket.resume(4, committed=5)
    assert (socket.written, socket.resyncs) == ([4, 5], [])


def test_after_a_resync_a_resume_from_before_it_resyncs_again():
    socket = Socket(3)
    socket.live(4, committed=4)
    socket.delivery.skipped_to(CONVERSATION, 900)  # too much was missed
    socket.live(901, committed=901)
    socket.resume(4, committed=901)
    assert (socket.written, socket.resyncs) == ([4, 901], [901])


def test_a_resume_before_anything_was_written_replays_from_the_clients_seq():
    socket = Socket(3)
    socket.resume(1, committed=3)
    assert socket.written == [2, 3]
    assert socket.resyncs == []
    socket.live(4, committed=4)
    assert socket.written == [2, 3, 4]


def test_a_conversation_no_longer_followed_drops_its_events():
    delivery = Delivery()
    delivery.follow(CONVERSATION, 5)
    delivery.drop(CONVERSATION)
    assert delivery.live(CONVERSATION, 6) is Live.DROP
    assert CONVERSATION not in delivery and delivery.positions() == {}
