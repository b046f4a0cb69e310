"""HTTP requests to addresses people typed or admins configured, guarded against
server-side request forgery.

Only http and https; the host is resolved once and every address it resolves to must be
public (no private, loopback, link-local, multicast or reserved address) unless a setting
allows private ones; the connection then goes to that checked address (no second DNS
answer can slip in); redirects are followed by hand and each hop is checked the same way;
answers are cut off past a size limit and the whole exchange past a time limit.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings

USER_AGENT = "teamchat-fetcher/1 (+link previews and webhooks)"
REDIRECTS = {301, 302, 303, 307, 308}


class FetchRefused(Exception):
    """The request was not made, or its answer not accepted; the reason says why."""


@dataclass
class FetchResult:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str


def _check_host(host: str, allowed_domains: list[str] | None) -> None:
    if not allowed_domains:
        return
    host = host.lower().rstrip(".")
    if not any(host == d or host.endswith("." + d) for d in allowed_domains):
        raise FetchRefused(f"{host} is not on the list of allowed domains")


def _public_address(host: str, port: int, allow_private: bool) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise FetchRefused(f"{host} does not resolve") from None
    addresses = {info[4][0] for info in infos}
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not allow_private and not ip.is_global:
            raise FetchRefused(f"{host} resolves to a non-public address ({ip})")
        if ip.is_multicast or ip.is_unspecified:
            raise FetchRefused(f"{host} resolves to an unusable address ({ip})")
    return sorted(addresses)[0]


def _pool(scheme: str, address: str, host: str, port: int, timeout: float) -> urllib3.HTTPConnectionPool:
    kwargs = {"timeout": urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
              "retries": False, "maxsize": 1}
    if scheme == "https":
        context = ssl.create_default_context()
        return urllib3.HTTPSConnectionPool(address, port, server_hostname=host,
                                           assert_hostname=host, ssl_context=context, **kwargs)
    return urllib3.HTTPConnectionPool(address, port, **kwargs)


def request(method: str, url: str, *, body: bytes | None = None,
            headers: dict[str, str] | None = None, max_bytes: int = 1024 * 1024,
            timeout: float = 5.0, allowed_domains: list[str] | None = None,
            follow_redirects: bool = True, max_redirects: int = 3) -> FetchResult:
    allow_private = settings.INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES
    deadline = time.monotonic() + timeout
    for _ in range(max_redirects + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchRefused(f"only http and https addresses are fetched, not {parts.scheme or '?'}:")
        if not parts.hostname:
            raise FetchRefused("the address has no host")
        if parts.username or parts.password:
            raise FetchRefused("addresses with credentials are not fetched")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        _check_host(host, allowed_domains)
        address = _public_address(host, port, allow_private)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchRefused("took too long")
        pool = _pool(parts.scheme, address, host, port, remaining)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sent_headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": USER_AGENT,
                        **(headers or {})}
        try:
            response = pool.urlopen(method, path, body=body, headers=sent_headers,
                                    redirect=False, preload_content=False, assert_same_host=False)
        except urllib3.exceptions.HTTPError as error:
            raise FetchRefused(f"could not reach {host}: {type(error).__name__}") from None
        try:
            if follow_redirects and response.status in REDIRECTS and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                if response.status == 303 or (response.status in (301, 302) and method != "GET"):
                    method, body = "GET", None
                continue
            data = b""
            for chunk in response.stream(64 * 1024):
                data += chunk
                if len(data) > max_bytes:
                    raise FetchRefused(f"the answer is larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise FetchRefused("took too long")
            return FetchResult(response.status, {k.lower(): v for k, v in response.headers.items()},
                               data, url)
        except urllib3.exceptions.HTTPError as error:
            raise FetchRefused(f"the answer from {host} broke off: {type(error).__name__}") from None
        finally:
            response.release_conn()
            pool.close()
    raise FetchRefused(f"more than {max_redirects} redirects")
