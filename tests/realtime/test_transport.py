"""daphne writes a socket at once when nothing is buffered (realtime/transport.py), and
leaves what the kernel does not take to Twisted's buffer. Large frames to a client that
stops reading, over a real daphne process, go through both: the kernel soon takes a frame
only in part, and the rest must follow it whole and in order."""

from __future__ import annotations

import json
import socket
import time

import pytest
from websockets.sync.client import connect

from tests.factories import make_channel, make_user, post
from tests.realtime import token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("servers_settled")]

MESSAGES = 80


def test_large_frames_to_a_client_that_stops_reading_arrive_whole_and_in_order(daphne_pair):
    server = daphne_pair[0]
    reader, writer = make_user(), make_user()
    channel = make_channel(writer, members=[reader])
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window
    raw.connect(("127.0.0.1", server.port))
    # max_queue=1: the client stops reading the socket while a frame waits for us.
    with connect(server.ws_url, sock=raw, max_queue=1, max_size=None, open_timeout=10,
                 additional_headers=[("Authorization", f"Bearer {token_for(reader)}")]) as ws:
        assert '"ready"' in ws.recv(timeout=10)
        texts = [f"{n:02d} " + "abcdefghijklmnopqrstuvwxyz"[n % 26] * 39_000 for n in range(MESSAGES)]
        for text in texts:  # about 80 KB a frame (text and HTML): more than the kernel buffers
            post(writer, channel, text)
        time.sleep(1.0)  # daphne meets the full window and buffers
        frames = []
        while len(frames) < MESSAGES:
            frame = ws.recv(timeout=20)
            if '"message.created"' in frame:
                frames.append(frame)

    created = [json.loads(frame) for frame in frames]
    assert [f["seq"] for f in created] == list(range(2, 2 + MESSAGES))
    assert [f["message"]["text"] for f in created] == texts


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_a_frame_written_directly_is_the_frame_autobahn_would_send(length):
    from autobahn.websocket.protocol import PreparedMessage

    from realtime.transport import OutgoingText, text_frame

    text = ("é" + "x" * length)[-length:] if length else ""  # multi-byte UTF-8 at the start
    expected = PreparedMessage(text.encode(), isBinary=False, applyMask=False,
                               doNotCompress=True).payloadHybi
    assert text_frame(text) == expected
    assert OutgoingText(text).framed() == expected


def test_under_library_versions_it_does_not_know_it_stands_aside(monkeypatch, caplog):
    from functools import partial

    from autobahn.websocket.protocol import WebSocketProtocol
    from twisted.internet import tcp

    from realtime import transport

    class Server:  # what daphne's send is bound to: handle_reply and its connections
        connections: dict = {}

        def handle_reply(self, protocol, message):
            raise AssertionError("not called")

    send = partial(Server().handle_reply, WebSocketProtocol.__new__(WebSocketProtocol))
    transport.internals_supported.cache_clear()
    assert transport.internals_supported() is True  # the versions installed here
    assert callable(transport.frame_writer(send))  # under them, daphne's socket is written

    def versions(package: str) -> str:
        return "99.0.0" if package == "autobahn" else "24.1.0"

    monkeypatch.setattr(transport, "version", versions)
    monkeypatch.setattr(transport, "_installed", False)
    transport.internals_supported.cache_clear()
    write_before = tcp.Connection.write
    try:
        transport.install()
        assert tcp.Connection.write is write_before  # left as Twisted has it
        assert transport.frame_writer(send) is None  # the same send, now left to daphne
        assert "autobahn 99 is not among the versions" in caplog.text
    finally:
        transport.internals_supported.cache_clear()
