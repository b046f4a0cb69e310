"""The one delivery rule of a socket, per conversation it follows (docs/realtime.md,
"Order"): a socket never writes a conversation's event at or below a seq it already
wrote, and never skips one.

`position` is the seq the client is taken to hold: everything up to it was written to
this socket, or reported to it (in `ready`, `subscribed`, or the seq before a
`member.joined`). `written` is the highest seq actually written (0: none yet), and
`run_from` the first seq of the unbroken run of writes that ends there (0: none since
the last resync).

A live event at or below `position` is dropped, the next one is written, and one further
ahead leaves a gap, filled from the event log before it. A `resume` from below
`position` is answered by what the socket already wrote if the run covers everything
after the client's seq (the resume crossed events on the wire); else it replays the
log after the client's seq, unless the socket already wrote one of those events (events
arrived between `ready` and the resume): the events in between can then no longer be
written in order, and the client is told to resync that conversation.

Pure bookkeeping, no I/O: the consumer asks, writes, and reports what it wrote.
"""

from __future__ import annotations

import enum


class Live(enum.Enum):
    DROP = "drop"  # not followed, or already written or reported
    WRITE = "write"  # the next seq: write it now
    FILL = "fill"  # ahead of the next seq: fill the gap from the log first


class Resume(enum.Enum):
    CURRENT = "current"  # the client holds everything this socket knows of
    REPLAY = "replay"  # replay the log after the client's seq (position moved back to it)
    RESYNC = "resync"  # the socket wrote past the client's seq: reload over REST


class Stream:
    __slots__ = ("position", "run_from", "written")

    def __init__(self, position: int) -> None:
        self.position = position
        self.written = 0
        self.run_from = 0


class Delivery:
    """The streams of one socket, by conversation id."""

    __slots__ = ("streams",)

    def __init__(self) -> None:
        self.streams: dict[int, Stream] = {}

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self.streams

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self.streams))

    def positions(self) -> dict[int, int]:
        return {conversation_id: s.position for conversation_id, s in self.streams.items()}

    def position(self, conversation_id: int) -> int | None:
        stream = self.streams.get(conversation_id)
        return None if stream is None else stream.position

    def follow(self, conversation_id: int, position: int) -> None:
        """Start following at `position` (already followed: unchanged)."""
        if conversation_id not in self.streams:
            self.streams[conversation_id] = Stream(position)

    def drop(self, conversation_id: int) -> None:
        self.streams.pop(conversation_id, None)

    def live(self, conversation_id: int, seq: int) -> Live:
        stream = self.streams.get(conversation_id)
        if stream is None or seq <= stream.position:
            return Live.DROP
        return Live.WRITE if seq == stream.position + 1 else Live.FILL

    def wrote(self, conversation_id: int, seq: int) -> None:
        """The event `seq` was written (live or replayed); call only for the next seq."""
        stream = self.streams[conversation_id]
        if seq != stream.position + 1:
            raise ValueError(f"wrote seq {seq} after {stream.position}: not the next one")
        stream.position = stream.written = seq
        if not stream.run_from:
            stream.run_from = seq

    def skipped_to(self, conversation_id: int, seq: int) -> None:
        """The client was told to resync at `seq`: it reloads everything up to it."""
        stream = self.streams.get(conversation_id)
        if stream is not None and seq > stream.position:
            stream.position = seq
            stream.run_from = 0  # what this socket writes next follows a hole

    def resume(self, conversation_id: int, seq: int) -> Resume:
        """The client holds `seq` (a followed conversation)."""
        stream = self.streams[conversation_id]
        if seq >= stream.position:
            return Resume.CURRENT
        if stream.run_from and seq >= stream.run_from - 1:
            return Resume.CURRENT  # everything after `seq` went out on this socket
        if stream.written > seq:
            return Resume.RESYNC
        stream.position = seq
        return Resume.REPLAY
