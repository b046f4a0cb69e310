"""A SIEM collector on loopback: TCP with TLS (or plain), taking RFC 5424 syslog in RFC 6587
octet-counted frames or JSON lines, as a real collector does; stopped and started again on
the same port. Each syslog message is parsed strictly against RFC 5424's grammar."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.servers import free_port

# RFC 5424, section 6: HEADER SP STRUCTURED-DATA [SP MSG].
_HEADER = re.compile(
    rb"<(?P<pri>[0-9]{1,3})>(?P<version>[1-9][0-9]{0,2}) "
    rb"(?P<timestamp>-|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    rb"(?:Z|[+-][0-9]{2}:[0-9]{2})) "
    rb"(?P<hostname>[!-~]{1,255}) (?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) "
    rb"(?P<msgid>[!-~]{1,32}) ")
_SD_NAME = rb'[!#-<>-\\^-~]{1,32}'  # PRINTUSASCII except '=', SP, ']' and '"'
_SD_ELEMENT = re.compile(rb"\[(?P<id>" + _SD_NAME + rb")(?P<params>(?: " + _SD_NAME
                         + rb'="(?:\\["\\\]]|[^"\\\]])*")*)\]')
_SD_PARAM = re.compile(rb" (?P<name>" + _SD_NAME + rb')="(?P<value>(?:\\["\\\]]|[^"\\\]])*)"')
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SyslogMessage:
    facility: int
    severity: int
    version: int
    timestamp: datetime
    hostname: str
    app_name: str
    procid: str
    msgid: str
    structured_data: dict[str, dict[str, str]]
    msg: str


def parse_rfc5424(raw: bytes) -> SyslogMessage:
    """One message; AssertionError saying where it leaves the grammar."""
    header = _HEADER.match(raw)
    assert header, f"not an RFC 5424 header: {raw[:120]!r}"
    pri = int(header["pri"])
    assert pri <= 191, f"PRI {pri} out of range"
    rest = raw[header.end():]
    elements: dict[str, dict[str, str]] = {}
    if rest.startswith(b"-"):
        rest = rest[1:]
    else:
        while rest.startswith(b"["):
            element = _SD_ELEMENT.match(rest)
            assert element, f"malformed structured data: {rest[:120]!r}"
            params = {m["name"].decode(): re.sub(rb'\\(["\\\]])', rb"\1", m["value"]).decode()
                      for m in _SD_PARAM.finditer(element["params"])}
            elements[element["id"].decode()] = params
            rest = rest[element.end():]
        assert elements, "no structured data and no NILVALUE"
    msg = b""
    if rest:
        assert rest.startswith(b" "), f"no SP before MSG: {rest[:40]!r}"
        msg = rest[1:]
    # MSG-UTF8 (after the BOM) must be valid UTF-8; MSG-ANY, here, plain ASCII.
    text = msg[len(BOM):].decode("utf-8") if msg.startswith(BOM) else msg.decode("ascii")
    stamp = header["timestamp"].decode()
    return SyslogMessage(
        facility=pri // 8, severity=pri % 8, version=int(header["version"]),
        timestamp=datetime.fromisoformat(stamp.replace("Z", "+00:00")),
        hostname=header["hostname"].decode(), app_name=header["app"].decode(),
        procid=header["procid"].decode(), msgid=header["msgid"].decode(),
        structured_data=elements, msg=text)


def octet_counted_frames(buffer: bytearray) -> list[bytes]:
    """Take the complete `MSG-LEN SP SYSLOG-MSG` frames (RFC 6587, 3.4.1) off the buffer."""
    frames = []
    while True:
        space = buffer.find(b" ")
        if space < 0:
            return frames
        length = bytes(buffer[:space])
        assert re.fullmatch(rb"[1-9][0-9]*", length), f"not an octet count: {length[:20]!r}"
        end = space + 1 + int(length)
        if len(buffer) < end:
            return frames
        frames.append(bytes(buffer[space + 1:end]))
        del buffer[:end]


class Collector:
    """`framing` is `octet` (syslog) or `lines` (JSON lines). `received` holds the payloads
    in arrival order; `errors` what the collector could not take (a refused handshake,
    a malformed frame)."""

    def __init__(self, tls: tuple[Path, Path] | None, *, framing: str = "octet") -> None:
        self.tls = tls
        self.framing = framing
        self.port = free_port()
        self.received: list[bytes] = []
        self.errors: list[str] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []

    @property
    def url(self) -> str:
        scheme = "syslog" if self.framing == "octet" else "jsonl"
        return f"{scheme}+{'tls' if self.tls else 'tcp'}://127.0.0.1:{self.port}"

    def start(self) -> Collector:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        # shutdown() first: close() alone leaves a socket that a thread is blocked on (in
        # accept or recv) open in the kernel, still taking connections.
        for sock in [self._listener, *self._open]:
            if sock is None:
                continue
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._listener = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads, self._open = [], []

    def _accept(self, listener: socket.socket) -> None:
        context = None
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return  # stopped
            thread = threading.Thread(target=self._serve, args=(sock, context), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket, context: ssl.SSLContext | None) -> None:
        self._open.append(sock)
        buffer = bytearray()
        try:
            if context is not None:
                sock = context.wrap_socket(sock, server_side=True)
                self._open.append(sock)
            with self._lock:
                self.connections += 1
            while chunk := sock.recv(65536):
                buffer.extend(chunk)
                payloads = (octet_counted_frames(buffer) if self.framing == "octet"
                            else self._lines(buffer))
                with self._lock:
                    self.received.extend(payloads)
        except (OSError, ssl.SSLError, AssertionError) as error:
            with self._lock:
                self.errors.append(str(error))
        finally:
            sock.close()

    @staticmethod
    def _lines(buffer: bytearray) -> list[bytes]:
        *lines, rest = bytes(buffer).split(b"\n")
        buffer[:] = rest
        return lines

    def messages(self) -> list[SyslogMessage]:
        with self._lock:
            return [parse_rfc5424(raw) for raw in self.received]

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def payloads(self) -> list[Any]:
        if self.framing == "octet":
            return [json.loads(message.msg) for message in self.messages()]
        with self._lock:
            return [json.loads(line) for line in self.received]
