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

Both rely on the libraries' internals, so both check first that the installed versions
are those they were written and tested for (`SUPPORTED`); under any other, they stand
aside and every frame takes the libraries' own, slower, path.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from functools import cache, partial
from importlib.metadata import PackageNotFoundError, version
from typing import Any

logger = logging.getLogger(__name__)

# Major versions, lowest included and highest not: Twisted's Connection.write and its
# buffer's fields, autobahn's WebSocketProtocol state and send queue, daphne's
# handle_reply partial and its connections map, Channels' session wrapper (real_send).
SUPPORTED = {"twisted": (22, 27), "autobahn": (22, 27), "daphne": (4, 5), "channels": (4, 5)}

_installed = False


@cache
def internals_supported() -> bool:
    """Whether the installed Twisted, autobahn and daphne are those this module knows."""
    for package, (lowest, beyond) in SUPPORTED.items():
        try:
            major = int(version(package).split(".")[0])
        except (PackageNotFoundError, ValueError):
            major = None
        if major is None or not lowest <= major < beyond:
            logger.warning("%s %s is not among the versions realtime.transport was written for "
                           "(%s); sockets are written through its own path", package,
                           major, SUPPORTED)
            return False
    return True


def install() -> None:
    global _installed
    if _installed or not internals_supported():
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
    """A text frame for one or many sockets: encoded and framed once, at its first write."""

    __slots__ = ("_framed", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._framed: bytes | None = None

    def framed(self) -> bytes:
        if self._framed is None:
            self._framed = text_frame(self.text)
        return self._framed


def text_frame(text: str) -> bytes:
    """One unfragmented, unmasked WebSocket text frame (RFC 6455, 5.2), as a server sends."""
    payload = text.encode()
    length = len(payload)
    if length <= 125:
        header = bytes((0x81, length))
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


def frame_writer(send: Any) -> Callable[[OutgoingText], bool] | None:
    """A function writing a text frame straight to the daphne WebSocket connection behind
    an ASGI `send` (daphne's `partial(server.handle_reply, protocol)`). It skips what a
    send costs on the way (the ASGI message, daphne's checks, autobahn's framing and its
    debug log's arguments, built for every frame; docs/performance.md). It returns False, writing nothing,
    once the connection is closing. None under any other server, or other versions of
    the libraries than SUPPORTED: use `send` there."""
    if not internals_supported():
        return None
    from autobahn.websocket.protocol import WebSocketProtocol
    from channels.sessions import InstanceSessionWrapper

    # A browser's socket comes through Channels' session middleware, whose send only
    # saves the session on an HTTP response start: a WebSocket frame passes it untouched.
    while isinstance(getattr(send, "__self__", None), InstanceSessionWrapper):
        send = send.__self__.real_send
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
        if protocol.send_queue or getattr(protocol, "_perMessageCompress", None) is not None:
            # Frames autobahn is still sending in pieces, or compression (which daphne
            # does not offer): its own path.
            protocol.sendMessage(frame.text.encode(), False)
        else:
            protocol.transport.write(frame.framed())
        return True

    return write
