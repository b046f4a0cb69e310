"""Writing to a socket at once when nothing waits before it, in daphne's Twisted reactor;
and writing one framed message to many of daphne's WebSocket connections.

Twisted buffers every write and sends it when the event loop next finds the socket
writable: for each WebSocket frame it registers the socket for writing with the loop
(an epoll_ctl call), waits a turn, sends, and unregisters it (another). With one frame
per member per message, that was a quarter of daphne's time in a fan-out to 500 sockets
(docs/performance.md). asyncio's own transports, and the websockets library on them, try
the send first and buffer only what the kernel did not take; `install()` makes
Twisted's plain TCP connections do the same.

Order and back-pressure are kept: the immediate send happens only when nothing is
buffered, whatever the kernel does not take is buffered as Twisted always did (and
producers are paused on it as before), and a send that fails leaves the data to
Twisted's own path, which reports the connection lost as it always has.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from twisted.internet import tcp

    buffered_write = tcp.Connection.write

    def write(self: Any, data: bytes) -> None:
        if (data and not self.TLS and self.connected and not self._writeDisconnected
                and not self._tempDataLen and self.offset == len(self.dataBuffer)
                and isinstance(data, bytes)):
            sent = self.writeSomeData(data)
            if isinstance(sent, int) and sent > 0:
                if sent == len(data):
                    return
                data = data[sent:]
        buffered_write(self, data)

    tcp.Connection.write = write
    _installed = True


class OutgoingText:
    """A text frame for many sockets: encoded and framed once, at its first direct write."""

    __slots__ = ("_framed", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._framed: Any = None

    def framed(self) -> Any:
        if self._framed is None:
            from autobahn.websocket.protocol import PreparedMessage

            # A server's frames are not masked. Compression is not offered by daphne; a
            # connection that had it would compress the kept payload.
            self._framed = PreparedMessage(self.text.encode(), isBinary=False, applyMask=False,
                                           doNotCompress=False)
        return self._framed


def frame_writer(send: Any) -> Callable[[OutgoingText], bool] | None:
    """A function writing a frame straight to the daphne WebSocket connection behind an
    ASGI `send` (daphne's `partial(server.handle_reply, protocol)`), skipping the
    ASGI message and the framing per socket; it returns False, writing nothing, once the
    connection is closing. None under any other server: use `send` there."""
    from autobahn.websocket.protocol import WebSocketProtocol

    if not isinstance(send, partial) or len(send.args) != 1:
        return None
    protocol, server = send.args[0], getattr(send.func, "__self__", None)
    connections = getattr(server, "connections", None)
    if not isinstance(protocol, WebSocketProtocol) or not isinstance(connections, dict):
        return None

    def write(frame: OutgoingText) -> bool:
        # What daphne's handle_reply checks before a send, then what autobahn's does.
        details = connections.get(protocol)
        if details is None or details.get("disconnected") or protocol.state != protocol.STATE_OPEN:
            return False
        protocol.sendPreparedMessage(frame.framed())
        return True

    return write
