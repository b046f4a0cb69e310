"""Static files answered on the event loop (teamchat/static_asgi.py): WhiteNoise's
answers, without Django's thread; everything else goes on to Django."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asgiref.testing import ApplicationCommunicator

from teamchat.static_asgi import StaticFiles

STATIC = Path(__file__).resolve().parents[2] / "static"


class Downstream:
    """Stands for Django: records what reached it and answers 404."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})


def _request(app, path: str, method: str = "GET", headers: list | None = None):
    return asyncio.run(asyncio.wait_for(_exchange(app, path, method, headers), timeout=10))


async def _exchange(app, path: str, method: str, headers: list | None):
    scope = {"type": "http", "method": method, "path": path, "query_string": b"",
             "headers": headers or [], "http_version": "1.1"}
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(5)
    body = await communicator.receive_output(5)
    return start["status"], dict(start["headers"]), body.get("body", b"")


@pytest.fixture
def app():
    downstream = Downstream()
    return StaticFiles(downstream), downstream


def test_a_static_file_is_served_with_its_validators_and_never_reaches_django(app):
    static, downstream = app
    status, headers, body = _request(static, "/static/js/app.js")
    assert status == 200
    assert body == (STATIC / "js" / "app.js").read_bytes()
    assert headers[b"content-type"].startswith(b"text/javascript")
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"content-length"] == str(len(body)).encode()
    etag = headers[b"etag"]

    status, headers, body = _request(static, "/static/js/app.js", headers=[(b"if-none-match", etag)])
    assert (status, body) == (304, b"")

    status, headers, body = _request(static, "/static/css/app.css", method="HEAD")
    assert status == 200 and body == b"" and int(headers[b"content-length"]) > 1000
    assert downstream.paths == []


def test_a_write_to_a_static_file_is_refused(app):
    static, downstream = app
    status, headers, _ = _request(static, "/static/js/app.js", method="POST")
    assert status == 405 and headers[b"allow"] == b"GET, HEAD"
    assert downstream.paths == []


@pytest.mark.parametrize("path", ["/static/js/nowhere.js", "/static/../teamchat/settings.py",
                                  "/static/%2e%2e/teamchat/settings.py", "/static/", "/api/v1/me/", "/"])
def test_anything_else_goes_on_to_django(app, path):
    static, downstream = app
    status, _, body = _request(static, path)
    assert (status, body) == (404, b"django")
    assert downstream.paths == [path]
