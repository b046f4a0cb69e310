"""Writing to a socket at once when nothing waits before it, in daphne's Twisted reactor.

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
