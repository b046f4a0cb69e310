"""The SIEM stream's wire: collector addresses, the two record formats (JSON lines and RFC
5424 syslog in RFC 6587 octet-counted frames) and the TLS connection that carries them.
No database here; compliance.services.stream decides what to send and moves the cursor.

Written by hand rather than through a syslog logging handler: a handler swallows write
errors (logging's handleError), and the cursor must move only after a write succeeded.
"""

from __future__ import annotations

import json
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

FORMATS = ("syslog", "jsonl")
TRANSPORTS = ("tls", "tcp")
# RFC 5424's "log audit" facility; severity informational.
DEFAULT_FACILITY = 13
SEVERITY_INFO = 6
APP_NAME = "teamchat"
CLOSE_WAIT_SECONDS = 1.0


class StreamError(Exception):
    """The collector could not be reached or written to; the message says why."""


@dataclass(frozen=True)
class Collector:
    url: str  # as configured, for the cursor's name (without credentials: none are taken)
    format: str  # syslog | jsonl
    transport: str  # tls | tcp
    host: str
    port: int

    @property
    def name(self) -> str:
        return f"{self.format}+{self.transport}://{self.host}:{self.port}"


def parse_collector(url: str) -> Collector:
    """`syslog+tls://host:port` or `jsonl+tls://host:port` (`+tcp` for plain TCP, e.g. to a
    relay on loopback). ValueError names what is wrong."""
    parts = urlsplit(url.strip())
    format_, _, transport = parts.scheme.partition("+")
    if format_ not in FORMATS or transport not in TRANSPORTS:
        raise ValueError(f"{url!r}: the scheme must be syslog+tls, jsonl+tls, syslog+tcp or "
                         f"jsonl+tcp")
    if parts.username or parts.password or parts.query or parts.path not in ("", "/"):
        raise ValueError(f"{url!r}: give only the scheme, host and port")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or not port:
        raise ValueError(f"{url!r}: give the collector's host and port")
    return Collector(url=url.strip(), format=format_, transport=transport,
                     host=parts.hostname, port=port)


# --- Records ------------------------------------------------------------------------------------

def _json(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def jsonl_record(record: dict[str, Any]) -> bytes:
    """One JSON object on one line (json.dumps escapes any newline inside strings)."""
    return (_json(record) + "\n").encode()


def _printable(value: str, limit: int) -> str:
    """A header field of RFC 5424: PRINTUSASCII (33-126), never empty (`-`)."""
    cleaned = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return cleaned or "-"


def _sd_value(value: Any) -> str:
    # RFC 5424 6.3.3: '"', '\' and ']' are escaped inside PARAM-VALUE.
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _timestamp(value: str) -> str:
    """RFC 3339 in UTC with at most six fractional digits, as RFC 5424 allows."""
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def syslog_record(record: dict[str, Any], *, hostname: str, sd_id: str,
                  facility: int = DEFAULT_FACILITY) -> bytes:
    """One RFC 5424 message in an RFC 6587 octet-counted frame (`LEN SP MSG`): the event's
    action (or `audit.checkpoint`) as MSGID, its key fields as structured data, the whole
    record as JSON in MSG."""
    header = (f"<{facility * 8 + SEVERITY_INFO}>1 {_timestamp(record['created_at'])} "
              f"{_printable(hostname, 255)} {APP_NAME} - "
              f"{_printable(record.get('action') or record['type'], 32)}")
    params = {key: record.get(key) for key in ("seq", "action", "actor_label", "target_type",
                                               "target_id", "hash", "head_hash") if key in record}
    structured = "[" + _printable(sd_id, 32) + "".join(
        f' {key}="{_sd_value(value)}"' for key, value in params.items()) + "]"
    message = f"{header} {structured} ".encode() + b"\xef\xbb\xbf" + _json(record).encode()
    return str(len(message)).encode() + b" " + message


def encode(collector: Collector, record: dict[str, Any], *, hostname: str, sd_id: str,
           facility: int = DEFAULT_FACILITY) -> bytes:
    if collector.format == "jsonl":
        return jsonl_record(record)
    return syslog_record(record, hostname=hostname, sd_id=sd_id, facility=facility)


# --- The connection ---------------------------------------------------------------------------------

def tls_context(*, ca_file: str = "", client_cert: str = "", client_key: str = "") -> ssl.SSLContext:
    """Verifies the collector's certificate and name: against `ca_file` when given, else
    against the system's trusted authorities."""
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert:
        context.load_cert_chain(client_cert, client_key or None)
    return context


class Connection:
    """One connection to a collector, for one run of the sender."""

    def __init__(self, collector: Collector, *, timeout: float,
                 context: ssl.SSLContext | None = None) -> None:
        self.collector = collector
        try:
            raw = socket.create_connection((collector.host, collector.port), timeout=timeout)
        except OSError as error:
            raise StreamError(f"cannot connect to {collector.name}: {_reason(error)}") from error
        if collector.transport == "tls":
            try:
                self.sock: socket.socket = (context or tls_context()).wrap_socket(
                    raw, server_hostname=collector.host)
            except (OSError, ssl.SSLError) as error:
                raw.close()
                raise StreamError(f"TLS with {collector.name} failed: {_reason(error)}") from error
        else:
            self.sock = raw

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (OSError, ssl.SSLError) as error:
            raise StreamError(f"writing to {self.collector.name} failed: {_reason(error)}") from error

    def close(self) -> None:
        try:
            if isinstance(self.sock, ssl.SSLSocket):
                # close_notify says the stream ended here, not cut; unwrap() then waits for
                # the collector's own, which some never send while they wait for more.
                self.sock.settimeout(CLOSE_WAIT_SECONDS)
                self.sock.unwrap()
        except (OSError, ssl.SSLError, ValueError):
            pass  # every record was written before; how the collector hangs up is its own
        finally:
            self.sock.close()


def _reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verification failed ({error.verify_message or error.reason})"
    return str(error) or type(error).__name__
