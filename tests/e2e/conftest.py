"""Headless Chromium (Debian's, through Playwright) against real daphne processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from accounts.models import User
from tests.realtime import session_cookie_for
from tests.servers import wait_until_servers_idle

# Playwright's sync API keeps an event loop running in the test thread; Django's guard
# against ORM calls from async code would then refuse the tests' own setup queries.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    # Nothing leaves this machine: every host but the local ones resolves to nowhere.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
    # Calls: a fake camera and microphone, granted without asking, peers on loopback.
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium",
            "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


class _CloseTimedOut(Exception):
    pass


def close_context(context: BrowserContext, seconds: int = 30) -> None:
    """Close a browser context, giving up after `seconds`. Chromium sometimes never answers
    the closing of a context that ran a service worker (tests/e2e/test_pwa.py; Playwright
    then waits forever, and the browser goes on serving the other contexts): the context
    is left to the browser, which ends with the session. The test's own time limit
    (pytest-timeout, on the same alarm) is put back afterwards."""
    import signal
    import time
    import warnings

    def give_up(signum, frame):
        raise _CloseTimedOut

    remaining = signal.getitimer(signal.ITIMER_REAL)[0]
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        context.close()
    except _CloseTimedOut:
        warnings.warn(f"a browser context did not close within {seconds} s; left to the browser",
                      stacklevel=2)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:
            signal.setitimer(signal.ITIMER_REAL, max(0.01, remaining - (time.monotonic() - started)))


class Person:
    """One person in their own browser context, signed in to one server."""

    def __init__(self, browser: Browser, server, user: User) -> None:
        self.user = user
        self.server = server
        self.context: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 800})
        self.errors: list[str] = []
        name, value = session_cookie_for(user).split("=", 1)
        self.context.add_cookies([{"name": name, "value": value, "url": server.url}])
        self.page: Page = self.open()

    def open(self) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("dialog", lambda dialog: self.errors.append(f"unexpected dialog: {dialog.message}"))
        # Our own pages never trip their Content-Security-Policy; injected markup would.
        page.on("console", lambda message: message.type == "error" and "Content Security Policy"
                in message.text and self.errors.append(message.text))
        page.goto(self.server.url + "/")
        page.wait_for_selector("#app[data-state=ready]", timeout=15000)
        self.page = page
        return page

    def go(self, conversation_id: int) -> None:
        self.page.goto(f"{self.server.url}/#/c/{conversation_id}")
        self.page.wait_for_selector(f'a[data-conversation="{conversation_id}"][aria-current="page"]')

    def send(self, text: str) -> None:
        self.page.fill("#composer-input", text)
        self.page.press("#composer-input", "Enter")

    def close(self) -> None:
        close_context(self.context)


@pytest.fixture
def people(browser, daphne_pair):
    """Open browsers for people: the first on one daphne process, the next on the other."""
    opened: list[Person] = []

    def open_for(user: User) -> Person:
        person = Person(browser, daphne_pair[len(opened) % 2], user)
        opened.append(person)
        return person

    yield open_for
    for person in opened:
        person.close()
    wait_until_servers_idle()
    assert [e for p in opened for e in p.errors] == []


@pytest.fixture
def off_loop():
    """Run test setup (services that broadcast with async_to_sync) in a thread of its own:
    Playwright's event loop runs in the test thread, where async_to_sync may not."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    executor = ThreadPoolExecutor(max_workers=1)

    def run(function, *args, **kwargs):
        def call():
            try:
                return function(*args, **kwargs)
            finally:
                connections.close_all()

        return executor.submit(call).result(timeout=120)

    yield run
    # A call that timed out above may still be stuck: the test has failed already, and
    # waiting for its thread would hold the whole run.
    executor.shutdown(wait=False, cancel_futures=True)
